"""``zoo3d bench peers`` and the authors' checkouts: an unset ``ZOO3D_UPSTREAM_*`` skips that model's records with a
note naming the repository to clone; one that names no checkout (no folder, or the folder above the clone) is
refused in one sentence before any record is measured, where every record's processes failed on an import."""

from __future__ import annotations

import importlib.util

import pytest

from conftest import run_in_process
from peers_stand_in import name_checkout, stand_in_children
from zoo3d.benchmarks import peers

VARIABLES = ("ZOO3D_UPSTREAM_GRAM", "ZOO3D_UPSTREAM_GRAM_HD", "ZOO3D_UPSTREAM_NEUS")


@pytest.fixture
def calls(monkeypatch):
    """No checkout named, no peers setting, pyhocon taken as installed; stand-in measuring processes."""
    for name in VARIABLES + ("ZOO3D_PEERS_ONLY", "ZOO3D_PEERS_REPEATS", "ZOO3D_PEERS_NEUS_REPEATS",
                             "ZOO3D_BENCH_THREADS", "ZOO3D_BENCH_CPU_MEM_GB"):
        monkeypatch.delenv(name, raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "pyhocon" else real(name, *a))
    return stand_in_children(monkeypatch)


def _bench(capsys):
    return run_in_process(capsys, "bench", "peers", "--quick", "--device", "cpu")


def test_an_unset_variable_names_the_repository_to_clone(calls, monkeypatch, capsys):
    monkeypatch.setenv("ZOO3D_UPSTREAM_GRAM_HD", "")  # empty is unset, not the current folder
    code, _, err = _bench(capsys)
    assert code == 0 and calls == []
    notes = [line for line in err.splitlines() if line.startswith("peers:")]
    assert notes == [
        "peers: ZOO3D_UPSTREAM_GRAM is unset: the authors' GRAM records are skipped (set it to a clone of "
        "https://github.com/microsoft/GRAM).",
        "peers: ZOO3D_UPSTREAM_GRAM_HD is unset: the authors' GRAM-HD records are skipped (set it to a clone of "
        "https://github.com/JeffreyXiang/GRAM-HD).",
        "peers: ZOO3D_UPSTREAM_NEUS is unset: the authors' NeuS records are skipped (set it to a clone of "
        "https://github.com/Totoro97/NeuS)."]


def test_a_folder_that_is_no_checkout_is_refused_before_a_record(calls, monkeypatch, tmp_path, capsys):
    name_checkout(monkeypatch, tmp_path / "GRAM", "ZOO3D_UPSTREAM_GRAM")
    monkeypatch.setenv("ZOO3D_UPSTREAM_GRAM_HD", str(tmp_path))  # the folder above the clone
    code, out, err = _bench(capsys)
    assert code == 2 and calls == [] and out == ""
    assert err == (
        f"Error: ZOO3D_UPSTREAM_GRAM_HD names '{tmp_path}', which holds no configs.py, so it is no checkout of the "
        "authors' code: set it to a clone of https://github.com/JeffreyXiang/GRAM-HD, or unset it to skip those "
        "records.\n")


def test_a_checkout_without_one_file_the_suite_imports_is_refused(calls, monkeypatch, tmp_path, capsys):
    name_checkout(monkeypatch, tmp_path / "NeuS", "ZOO3D_UPSTREAM_NEUS")
    (tmp_path / "NeuS" / "confs" / "womask.conf").unlink()
    code, _, err = _bench(capsys)
    assert code == 2 and calls == [] and len(err.splitlines()) == 1
    assert "which holds no confs/womask.conf, so it is no checkout" in err and "https://github.com/Totoro97/NeuS" in err


def test_a_path_that_is_no_folder_is_refused(calls, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ZOO3D_UPSTREAM_GRAM", str(tmp_path / "GRAMM"))
    code, _, err = _bench(capsys)
    assert code == 2 and calls == []
    assert err == (
        f"Error: ZOO3D_UPSTREAM_GRAM names '{tmp_path / 'GRAMM'}', which is no folder: set it to a clone of "
        "https://github.com/microsoft/GRAM, or unset it to skip those records.\n")


def test_a_variable_of_a_model_the_run_does_not_measure_is_only_noted(calls, monkeypatch, tmp_path, capsys):
    name_checkout(monkeypatch, tmp_path / "GRAM", "ZOO3D_UPSTREAM_GRAM")
    monkeypatch.setenv("ZOO3D_UPSTREAM_GRAM_HD", str(tmp_path / "absent"))
    monkeypatch.setenv("ZOO3D_PEERS_ONLY", "gram.inference.32")
    rows = peers.run("cpu", quick=True)
    assert calls == ["gram.inference.32"] * 2 and [r["record"] for r in rows] == ["gram.inference.32"]
    # the note says what is wrong with the variable, not that it is unset
    assert (f"peers: ZOO3D_UPSTREAM_GRAM_HD names '{tmp_path / 'absent'}', which is no folder: set it to a clone of "
            "https://github.com/JeffreyXiang/GRAM-HD, or unset it to skip those records.") in capsys.readouterr().err
