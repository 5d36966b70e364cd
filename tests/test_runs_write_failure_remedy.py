"""A run stopped by a checkpoint it could not write says what lets the printed command continue it: room for a
checkpoint as large as its last in the folder, with what the folder has free, for a full disk; free some space for a
quota; make the folder writable where writing was refused; a larger file-size limit for a file too large (a job's
`ulimit -f`, a FAT32 drive) (docs/errors.md), not space for every reason."""

from __future__ import annotations

import errno
import os
import shutil

import pytest

from conftest import run_in_process
from toy_model import use_toy
from zoo3d.limits import byte_size
from zoo3d.train.checkpoint import checkpoint_name

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("code,remedy", [
    (errno.ENOSPC, "make room for a checkpoint of {size} in '{folder}', which has 1.5 MiB free,"),
    (errno.EDQUOT, "free some space"),
    (errno.EACCES, "make the folder writable"),
    (errno.EROFS, "make the folder writable"),
    (errno.EFBIG, "raise the file-size limit (`ulimit -f`) or move to a file system that takes larger files"),
])
def test_the_second_checkpoint_refused_names_the_first_and_what_to_do_before_continuing(monkeypatch, tmp_path, capsys,
                                                                                        code, remedy):
    import safetensors.torch

    use_toy(monkeypatch, tmp_path / "runs")
    save = safetensors.torch.save_file
    writes = []

    def second_refused(tensors, filename, metadata=None):
        writes.append(filename)
        if len(writes) == 2:
            raise OSError(code, os.strerror(code), filename)
        return save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", second_refused)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: type("Usage", (), {"free": 3 * 2**19}))
    run = tmp_path / "run"
    status, _, err = run_in_process(capsys, "train", "toy", "--out", run, "--steps", "2", "--quiet",
                                    "--set", "train.checkpoint_every=1")
    assert status == 2
    first = run / "checkpoints" / checkpoint_name(1)
    remedy = remedy.format(size=byte_size(first.stat().st_size), folder=first.parent)
    assert f"(the last checkpoint, '{first}', is intact; {remedy} and continue with `zoo3d train toy --out {run} " \
           f"--resume --steps 2`)." in err
    assert first.is_file() and not (run / "checkpoints" / checkpoint_name(2)).exists()


def _full_disk_for(monkeypatch, failing):
    """Pillow's save (the sample grids) refused for a full disk; free space read as 1.5 MiB."""
    from PIL import Image

    def full(self, fp, *args, **kwargs):
        if failing(fp):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fp))
        return real(self, fp, *args, **kwargs)

    real = Image.Image.save
    monkeypatch.setattr(Image.Image, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: type("Usage", (), {"free": 3 * 2**19}))


@pytest.mark.parametrize("due", [(), ("--set", "train.sample_every=3", "--set", "train.checkpoint_every=2")],
                         ids=["after-the-run", "due-at-the-last-step"])
def test_a_full_disk_at_the_final_grid_asks_room_for_the_grid_the_resume_writes(toy, monkeypatch, capsys, due):
    """The final grid is written after the run's last checkpoint (one due at the last step too, after the stage's
    closing checkpoint), and the resume draws only it: the sentence asked for room for another checkpoint."""
    _full_disk_for(monkeypatch, lambda fp: True)
    status, _, err = run_in_process(capsys, "train", "toy", "--out", "run", "--steps", "3", "--quiet", *due)
    assert status == 2
    assert err.strip().endswith(f"(the last checkpoint, 'run/checkpoints/{checkpoint_name(3)}', is intact; make room "
                                f"for the run's final sample grid in 'run/samples', which has 1.5 MiB free, and "
                                f"continue with `zoo3d train toy --out run --resume --steps 3`)."), err


@pytest.mark.parametrize("sample_every, checkpoint_every", [(2, 1)], ids=["mid-run"])
def test_a_grid_other_than_the_final_one_asks_room_for_a_checkpoint(toy, monkeypatch, capsys, sample_every,
                                                                    checkpoint_every):
    """A grid the resume writes again along with a checkpoint asks room for a checkpoint: one mid-run follows its
    step's checkpoint, but the resume trains the steps after it."""
    _full_disk_for(monkeypatch, lambda fp: True)
    status, _, err = run_in_process(capsys, "train", "toy", "--out", "run", "--steps", "3", "--quiet",
                                    "--set", f"train.sample_every={sample_every}",
                                    "--set", f"train.checkpoint_every={checkpoint_every}")
    assert status == 2
    last = toy / "run" / "checkpoints" / checkpoint_name(2)
    assert err.strip().endswith(f"(the last checkpoint, 'run/checkpoints/{checkpoint_name(2)}', is intact; make room "
                                f"for a checkpoint of {byte_size(last.stat().st_size)} in 'run/checkpoints', which "
                                f"has 1.5 MiB free, and continue with `zoo3d train toy --out run --resume "
                                f"--steps 3`)."), err


@pytest.mark.parametrize("failed", ["image", "checkpoint"])
def test_free_space_that_cannot_be_read_gives_the_plain_remedy(toy, monkeypatch, capsys, failed):
    """Where the folder's free space cannot be read (a network file system that refuses statvfs), a full disk is
    answered 'free some space', as a quota is, with nothing invented."""
    import safetensors.torch

    _full_disk_for(monkeypatch, lambda fp: failed == "image")
    save, writes = safetensors.torch.save_file, []

    def second_refused(tensors, filename, metadata=None):
        writes.append(filename)
        if failed == "checkpoint" and len(writes) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
        return save(tensors, filename, metadata=metadata)

    def unreadable(path):
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))

    monkeypatch.setattr(safetensors.torch, "save_file", second_refused)
    monkeypatch.setattr(shutil, "disk_usage", unreadable)
    status, _, err = run_in_process(capsys, "train", "toy", "--out", "run", "--steps", "2", "--quiet",
                                    "--set", "train.checkpoint_every=1")
    assert status == 2
    last = {"image": 2, "checkpoint": 1}[failed]
    assert err.strip().endswith(f"(the last checkpoint, 'run/checkpoints/{checkpoint_name(last)}', is intact; free "
                                f"some space and continue with `zoo3d train toy --out run --resume --steps 2`)."), err
