"""``zoo3d data synth`` failing before its hidden folder exists (its first mkdir refused, Ctrl-C before the first
image): the failure is the one reported, not the clean-up's FileNotFoundError for a folder that was never made, and
the dataset's WriteError carries the short reason (``WriteError.reason``) that callers wrapping it quote. The
failures are scripted stand-ins for ``_synth_into``, which raise before creating anything."""

from __future__ import annotations

import errno

import pytest

import zoo3d.cli.data as data_cli
from conftest import run_in_process as zoo3d
from zoo3d.fileio import WriteError

SYNTH = ("data", "synth", "--count", "2", "--resolution", "32", "--batch", "2", "--no-depth", "--out", "d")


@pytest.fixture
def here(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _fails_first(exc: BaseException):
    def synth_into(staging, *args):
        assert not staging.exists()
        raise exc

    return synth_into


@pytest.mark.parametrize("code, reason", [(errno.EACCES, "permission denied"), (errno.ENOSPC, "the disk is full"),
                                          (errno.EROFS, "the file system is read-only")])
def test_a_refused_first_mkdir_is_the_storage_sentence_not_the_clean_up_of_a_folder_never_made(here, capsys,
                                                                                                monkeypatch, code,
                                                                                                reason):
    monkeypatch.setattr(data_cli, "_synth_into", _fails_first(OSError(code, "refused", "d")))
    status, _, err = zoo3d(capsys, *SYNTH)
    assert status == 2, err
    assert err.strip() == f"Error: Cannot write dataset 'd': {reason}; nothing was left behind."
    assert list(here.iterdir()) == []


def test_ctrl_c_before_the_first_image_is_the_interrupt_not_a_missing_folder(here, capsys, monkeypatch):
    monkeypatch.setattr(data_cli, "_synth_into", _fails_first(KeyboardInterrupt()))
    status, _, err = zoo3d(capsys, *SYNTH)
    assert status == 130, err  # 128 + SIGINT, as for a Ctrl-C after images were written
    assert "FileNotFoundError" not in err and list(here.iterdir()) == []


def test_the_dataset_write_error_keeps_the_short_reason_apart_from_its_sentence(here, monkeypatch):
    monkeypatch.setattr(data_cli, "_synth_into", _fails_first(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(WriteError) as caught:
        data_cli.synth.main(list(SYNTH[2:]), standalone_mode=False)
    assert str(caught.value) == "Cannot write dataset 'd': the disk is full; nothing was left behind."
    assert caught.value.reason == "the disk is full"
