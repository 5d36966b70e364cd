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
