"""FolderDataset: which images the start-up probe decodes, what an unreadable dataset says, resizing, mirroring."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from zoo3d.cameras import Camera
from zoo3d.data.augment import mirror_flag
from zoo3d.data.folder import FolderDataset, UnreadableDataError
from zoo3d.data.formats import write_eg3d_labels
from zoo3d.errors import UserError


def _dataset(folder, count, size=8, bad=()):
    """``count`` posed noise PNGs ``img/NN.png``; the indices in ``bad`` hold bytes no decoder reads."""
    rng = np.random.default_rng(0)
    (folder / "img").mkdir(parents=True)
    files = [f"img/{i:02d}.png" for i in range(count)]
    for i, name in enumerate(files):
        if i in bad:
            (folder / name).write_bytes(b"not an image")
        else:
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / name)
    cams = Camera.from_angles(torch.linspace(-0.3, 0.3, count, dtype=torch.float64), 0.0, dtype=torch.float64)
    write_eg3d_labels(folder, files, cams.to_eg3d().numpy())
    return files


def _decode_error(path) -> str:
    """What PIL says about the file, opened as the dataset opens it (a file object)."""
    try:
        with open(path, "rb") as fp:
            Image.open(fp)
    except Exception as exc:  # noqa: BLE001 - the type and text PIL gives
        return f"{type(exc).__name__}: {exc}"
    raise AssertionError(f"{path} decoded")


def test_the_start_up_probe_tries_eight_images_spread_evenly_and_stops_at_the_first_readable(tmp_path):
    # 20 images: the probe tries round(i * 19 / 7) = 0, 3, 5, 8, 11, 14, 16, 19; only the last one decodes
    files = _dataset(tmp_path, 20, bad=set(range(19)))
    ds = FolderDataset(tmp_path, 8)
    ds.check_readable()
    tried = [0, 3, 5, 8, 11, 14, 16]
    assert ds.skipped == {files[i]: _decode_error(tmp_path / files[i]) for i in tried}


def test_a_dataset_none_of_whose_probed_images_decodes_is_refused_with_the_first_and_why(tmp_path):
    files = _dataset(tmp_path, 20, bad={0, 3, 5, 8, 11, 14, 16, 19})  # the others decode, but are not tried
    ds = FolderDataset(tmp_path, 8)
    with pytest.raises(UnreadableDataError) as err:
        ds.check_readable()
    assert str(err.value) == (f"Dataset '{tmp_path}' cannot be used: none of the 8 images tried could be decoded "
                              f"(first: '{files[0]}', {_decode_error(tmp_path / files[0])}); run `zoo3d data check "
                              f"{tmp_path}`, which decodes every image, for the list.")
    assert ds.skipped == {}


def test_a_one_image_dataset_probes_that_image_and_a_two_image_one_both(tmp_path):
    _dataset(tmp_path / "one", 1, bad={0})
    with pytest.raises(UnreadableDataError, match="none of the 1 images tried"):
        FolderDataset(tmp_path / "one", 8).check_readable()
    files = _dataset(tmp_path / "two", 2, bad={0})
    ds = FolderDataset(tmp_path / "two", 8)
    ds.check_readable()
    assert list(ds.skipped) == files[:1]


def test_sixteen_unreadable_images_in_a_row_stop_the_run_and_each_is_logged_once(tmp_path, caplog):
    files = _dataset(tmp_path, 20, bad=set(range(20)))
    ds = FolderDataset(tmp_path, 8)
    with caplog.at_level(logging.WARNING, logger="zoo3d.data.folder"), pytest.raises(UnreadableDataError) as err:
        ds[2]
    assert list(ds.skipped) == files[2:18]
    assert all(why == _decode_error(tmp_path / f) for f, why in ds.skipped.items())
    assert str(err.value) == (f"Stopped: 16 images in a row of dataset '{tmp_path}' could not be decoded (first: "
                              f"'{files[2]}', {ds.skipped[files[2]]}); run `zoo3d data check {tmp_path}`, which "
                              f"decodes every image, for the list.")
    assert [r.getMessage() for r in caplog.records][:2] == [
        f"skipping unreadable image {files[2]} ({ds.skipped[files[2]].split(': ', 1)[1]}); 1 skipped so far",
        f"skipping unreadable image {files[3]} ({ds.skipped[files[3]].split(': ', 1)[1]}); 2 skipped so far"]


def test_an_unreadable_data_error_re_raised_by_a_worker_keeps_only_its_sentence():
    traceback = ("Caught UnreadableDataError in DataLoader worker process 0.\nOriginal Traceback (most recent call "
                 "last):\n  File \"folder.py\", line 9\nzoo3d.data.folder.UnreadableDataError: Stopped: 16 images "
                 "(first: 'a.png', OSError: bad): run it\n")
    assert str(UnreadableDataError(message=traceback)) == "Stopped: 16 images (first: 'a.png', OSError: bad): run it"
    assert str(UnreadableDataError(message="a sentence without a prefix\n")) == "a sentence without a prefix"
    assert UnreadableDataError("as it is").args == ("as it is",)


def test_a_path_that_is_no_dataset_and_a_dataset_without_poses_are_refused_by_name(tmp_path):
    with pytest.raises(UserError) as err:
        FolderDataset(tmp_path / "nowhere", 8)
    assert str(err.value) == f"Dataset path '{tmp_path / 'nowhere'}' is neither a folder nor a zip file."
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(UserError) as err:
        FolderDataset(tmp_path, 8)
    assert str(err.value) == (f"Dataset '{tmp_path}' (images format) cannot be used: it has no image with a valid "
                              f"pose; run `zoo3d data check {tmp_path}` for the list of problems.")


@pytest.mark.parametrize("resize, resample", [(None, Image.LANCZOS), ("area", Image.BOX), ("bilinear", Image.BILINEAR)])
def test_images_are_resized_with_the_chosen_filter_lanczos_by_default(tmp_path, resize, resample):
    _dataset(tmp_path, 1, size=24)
    ds = FolderDataset(tmp_path, 8) if resize is None else FolderDataset(tmp_path, 8, resize=resize)
    with Image.open(tmp_path / "img" / "00.png") as img:
        expected = np.asarray(img.convert("RGB").resize((8, 8), resample), dtype=np.float32) / 127.5 - 1
    assert torch.equal(ds[0]["image"], torch.from_numpy(expected).permute(2, 0, 1))


def test_mirroring_follows_the_seed_default_zero_and_the_epoch_from_zero(tmp_path):
    _dataset(tmp_path, 12)
    ds = FolderDataset(tmp_path, 8, mirror=True)
    assert [ds[i]["mirrored"] for i in range(12)] == [mirror_flag(0, i, 0) for i in range(12)]
    ds.set_epoch(np.int64(3))
    assert ds.epoch == 3 and [ds[i]["mirrored"] for i in range(12)] == [mirror_flag(0, i, 3) for i in range(12)]
    flips = {e: [mirror_flag(0, i, e) for i in range(12)] for e in (0, 1, 3)}
    assert flips[0] != flips[1] and flips[0] != flips[3]  # the checks above tell the epochs apart
    assert [mirror_flag(0, i, 0) for i in range(12)] != [mirror_flag(1, i, 0) for i in range(12)]
