"""The command an interrupted ``zoo3d demo`` prints to continue: pasted into a shell, it continues the same run with the
options typed (the --steps cap, which splits the stages, the device, the turntable's seed and frames), as ``zoo3d
train``'s "Continue with:" does, and a folder name with spaces stays one argument. The training is a recording
stand-in that reports a stop."""

from __future__ import annotations

import shlex
import types
from pathlib import Path

import pytest

from conftest import run_in_process as zoo3d
from zoo3d.train.engine import TrainResult


@pytest.fixture
def stopped(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    rec = types.SimpleNamespace(trained=[], status="interrupted")

    def train_model(model, **kw):
        rec.trained.append(kw)
        Path(kw["out"]).mkdir(parents=True, exist_ok=True)
        (Path(kw["out"]) / "config.yaml").write_text("a run's")  # so the next demo continues it
        return TrainResult(run_dir=Path(kw["out"]), step=3, status=rec.status, checkpoint=None, signal="SIGINT",
                           start_step=0)

    monkeypatch.setattr("zoo3d.launch.train_model", train_model)
    monkeypatch.setattr("zoo3d.runs.load_model", lambda *a, **k: pytest.fail("an interrupted demo renders nothing"))
    return rec


def _advice(err: str) -> list[str]:
    head, tail = "Stopped by SIGINT; run `", "` again to continue.\n"
    assert err.startswith(head) and err.endswith(tail), err
    return shlex.split(err[len(head):-len(tail)])


def test_the_printed_command_continues_with_the_options_typed(stopped, capsys):
    code, _, err = zoo3d(capsys, "demo", "--out", "my runs/d ü", "--steps", "40", "--device", "cpu", "--frames", "5",
                         "--seed", "9")
    assert code == 130  # 128 + SIGINT, as zoo3d train exits
    again = _advice(err)  # it used to be `zoo3d demo --out my runs/d ü`: three arguments, and no --steps 40
    assert again[:2] == ["zoo3d", "demo"]
    zoo3d(capsys, *again[1:])
    first, second = stopped.trained
    assert second["resume"] is True and str(second["out"]) == str(first["out"]) == "my runs/d ü"
    assert (second["steps"], second["device"]) == (first["steps"], first["device"]) == (40, "cpu")
    assert again[2:] == ["--out", "my runs/d ü", "--steps", "40", "--device", "cpu", "--frames", "5", "--seed", "9"]


def test_options_left_at_their_defaults_are_left_out(stopped, capsys):
    code, _, err = zoo3d(capsys, "demo", "--out", "d")
    assert code == 130 and _advice(err) == ["zoo3d", "demo", "--out", "d"]
