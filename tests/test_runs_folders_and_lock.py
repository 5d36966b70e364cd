"""Run folders (zoo3d.runs): the runs root, new folder names, what counts as a run, the run lock, finding runs
newest first, and the sentences a user sees about them, each naming the folder (docs/training.md, "Run folders";
docs/errors.md, "Run folders")."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest
import torch

from safetensors.torch import save_file

from test_fileio_atomic_writes import dead_pid, live_pid  # noqa: F401 (live_pid is a fixture)
from test_runs_load import toy  # noqa: F401 (a fixture: the toy models with a runs root in tmp_path)
from zoo3d import runs
from zoo3d.errors import UserError


@pytest.fixture
def fixed_clock(monkeypatch):
    real = time.strftime
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: real(fmt, time.struct_time((2026, 1, 2, 3, 4, 5, 4, 2, 0))))


def test_a_runs_root_that_is_a_file_is_named_with_what_to_do(tmp_path, fixed_clock):
    root = tmp_path / "runs"
    root.write_text("")
    with pytest.raises(UserError) as err:
        runs.new_run_dir("gram", root)
    assert str(err.value) == f"Runs root '{root}' is a file, not a folder (set ZOO3D_RUNS or give --out)."
    assert root.read_text() == ""


# ------------------------------------------------------------------------------------------ the runs root

def test_the_runs_root_is_zoo3d_runs_else_runs_here(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO3D_RUNS", raising=False)
    assert runs.runs_root() == Path("runs")
    monkeypatch.setenv("ZOO3D_RUNS", "")
    assert runs.runs_root() == Path("runs")
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "elsewhere"))
    assert runs.runs_root() == tmp_path / "elsewhere"


def test_new_run_folders_are_model_and_time_then_numbered_when_taken(tmp_path, monkeypatch, fixed_clock):
    root = tmp_path / "deep" / "runs"  # made with its parents
    made = [runs.new_run_dir("gram", root) for _ in range(3)]
    assert made == [root / "gram-20260102-030405", root / "gram-20260102-030405-2", root / "gram-20260102-030405-3"]
    assert all(p.is_dir() for p in made)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "env"))
    assert runs.new_run_dir("toy") == tmp_path / "env" / "toy-20260102-030405"


def test_a_runs_root_the_storage_refuses_names_the_folder_and_the_root(tmp_path, monkeypatch, fixed_clock):
    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(os, "mkdir", read_only)
    root = tmp_path / "ro"
    with pytest.raises(UserError) as err:
        runs.new_run_dir("gram", root)
    assert str(err.value) == (f"Cannot create run folder '{root / 'gram-20260102-030405'}' under the runs root "
                              f"'{root}': the file system is read-only.")


# ------------------------------------------------------------------------------------ what counts as a run

def test_what_a_folder_holds_of_a_run_is_listed_in_a_fixed_order(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert runs.run_contents(run) == [] and not runs.holds_run(run)
    (run / "checkpoints").mkdir()  # an empty folder is no part of a run
    (run / "data.png").write_bytes(b"")
    assert runs.run_contents(run) == [] and not runs.holds_run(run)
    (run / "samples").mkdir()
    for name in ("step_1.png", "step_2.png", "step_3.png"):
        (run / "samples" / name).write_bytes(b"")
    (run / "checkpoints" / "step_000000001.safetensors").write_bytes(b"")
    (run / "latest").symlink_to(run / "gone")  # a dangling link still counts
    (run / "metrics.jsonl").write_text("")
    (run / "config.yaml").write_text("model: gram\n")
    assert runs.run_contents(run) == ["config.yaml", "checkpoints/ (1 file)", "metrics.jsonl", "latest",
                                      "samples/ (3 files)"]
    assert runs.holds_run(str(run))
    only = tmp_path / "only"
    (only / "samples").mkdir(parents=True)
    (only / "samples" / "a.png").write_bytes(b"")
    (only / "samples" / "b.png").write_bytes(b"")
    assert runs.run_contents(only) == ["samples/ (2 files)"] and runs.holds_run(only)


# ------------------------------------------------------------------------------------------------ the lock

HOLDER = {"pid": 4242, "host": "host-a", "command": "zoo3d train gram --out DIR", "started": "2026-01-01 12:00:00"}


@contextlib.contextmanager
def held_by_other(run: Path, record):
    """``<run>/.lock`` flocked through a descriptor of its own, as another process's lock is, holding ``record``."""
    run.mkdir(parents=True, exist_ok=True)
    (run / ".lock").write_text(record if isinstance(record, str) else json.dumps(record))
    fd = os.open(run / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def test_a_lock_held_by_another_process_refuses_naming_the_folder_and_the_holder(tmp_path):
    run = tmp_path / "run"
    with held_by_other(run, HOLDER):
        with pytest.raises(runs.RunLockedError) as err:
            runs.RunLock(run).acquire()
        assert str(err.value) == (f"Run folder '{run}' is in use by another zoo3d process (pid 4242 on host-a, "
                                  f"`zoo3d train gram --out DIR` since 2026-01-01 12:00:00); wait for it to finish "
                                  f"or choose another --out.")  # docs/errors.md's sentence
        assert json.loads((run / ".lock").read_text()) == HOLDER  # the refused run touched nothing
        with pytest.raises(runs.RunLockedError):
            runs.RunLock(run).refuse_if_held()
        with pytest.raises(runs.RunLockedError):
            with runs.RunLock(run):
                pass


@pytest.mark.parametrize("record, said", [
    ({"pid": 7, "host": "h"}, "another zoo3d process (pid 7 on h)"),
    ({"pid": 7, "started": "2026-01-01 12:00:00"}, "another zoo3d process (pid 7 on ? since 2026-01-01 12:00:00)"),
    ({"pid": 7, "host": "h", "command": "zoo3d train toy"}, "another zoo3d process (pid 7 on h, `zoo3d train toy`)"),
    ({"pid": 0, "host": "h"}, "another zoo3d process"), ({"host": "h"}, "another zoo3d process"),
    ("[4242]", "another zoo3d process"), ("{not json", "another zoo3d process"), ("", "another zoo3d process"),
])
def test_a_holder_is_named_as_far_as_its_lock_file_tells(tmp_path, record, said):
    with held_by_other(tmp_path, record):
        with pytest.raises(runs.RunLockedError) as err:
            runs.RunLock(tmp_path).acquire()
    assert str(err.value) == (f"Run folder '{tmp_path}' is in use by {said}; wait for it to finish or choose "
                              f"another --out.")


def test_a_lock_records_who_holds_it_replacing_a_dead_holders_record(tmp_path, monkeypatch):
    run = tmp_path / "new" / "run"  # made with its parents
    old = os.umask(0)
    try:
        with runs.RunLock(str(run)):
            assert (run / ".lock").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
    (run / ".lock").write_text(json.dumps({**HOLDER, "pid": dead_pid(), "command": "x" * 400}))  # no flock: stale
    monkeypatch.setattr(sys, "argv", ["zoo3d", "train", "toy", "--out", "y" * 300])
    lock = runs.RunLock(run).acquire()
    try:
        info = json.loads((run / ".lock").read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        assert info["command"] == ("zoo3d train toy --out " + "y" * 300)[:200]
        assert time.mktime(time.strptime(info["started"], "%Y-%m-%d %H:%M:%S")) == pytest.approx(time.time(), abs=60)
        assert sorted(info) == ["command", "host", "pid", "started"]
        with pytest.raises(runs.RunLockedError, match=f"pid {os.getpid()} on "):  # a second taker in this process
            runs.RunLock(run).acquire()
    finally:
        lock.release()


def test_a_released_lock_is_gone_and_free_for_the_next_run(tmp_path):
    with runs.RunLock(tmp_path) as lock:
        fd = lock._fd
        assert (tmp_path / ".lock").is_file() and fd in runs._HELD_FDS
    assert not (tmp_path / ".lock").exists() and fd not in runs._HELD_FDS and lock._fd is None
    with pytest.raises(OSError):
        os.fstat(fd)  # closed
    lock.release()  # twice is harmless
    runs.RunLock(tmp_path).refuse_if_held()  # free: taken and let go again
    assert not (tmp_path / ".lock").exists()
    with runs.RunLock(tmp_path):
        pass


def test_a_forked_child_drops_its_copy_of_the_lock_and_the_parent_keeps_it(tmp_path):
    with runs.RunLock(tmp_path) as lock:
        pid = os.fork()
        if pid == 0:  # a data loader worker
            try:
                os.fstat(lock._fd)
                code = 1
            except OSError:
                code = 0 if not runs._HELD_FDS else 2
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert lock._fd in runs._HELD_FDS and os.fstat(lock._fd)
        with pytest.raises(runs.RunLockedError):
            runs.RunLock(tmp_path).acquire()


def test_a_lock_file_replaced_between_open_and_lock_is_locked_afresh(tmp_path, monkeypatch):
    real, calls = fcntl.flock, []

    def flock(fd, op):
        calls.append(os.fstat(fd).st_ino)
        if len(calls) == 1:  # the holder lets go and removes its file just now; another run makes a new one
            os.unlink(tmp_path / ".lock")
            if replace:
                (tmp_path / ".lock").write_text("")
        return real(fd, op)

    for replace in (True, False):
        calls.clear()
        monkeypatch.setattr(fcntl, "flock", flock)
        lock = runs.RunLock(tmp_path).acquire()
        monkeypatch.setattr(fcntl, "flock", real)
        try:
            assert len(calls) == 2 and os.fstat(lock._fd).st_ino == os.stat(tmp_path / ".lock").st_ino
            with pytest.raises(runs.RunLockedError):
                runs.RunLock(tmp_path).acquire()
        finally:
            lock.release()


def test_a_folder_that_cannot_be_locked_is_one_sentence_and_no_refusal_for_refuse_if_held(tmp_path, monkeypatch):
    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    lock = runs.RunLock(tmp_path / "run")
    with pytest.raises(UserError) as err:
        lock.acquire()
    assert str(err.value) == f"Cannot create or lock run folder '{tmp_path / 'run'}': no locks available."
    assert type(err.value) is UserError and lock._fd is None
    runs.RunLock(tmp_path / "run").refuse_if_held()  # whoever writes the folder says what is wrong with it
    monkeypatch.undo()
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=f"^Cannot create or lock run folder '{tmp_path / 'file' / 'run'}': "):
        runs.RunLock(tmp_path / "file" / "run").acquire()


@pytest.fixture
def without_flock(monkeypatch):
    monkeypatch.setattr(runs, "_HAVE_FLOCK", False)


def test_without_flock_a_dead_holders_lock_on_this_host_is_taken_over(tmp_path, without_flock):
    (tmp_path / ".lock").write_text(json.dumps({**HOLDER, "pid": dead_pid(), "host": socket.gethostname()}))
    lock = runs.RunLock(tmp_path).acquire()
    try:
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    finally:
        lock.release()
    assert not (tmp_path / ".lock").exists()
    with runs.RunLock(tmp_path):  # no lock file at all: made exclusively
        with pytest.raises(runs.RunLockedError, match=f"in use by another zoo3d process \\(pid {os.getpid()} "):
            runs.RunLock(tmp_path).acquire()


@pytest.mark.parametrize("holder", ["alive here", "dead elsewhere", "unreadable", "a list"])
def test_without_flock_a_lock_that_may_be_live_refuses(tmp_path, without_flock, holder, live_pid):
    record = {"alive here": {"pid": live_pid, "host": socket.gethostname()},
              "dead elsewhere": {"pid": dead_pid(), "host": "another-host"}}.get(holder)
    (tmp_path / ".lock").write_text(json.dumps(record) if record else "[4242]" if holder == "a list" else "{cut")
    before = (tmp_path / ".lock").read_text()
    with pytest.raises(runs.RunLockedError) as err:
        runs.RunLock(tmp_path).acquire()
    assert str(err.value).startswith(f"Run folder '{tmp_path}' is in use by another zoo3d process")
    if record:
        assert f"(pid {record['pid']} on {record['host']})" in str(err.value)
    assert (tmp_path / ".lock").read_text() == before


def test_without_flock_a_lock_file_that_keeps_coming_back_refuses_after_three_tries(tmp_path, without_flock,
                                                                                   monkeypatch):
    stale = json.dumps({"pid": dead_pid(), "host": socket.gethostname()})
    (tmp_path / ".lock").write_text(stale)
    real_unlink, removed = Path.unlink, []

    def unlink(self, missing_ok=False):  # another run makes it anew each time this one removes it
        real_unlink(self, missing_ok=missing_ok)
        removed.append(self)
        self.write_text(stale)

    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(runs.RunLockedError, match=f"^Run folder '{tmp_path}' is in use by another zoo3d process"):
        runs.RunLock(tmp_path).acquire()
    assert len(removed) == 3


# ---------------------------------------------------------------------------------- finding runs, newest first

def fake_run(root: Path, name: str, model, steps=(1,), latest: str | None = None, age: dict | None = None) -> Path:
    """A run folder with empty checkpoint files (finding runs reads no checkpoint); ``age``: step -> seconds ago."""
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    if model is not None:
        (run / "config.yaml").write_text(model if isinstance(model, str) and "\n" in model else f"model: {model}\n")
    now = time.time()
    for step in steps:
        path = run / "checkpoints" / f"step_{step:09d}.safetensors"
        path.write_bytes(b"")
        ago = (age or {}).get(step, 0)
        os.utime(path, (now - ago, now - ago))
    if latest is not None:
        (run / "latest").write_text(latest)
    return run


def test_runs_of_a_model_are_found_newest_checkpoint_first_under_any_of_its_names(tmp_path):
    root = tmp_path / "runs"
    old = fake_run(root, "a", "triplane", age={1: 300})
    mid = fake_run(root, "b", "EG3D", age={1: 200})  # an alias of triplane
    new = fake_run(root, "c", "triplane", age={1: 100})
    # 'latest' names step 1, written after step 2 was (the checkpoint it stands for, not the highest step)
    by_latest = fake_run(root, "d", "triplane", steps=(1, 2), latest="checkpoints/step_000000001.safetensors",
                         age={1: 150, 2: 50})
    dangling = fake_run(root, "e", "triplane", steps=(2, 3), latest="checkpoints/step_000000009.safetensors",
                        age={2: 10, 3: 250})  # a dangling 'latest': the highest step stands for it
    fake_run(root, "f", "gram", age={1: 0})  # another model
    fake_run(root, "g", "triplane", steps=())  # no checkpoint yet
    fake_run(root, "h", None, age={1: 0})  # no config
    fake_run(root, "i", "[triplane]\n", age={1: 0})  # a config that is not a mapping
    fake_run(root, "j", "model: [\n", age={1: 0})  # not YAML
    (root / "k").write_text("model: triplane\n")  # a file
    assert runs.find_runs("eg3d", root) == [new, by_latest, mid, dangling, old]
    assert runs.find_runs("TRIPLANE", root) == runs.find_runs("triplane", root)
    assert runs.find_runs("triplane", tmp_path / "missing") == []


def test_the_newest_run_is_found_under_the_runs_root_and_its_absence_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    fake_run(tmp_path / "runs", "old", "gram", age={1: 100})
    new = fake_run(tmp_path / "runs", "new", "gram")
    assert runs.find_runs("gram") == [new, tmp_path / "runs" / "old"]
    with pytest.raises(UserError) as err:
        runs.newest_run_checkpoint("EG3D")
    assert str(err.value) == (f"No run of model 'triplane' found under {tmp_path / 'runs'}/; train one with "
                              f"`zoo3d train triplane`.")


def test_a_run_without_a_checkpoint_says_what_it_holds_and_a_fallback_names_the_folder(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(UserError) as err:
        runs.run_checkpoint(run)
    assert str(err.value) == f"Run folder '{run}' has no checkpoint yet (none that loads; it holds: nothing)."
    (run / "config.yaml").write_text("model: gram\n")
    (run / "samples").mkdir()
    (run / "samples" / "step_1.png").write_bytes(b"")
    with pytest.raises(UserError) as err:
        runs.resolve_checkpoint(str(run))
    assert str(err.value) == (f"Run folder '{run}' has no checkpoint yet (none that loads; it holds: config.yaml, "
                              f"samples/ (1 file)).")
    (run / "checkpoints").mkdir()  # a good checkpoint that 'latest' does not name: used, with a note
    good = run / "checkpoints" / "step_000000002.safetensors"
    save_file({"x": torch.zeros(1)}, str(good), metadata={"zoo3d.model": "gram", "zoo3d.step": "2"})
    (run / "latest").write_text("checkpoints/step_000000003.safetensors")
    assert runs.run_checkpoint(run) == good
    err = capsys.readouterr().err
    assert err.startswith(f"note: {run}: 'latest' names ") and err.count("\n") == 1
    (run / "latest").write_text("checkpoints/step_000000002.safetensors")
    assert runs.run_checkpoint(run).resolve() == good.resolve() and capsys.readouterr().err == ""


def test_a_checkpoints_digest_is_sha256_of_all_its_bytes(tmp_path):
    data = bytes(range(256)) * (5 * 4096 + 3)  # over five 1 MiB blocks
    (tmp_path / "c").write_bytes(data)
    assert runs.file_sha256(tmp_path / "c") == hashlib.sha256(data).hexdigest()
    (tmp_path / "e").write_bytes(b"")
    assert runs.file_sha256(tmp_path / "e") == hashlib.sha256(b"").hexdigest()


# ------------------------------------------------------------------------------- models loaded without a run

def test_a_checkpoint_free_model_is_built_from_its_run_seed_and_leaves_the_process_rng_alone(toy):
    from zoo3d.core.model import build_modules

    torch.manual_seed(5)
    rng = torch.get_rng_state()
    loaded = runs.load_model(None, model="toy_procedural", device="cpu")
    assert torch.equal(torch.get_rng_state(), rng)
    assert loaded.spec.name == "toy_procedural" and type(loaded.plugin).__name__ == "ProceduralToy"
    assert set(loaded.modules) == {"generator", "disc"} and loaded.generator is loaded.modules["generator"]
    assert not any(m.training for m in loaded.modules.values())
    torch.manual_seed(loaded.config.train.seed)  # what training does before it builds the modules
    expected = build_modules(loaded.plugin, loaded.config)
    for name, module in expected.items():
        got = loaded.modules[name].state_dict()
        assert all(torch.equal(got[k], v) for k, v in module.state_dict().items()), name
    with pytest.raises(UserError) as err:
        runs.load_model(None)
    assert str(err.value) == "Give a run folder, a checkpoint file or a model name."
    with pytest.raises(UserError, match="^No run of model 'toy' found under "):  # it needs a checkpoint
        runs.load_model(None, model="toy")


def test_a_checkpoint_free_model_with_a_run_is_loaded_from_that_run(toy):
    from zoo3d.launch import train_model

    done = train_model("toy_procedural", steps=2, progress=False)
    loaded = runs.load_model(None, model="toy_procedural", device="cpu")
    assert loaded.checkpoint.parent.parent == done.run_dir and loaded.step == 2
    assert loaded.spec.name == "toy_procedural" and type(loaded.plugin).__name__ == "ProceduralToy"
    import yaml

    written = yaml.safe_load((done.run_dir / "config.yaml").read_text())  # the run's config.yaml
    assert loaded.config == type(loaded.config).model_validate(written)


def test_a_stored_config_the_model_no_longer_accepts_is_one_sentence_naming_the_checkpoint_and_key(toy, monkeypatch):
    from zoo3d.plugins import get_model_spec
    from zoo3d.train.checkpoint import CheckpointError

    plugin = get_model_spec("toy").load()
    path = toy / "step_000000001.safetensors"
    assert runs.config_from_checkpoint(plugin, "toy", {}, path) == plugin.config_class.model_validate({})
    stored = {"zoo3d.config": json.dumps({"toy": {"z_dim": "eight"}})}
    with pytest.raises(CheckpointError) as err:
        runs.config_from_checkpoint(plugin, "toy", stored, path)
    said = str(err.value)  # the key and value as a config error names them (pydantic's reason aside)
    assert said.startswith(f"Checkpoint '{path}' has a config that model 'toy' no longer accepts (Invalid value "
                           f"'eight' for config key 'toy.z_dim': ") and said.endswith(").") and ".)" not in said

    def refuses(data):  # a model's own check that is no pydantic error: its first line
        raise RuntimeError("z_dim 8 was retired.\nsee the changelog")

    monkeypatch.setattr(plugin.config_class, "model_validate", refuses)
    with pytest.raises(CheckpointError) as err:
        runs.config_from_checkpoint(plugin, "toy", stored, path)
    assert str(err.value) == (f"Checkpoint '{path}' has a config that model 'toy' no longer accepts "
                              f"(z_dim 8 was retired).")
