"""``ZOO3D_BENCH_CPU_MEM_GB`` (docs/testing.md: on a CPU, the memory a measuring process of ``models``, ``peers`` or
``render`` may add after its set-up) is a positive number of GB; anything else is refused in one sentence with exit
status 2 before the first record's process starts, instead of failing in every one of them (or, at 0, capping each
below what it holds and reporting OOM). Under the cap, an allocation that failed is told from other errors once, in
``zoo3d.benchmarks.children``, for the three suites: its record reads ``OOM`` with the error's first line."""

from __future__ import annotations

import pytest
import torch

from conftest import run_in_process
from peers_stand_in import name_checkout, stand_in_children
from zoo3d.benchmarks import children, models, peers, render
from zoo3d.errors import UserError


@pytest.fixture
def started(monkeypatch, tmp_path):
    """Stand-ins for the measuring processes of the suites (GRAM's checkout named for peers); what they were asked
    for."""
    calls = []
    for name in ("_measure_isolated", "measure"):  # render measures in a fresh process on a CPU only
        monkeypatch.setattr(render, name, lambda *args: calls.append(args) or {
            "renderer": args[0], "resolution": args[1], "total_s": 1.0, "status": "ok"})
    monkeypatch.setattr(models, "_measure_isolated", lambda *args: calls.append(args) or {
        "model": args[0], "resolution": args[1], "device": "cpu", "mode": args[3], "time_s": 1.0,
        "peak_mem_mb": 1.0, "status": "ok"})
    stand_in_children(monkeypatch, calls)
    name_checkout(monkeypatch, tmp_path, "ZOO3D_UPSTREAM_GRAM")
    monkeypatch.setenv("ZOO3D_PEERS_ONLY", "gram.inference.32")
    for name in ("ZOO3D_UPSTREAM_GRAM_HD", "ZOO3D_UPSTREAM_NEUS", "ZOO3D_PEERS_REPEATS"):
        monkeypatch.delenv(name, raising=False)
    return calls


@pytest.mark.parametrize("suite", ["models", "peers", "render"])
@pytest.mark.parametrize("value, message", [
    ("12GB", "ZOO3D_BENCH_CPU_MEM_GB must be a number of GB, not '12GB'."),
    ("0", "ZOO3D_BENCH_CPU_MEM_GB must be a positive number of GB, not 0."),
    ("-2", "ZOO3D_BENCH_CPU_MEM_GB must be a positive number of GB, not -2."),
])
def test_a_cap_that_is_no_positive_number_is_refused_before_any_record(started, monkeypatch, capsys, suite, value,
                                                                       message):
    monkeypatch.setenv("ZOO3D_BENCH_CPU_MEM_GB", value)
    code, out, err = run_in_process(capsys, "bench", suite, "--quick", "--device", "cpu")
    assert (code, out, err) == (2, "", f"Error: {message}\n")
    assert started == []


@pytest.mark.parametrize("value, gigabytes", [(None, 12.0), ("", 12.0), (" 0.5 ", 0.5), ("3", 3.0)])
def test_the_cap_is_the_number_given_or_the_default(monkeypatch, value, gigabytes):
    if value is None:
        monkeypatch.delenv("ZOO3D_BENCH_CPU_MEM_GB", raising=False)
    else:
        monkeypatch.setenv("ZOO3D_BENCH_CPU_MEM_GB", value)
    assert children.memory_cap_gb(12) == gigabytes


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_a_cap_of_no_size_is_refused(monkeypatch, value):
    monkeypatch.setenv("ZOO3D_BENCH_CPU_MEM_GB", value)
    with pytest.raises(UserError, match="must be a positive number of GB"):
        children.memory_cap_gb(14)


@pytest.mark.parametrize("suite", ["models", "peers", "render"])
def test_on_cuda_the_cap_is_not_read(started, monkeypatch, suite):
    monkeypatch.setenv("ZOO3D_BENCH_CPU_MEM_GB", "lots")
    {"models": models, "peers": peers, "render": render}[suite].run("cuda", quick=True)
    assert started == {
        "models": [(m, r, "cuda", mode, 1) for m, r, mode in models.plan("cuda", True)],
        "peers": ["gram.inference.32"] * 2,
        "render": [(name, res, "cuda", 1) for res in (64, 128) for name in ("manifold", "volume")]}[suite]


@pytest.mark.parametrize("error, oom", [
    (MemoryError("cannot allocate 2 GiB"), True),
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"), True),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried"), True),
    (RuntimeError("could not allocate 8589934592 bytes"), True),
    (RuntimeError("CUDA out of Memory. Tried to allocate"), True),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
    (ValueError("not enough memory for the table"), False),  # only a RuntimeError is read for its words
])
def test_a_failed_allocation_is_told_from_other_errors(error, oom):
    assert children.out_of_memory(error) is oom


def test_an_oom_note_is_the_errors_first_line_cut_at_160_characters():
    assert children.oom_note(MemoryError("cannot allocate 2 GiB\nsecond line")) == "cannot allocate 2 GiB"
    assert children.oom_note(RuntimeError("  " + "x" * 300)) == "x" * 160
    assert children.oom_note(MemoryError()) == "MemoryError"  # no message: the error's name
