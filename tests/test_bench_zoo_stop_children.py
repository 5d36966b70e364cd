"""``zoo3d bench zoo`` stopped by SIGTERM or Ctrl-C stops the children it started (docs/zoo.md, "Stopping"): each gets
SIGTERM (``zoo3d train`` saves a checkpoint and exits 143), none is left running, no thread waits on, no queued
training starts, and the run exits 143 (SIGTERM) or 130 (Ctrl-C) after one line that says how to continue it.

The children are stand-ins for ``zoo3d train``, ``sample`` and ``compare`` (small Python scripts); the one named in
``ZOO_STAND_IN_SIGNAL`` sends the signal to the run itself once the others it names are running, so the signal comes
from inside the work, not from a timer."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

import pytest

from conftest import run_in_process as zoo3d
from zoo3d.benchmarks import zoo

# Stands in for `zoo3d train MODEL ... --out RUN`, `zoo3d sample` and `zoo3d compare`; marks go to ZOO_STAND_IN_MARKS.
CHILD = r"""
import os, pathlib, signal, sys, time
command, argv = sys.argv[1], sys.argv[2:]
marks = pathlib.Path(os.environ["ZOO_STAND_IN_MARKS"])
if command == "sample":
    sys.exit(0)
name = argv[0] if command == "train" else pathlib.Path(argv[argv.index("--json") + 1]).stem  # compare-part0 ...
def stop(signum, frame):  # as zoo3d train does: save, then exit 128 + signal
    (marks / (name + ".stopped")).write_text(signal.Signals(signum).name)
    sys.exit(128 + signum)
def again(signum, frame):  # a second Ctrl-C at the terminal while the run waits for this child to stop
    os.kill(os.getppid(), signal.SIGINT)
signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get("ZOO_STAND_IN_DEAF") == name else
              again if os.environ.get("ZOO_STAND_IN_AGAIN") == name else stop)
if command == "train":
    run_dir = pathlib.Path(argv[argv.index("--out") + 1])
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("model: " + name + "\n")
    (run_dir / "ckpt").write_text('{"zoo3d.step": "3"}')
(marks / (name + ".pid")).write_text(str(os.getpid()))
(marks / (name + ".ready")).touch()
who, signum, others = os.environ["ZOO_STAND_IN_SIGNAL"].split(":")
others = [m for m in others.split(",") if m]
if name == who:
    deadline = time.monotonic() + 60
    while not all((marks / (m + ".ready")).exists() for m in others) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(os.getppid(), int(signum))
elif command == "train" and name not in others:  # a training nobody waits for ends at once
    sys.exit(0)
time.sleep(15)
(marks / (name + ".slept")).touch()  # ran its course: nothing stopped it
"""


class Killed(Exception):
    """Raised by the test's own SIGTERM handler: a SIGTERM the command left to it fails the test, not the test run."""


@pytest.fixture
def stand_ins(tmp_path, monkeypatch):
    """The children replaced by CHILD; returns the folder of their marks. The run's folder is tmp_path/out."""
    import zoo3d.runs
    import zoo3d.train.checkpoint

    for key in [k for k in os.environ if k.startswith("ZOO3D_ZOO_")]:
        monkeypatch.delenv(key)
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("ZOO_STAND_IN_MARKS", str(marks))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("ZOO3D_ZOO_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("ZOO3D_ZOO_STEPS", "5")
    monkeypatch.setenv("ZOO3D_ZOO_METRICS", "epi")
    monkeypatch.setattr(zoo, "_zoo3d", lambda *args: [sys.executable, "-c", CHILD, *args])
    monkeypatch.setattr(zoo3d.runs, "run_checkpoint", lambda run_dir: Path(run_dir) / "ckpt")
    monkeypatch.setattr(zoo3d.train.checkpoint, "read_metadata", lambda path: json.loads(Path(path).read_text()))
    monkeypatch.setattr(zoo, "controls", lambda: ["oracle"])

    def handler(signum, frame):
        raise Killed

    previous = signal.signal(signal.SIGTERM, handler)
    yield marks
    signal.signal(signal.SIGTERM, previous)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _lines(err: str) -> list[str]:
    """stderr's lines without the empty one click writes on Ctrl-C before ``Aborted.``."""
    return [line for line in err.splitlines() if line]


def _pool_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")}


@pytest.mark.parametrize("signum, code, last", [(signal.SIGTERM, 143, "Stopped by SIGTERM."),
                                                (signal.SIGINT, 130, "Aborted.")])
def test_a_run_stopped_during_its_trainings_stops_them_and_starts_no_more(tmp_path, stand_ins, monkeypatch, capsys,
                                                                          ctrl_c_raises, signum, code, last):
    """Two trainings side by side, a third queued; pigan's stand-in signals the run once gram's is running too."""
    monkeypatch.setenv("ZOO3D_ZOO_MODELS", "gram,pigan,triplane")
    monkeypatch.setenv("ZOO3D_ZOO_JOBS", "2")
    monkeypatch.setenv("ZOO_STAND_IN_SIGNAL", f"pigan:{int(signum)}:gram")
    threads = _pool_threads()
    got, _, err = zoo3d(capsys, "bench", "zoo", "--device", "cpu")
    out = tmp_path / "out"
    assert got == code, err
    assert _lines(err)[-2:] == [
        f"zoo: stopped; to continue, run it again with ZOO3D_ZOO_OUT={out} ZOO3D_ZOO_RESUME=1 (the trainings that "
        f"finished are not redone); first remove the trainings it cut off: {out / 'runs' / 'gram'}, "
        f"{out / 'runs' / 'pigan'}", last], err
    for model in ("gram", "pigan"):  # each was asked to save, by SIGTERM, and has ended
        assert (stand_ins / f"{model}.stopped").read_text() == "SIGTERM"  # not the end of its 15 s
        assert _gone(int((stand_ins / f"{model}.pid").read_text()))
        assert not zoo.training_record_path(out / "runs" / model).exists()  # cut off: no record
    assert not (stand_ins / "triplane.ready").exists() and not (out / "runs" / "triplane").exists()  # never started
    assert _pool_threads() <= threads  # no thread left waiting


@pytest.mark.parametrize("jobs, parts", [("1", ["compare"]), ("2", ["compare-part0", "compare-part1"])])
def test_a_run_stopped_during_its_comparison_stops_the_comparison(tmp_path, stand_ins, monkeypatch, capsys, jobs,
                                                                  parts):
    """One job: the comparison is the main thread's own child; two: two parts in threads, the last one signals once
    the other runs. The training that finished keeps its record."""
    monkeypatch.setenv("ZOO3D_ZOO_MODELS", "gram")
    monkeypatch.setenv("ZOO3D_ZOO_JOBS", jobs)
    monkeypatch.setenv("ZOO_STAND_IN_SIGNAL", f"{parts[-1]}:{int(signal.SIGTERM)}:{','.join(parts[:-1])}")
    threads = _pool_threads()
    got, _, err = zoo3d(capsys, "bench", "zoo", "--device", "cpu")
    out = tmp_path / "out"
    assert got == 143, err
    assert _lines(err)[-2:] == [
        f"zoo: stopped; to continue, run it again with ZOO3D_ZOO_OUT={out} ZOO3D_ZOO_RESUME=1 (the trainings that "
        "finished are not redone)", "Stopped by SIGTERM."], err
    for part in parts:
        assert (stand_ins / f"{part}.stopped").read_text() == "SIGTERM"  # asked to stop, not killed
        assert _gone(int((stand_ins / f"{part}.pid").read_text()))
    assert _pool_threads() <= threads
    assert json.loads(zoo.training_record_path(out / "runs" / "gram").read_text())["step"] == 3


def test_the_line_on_how_to_continue_reads_back_as_the_folders_in_a_shell(tmp_path):
    """A folder with a space is one shell word: copied into a shell, the line sets ZOO3D_ZOO_OUT to the run's folder."""
    out = tmp_path / "my zoo"
    (out / "runs" / "pigan").mkdir(parents=True)
    (out / "runs" / "pigan" / "config.yaml").write_text("model: pigan\n")  # cut off: a run without a record
    (out / "runs" / "gram").mkdir()
    (out / "runs" / "gram" / "config.yaml").write_text("model: gram\n")
    zoo.training_record_path(out / "runs" / "gram").write_text("{}")  # finished
    hint = zoo.resume_hint(zoo.ZooSettings(models=["gram", "pigan", "triplane"], out=out))
    command, _, cut = hint.partition(" (the trainings that finished are not redone); first remove the trainings it "
                                     "cut off: ")
    assert shlex.split(command)[-2:] == [f"ZOO3D_ZOO_OUT={out}", "ZOO3D_ZOO_RESUME=1"]
    assert shlex.split(cut) == [str(out / "runs" / "pigan")]


def test_a_child_that_ignores_the_stop_is_killed_after_the_grace(tmp_path, stand_ins, monkeypatch, capsys):
    """gram's stand-in ignores SIGTERM: after CHILD_STOP_S it is killed, so the run still ends and leaves nothing."""
    monkeypatch.setenv("ZOO3D_ZOO_MODELS", "gram,pigan")
    monkeypatch.setenv("ZOO3D_ZOO_JOBS", "2")
    monkeypatch.setenv("ZOO_STAND_IN_SIGNAL", f"pigan:{int(signal.SIGTERM)}:gram")
    monkeypatch.setenv("ZOO_STAND_IN_DEAF", "gram")
    monkeypatch.setattr(zoo, "CHILD_STOP_S", 0.2)
    got, _, err = zoo3d(capsys, "bench", "zoo", "--device", "cpu")
    assert got == 143 and _lines(err)[-1] == "Stopped by SIGTERM.", err
    assert (stand_ins / "pigan.stopped").read_text() == "SIGTERM" and not (stand_ins / "gram.stopped").exists()
    assert _gone(int((stand_ins / "gram.pid").read_text()))  # killed, not left sleeping


@pytest.mark.parametrize("models, jobs, who, others", [("gram", "1", "compare", ""),  # the main thread's own child
                                                      ("gram,pigan", "2", "pigan", "gram")])  # two in threads
def test_a_second_ctrl_c_while_the_children_stop_kills_them_and_still_says_how_to_go_on(
        tmp_path, stand_ins, monkeypatch, capsys, ctrl_c_raises, models, jobs, who, others):
    """The child that signals the run answers its SIGTERM with a second SIGINT, as a user pressing Ctrl-C again while
    the run waits out CHILD_STOP_S, and runs on: it is killed at once, not left running after the run has exited."""
    monkeypatch.setenv("ZOO3D_ZOO_MODELS", models)
    monkeypatch.setenv("ZOO3D_ZOO_JOBS", jobs)
    monkeypatch.setenv("ZOO_STAND_IN_SIGNAL", f"{who}:{int(signal.SIGINT)}:{others}")
    monkeypatch.setenv("ZOO_STAND_IN_AGAIN", who)
    got, _, err = zoo3d(capsys, "bench", "zoo", "--device", "cpu")
    assert got == 130 and _lines(err)[-1] == "Aborted.", err
    assert _lines(err)[-2].startswith(f"zoo: stopped; to continue, run it again with ZOO3D_ZOO_OUT={tmp_path / 'out'} "
                                      "ZOO3D_ZOO_RESUME=1"), err
    assert not (stand_ins / f"{who}.stopped").exists()  # it never stopped of itself
    assert _gone(int((stand_ins / f"{who}.pid").read_text()))  # killed, not left sleeping
    assert not (stand_ins / f"{who}.slept").exists()  # nor waited for to the end of its sleep
