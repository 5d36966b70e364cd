"""The bounds of zoo3d.limits at their edges: each count, side and byte total computed by hand against the
budget, the value on the bound accepted and the next one refused in its one sentence (docs/errors.md,
"Counts and outputs")."""

import os

import pytest

import zoo3d.limits as limits
from zoo3d.errors import UserError

MIB, GIB = 2**20, 2**30


def refusal(call, *args) -> str:
    with pytest.raises(UserError) as info:
        call(*args)
    return str(info.value)


@pytest.fixture
def budget(monkeypatch):
    """Set the bytes a command may hold."""
    return lambda n: monkeypatch.setattr(limits, "memory_budget", lambda: n)


def test_a_count_on_its_bound_is_kept_and_one_more_is_refused_in_one_sentence():
    assert limits.check_count("--frames", 10, 10, "frames fit") == 10
    assert refusal(limits.check_count, "--frames", 12345, 10, "frames fit") == \
        "--frames asks for 12,345; at most 10 frames fit."


def test_more_images_than_one_output_holds_is_refused_naming_them(budget):
    budget(2**62)
    limits.check_images("--frames", 10_000, 1, 1, "frames")
    assert refusal(limits.check_images, "--frames", 10_001, 1, 1, "frames") == \
        "--frames asks for 10,001; at most 10,000 frames fit in one output (split the work over several commands)."


def test_a_side_of_4096_is_rendered_and_4097_is_refused(budget):
    budget(2**62)
    limits.check_images("--resolution", 1, 4096, 4096)
    for height, width in ((4097, 16), (16, 4097)):
        assert refusal(limits.check_images, "--resolution", 1, height, width) == \
            f"A resolution of {height}x{width} is above the largest zoo3d renders, 4096x4096."


def test_images_that_fill_the_budget_exactly_fit_and_one_byte_less_refuses_them(budget):
    need = 100 * 64 * 48 * (4 * 4 + 4 * 3 + 3)  # float RGB and depth, a float copy, an 8-bit copy: 9.1 MiB
    budget(need)
    limits.check_images("--seeds", 100, 64, 48)
    budget(need - 1)
    assert refusal(limits.check_images, "--seeds", 100, 64, 48) == (
        "--seeds asks for 100 images of 64x48, which need about 9.1 MiB of memory, more than the 9.1 MiB a command "
        "may hold (half the memory available now); ask for fewer or smaller images.")


def test_a_mesh_grid_that_fills_the_budget_exactly_fits_and_one_byte_less_is_refused(budget):
    need = 64**3 * 4  # 262,144 float32 values: 1 MiB
    budget(need)
    limits.check_grid("--resolution", 64, 4)
    budget(need - 1)
    assert refusal(limits.check_grid, "--resolution", 64, 4) == (
        "--resolution 64 asks for a grid of 262,144 points, which needs about 1.0 MiB of memory, more than the "
        "1.0 MiB a command may hold (half the memory available now); ask for a smaller resolution.")
    budget(3 * GIB)
    assert "which needs about 4.0 GiB of memory, more than the 3.0 GiB" in refusal(limits.check_grid, "-r", 1024, 4)


@pytest.mark.parametrize("n, text", [(GIB, "1.0 GiB"), (GIB - MIB, "1023.0 MiB"), (3 * MIB / 2, "1.5 MiB"),
                                     (5 * GIB / 4, "1.2 GiB"), (MIB - 1, "1.0 MiB"), (52 * 1024, "0.1 MiB"),
                                     (51 * 1024, "51.0 KiB"), (1024, "1.0 KiB"), (1023, "1023 bytes"),
                                     (1, "1 byte"), (0, "0 bytes")])
def test_byte_sizes_switch_to_gib_at_one_gib_to_kib_where_mib_would_read_zero_and_to_bytes_below_a_kib(n, text):
    assert limits.byte_size(n) == text


def test_the_budget_is_half_the_available_bytes_rounded_down_to_a_whole_byte(monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 2 * GIB + 1)
    assert limits.memory_budget() == GIB and isinstance(limits.memory_budget(), int)


@pytest.mark.skipif(not os.path.isfile("/proc/meminfo"), reason="Linux's /proc/meminfo")
def test_without_an_argument_the_available_memory_is_linux_memavailable(monkeypatch):
    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(limits.os, "sysconf", no_sysconf)  # the fallback gives nothing: /proc/meminfo must answer
    with open("/proc/meminfo") as fh:
        kib = [int(line.split()[1]) for line in fh if line.startswith("MemAvailable:")]
    if not kib:
        pytest.skip("a kernel before 3.14 has no MemAvailable")
    got = limits.available_memory()
    assert got is not None and abs(got - kib[0] * 1024) < max(kib[0] * 1024 // 4, 256 * MIB)  # memory moves
    assert got % 1024 == 0  # given in kB
