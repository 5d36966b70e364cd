"""Every ``zoo3d`` command stopped by SIGTERM (a scheduler's, ``timeout``'s, ``kill``'s) says ``Stopped by SIGTERM.``
and exits with 128 + 15, as ``train``, ``demo`` and ``view`` do, and leaves no hidden temporary file or half-made
output in its output folder (docs/training.md, "Signals"). Before, ``sample``, ``render``, ``export``, ``invert``,
``compare``, ``import``, ``bench`` and ``data`` took the signal's default action: status 143 with no word, and the
hidden temporary file of the write under way stayed behind (``.h.ply.tmp-<pid>``) until a later write of the same
target. The signal is sent from inside the work (a loaded model, a temporary file about to be renamed into place)."""

from __future__ import annotations

import importlib
import os
import signal
from pathlib import Path

import pytest

from conftest import run_in_process as zoo3d
from test_invert_cli import toy_image  # noqa: F401 (a fixture)

RELEASE = Path(__file__).parent / "fixtures" / "releases" / "eg3d_snapshot.pkl"


class Killed(Exception):
    """Raised by the test's own SIGTERM handler: what the signal would have done had the command not caught it."""


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    """The working folder, with a SIGTERM handler of the test's (a command that left SIGTERM to it fails the test,
    not the test run); the handler must be back after each command."""
    def handler(signum, frame):
        raise Killed

    monkeypatch.chdir(tmp_path)
    previous = signal.signal(signal.SIGTERM, handler)
    yield tmp_path
    assert signal.getsignal(signal.SIGTERM) is handler
    signal.signal(signal.SIGTERM, previous)


def _sigterm_after(monkeypatch, target: str) -> None:
    """``target`` ("module:function") runs, then SIGTERM arrives, as a scheduler's would while the work goes on."""
    module, _, name = target.partition(":")
    module = importlib.import_module(module)
    real = getattr(module, name)

    def then_sigterm(*args, **kwargs):
        out = real(*args, **kwargs)
        signal.raise_signal(signal.SIGTERM)
        return out

    monkeypatch.setattr(module, name, then_sigterm)


def _stopped(capsys, *args) -> None:
    code, _, err = zoo3d(capsys, *args)
    assert code == 128 + signal.SIGTERM == 143, err
    assert err.splitlines()[-1] == "Stopped by SIGTERM." and "Traceback" not in err, err


COMMANDS = {
    "sample": ["sample", "--model", "oracle", "--seeds", "0,1", "--resolution", "8", "--out", "out/s.png"],
    "render": ["render", "--model", "oracle", "--frames", "2", "--resolution", "8", "--out", "out/r.gif"],
    "export": ["export", "--model", "oracle", "--resolution", "8", "--out", "out/h.ply"],
    "import": ["import", "triplane", RELEASE, "--preset", "tiny_eg3d", "--out", "out/run"],
    "compare": ["compare", "--models", "oracle,oracle_inconsistent", "--metric", "epi", "--instances", "1",
                "--resolution", "16", "--set", "epi_frames=4", "--device", "cpu", "--json", "out/rep.json",
                "--markdown", "out/rep.md"],
    "data synth": ["data", "synth", "--out", "out/d", "--count", "2", "--resolution", "32", "--batch", "2"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_sigterm_as_the_output_is_written_leaves_no_hidden_file(here, capsys, monkeypatch, command):
    """The moment the hidden temporary file is written and synced, before it is renamed to the output."""
    (here / "out").mkdir()
    _sigterm_after(monkeypatch, "zoo3d.fileio:_fsync")
    _stopped(capsys, *COMMANDS[command])
    assert sorted(os.listdir(here / "out")) == []


@pytest.mark.parametrize("command", ["sample", "render", "export"])
def test_sigterm_while_the_model_is_loaded_writes_nothing(here, capsys, monkeypatch, command):
    (here / "out").mkdir()
    _sigterm_after(monkeypatch, "zoo3d.runs:load_model")
    _stopped(capsys, *COMMANDS[command])
    assert sorted(os.listdir(here / "out")) == []


def test_sigterm_while_synth_renders_removes_its_hidden_folder(here, capsys, monkeypatch):
    """data synth fills a hidden folder beside OUT and renames it at the end: stopped half way, the folder goes."""
    (here / "out").mkdir()
    _sigterm_after(monkeypatch, "zoo3d.cli.data:_synth_into")
    _stopped(capsys, *COMMANDS["data synth"])
    assert sorted(os.listdir(here / "out")) == []


def test_sigterm_during_data_check_is_one_line(here, capsys, monkeypatch):
    assert zoo3d(capsys, *COMMANDS["data synth"])[0] == 0
    _sigterm_after(monkeypatch, "zoo3d.data.check:check_dataset")
    _stopped(capsys, "data", "check", "out/d")


def test_sigterm_during_a_benchmark_is_one_line_and_writes_no_json(here, capsys, monkeypatch):
    monkeypatch.setenv("ZOO3D_BENCH_INVERT_CKPT", "a-run")
    monkeypatch.setattr("zoo3d.runs.load_model", lambda *a, **k: signal.raise_signal(signal.SIGTERM))
    _stopped(capsys, "bench", "invert", "--quick", "--device", "cpu", "--json", "out.json")
    assert sorted(os.listdir(here)) == []


def test_ctrl_c_is_unchanged(here, capsys, monkeypatch, ctrl_c_raises):
    monkeypatch.setattr("zoo3d.runs.load_model", lambda *a, **k: signal.raise_signal(signal.SIGINT))
    code, _, err = zoo3d(capsys, *COMMANDS["export"])
    assert (code, err.splitlines()[-1]) == (130, "Aborted.")


def test_a_second_sigterm_while_the_command_unwinds_takes_the_default_action(here, capsys, monkeypatch):
    """The first SIGTERM unwinds the command; from then on SIGTERM is the system's (it ends the process at once)."""
    seen = []

    def load_model(*a, **k):
        try:
            signal.raise_signal(signal.SIGTERM)
        finally:
            seen.append(signal.getsignal(signal.SIGTERM))

    monkeypatch.setattr("zoo3d.runs.load_model", load_model)
    _stopped(capsys, *COMMANDS["export"])
    assert seen == [signal.SIG_DFL]


@pytest.mark.parametrize("moment", ["zoo3d.fileio:_fsync", "zoo3d.runs:load_model"])
def test_sigterm_during_an_inversion_leaves_nothing_in_its_folder(toy_image, here, capsys, monkeypatch, moment):
    (here / "out").mkdir()
    _sigterm_after(monkeypatch, moment)
    _stopped(capsys, "invert", toy_image, "--model", "toy_procedural", "--method", "optimize", "--pose", "0.1,0",
             "--steps", "2", "--frames", "2", "--device", "cpu", "--out", "out/o")
    # no file, hidden or not (the image's folder is moved into --out whole; --out itself may have been made)
    assert [p.relative_to(here).as_posix() for p in (here / "out").rglob("*") if not p.is_dir()] == []
    assert [p.name for p in (here / "out").rglob(".*")] == []


def _handler_seen_by_the_work(monkeypatch) -> list:
    """What SIGTERM's handler is while the command works (the command then stops on a user error)."""
    from zoo3d.errors import UserError

    seen = []

    def load_model(*args, **kwargs):
        seen.append(signal.getsignal(signal.SIGTERM))
        raise UserError("Seen.")

    monkeypatch.setattr("zoo3d.runs.load_model", load_model)
    return seen


def test_a_process_torchrun_started_keeps_the_default_action(here, capsys, monkeypatch):
    """There the agent's SIGTERM must end a process waiting on a dead peer in a collective at once; a Python
    handler would run only when the collective returns."""
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    seen = _handler_seen_by_the_work(monkeypatch)
    zoo3d(capsys, *COMMANDS["export"])
    assert seen == [signal.getsignal(signal.SIGTERM)]  # the test's own, untouched


def test_an_ignored_sigterm_stays_ignored(here, capsys, monkeypatch):
    """A process started with SIGTERM ignored (by its parent's choice) goes on ignoring it."""
    own = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        seen = _handler_seen_by_the_work(monkeypatch)
        zoo3d(capsys, *COMMANDS["export"])
        assert seen == [signal.SIG_IGN] and signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, own)
