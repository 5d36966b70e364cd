"""What torchrun's variables say when torchrun did not start the process: a ``WORLD_SIZE`` that is no integer, or
one above 1 without the rendezvous address torchrun always sets. Each is one sentence naming the variable (exit
status 2) before any folder is made, not a traceback or a sentence about a peer that never existed."""

from __future__ import annotations

import pytest

from cli_toy import zoo3d
from toy_model import one_thread, use_toy

TORCHRUN_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with one_thread():
        yield tmp_path


@pytest.mark.parametrize("value", ["two", "2.0"])
def test_nproc_under_a_world_size_that_is_no_integer_is_one_sentence(toy, monkeypatch, capsys, value):
    monkeypatch.setenv("WORLD_SIZE", value)
    assert zoo3d("train", "toy", "--nproc", "2", "--out", "run", "--quiet") == 2
    err = capsys.readouterr().err
    assert err == f"Error: Environment variable WORLD_SIZE='{value}' must be an integer.\n"
    assert not (toy / "run").exists()


@pytest.mark.parametrize("given, missing", [({}, "MASTER_ADDR and MASTER_PORT, which torchrun sets, are"),
                                            ({"MASTER_ADDR": "localhost"}, "MASTER_PORT, which torchrun sets, is"),
                                            ({"MASTER_PORT": "29500"}, "MASTER_ADDR, which torchrun sets, is")])
def test_a_world_size_torchrun_did_not_set_is_named_not_blamed_on_a_peer(toy, monkeypatch, capsys, given, missing):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    assert zoo3d("train", "toy", "--out", "run", "--quiet") == 2
    err = capsys.readouterr().err
    assert err == (f"Error: WORLD_SIZE=2 says this process is one of 2, but {missing} not set; unset WORLD_SIZE "
                   f"(and RANK) to train in one process, or start the processes with torchrun or zoo3d train "
                   f"--nproc.\n")
    assert not (toy / "run").exists()


def test_nproc_says_a_bad_collective_timeout_once_before_starting_any_process(toy, monkeypatch, capsys):
    from zoo3d import launch

    started = []
    monkeypatch.setattr(launch, "launch_processes", lambda nproc, args: started.append(nproc) or 0)
    monkeypatch.setenv("ZOO3D_DIST_TIMEOUT", "10m")
    assert zoo3d("train", "toy", "--nproc", "2", "--out", "run", "--quiet") == 2
    assert capsys.readouterr().err == "Error: Environment variable ZOO3D_DIST_TIMEOUT='10m' must be an integer.\n"
    assert started == [] and not (toy / "run").exists()
    monkeypatch.setenv("ZOO3D_DIST_TIMEOUT", "30")
    assert zoo3d("train", "toy", "--nproc", "2", "--out", "run", "--quiet") == 0
    assert started == [2]


def test_nproc_refuses_to_resume_a_run_in_use_before_starting_any_process(toy, monkeypatch, capsys):
    from zoo3d import launch
    from zoo3d.runs import RunLock

    assert zoo3d("train", "toy", "--steps", "2", "--out", "run", "--quiet") == 0
    started = []
    monkeypatch.setattr(launch, "launch_processes", lambda nproc, args: started.append(nproc) or 0)
    lock = RunLock(toy / "run").acquire()  # another zoo3d process writing to the run
    try:
        capsys.readouterr()
        assert zoo3d("train", "toy", "--out", "run", "--resume", "--nproc", "2", "--quiet") == 2
        err = capsys.readouterr().err
    finally:
        lock.release()
    assert err.startswith("Error: Run folder 'run' is in use by another zoo3d process (pid ") and err.count("\n") == 1
    assert err.endswith("; wait for it to finish or choose another --out.\n")
    assert started == []
    assert zoo3d("train", "toy", "--out", "run", "--resume", "--nproc", "2", "--quiet") == 0
    assert started == [2]
