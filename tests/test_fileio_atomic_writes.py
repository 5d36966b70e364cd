"""Safe file writing (zoo3d.fileio): a failed write leaves the old file whole, temp files of dead writers go,
live writers' stay, and every failure is the one sentence docs/errors.md quotes, naming the file."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo3d import fileio
from zoo3d.errors import UserError
from zoo3d.fileio import (WriteError, append_line, atomic_path, check_can_create, clean_stale_temps, make_parent,
                          staging_folder, storage_reason, temp_path, write_bytes_atomic, write_text_atomic)


def dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid():
    """The pid of a process of this test that runs until the test ends (a writer still at work)."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc.pid
    proc.kill()
    proc.wait()


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


# ------------------------------------------------------------------------------------------ the sentences

@pytest.mark.parametrize("code, reason", [
    (errno.ENOSPC, "the disk is full"), (errno.EDQUOT, "the disk quota is exceeded"),
    (errno.EROFS, "the file system is read-only"), (errno.EACCES, "permission denied"),
    (errno.EPERM, "permission denied"), (errno.EFBIG, "the file is too large for the file system"),
])
def test_a_storage_refusal_is_told_in_words_and_names_the_file(code, reason):
    exc = OSError(code, os.strerror(code))
    assert storage_reason(exc) == reason and fileio.is_storage_error(exc)
    err = fileio.write_error(Path("out") / "grid.png", exc, "image")
    assert isinstance(err, WriteError) and isinstance(err, UserError)
    assert str(err) == f"Cannot write image '{Path('out') / 'grid.png'}': {reason}; nothing was half-written."
    assert err.reason == reason
    assert str(fileio.write_error("a.json", exc)) == f"Cannot write 'a.json': {reason}; nothing was half-written."


def test_other_os_errors_are_their_own_words_in_lower_case_and_not_storage_errors():
    eio = OSError(errno.EIO, "Input/output error")
    assert storage_reason(eio) == "input/output error" and not fileio.is_storage_error(eio)
    assert storage_reason(FileNotFoundError()) == "filenotfounderror"  # no strerror: the kind of error
    assert not fileio.is_storage_error(ValueError("disk"))
    assert WriteError("Cannot write 'x'.").reason == "Cannot write 'x'."  # no reason given: the message


# ---------------------------------------------------------------------------------------- atomic writes

def test_a_write_replaces_the_file_whole_after_flushing_it_to_disk(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "deeper" / "latest"
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(a), str(b))),
                                                     real_replace(a, b))[1])
    assert write_text_atomic(target, "checkpoints/step_1 ü") == target  # its folder is made
    tmp = str(tmp_path / "sub" / "deeper" / f".latest.tmp-{os.getpid()}")
    assert events == [("fsync", tmp), ("replace", tmp, str(target))]
    assert target.read_bytes() == "checkpoints/step_1 ü".encode("utf-8") and temps(target.parent) == []
    assert write_bytes_atomic(target, b"\x00new") == target and target.read_bytes() == b"\x00new"
    assert temp_path(target) == target.with_name(f".latest.tmp-{os.getpid()}")


def test_a_write_that_fails_midway_leaves_the_old_file_whole_and_no_temp_file(tmp_path):
    target = tmp_path / "step.safetensors"
    target.write_bytes(b"old and whole")
    with pytest.raises(WriteError) as err:
        with atomic_path(target, "checkpoint") as tmp:
            tmp.write_bytes(b"new but cut o")  # the crash: the disk fills up halfway through
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(err.value) == f"Cannot write checkpoint '{target}': the disk is full; nothing was half-written."
    assert err.value.reason == "the disk is full"
    assert target.read_bytes() == b"old and whole" and temps(tmp_path) == []
    for failure in (KeyboardInterrupt(), OSError(errno.EIO, "Input/output error"), ValueError("bad")):
        with pytest.raises(type(failure)) as raised:  # not a storage refusal: it passes through unchanged
            with atomic_path(target) as tmp:
                tmp.write_bytes(b"half")
                raise failure
        assert raised.value is failure
        assert target.read_bytes() == b"old and whole" and temps(tmp_path) == []


def test_a_failed_rename_is_a_write_error_too_and_removes_the_temp_folder(tmp_path, monkeypatch):
    target = tmp_path / "frames"
    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(WriteError, match=f"^Cannot write frames '{target}': the file system is read-only;"):
        with atomic_path(target, "frames") as tmp:
            tmp.mkdir()
            (tmp / "0.png").write_bytes(b"x")
    assert not target.exists() and temps(tmp_path) == []


def test_temp_files_of_dead_writers_are_removed_by_the_next_write_and_live_ones_kept(tmp_path, live_pid):
    dead, other_dead, live = dead_pid(), dead_pid(), live_pid
    stale = [tmp_path / f".grid.png.tmp-{dead}"]
    stale_dir = tmp_path / f".grid.png.tmp-{other_dead}"
    kept = [tmp_path / f".grid.png.tmp-{live}",  # another writer still at work
            tmp_path / f".other.png.tmp-{dead}",  # another target's: left for its own next write
            tmp_path / f"grid.png.tmp-{dead}", tmp_path / f".grid.png.tmp-{dead}.x", tmp_path / ".grid.png.tmp-"]
    for p in stale + kept:
        p.write_bytes(b"half")
    stale_dir.mkdir()
    (stale_dir / "a").write_bytes(b"")
    write_bytes_atomic(tmp_path / "grid.png", b"png")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([p.name for p in kept] + ["grid.png"])
    with atomic_path(tmp_path / "other.png", clean=False) as tmp:  # a caller that cleans the folder itself
        tmp.write_bytes(b"png")
    assert (tmp_path / f".other.png.tmp-{dead}").exists()


def test_clean_stale_temps_removes_every_dead_writers_files_and_says_which(tmp_path):
    dead, live = dead_pid(), os.getpid()
    a, b, mine = tmp_path / f".a.tmp-{dead}", tmp_path / f".b.json.tmp-{dead}", tmp_path / f".a.tmp-{live}"
    folder = tmp_path / f".synth.tmp-{dead}"
    for p in (a, b, mine):
        p.write_bytes(b"")
    (folder / "images").mkdir(parents=True)
    outside = tmp_path.parent / f"{tmp_path.name}-target"
    outside.mkdir()
    (outside / "keep").write_bytes(b"k")
    link = tmp_path / f".c.tmp-{dead}"
    link.symlink_to(outside, target_is_directory=True)  # a link is removed, never what it points to
    assert clean_stale_temps(tmp_path, "a") == [a]
    assert sorted(clean_stale_temps(tmp_path)) == sorted([b, folder, link])
    assert [p.name for p in tmp_path.iterdir()] == [mine.name] and (outside / "keep").read_bytes() == b"k"
    assert clean_stale_temps(tmp_path / "missing") == []


def test_a_pid_is_alive_unless_the_system_says_there_is_no_such_process(live_pid, monkeypatch):
    assert fileio._pid_alive(os.getpid())
    real_kill, sent = os.kill, []

    def refuse(error):
        def kill(pid, sig):
            raise error
        return kill

    with monkeypatch.context() as patch:  # os.kill is real again when live_pid's child is stopped
        patch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)) or real_kill(pid, sig))
        alive, dead = live_pid, dead_pid()
        assert fileio._pid_alive(alive) and not fileio._pid_alive(dead)
        assert sent == [(alive, 0), (dead, 0)]  # signal 0: asks whether it exists, sends nothing
        patch.setattr(os, "kill", refuse(PermissionError(errno.EPERM, "not yours")))
        assert fileio._pid_alive(12345)  # another user's process
        patch.setattr(os, "kill", refuse(OSError(errno.EINVAL, "odd")))
        assert fileio._pid_alive(12345)  # unsure: keep its files
        patch.setattr(os, "kill", refuse(ProcessLookupError(errno.ESRCH, "gone")))
        assert not fileio._pid_alive(12345)


# --------------------------------------------------------------------------------------- folders on the way

def test_a_file_where_a_folder_should_be_is_named(tmp_path):
    (tmp_path / "out").write_bytes(b"")
    with pytest.raises(WriteError) as err:
        make_parent(tmp_path / "out" / "grid.png", "image")
    assert str(err.value) == f"Cannot write image '{tmp_path / 'out' / 'grid.png'}': '{tmp_path / 'out'}' is a file, " \
                             f"not a folder."
    with pytest.raises(WriteError, match=f"^Cannot write '{tmp_path / 'out' / 'a'}': '{tmp_path / 'out'}' is a file"):
        write_bytes_atomic(tmp_path / "out" / "a", b"")
    with pytest.raises(WriteError) as err:
        check_can_create(tmp_path / "out" / "deep" / "grid.png", "image")
    assert str(err.value) == (f"Cannot write image '{tmp_path / 'out' / 'deep' / 'grid.png'}': "
                              f"'{tmp_path / 'out'}' is a file, not a folder.")
    with pytest.raises(WriteError, match=f"^Cannot write '{tmp_path / 'out'}': '{tmp_path / 'out'}' is a file"):
        check_can_create(tmp_path / "out", folder=True)  # a folder to make that is a file


def test_a_folder_the_storage_refuses_is_one_sentence(tmp_path, monkeypatch):
    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(os, "mkdir", read_only)
    with pytest.raises(WriteError) as err:
        make_parent(tmp_path / "new" / "mesh.ply", "mesh")
    assert str(err.value) == f"Cannot write mesh '{tmp_path / 'new' / 'mesh.ply'}': the file system is read-only; " \
                             f"nothing was half-written."
    with pytest.raises(WriteError) as err:
        make_parent(tmp_path / "new" / "mesh.ply")  # no label: the file alone
    assert str(err.value) == f"Cannot write '{tmp_path / 'new' / 'mesh.ply'}': the file system is read-only; " \
                             f"nothing was half-written."
    make_parent(tmp_path / "mesh.ply")  # its folder exists: nothing to make


def test_an_output_is_refused_before_any_work_where_the_nearest_folder_is_not_writable(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(os, "access", lambda p, mode: asked.append((Path(p), mode)) or Path(p) != tmp_path)
    with pytest.raises(WriteError) as err:
        check_can_create(tmp_path / "a" / "b" / "grid.png", "image")
    assert str(err.value) == f"Cannot write image '{tmp_path / 'a' / 'b' / 'grid.png'}': permission denied in " \
                             f"'{tmp_path}'."
    assert err.value.reason == "permission denied" and asked == [(tmp_path, os.W_OK | os.X_OK)]
    (tmp_path / "a").mkdir()
    check_can_create(tmp_path / "a" / "b" / "grid.png")  # the nearest folder is now 'a', which is writable
    check_can_create(tmp_path / "a", folder=True)  # a folder to write into: itself
    with pytest.raises(WriteError, match="permission denied in"):
        check_can_create(tmp_path / "a")  # a file in tmp_path


def test_an_output_on_a_read_only_file_system_is_said_to_be_so_not_a_permission(tmp_path, monkeypatch):
    """access() refuses writing on a read-only mount whatever the permission bits; 'permission denied' sent the user
    to chmod, which cannot help there."""
    real_statvfs = os.statvfs
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != tmp_path)
    monkeypatch.setattr(os, "statvfs", lambda p: type("Mount", (), {"f_flag": real_statvfs(p).f_flag | os.ST_RDONLY})
                        if Path(p) == tmp_path else real_statvfs(p))
    with pytest.raises(WriteError) as err:
        check_can_create(tmp_path / "runs" / "a", "run folder", folder=True)
    assert str(err.value) == f"Cannot write run folder '{tmp_path / 'runs' / 'a'}': '{tmp_path}' is on a read-only " \
                             f"file system."
    assert err.value.reason == "the file system is read-only"


def test_a_staging_folder_is_moved_into_place_or_leaves_nothing(tmp_path):
    stale = tmp_path / f".synth.tmp-{dead_pid()}"
    stale.mkdir()
    with staging_folder(tmp_path / "synth", "dataset") as staging:
        assert staging == tmp_path / f".synth.tmp-{os.getpid()}" and staging.is_dir() and not stale.exists()
        (staging / "0.png").write_bytes(b"x")
        os.replace(staging / "0.png", tmp_path / "0.png")
        (staging / "left.png").write_bytes(b"y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png"]  # what the block did not move is gone
    with pytest.raises(WriteError) as err:
        with staging_folder(tmp_path / "synth", "dataset") as staging:
            (staging / "1.png").write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(err.value) == f"Cannot write dataset '{tmp_path / 'synth'}': the disk is full; nothing was half-written."
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png"]


@pytest.mark.parametrize("what, label", [("dataset", "dataset "), ("", "")])
def test_a_file_that_fails_inside_a_staging_folder_is_told_as_the_output_not_the_hidden_folder(tmp_path, what, label):
    with pytest.raises(WriteError) as err:
        with staging_folder(tmp_path / "synth", what) as staging:
            with atomic_path(staging / "meta.json", "metadata") as tmp:
                tmp.write_bytes(b"{")
                raise OSError(errno.EDQUOT, "Disk quota exceeded")
    assert str(err.value) == f"Cannot write {label}'{tmp_path / 'synth'}': the disk quota is exceeded; nothing was " \
                             "half-written."
    assert err.value.reason == "the disk quota is exceeded"
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- appends

def writes_of(path: Path, most: int, fail_after: int | None = None, error: int = errno.ENOSPC):
    """os.write that writes at most ``most`` bytes a call to ``path`` and fails after ``fail_after`` of them."""
    real = os.write
    done = [0]

    def write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}") != str(path):
            return real(fd, data)
        if fail_after is not None and done[0] >= fail_after:
            raise OSError(error, os.strerror(error))
        n = real(fd, bytes(data[:most]))
        done[0] += n
        return n
    return write


def test_an_append_writes_the_whole_line_even_in_short_writes(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    old = os.umask(0)
    try:
        append_line(path, '{"step": 1}')
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666
    monkeypatch.setattr(os, "write", writes_of(path, most=3))
    append_line(path, '{"step": 2, "loss": "é"}')
    assert path.read_text("utf-8") == '{"step": 1}\n{"step": 2, "loss": "é"}\n'


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO])
def test_an_append_cut_off_by_a_failure_is_cut_back_to_the_lines_before(tmp_path, monkeypatch, error):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1}\n')
    monkeypatch.setattr(os, "write", writes_of(path, most=4, fail_after=8, error=error))
    raised = WriteError if error == errno.ENOSPC else OSError
    with pytest.raises(raised) as err:
        append_line(path, '{"step": 2, "loss": 0.5}', "metrics")
    if error == errno.ENOSPC:
        assert str(err.value) == f"Cannot write metrics '{path}': the disk is full; nothing was half-written."
    else:
        assert type(err.value) is OSError and err.value.errno == errno.EIO  # passed through as it came
    assert path.read_bytes() == b'{"step": 1}\n'


def test_without_a_label_a_failure_names_just_the_file_and_with_one_the_label_too(tmp_path, monkeypatch):
    (tmp_path / "file").write_bytes(b"")
    inside = tmp_path / "file" / "x.json"
    said = f"'{inside}': '{tmp_path / 'file'}' is a file, not a folder."
    for write, label in [(lambda: make_parent(inside), ""), (lambda: write_text_atomic(inside, "{}"), ""),
                         (lambda: write_text_atomic(inside, "{}", "report"), "report "),
                         (lambda: write_bytes_atomic(inside, b"{}", "report"), "report ")]:
        with pytest.raises(WriteError) as err:
            write()
        assert str(err.value) == f"Cannot write {label}{said}"
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setattr(os, "write", writes_of(path, most=4, fail_after=0))
    with pytest.raises(WriteError) as err:
        append_line(path, "{}")
    assert str(err.value) == f"Cannot write '{path}': the disk is full; nothing was half-written."
