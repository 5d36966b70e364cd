"""benchmarks/synthesis_2d.py scores its EMA every ``--every`` steps and at the end: ``--every 0`` (or below) is
refused by its parser, exit status 2, before anything is built, where the first step stopped on a ZeroDivisionError
after the networks and 64 dataset images had been made."""

from __future__ import annotations

import pytest

from conftest import benchmark_script


@pytest.mark.parametrize("every", ["0", "-5"])
def test_every_below_one_is_refused_before_anything_is_built(every, capsys, monkeypatch):
    script = benchmark_script("synthesis_2d")
    monkeypatch.setattr(script, "build", lambda args: pytest.fail("the networks were built"))
    with pytest.raises(SystemExit) as stop:
        script.main(["--steps", "1", "--every", every])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        f"error: --every must be at least 1 (the steps between scores; the end is always scored), not {every}")


def test_every_one_is_accepted_and_the_networks_are_built(monkeypatch):
    """``--every 1`` (a score after each step) is the smallest accepted: the networks are built."""
    script = benchmark_script("synthesis_2d")

    class Built(Exception):
        pass

    def build(args):
        raise Built(args.every)

    monkeypatch.setattr(script, "build", build)
    with pytest.raises(Built, match="^1$"):
        script.main(["--steps", "1", "--every", "1"])
