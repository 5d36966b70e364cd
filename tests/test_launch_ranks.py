"""One process or many: rank 0 makes and locks the run folder, the others follow; --nproc's checks and launcher.

docs/training.md ("Several processes"): every process runs the same ``zoo3d train``; rank 0 makes the run
folder, writes ``config.yaml`` and holds the lock for all, and a mistake every process makes alike is said once.
The ranks are simulated in one process: a stand-in for the process group's broadcast, ``env_world`` and
``init_world`` replaced, torchrun's entry point and its failure records stood in for; no process is started.
"""

from __future__ import annotations

import os
import signal
from types import SimpleNamespace

import pytest
import torch
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

from toy_model import one_thread, use_toy
from zoo3d import launch
from zoo3d.errors import UserError
from zoo3d.launch import LaunchFailed, check_launch, plan_run, resume_command, train_model
from zoo3d.runs import RunLockedError, RunLock
from zoo3d.train.distributed import World


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    with one_thread():
        yield tmp_path


class Peers:
    """A process of a ``size``-process run whose broadcast hands rank 0's object (``from_main``) to the others."""

    def __init__(self, rank: int, size: int, from_main=None):
        self.rank, self.size, self.from_main, self.sent = rank, size, from_main, []

    is_main = property(lambda self: self.rank == 0)
    is_distributed = property(lambda self: self.size > 1)

    def broadcast_from_main(self, obj):
        self.sent.append(obj)
        return obj if self.is_main else self.from_main


def _held(run_dir) -> bool:
    """Whether some lock (this process's included: flock is per open file) holds ``run_dir``."""
    try:
        RunLock(run_dir).refuse_if_held()
    except RunLockedError:
        return True
    return False


# --------------------------------------------------------------------------------- making the run folder

def test_rank_zero_makes_locks_and_writes_the_folder_then_sends_its_path(toy):
    from zoo3d.config import dump_config

    plan = plan_run("toy", overrides=["toy.z_dim=5"])
    world = Peers(0, 2)
    run_dir, lock = launch._make_run_dir(plan, plan.config, world)
    try:
        assert run_dir.parent == toy / "runs" and run_dir.name.startswith("toy-")
        assert (run_dir / "config.yaml").read_text() == dump_config(plan.config)
        assert world.sent == [(str(run_dir), "")] and _held(run_dir)
    finally:
        lock.release()
    assert not _held(run_dir)


def test_the_other_ranks_take_rank_zeros_folder_and_write_nothing(toy):
    plan = plan_run("toy", out=toy / "mine")
    world = Peers(1, 2, from_main=(str(toy / "theirs"), ""))
    assert launch._make_run_dir(plan, plan.config, world) == (toy / "theirs", None)
    assert world.sent == [("", "")]  # rank 1's own value is not used
    assert not (toy / "mine").exists() and not (toy / "runs").exists()
    world = Peers(2, 3, from_main=("", "Cannot create run folder 'x': the disk is full."))
    with pytest.raises(UserError) as caught:
        launch._make_run_dir(plan, plan.config, world)
    assert str(caught.value) == "Cannot create run folder 'x': the disk is full."
    assert not (toy / "mine").exists()


@pytest.mark.parametrize("size", [1, 2])
def test_a_run_that_appeared_meanwhile_is_refused_by_rank_zero_for_every_rank(toy, size):
    out = toy / "run"
    plan = plan_run("toy", out=out)
    train_model("toy", steps=1, out=out, progress=False)  # another run took the folder after the plan was made
    config_before = (out / "config.yaml").read_text()
    world = Peers(0, size)
    with pytest.raises(UserError) as caught:
        launch._make_run_dir(plan, plan.config, world)
    said = str(caught.value)
    assert said.startswith(f"'{out}' already holds a run (config.yaml, checkpoints/") and said.endswith(
        "); add --resume to continue it or choose another --out.")
    # with several processes rank 0 sends the sentence to the others (and raises it like them); alone it just raises
    assert world.sent == ([("", said)] if size > 1 else [])
    assert (out / "config.yaml").read_text() == config_before and not _held(out)


class Stop(Exception):
    pass


def _stop_at_init_world(monkeypatch, rank: int, seen: dict, out):
    import zoo3d.train.distributed as distributed

    monkeypatch.setattr(distributed, "env_world", lambda: World(rank=rank, size=2, local_rank=rank, local_size=2))

    def init_world(device=None):
        latest = (out / "latest").read_text() if (out / "latest").exists() else None
        seen.update(device=device, held=out.is_dir() and _held(out), latest=latest)
        raise Stop

    monkeypatch.setattr(distributed, "init_world", init_world)


@pytest.mark.parametrize("rank", [0, 1])
def test_on_resume_only_rank_zero_locks_the_folder_repoints_latest_and_says_so(toy, monkeypatch, capsys, rank):
    out = toy / "run"
    train_model("toy", steps=1, out=out, progress=False)
    good = (out / "latest").read_text()
    (out / "latest").write_text("checkpoints/step_000000009.safetensors\n")  # dangling
    capsys.readouterr()
    seen = {}
    _stop_at_init_world(monkeypatch, rank, seen, out)
    with pytest.raises(Stop):
        train_model("toy", resume=True, out=out, device="cpu", progress=False)
    err = capsys.readouterr().err
    assert seen["device"] == "cpu"
    if rank == 0:
        assert seen["held"] and seen["latest"] == good
        assert f"{out}: 'latest' names 'checkpoints/step_000000009.safetensors'" in err
    else:  # the others find the same checkpoint without touching the folder
        assert not seen["held"] and seen["latest"] == "checkpoints/step_000000009.safetensors\n" and err == ""
    assert not _held(out)  # released when the run stops, however it stops


def test_without_device_the_stored_configs_device_is_asked_for(toy, monkeypatch):
    out = toy / "run"
    train_model("toy", steps=1, out=out, overrides=["train.device=cpu"], progress=False)
    seen = {}
    _stop_at_init_world(monkeypatch, 0, seen, out)
    with pytest.raises(Stop):
        train_model("toy", resume=True, out=out, progress=False)
    assert seen["device"] == "cpu"


# --------------------------------------------------------------------------------- the resume command

@pytest.mark.parametrize("world, steps, device, said", [
    (World(), None, None, "zoo3d train toy --out 'runs/my run' --resume"),
    (World(), 7, "cpu", "zoo3d train toy --out 'runs/my run' --resume --steps 7 --device cpu"),
    (World(rank=0, size=4, local_size=4), None, "cuda", "zoo3d train toy --out 'runs/my run' --resume --device cuda "
                                                        "--nproc 4"),
    (World(rank=0, size=8, local_size=4), 3, None, "the same torchrun line on every node, with -m zoo3d train toy "
                                                   "--out 'runs/my run' --resume --steps 3"),
])
def test_the_resume_command_repeats_steps_device_and_processes(world, steps, device, said):
    assert resume_command("toy", "runs/my run", world, steps, device) == said


# --------------------------------------------------------------------------------- --nproc's checks

def test_nproc_under_torchrun_is_refused(toy, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UserError) as caught:
        check_launch(2, "toy", device="cpu")
    assert str(caught.value) == ("--nproc starts its own processes; under torchrun leave it out (torchrun's "
                                 "--nproc-per-node sets the count).")
    for alone in ("1", ""):
        monkeypatch.setenv("WORLD_SIZE", alone)
        check_launch(2, "toy", device="cpu")


def test_nproc_checks_the_batch_split_before_any_folder(toy):
    check_launch(2, "toy", device="cpu", out=str(toy / "run"))  # the toy's batch of 4 splits two ways
    with pytest.raises(UserError, match=r"^Stage 'main' has a global batch of 4, which 3 processes cannot share "):
        check_launch(3, "toy", device="cpu", out=str(toy / "run"))
    check_launch(3, "toy", device="cpu", overrides=["train.batch_scope=per_process"])
    with pytest.raises(UserError, match=r"--steps must be at least 1 \(got 0\)"):
        check_launch(2, "toy", device="cpu", steps=0)
    assert not (toy / "run").exists() and not (toy / "runs").exists()


def test_a_per_process_batch_run_resumes_only_with_its_own_process_count(toy):
    out = toy / "run"
    result = train_model("toy", steps=1, out=out, overrides=["train.batch_scope=per_process"], progress=False)
    check_launch(1, "toy", device="cpu", out=str(out), resume=True)
    with pytest.raises(UserError) as caught:
        check_launch(2, "toy", device="cpu", out=str(out), resume=True)
    assert str(caught.value) == (f"'{result.checkpoint}' was written by 1 process with "
                                 f"train.batch_scope=per_process; resume it with --nproc 1 so the global batch stays "
                                 f"the same.")


def test_a_global_batch_run_resumes_with_another_process_count(toy):
    out = toy / "run"
    train_model("toy", steps=1, out=out, progress=False)
    check_launch(2, "toy", device="cpu", steps=2, out=str(out), resume=True)
    with pytest.raises(UserError, match="which 3 processes cannot share"):
        check_launch(3, "toy", device="cpu", steps=2, out=str(out), resume=True)


def test_nproc_on_cuda_wants_one_gpu_per_process_and_no_index(toy, monkeypatch):
    import zoo3d.devices

    asked = []
    resolved = {"cuda": torch.device("cuda"), "cuda:1": torch.device("cuda", 1), "cpu": torch.device("cpu")}
    monkeypatch.setattr(zoo3d.devices, "resolve_device", lambda d: asked.append(d) or resolved[d])
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(UserError) as caught:
        check_launch(2, "toy", device="cuda:1")
    assert str(caught.value) == ("With --nproc each process takes one GPU; give --device cuda, not cuda:1 "
                                 "(CUDA_VISIBLE_DEVICES chooses the GPUs).")
    check_launch(2, "toy", device="cuda")
    with pytest.raises(UserError) as caught:
        check_launch(4, "toy", device="cuda")
    assert str(caught.value) == "--nproc 4 needs 4 GPUs (one per process); this machine shows 2."
    check_launch(4, "toy", device="cpu")
    check_launch(2, "toy", overrides=["train.device=cuda"])  # without --device, the config's
    assert asked == ["cuda:1", "cuda", "cuda", "cpu", "cuda"]


# --------------------------------------------------------------------------------- the launcher

def _failure(local_rank: int, exitcode: int, message: str | None = None, at: int = 0) -> ProcessFailure:
    failure = ProcessFailure(local_rank=local_rank, pid=4000 + local_rank, exitcode=exitcode, error_file="/absent")
    if message is not None:
        failure.message = message
    failure.timestamp = at
    return failure


def _child_failed(*failures: ProcessFailure) -> ChildFailedError:
    return ChildFailedError("zoo3d", {f.local_rank: f for f in failures})


@pytest.mark.parametrize("codes, status", [
    ((130, 130), 130), ((143, 130), 143), ((130, -15), 130), ((143, -2), 143), ((130,), 130),
    ((130, 143, -2, -15), 143),
])
def test_processes_stopped_by_a_signal_after_their_checkpoint_exit_with_its_status(codes, status):
    assert launch._failed(_child_failed(*(_failure(r, c) for r, c in enumerate(codes))), len(codes)) == status


def test_a_process_that_said_its_user_error_leaves_the_status_two():
    assert launch._failed(_child_failed(_failure(0, 2, at=1), _failure(1, -15, at=2)), 2) == 2


@pytest.mark.parametrize("failures, nproc, said", [
    ((_failure(1, -9, at=1), _failure(0, -15, at=2)), 2,
     "Training process rank 1 (local rank 1, pid 4001) was killed by SIGKILL; the launcher stopped the other 1."),
    ((_failure(0, 1, "RuntimeError: boom\n  at line 3", at=1), _failure(1, 130, at=2), _failure(2, -15, at=3)), 3,
     "Training process rank 0 (local rank 0, pid 4000) exited with status 1 (RuntimeError: boom); the launcher "
     "stopped the other 2."),
    ((_failure(0, 1, at=1),), 1,  # torchrun's own "To enable traceback see: https://pytorch.org/..." is not repeated
     "Training process rank 0 (local rank 0, pid 4000) exited with status 1."),
    ((_failure(0, 3, "<N/A>", at=1),), 1, "Training process rank 0 (local rank 0, pid 4000) exited with status 3."),
    ((_failure(0, 3, "", at=1),), 1, "Training process rank 0 (local rank 0, pid 4000) exited with status 3."),
    ((_failure(0, -15, at=1), _failure(1, -15, at=2)), 2,  # SIGTERM from outside, before any checkpoint
     "Training process rank 0 (local rank 0, pid 4000) was killed by SIGTERM; the launcher stopped the other 1."),
    ((_failure(0, 1, "x" * 400, at=1),), 1,
     f"Training process rank 0 (local rank 0, pid 4000) exited with status 1 ({'x' * 300})."),
])
def test_a_failed_process_is_named_with_how_it_ended(failures, nproc, said):
    with pytest.raises(LaunchFailed) as caught:
        launch._failed(_child_failed(*failures), nproc)
    assert str(caught.value) == said and isinstance(caught.value, UserError)


@pytest.fixture
def agent(monkeypatch):
    """torchrun's entry point stood in for: records the argv it was given and the environment it ran in."""
    from torch.distributed import run as torchrun

    from zoo3d.plugins import PLUGIN_NOTES_SAID

    seen = {"raise": None}

    def run(args):
        seen.update(args=args, omp=os.environ.get("OMP_NUM_THREADS"), notes=os.environ.get(PLUGIN_NOTES_SAID))
        if seen["raise"] is not None:
            raise seen["raise"]

    monkeypatch.setattr(torchrun, "parse_args", lambda argv: list(argv))
    monkeypatch.setattr(torchrun, "run", run)
    # the launcher sets both in this process: each is set here first so that monkeypatch restores it afterwards
    # (a delenv of an absent variable records nothing to undo)
    for name in (PLUGIN_NOTES_SAID, "OMP_NUM_THREADS"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return seen


def test_the_launcher_runs_torchrun_standalone_without_restarts(agent, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # a system that does not say (macOS): every core
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    # SIGINT and SIGTERM are the launcher's own (test_launch_second_signal.py); the agent passes on the others
    handled = ["--signals-to-handle", "SIGHUP,SIGQUIT"] if launch._agent_takes_signal_list() else []
    assert launch.launch_processes(4, ["train", "toy", "--steps", "2"]) == 0
    assert agent["args"] == ["--standalone", "--nproc-per-node", "4", "--max-restarts", "0", *handled, "-m", "zoo3d",
                             "train", "toy", "--steps", "2"]
    assert agent["omp"] == "4" and agent["notes"] == "1"  # the cores shared out; the plugin notes said here
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert launch.launch_processes(32, ["x"], script="h.py") == 0
    assert agent["args"] == ["--standalone", "--nproc-per-node", "32", "--max-restarts", "0", *handled, "h.py", "x"]
    assert agent["omp"] == "1"
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one thread each
    launch.launch_processes(1, ["x"])
    assert agent["omp"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    launch.launch_processes(2, ["x"])
    assert agent["omp"] == "3"  # the user's setting is kept


@pytest.mark.skipif(not launch._agent_takes_signal_list(), reason="this torch's agent handles every signal itself")
def test_a_launcher_started_under_nohup_leaves_the_hang_up_ignored(agent, monkeypatch):
    """``nohup zoo3d train … --nproc 2``: the agent had handled SIGHUP all the same, and a hang-up (a closed ssh
    session) ended the processes at once, without a checkpoint; now it is passed on only where it is not ignored."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    launch.launch_processes(2, ["x"])
    assert agent["args"][4:7] == ["0", "--signals-to-handle", "SIGHUP,SIGQUIT"]
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        launch.launch_processes(2, ["x"])
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert agent["args"][4:7] == ["0", "--signals-to-handle", "SIGQUIT"]


def test_the_launcher_returns_the_signal_status_or_names_the_failed_process(agent, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    agent["raise"] = SignalException("stop", signal.SIGTERM)
    assert launch.launch_processes(2, ["x"]) == 143
    agent["raise"] = SignalException("stop", signal.SIGINT)
    assert launch.launch_processes(2, ["x"]) == 130
    agent["raise"] = _child_failed(_failure(0, 130), _failure(1, 130))
    assert launch.launch_processes(2, ["x"]) == 130
    agent["raise"] = _child_failed(_failure(1, -9, at=1), _failure(0, -15, at=2))
    with pytest.raises(LaunchFailed, match=r"^Training process rank 1 .* was killed by SIGKILL; the launcher stopped "
                                           r"the other 1\.$"):
        launch.launch_processes(2, ["x"])


def test_a_second_signal_of_the_kind_kills_the_processes_and_the_launcher_says_so(agent, monkeypatch, capsys):
    """The agent stood in for: the first SIGTERM raises in it (it passes the stop on and waits), a second kills the
    processes (test_launch_second_signal.py kills real ones); the launcher ends with 143 and one sentence."""
    from torch.distributed import run as torchrun

    from zoo3d.train import signals

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(signals, "started_group_leaders", lambda: [101, 102])
    monkeypatch.setattr(signals, "kill_process_groups", lambda leaders: list(leaders))

    def run(args, second):
        try:
            signal.raise_signal(signal.SIGTERM)
        except SignalException:
            if second:
                signal.raise_signal(signal.SIGTERM)
            raise

    for second in (False, True):
        monkeypatch.setattr(torchrun, "run", lambda args: run(args, second))
        assert launch.launch_processes(2, ["x"]) == 143
        said = capsys.readouterr().err
        assert said == ("Stopped by a second SIGTERM: the launcher killed the 2 training processes at once; --resume "
                        "continues from the run's newest whole checkpoint, if it has one.\n" if second else "")


@pytest.mark.parametrize("resolutions, largest", [([None, 32, 16], 32), ([None], None), ([], None)])
def test_the_dataset_folder_is_checked_at_the_largest_resolution_a_stage_names(toy, monkeypatch, resolutions,
                                                                              largest):
    import toy_model
    import zoo3d.train.data

    checked = []
    monkeypatch.setattr(zoo3d.train.data, "check_folder_dataset", lambda data, at: checked.append(at) or [])
    monkeypatch.setattr(toy_model.ToyModel, "stages",
                        lambda self, config: [SimpleNamespace(resolution=r) for r in resolutions])
    _stop_at_init_world(monkeypatch, 0, {}, toy / "run")
    with pytest.raises(Stop):
        train_model("toy", data="faces", progress=False)
    assert checked == [largest]  # None: no size to compare the images with


@pytest.mark.parametrize("rank", [0, 1])
def test_only_rank_zero_checks_the_dataset_folder_and_says_its_first_five_problems(toy, monkeypatch, capsys, rank):
    import zoo3d.train.data

    checked = []

    def check(data, largest):
        checked.append((data.spec, largest))
        return [f"image {i}.png is 8x8" for i in range(7)]

    monkeypatch.setattr(zoo3d.train.data, "check_folder_dataset", check)
    seen = {}
    _stop_at_init_world(monkeypatch, rank, seen, toy / "run")
    with pytest.raises(Stop):
        train_model("toy", data="faces", overrides=["toy.resolution=32"], progress=False)
    err = capsys.readouterr().err
    if rank == 0:  # at the largest resolution the model trains at, before the folder exists
        assert checked == [("faces", 32)] and not (toy / "runs").exists()
        assert err.splitlines() == [*[f"warning: dataset problem: image {i}.png is 8x8" for i in range(5)],
                                    "warning: 2 more dataset problems; `zoo3d data check faces` lists them all"]
    else:
        assert checked == [] and err == ""


@pytest.mark.parametrize("size", [1, 2])
def test_a_config_that_cannot_be_written_is_one_sentence_for_every_rank_and_frees_the_folder(toy, monkeypatch,
                                                                                            size):
    import errno

    replace = os.replace

    def full_disk(src, dst, *args, **kwargs):
        if os.path.basename(dst) == "config.yaml":
            raise OSError(errno.ENOSPC, "No space left on device")
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full_disk)
    out = toy / "run"
    plan = plan_run("toy", out=out)
    world = Peers(0, size)
    with pytest.raises(UserError) as caught:
        launch._make_run_dir(plan, plan.config, world)
    said = f"Cannot write run config '{out / 'config.yaml'}': the disk is full; nothing was half-written."
    assert str(caught.value) == said and world.sent == ([("", said)] if size > 1 else [])
    assert not (out / "config.yaml").exists() and not _held(out)


def test_the_launchers_check_of_a_resume_only_reads_the_run(toy, capsys):
    out = toy / "run"
    train_model("toy", steps=1, out=out, progress=False)
    (out / "latest").write_text("checkpoints/step_000000009.safetensors\n")  # dangling
    capsys.readouterr()
    check_launch(2, "toy", device="cpu", steps=2, out=str(out), resume=True)
    # the note and the repointed `latest` are rank 0's, once the processes run
    assert capsys.readouterr().err == ""
    assert (out / "latest").read_text() == "checkpoints/step_000000009.safetensors\n"


def test_the_process_count_a_checkpoint_was_written_by_is_read_from_its_metadata(toy, monkeypatch):
    import zoo3d.train.checkpoint as checkpoint

    out = toy / "run"
    train_model("toy", steps=1, out=out, overrides=["train.batch_scope=per_process"], progress=False)
    read = checkpoint.read_metadata
    monkeypatch.setattr(checkpoint, "read_metadata", lambda path: {**read(path), "zoo3d.world_size": "2"})
    check_launch(2, "toy", device="cpu", out=str(out), resume=True)
    with pytest.raises(UserError, match=r"was written by 2 processes with train.batch_scope=per_process; "
                                        r"resume it with --nproc 2 "):
        check_launch(1, "toy", device="cpu", out=str(out), resume=True)
    # a checkpoint that does not say (written before the key existed) was written by one process
    monkeypatch.setattr(checkpoint, "read_metadata",
                        lambda path: {k: v for k, v in read(path).items() if k != "zoo3d.world_size"})
    check_launch(1, "toy", device="cpu", out=str(out), resume=True)
    with pytest.raises(UserError, match=r"was written by 1 process "):
        check_launch(2, "toy", device="cpu", out=str(out), resume=True)


def test_a_resume_continues_at_the_stage_and_step_its_checkpoint_names():
    assert launch._stage_position({"zoo3d.stage_index": "2", "zoo3d.step": "7", "zoo3d.model": "toy"}) == (2, 7)
    assert launch._stage_position({}) == (0, 0)  # a run from the start


@pytest.fixture
def trainer_args(monkeypatch):
    """The engine's Trainer stood in for: records what train_model hands it, then stops the run."""
    import zoo3d.train.engine as engine

    seen = {}

    def trainer(plugin, config, run_dir, **kwargs):
        seen.update(config=config, run_dir=run_dir, **kwargs)
        raise Stop

    monkeypatch.setattr(engine, "Trainer", trainer)
    return seen


def test_a_new_run_hands_the_engine_its_steps_device_and_progress(toy, trainer_args):
    from zoo3d.plugins import get_model_spec

    with pytest.raises(Stop):
        train_model("toy", overrides=["toy.z_dim=5"])
    spec = get_model_spec("toy")
    assert (trainer_args["model_name"], trainer_args["plugin_version"]) == ("toy", spec.version)
    assert (trainer_args["run_dir"], trainer_args["max_steps"], trainer_args["device"]) == (".", None, None)
    assert trainer_args["progress"] is True and trainer_args["resume_at"] == (0, 0)
    assert trainer_args["config"].toy.z_dim == 5 and trainer_args["world"].size == 1
    with pytest.raises(Stop):
        train_model("toy", out=toy / "run", steps=3, device="cpu", progress=False)
    assert (trainer_args["run_dir"], trainer_args["max_steps"], trainer_args["device"]) == (toy / "run", 3, "cpu")
    assert trainer_args["progress"] is False
    assert not (toy / "run").exists() and not (toy / "runs").exists()  # the folder comes after the engine is built


def test_a_resume_hands_the_engine_the_stored_config_and_the_checkpoints_position(toy, monkeypatch):
    import zoo3d.train.engine as engine

    out = toy / "run"
    train_model("toy", steps=2, out=out, overrides=["toy.z_dim=5", "toy.stages=2"], progress=False)
    seen = {}

    def trainer(plugin, config, run_dir, **kwargs):
        seen.update(config=config, run_dir=run_dir, **kwargs)
        raise Stop

    monkeypatch.setattr(engine, "Trainer", trainer)
    with pytest.raises(Stop):
        train_model("toy", resume=True, out=out, steps=4, progress=False)
    assert seen["config"].toy.z_dim == 5 and seen["run_dir"] == out
    assert (seen["resume_at"], seen["max_steps"]) == ((1, 2), 4)  # stage 'second' (index 1) at step 2


def test_each_process_of_several_gets_its_own_device(toy, monkeypatch, trainer_args):
    import zoo3d.train.distributed as distributed

    world = World(rank=1, size=2, local_rank=1, local_size=2, backend="gloo")
    monkeypatch.setattr(distributed, "env_world", lambda: world)
    monkeypatch.setattr(distributed, "init_world", lambda device=None: (world, torch.device("cpu")))
    with pytest.raises(Stop):
        train_model("toy", steps=1, progress=False)
    assert trainer_args["device"] == torch.device("cpu") and trainer_args["world"] is world
