"""Processes that have not ended ``TORCH_ELASTIC_SHUTDOWN_TIMEOUT`` seconds after the signal ``zoo3d train --nproc``'s
launcher passed on are killed by torchrun's agent, without their checkpoint: the launcher says so and how to give them
longer. It ended with 128 + signal and nothing said, after rank 0 had told the user the run would stop after its step
with a checkpoint."""

from __future__ import annotations

import signal
import types

import pytest
from torch.distributed import run as torchrun
from torch.distributed.elastic.multiprocessing.api import SignalException

from zoo3d.launch import launch_processes
from zoo3d.plugins import PLUGIN_NOTES_SAID
from zoo3d.train import signals

KILLED = ("Stopped by SIGTERM: the training processes had not ended 5 s after it (TORCH_ELASTIC_SHUTDOWN_TIMEOUT) and "
          "were killed; --resume continues from the run's newest whole checkpoint, if it has one (raise "
          "TORCH_ELASTIC_SHUTDOWN_TIMEOUT above a step and a checkpoint write).")


@pytest.mark.parametrize("timeout, waited, said", [
    ("5", 4.9, ""), ("5", 5.0, KILLED + "\n"),
    (None, 30.0, KILLED.replace(" 5 s ", " 30 s ") + "\n"),  # torch's default
    ("soon", 1e6, ""),  # no number: the launcher cannot tell what the agent did
])
def test_processes_killed_at_the_shutdown_timeout_are_said(monkeypatch, capsys, timeout, waited, said):
    clock = types.SimpleNamespace(now=10.0)
    monkeypatch.setattr(signals, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    if timeout is None:
        monkeypatch.delenv("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", timeout)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv(PLUGIN_NOTES_SAID, "1")
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not ignored: the launcher takes it

    def agent(args):
        """The agent on a SIGTERM: it passes it on, waits for the processes (``waited`` s), and raises it again."""
        try:
            signal.raise_signal(signal.SIGTERM)
        except SignalException:
            clock.now += waited
            raise

    monkeypatch.setattr(torchrun, "run", agent)
    try:
        assert launch_processes(2, ["train", "toy"]) == 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert capsys.readouterr().err == said


def test_a_signal_the_agent_took_itself_is_not_said_killed(monkeypatch, capsys):
    """SIGHUP and SIGQUIT are the agent's own to pass on: the launcher never saw them arrive, and cannot say how long
    the processes took (its clock for them started at 0, so any run read as one killed at the timeout)."""
    monkeypatch.setattr(signals, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))
    monkeypatch.setenv("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "5")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv(PLUGIN_NOTES_SAID, "1")

    def agent(args):
        raise SignalException("Process 1 got signal: 1", sigval=signal.SIGHUP)

    monkeypatch.setattr(torchrun, "run", agent)
    assert launch_processes(2, ["train", "toy"]) == 129
    assert capsys.readouterr().err == ""
