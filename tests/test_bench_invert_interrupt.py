"""A Ctrl-C (or SIGTERM) during the training ``zoo3d bench invert`` does first (no ``ZOO3D_BENCH_INVERT_CKPT``)
stops the command as it stops every suite, exit status 130 (143), instead of the training taking the signal,
stopping at a checkpoint and the suite going on to measure that part-trained model and exit 0."""

from __future__ import annotations

import pytest

from conftest import run_in_process


@pytest.mark.parametrize("signal, code, message", [("SIGINT", 130, "Aborted.\n"), ("SIGTERM", 143, "")])
def test_a_signal_that_stopped_the_training_stops_the_suite(monkeypatch, capsys, tmp_path, signal, code, message):
    import zoo3d.launch
    import zoo3d.runs
    from zoo3d.train.engine import TrainResult

    monkeypatch.delenv("ZOO3D_BENCH_INVERT_CKPT", raising=False)
    monkeypatch.setattr(zoo3d.launch, "train_model", lambda model, **kw: TrainResult(
        tmp_path / "run", 2, "interrupted", tmp_path / "run" / "checkpoints" / "step_2.pt", signal))
    loaded = []
    monkeypatch.setattr(zoo3d.runs, "load_model", lambda ref, **kw: loaded.append(ref))
    got, out, err = run_in_process(capsys, "bench", "invert", "--quick", "--device", "cpu")
    assert (got, out, loaded) == (code, "", [])
    assert err.endswith(message) and "Traceback" not in err
