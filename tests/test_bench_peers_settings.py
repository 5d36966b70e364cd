"""The numbers every measuring process of ``zoo3d bench peers`` reads (docs/testing.md: ``ZOO3D_BENCH_THREADS``,
and for the NeuS fit ``ZOO3D_PEERS_NEUS_ITERATIONS``, ``ZOO3D_PEERS_NEUS_MAX_ITERS``, ``ZOO3D_PEERS_NEUS_MAX_S``,
``ZOO3D_PEERS_NEUS_TARGET_DB``) are checked before the first record: a value that is none is refused in one
sentence with exit status 2, not met by every record's process in turn."""

from __future__ import annotations

import pytest

from conftest import run_in_process
from peers_stand_in import name_checkout, stand_in_children
from zoo3d.benchmarks import peers
from zoo3d.benchmarks.peers.neus import record_settings


@pytest.fixture
def started(monkeypatch, tmp_path):
    """GRAM's and NeuS's checkouts named (pyhocon taken as installed), stand-in measuring processes; the records
    they were asked for."""
    import importlib.util

    for model, env in (("gram", "ZOO3D_UPSTREAM_GRAM"), ("neus", "ZOO3D_UPSTREAM_NEUS")):
        name_checkout(monkeypatch, tmp_path / model, env)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "pyhocon" else real(name, *a))
    for name in ("ZOO3D_UPSTREAM_GRAM_HD", "ZOO3D_PEERS_REPEATS", "ZOO3D_PEERS_NEUS_REPEATS", "ZOO3D_BENCH_THREADS",
                 "ZOO3D_PEERS_NEUS_ITERATIONS", "ZOO3D_PEERS_NEUS_MAX_ITERS", "ZOO3D_PEERS_NEUS_MAX_S",
                 "ZOO3D_PEERS_NEUS_TARGET_DB", "ZOO3D_BENCH_CPU_MEM_GB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZOO3D_PEERS_ONLY", "gram.inference.32,neus.fit.32")
    return stand_in_children(monkeypatch)


@pytest.mark.parametrize("var, value, message", [
    ("ZOO3D_BENCH_THREADS", "two", "ZOO3D_BENCH_THREADS must be a whole number, not 'two'."),
    ("ZOO3D_BENCH_THREADS", "0", "ZOO3D_BENCH_THREADS must be at least 1, not 0: the threads of each measuring "
                                 "process."),
    ("ZOO3D_PEERS_NEUS_ITERATIONS", "8e2", "ZOO3D_PEERS_NEUS_ITERATIONS must be a whole number, not '8e2'."),
    ("ZOO3D_PEERS_NEUS_MAX_ITERS", "-5", "ZOO3D_PEERS_NEUS_MAX_ITERS must be at least 1, not -5: where the authors' "
                                         "NeuS loop gives up."),
    ("ZOO3D_PEERS_NEUS_MAX_S", "40min", "ZOO3D_PEERS_NEUS_MAX_S must be a number, not '40min'."),
    ("ZOO3D_PEERS_NEUS_MAX_S", "-1", "ZOO3D_PEERS_NEUS_MAX_S must be a finite number of at least 0, not -1."),
    ("ZOO3D_PEERS_NEUS_TARGET_DB", "nan", "ZOO3D_PEERS_NEUS_TARGET_DB must be a finite number, not nan."),
])
def test_a_setting_that_is_no_such_number_is_refused_before_any_record(started, monkeypatch, capsys, var, value,
                                                                        message):
    monkeypatch.setenv(var, value)
    code, out, err = run_in_process(capsys, "bench", "peers", "--quick", "--device", "cpu")
    assert (code, out, err) == (2, "", f"Error: {message}\n")
    assert started == []


def test_the_neus_settings_are_not_read_when_no_neus_fit_record_runs(started, monkeypatch):
    monkeypatch.setenv("ZOO3D_PEERS_ONLY", "gram.inference.32")
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_S", "soon")
    assert [r["record"] for r in peers.run("cpu", quick=True)] == ["gram.inference.32"]


def test_blank_settings_are_unset_in_the_suite_and_in_each_measuring_process(started, monkeypatch):
    default = record_settings("neus.fit.32")  # every override unset (the fixture)
    for var in ("ZOO3D_BENCH_THREADS", "ZOO3D_PEERS_NEUS_ITERATIONS", "ZOO3D_PEERS_NEUS_MAX_ITERS"):
        monkeypatch.setenv(var, " ")
    assert [r["record"] for r in peers.run("cpu", quick=True)] == ["gram.inference.32", "neus.fit.32"]
    assert record_settings("neus.fit.32") == default
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_ITERATIONS", " 12 ")
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_ITERS", "300")
    given = record_settings("neus.fit.32")
    assert (given.iterations, given.authors_max_iters) == (12, 300) != (default.iterations, default.authors_max_iters)
