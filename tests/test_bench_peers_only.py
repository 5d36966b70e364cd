"""``ZOO3D_PEERS_ONLY`` names records of the run (docs/testing.md): a name that is none is refused in one sentence
with exit status 2, before any checkout is looked at or any record measured."""

from __future__ import annotations

import pytest

from conftest import run_in_process
from peers_stand_in import name_checkout, stand_in_children
from zoo3d.benchmarks import peers


@pytest.fixture
def measured(monkeypatch, tmp_path):
    """The GRAM checkout named (a folder with a COMMIT file), stand-in workers; the records they were asked for."""
    name_checkout(monkeypatch, tmp_path, "ZOO3D_UPSTREAM_GRAM")
    for name in ("ZOO3D_UPSTREAM_GRAM_HD", "ZOO3D_UPSTREAM_NEUS", "ZOO3D_PEERS_REPEATS"):
        monkeypatch.delenv(name, raising=False)
    return stand_in_children(monkeypatch)


@pytest.mark.parametrize("only, quick, message", [
    ("gram.graph.65", False, "ZOO3D_PEERS_ONLY names record 'gram.graph.65', which `zoo3d bench peers` does not "
                             "measure (its records: gram.inference.128, "),
    ("gram.graph.256", True, "ZOO3D_PEERS_ONLY names record 'gram.graph.256', which `zoo3d bench peers --quick` "
                             "does not measure (its records: gram.inference.32, "),
])
def test_a_name_that_is_no_record_of_the_run_is_refused_before_anything_is_measured(measured, monkeypatch, capsys,
                                                                                     only, quick, message):
    monkeypatch.setenv("ZOO3D_PEERS_ONLY", f"gram.inference.{32 if quick else 128},{only}")
    code, out, err = run_in_process(capsys, "bench", "peers", "--device", "cpu", *(["--quick"] if quick else []))
    assert code == 2 and measured == [] and out == ""
    assert err.startswith("Error: " + message) and len(err.splitlines()) == 1
    closest = "gram.graph.64" if quick else "gram.graph.256"
    assert err.rstrip().endswith(f"). Did you mean '{closest}'?")


def test_names_of_the_run_are_measured_spaces_around_them_aside(measured, monkeypatch):
    monkeypatch.setenv("ZOO3D_PEERS_ONLY", " gram.graph.64 , gram.inference.32")
    rows = peers.run("cpu", quick=True)
    assert [r["record"] for r in rows] == ["gram.inference.32", "gram.graph.64"]
    assert measured == ["gram.inference.32", "gram.inference.32", "gram.graph.64", "gram.graph.64"]
