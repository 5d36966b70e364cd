"""``benchmarks/gpu_check.sh`` checked without a GPU: ``--only`` takes part names only, ``--dry-run`` prints the
plan and writes nothing (a folder's ``gpu_check.json`` may hold a GPU run's figures), and a CPU is taken only with
``--small`` (the paper sizes there would hold the machine until the budget cut them off)."""

from __future__ import annotations

import pytest

from conftest import benchmark_script

@pytest.fixture(scope="module")
def gpu_check():
    return benchmark_script("gpu_check", "gpu_check_under_test")


def test_a_part_only_names_that_is_no_part_is_refused_before_anything_runs(gpu_check, tmp_path, capsys):
    out = tmp_path / "check"
    assert gpu_check.main(["--dry-run", "--only", "tests,train_tripane", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no plan: nothing was about to run
    assert captured.err == (
        "--only names part 'train_tripane', which gpu_check does not run (its parts: tests, bench_render, "
        "bench_models, train_gram, train_gram_hd, train_triplane, smoke_stylesdf_ffhq1024, smoke_pigan_celeba, "
        "smoke_gram_inverter_ffhq256, smoke_gram_carla, two_gpus, amp, zoo). Did you mean 'train_triplane'?\n")
    assert not out.exists()


def test_small_parts_are_named_by_the_small_presets(gpu_check, tmp_path, capsys):
    assert gpu_check.main(["--device", "cpu", "--small", "--dry-run", "--only", "smoke_pigan_celeba",
                           "--out", str(tmp_path)]) == 2
    assert "'smoke_pigan_celeba', which gpu_check does not run" in capsys.readouterr().err
    check = gpu_check.Check(tmp_path, "cpu", small=True, dry_run=True)
    assert [n for n in check.part_names() if n.startswith("smoke_")] == [
        "smoke_stylesdf_tiny", "smoke_pigan_tiny", "smoke_gram_inverter_tiny", "smoke_gram_tiny"]


def test_a_dry_run_prints_the_plan_and_leaves_the_last_figures_alone(gpu_check, tmp_path, capsys):
    figures = tmp_path / "gpu_check.json"
    figures.write_text('{"parts": {"amp": {"status": "ok"}}}')
    assert gpu_check.main(["--dry-run", "--only", "amp", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "would run: " in out and "--amp-child" in out and "amp: planned" in out
    assert out.endswith(f"dry run: nothing written (a run writes {figures})\n")
    assert figures.read_text() == '{"parts": {"amp": {"status": "ok"}}}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu_check.json"]


def test_a_dry_run_into_a_new_folder_makes_no_folder(gpu_check, tmp_path, capsys):
    out = tmp_path / "new"
    assert gpu_check.main(["--dry-run", "--only", "tests", "--out", str(out)]) == 0
    assert "would run: " in capsys.readouterr().out and not out.exists()


@pytest.mark.parametrize("args", [["--device", "cpu", "--budget", "0"],  # a budget that would skip every part
                                  ["--device", "cpu", "--dry-run", "--only", "amp"]])
def test_a_cpu_without_small_is_refused_before_anything_runs(gpu_check, tmp_path, capsys, args):
    assert gpu_check.main([*args, "--out", str(tmp_path / "check")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and not (tmp_path / "check").exists()
    assert captured.err == ("--device cpu runs the GPU check's paper sizes there, hours of work cut off at the "
                            "budget; add --small to check the script on it.\n")


@pytest.mark.parametrize("device, small", [("cuda", False), ("cpu", True)])
def test_the_part_names_are_the_parts_a_run_plans_in_its_order(gpu_check, tmp_path, capsys, device, small):
    """``--only`` is checked against :meth:`Check.part_names`, a list kept beside :meth:`Check.main`: a part added to
    one and not the other would be refused by name, or run with no way to name it."""
    check = gpu_check.Check(tmp_path / "check", device, small=small, dry_run=True)
    planned = list(check.main()["parts"])
    assert planned == [name for name in check.part_names() if name != "zoo"]  # zoo runs only when named
    check = gpu_check.Check(tmp_path / "check", device, small=small, dry_run=True)
    check.only = {"zoo"}
    assert list(check.main()["parts"]) == ["zoo"] and check.part_names()[-1] == "zoo"
    assert not (tmp_path / "check").exists()
