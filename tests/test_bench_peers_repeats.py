"""The pair counts of ``zoo3d bench peers`` (``ZOO3D_PEERS_REPEATS``, ``ZOO3D_PEERS_LONG_REPEATS``,
``ZOO3D_PEERS_NEUS_REPEATS``, docs/testing.md) are whole numbers of pairs: anything else is refused in one sentence
with exit status 2 before any record is measured, not met hours in as a traceback or a row of nothing."""

from __future__ import annotations

import pytest

from conftest import run_in_process
from peers_stand_in import name_checkout, stand_in_children
from zoo3d.benchmarks import peers


@pytest.fixture
def measured(monkeypatch, tmp_path):
    """The GRAM checkout named, stand-in workers; the records they were asked for."""
    name_checkout(monkeypatch, tmp_path, "ZOO3D_UPSTREAM_GRAM")
    for name in ("ZOO3D_UPSTREAM_GRAM_HD", "ZOO3D_UPSTREAM_NEUS", "ZOO3D_PEERS_ONLY", "ZOO3D_PEERS_REPEATS",
                 "ZOO3D_PEERS_LONG_REPEATS", "ZOO3D_PEERS_NEUS_REPEATS"):
        monkeypatch.delenv(name, raising=False)
    return stand_in_children(monkeypatch)


@pytest.mark.parametrize("var, value, message", [
    ("ZOO3D_PEERS_REPEATS", "three", "ZOO3D_PEERS_REPEATS must be a whole number, not 'three'."),
    ("ZOO3D_PEERS_REPEATS", "0", "ZOO3D_PEERS_REPEATS must be at least 1, not 0: each record is measured in that "
                                 "many pairs."),
    # read for the 256² records, which come after the 128² ones: refused before those run too
    ("ZOO3D_PEERS_LONG_REPEATS", "1.5", "ZOO3D_PEERS_LONG_REPEATS must be a whole number, not '1.5'."),
])
def test_a_count_that_is_no_whole_number_of_pairs_is_refused_before_anything_is_measured(measured, monkeypatch,
                                                                                          capsys, var, value, message):
    monkeypatch.setenv(var, value)
    code, out, err = run_in_process(capsys, "bench", "peers", "--device", "cpu")
    assert (code, out, err) == (2, "", f"Error: {message}\n")
    assert measured == []


def test_an_empty_count_is_the_default_and_a_given_one_the_pairs(measured, monkeypatch):
    monkeypatch.setenv("ZOO3D_PEERS_ONLY", "gram.inference.128,gram.graph.256")
    monkeypatch.setenv("ZOO3D_PEERS_REPEATS", " ")
    monkeypatch.setenv("ZOO3D_PEERS_LONG_REPEATS", "1")
    rows = peers.run("cpu", quick=False)
    assert [r["record"] for r in rows] == ["gram.inference.128", "gram.graph.256"]
    assert measured == ["gram.inference.128"] * 2 * 3 + ["gram.graph.256"] * 2 * 1
