"""What the image and animation writers put in their files, decoded with PIL and compared pixel for pixel with the
tensor mapped by hand (``(x + 1) / 2 * 255`` rounded half up and clipped), grids laid out by hand in NumPy, frame
timings against ``i / fps``, the format each suffix chooses and the refusals made before any work."""

from __future__ import annotations

import errno
import math
import os
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from zoo3d import imageio
from zoo3d.errors import UserError
from zoo3d.fileio import WriteError
from zoo3d.imageio import (check_animation_target, check_image_size, check_image_target, depth_to_image,
                           frame_durations, grid_size, make_grid, save_animation, save_grid, save_image, to_uint8)


def _by_hand(x: np.ndarray, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """(C, H, W) or (H, W) values in [lo, hi] -> (H, W, 3) 8-bit levels: scaled, clipped, rounded half up;
    NaN drawn black, one channel repeated, a fourth channel dropped."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    t = np.nan_to_num(np.clip((x - lo) / (hi - lo), 0.0, 1.0), nan=0.0)
    levels = np.floor(t * 255 + 0.5).astype(np.int64)
    if levels.shape[0] == 1:
        levels = np.repeat(levels, 3, axis=0)
    return levels[:3].transpose(1, 2, 0)


def _near_levels(shape, seed=0, lo=-1.0, hi=1.0) -> torch.Tensor:
    """Values at known levels k give or take 0.4 of a level (never near a rounding boundary), a few out of range."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 256, shape)
    off = rng.choice([-0.4, -0.2, 0.0, 0.2, 0.4], shape)
    x = lo + (k + off) / 255 * (hi - lo)
    x.reshape(-1)[:4] = [lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo), lo, hi]  # clipped both ways, the ends exact
    return torch.tensor(x, dtype=torch.float32)


def _read(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.int64)


def _frames_of(path) -> tuple[list[np.ndarray], list[int], str, int | None]:
    """Every frame's pixels and duration, the format and the loop count, as PIL decodes the file."""
    with Image.open(path) as img:
        frames, durations = [], []
        for i in range(getattr(img, "n_frames", 1)):
            img.seek(i)
            frames.append(np.asarray(img.convert("RGB"), dtype=np.int64))
            durations.append(img.info.get("duration"))
        return frames, durations, img.format, img.info.get("loop")


# ---------------------------------------------------------------------------------------------------- values


def test_to_uint8_is_the_hand_mapping_rounded_half_up_and_clipped():
    x = _near_levels((3, 6, 7))
    assert np.array_equal(to_uint8(x).astype(np.int64), _by_hand(x.numpy()))
    # 0 is level 127.5 (the one half level a float holds exactly): rounded up, not cut to 127
    assert to_uint8(torch.zeros(3, 1, 1))[0, 0].tolist() == [128, 128, 128]
    assert to_uint8(x).dtype == np.uint8


def test_to_uint8_takes_other_ranges_grey_and_rgba_and_draws_nan_black():
    x = _near_levels((3, 5, 4), seed=1, lo=0.0, hi=1.0)
    assert np.array_equal(to_uint8(x, (0.0, 1.0)).astype(np.int64), _by_hand(x.numpy(), 0.0, 1.0))
    y = _near_levels((3, 5, 4), seed=2, lo=0.0, hi=255.0)
    assert np.array_equal(to_uint8(y, (0.0, 255.0)).astype(np.int64), _by_hand(y.numpy(), 0.0, 255.0))
    grey = _near_levels((5, 4), seed=3)
    out = to_uint8(grey).astype(np.int64)
    assert np.array_equal(out, _by_hand(grey.numpy())) and np.array_equal(out[..., 0], out[..., 2])
    one = _near_levels((1, 5, 4), seed=4)
    assert np.array_equal(to_uint8(one).astype(np.int64), _by_hand(one.numpy()))
    rgba = _near_levels((4, 5, 4), seed=5)
    assert np.array_equal(to_uint8(rgba).astype(np.int64), _by_hand(rgba[:3].numpy()))
    nan = torch.full((3, 2, 2), float("nan"))
    nan[0, 0, 0] = 1.0
    assert to_uint8(nan)[..., 0].tolist() == [[255, 0], [0, 0]] and not to_uint8(nan)[..., 1:].any()
    assert to_uint8(torch.full((3, 2, 2), 0.25, dtype=torch.float64, requires_grad=True)).max() == 159  # 159.375


@pytest.mark.parametrize("name", ["a.png", "a.PNG", "a.bmp", "a.tif"])
def test_a_lossless_image_file_holds_the_hand_mapped_pixels_in_the_suffixs_format(tmp_path, name):
    x = _near_levels((3, 9, 11), seed=6)
    path = save_image(x, tmp_path / name)
    assert path == tmp_path / name and sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing else left
    with Image.open(path) as img:
        assert img.format == {"png": "PNG", "bmp": "BMP", "tif": "TIFF"}[name[2:].lower()]
        assert img.size == (11, 9)
    assert np.array_equal(_read(path), _by_hand(x.numpy()))


def test_a_jpeg_and_a_webp_are_written_as_such_and_near_the_pixels(tmp_path):
    x = torch.zeros(3, 16, 16)
    x[0] = 1.0                                                  # red
    for name, fmt in (("a.jpg", "JPEG"), ("a.jpeg", "JPEG"), ("a.webp", "WEBP")):
        with Image.open(save_image(x, tmp_path / name)) as img:
            assert img.format == fmt
        assert np.abs(_read(tmp_path / name) - _by_hand(x.numpy())).max() <= 8


def test_save_image_reads_the_value_range_it_is_given(tmp_path):
    x = _near_levels((3, 4, 5), seed=7, lo=0.0, hi=1.0)
    assert np.array_equal(_read(save_image(x, tmp_path / "u.png", value_range=(0.0, 1.0))),
                          _by_hand(x.numpy(), 0.0, 1.0))


# ------------------------------------------------------------------------------------------------------ grids


def _grid_by_hand(images: np.ndarray, nrow: int, pad: int, pad_value: float) -> np.ndarray:
    b, c, h, w = images.shape
    rows = -(-b // nrow)
    out = np.full((c, rows * h + (rows + 1) * pad, nrow * w + (nrow + 1) * pad), pad_value, dtype=np.float64)
    for i in range(b):
        r, k = i // nrow, i % nrow
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        out[:, top:top + h, left:left + w] = images[i]
    return out


@pytest.mark.parametrize("b, nrow, pad, pad_value", [(5, None, 2, 1.0), (5, 2, 2, 1.0), (7, 4, 0, 0.0),
                                                     (4, None, 3, -0.5), (1, None, 1, 1.0), (3, 5, 2, 1.0)])
def test_make_grid_is_the_grid_laid_out_by_hand(b, nrow, pad, pad_value):
    images = torch.randn(b, 3, 3, 4, dtype=torch.float64)
    per_row = nrow or math.ceil(math.sqrt(b))                 # square-ish by default: 5 -> 3 per row, 4 -> 2
    expected = _grid_by_hand(images.numpy(), per_row, pad, pad_value)
    grid = make_grid(images, nrow, pad=pad, pad_value=pad_value)
    assert np.array_equal(grid.numpy(), expected)
    assert grid_size(b, 3, 4, nrow, pad) == expected.shape[1:]


def test_make_grid_pads_by_two_in_white_by_default_and_grid_size_agrees():
    images = -torch.ones(5, 1, 2, 3)
    grid = make_grid(images)
    assert np.array_equal(grid.numpy(), _grid_by_hand(images.numpy(), 3, 2, 1.0))
    assert grid_size(5, 2, 3) == (2 * (2 + 2) + 2, 3 * (3 + 2) + 2) == tuple(grid.shape[1:])
    assert grid_size(10, 8, 8) == (3 * 10 + 2, 4 * 10 + 2) and grid_size(9, 8, 8) == (3 * 10 + 2, 3 * 10 + 2)


@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 1.0), (0.0, 255.0)])
def test_a_saved_grid_is_the_hand_grid_with_white_padding_in_each_range(tmp_path, value_range):
    lo, hi = value_range
    images = _near_levels((5, 3, 5, 4), seed=8, lo=lo, hi=hi)
    path = save_grid(images, tmp_path / "g.png", nrow=2, value_range=value_range)  # 3 per row by default
    expected = _by_hand(_grid_by_hand(images.numpy(), 2, 2, hi), lo, hi)
    got = _read(path)
    assert np.array_equal(got, expected) and got.shape == (3 * 7 + 2, 2 * 6 + 2, 3)
    assert (got[:2] == 255).all() and (got[-7:, 6:] == 255).all()  # the padding and the empty cell are white


# ------------------------------------------------------------------------------------------------ animations


def _anim_frames(n: int, h: int = 6, w: int = 5) -> list[torch.Tensor]:
    """Frames of a few distinct colours each (a GIF's palette holds them exactly), each unlike the others."""
    rng = np.random.default_rng(n)
    return [torch.tensor(rng.choice([-1.0, -1 + 2 * 60 / 255, -1 + 2 * 200 / 255, 1.0], (3, h, w)),
                         dtype=torch.float32) for _ in range(n)]


@pytest.mark.parametrize("name, fmt, fps", [("a.gif", "GIF", 24), ("a.GIF", "GIF", 30), ("a.png", "PNG", 24),
                                            ("a.apng", "PNG", 12), ("a.webp", "WEBP", 30)])
def test_each_animation_holds_every_frame_exactly_with_its_duration_and_loops(tmp_path, name, fmt, fps):
    frames = _anim_frames(5)
    path = save_animation(frames, tmp_path / name, fps=fps)
    got, durations, found, loop = _frames_of(path)
    assert found == fmt and len(got) == 5
    for g, f in zip(got, frames):
        assert np.array_equal(g, _by_hand(f.numpy()))
    step = 10 if fmt == "GIF" else 1
    starts = [round(i * 1000 / fps / step) * step for i in range(6)]  # frame i starts at i / fps, in the format's step
    assert durations == [b - a for a, b in zip(starts, starts[1:])]
    assert loop == 0  # plays forever
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_an_animation_of_a_stacked_tensor_and_of_another_range_holds_the_hand_pixels_at_24_fps(tmp_path):
    frames = torch.stack([_near_levels((3, 4, 4), seed=s, lo=0.0, hi=1.0) for s in range(3)])
    got, durations, _, _ = _frames_of(save_animation(frames, tmp_path / "a.png", value_range=(0.0, 1.0)))
    assert all(np.array_equal(g, _by_hand(f.numpy(), 0.0, 1.0)) for g, f in zip(got, frames))
    assert durations == [42, 41, 42]  # 24 fps unless told: starts at 0, 42, 83, 125 ms


def test_frame_durations_by_hand_round_to_the_step_and_never_reach_zero():
    # 24 fps in 10 ms steps: starts 0, 42 -> 40, 83 -> 80, 125 -> 120 (half to even), 167 -> 170, 208 -> 210
    assert frame_durations(5, 24, ".gif") == [40, 40, 40, 50, 40]
    assert frame_durations(5, 24, ".png") == [42, 41, 42, 42, 41]  # 0, 42, 83, 125, 167, 208
    assert frame_durations(3, 24) == [42, 41, 42]                   # the default suffix has 1 ms steps
    assert frame_durations(4, 2000, ".png") == [1, 1, 1, 1]         # starts 0, 0, 1, 2, 2: never 0 ms
    assert frame_durations(4, 200, ".gif") == [10, 10, 10, 10]      # starts 0, 0, 10, 20, 20: never under 10 ms
    assert frame_durations(2, 20, ".webp") == [50, 50] and frame_durations(0, 24, ".gif") == []


def test_a_gif_at_the_fastest_rate_it_can_play_is_written_and_a_faster_one_refused(tmp_path):
    _, durations, _, _ = _frames_of(save_animation(_anim_frames(3), tmp_path / "a.gif", fps=50))
    assert durations == [20, 20, 20]
    with pytest.raises(UserError, match=r"A GIF cannot play at 50.5 fps: .*use --fps 50 or less"):
        check_animation_target(tmp_path / "b.GIF", fps=50.5)
    assert check_animation_target(tmp_path / "b.gif") == tmp_path / "b.gif"          # no rate: nothing to check
    assert check_animation_target(tmp_path / "b.webp", fps=120) == tmp_path / "b.webp"  # other formats hold 1 ms


def test_a_new_frames_folder_holds_one_png_per_frame_with_the_hand_pixels_and_was_filled_beside_it(tmp_path,
                                                                                                     monkeypatch):
    frames = [_near_levels((3, 3, 4), seed=s) for s in range(3)]
    real, written = Image.Image.save, []
    monkeypatch.setattr(Image.Image, "save", lambda self, fp, *a, **k: (written.append(fp), real(self, fp, *a, **k)))
    out = save_animation(frames, tmp_path / "frames")
    # filled in a hidden folder beside it and renamed (one file system: the rename is atomic)
    assert len(written) == 3 and all(p.parent.parent == tmp_path and p.parent.name.startswith(".frames.")
                                     for p in written)
    assert out == tmp_path / "frames" and sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
    assert sorted(p.name for p in out.iterdir()) == ["frame_0000.png", "frame_0001.png", "frame_0002.png"]
    for i, f in enumerate(frames):
        with Image.open(out / f"frame_{i:04d}.png") as img:
            assert img.format == "PNG"
        assert np.array_equal(_read(out / f"frame_{i:04d}.png"), _by_hand(f.numpy()))


def test_an_existing_frames_folder_gets_the_new_frames_and_keeps_what_is_not_a_numbered_frame(tmp_path):
    out = tmp_path / "frames"
    out.mkdir()
    for name in ("frame_0000.png", "frame_0007.png", "frame_last.png", "frame_x12.png", "keep.png"):
        Image.new("RGB", (2, 2), (9, 9, 9)).save(out / name)
    frames = [_near_levels((3, 3, 4), seed=10 + s) for s in range(2)]
    save_animation(frames, out)
    assert sorted(p.name for p in out.iterdir()) == ["frame_0000.png", "frame_0001.png", "frame_last.png",
                                                    "frame_x12.png", "keep.png"]
    for i, f in enumerate(frames):
        with Image.open(out / f"frame_{i:04d}.png") as img:
            assert img.format == "PNG"
        assert np.array_equal(_read(out / f"frame_{i:04d}.png"), _by_hand(f.numpy()))
    assert (_read(out / "frame_last.png") == 9).all()


# ---------------------------------------------------------------------------------------------------- refusals


def test_image_targets_pil_cannot_write_are_refused_before_any_work(tmp_path):
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(UserError, match=r"Cannot write an image to '.*dir.png': it is a folder\."):
        check_image_target(tmp_path / "dir.png")
    for name in ("noext", "a.xyz", "a.txt", "a.psd", "a.mpg"):  # PIL reads PSD and MPEG but cannot write them
        with pytest.raises(UserError, match=r"Cannot write an image to '.*': use \.png, \.jpg, \.webp"):
            save_image(torch.zeros(3, 2, 2), tmp_path / name)
        assert not (tmp_path / name).exists()
    assert check_image_target(str(tmp_path / "b.JPG")) == tmp_path / "b.JPG"


@pytest.mark.parametrize("name, limit", [("a.webp", 16383), ("a.jpg", 65500), ("a.gif", 65535)])
def test_an_image_larger_than_its_format_holds_is_refused_and_the_largest_is_not(tmp_path, name, limit):
    check_image_size(tmp_path / name, limit, 8)
    check_image_size(tmp_path / name, 8, limit)
    for h, w in ((limit + 1, 8), (8, limit + 1)):
        with pytest.raises(UserError, match=rf"would be {w}x{h} pixels, and \w+ holds at most {limit} on a side"):
            check_image_size(tmp_path / name, h, w)
    check_image_size(tmp_path / "a.png", 100_000, 100_000)  # PNG has no such limit
    check_image_size(tmp_path / "noext", 100_000, 100_000)


def test_animation_targets_that_cannot_be_written_are_refused(tmp_path):
    with pytest.raises(UserError, match=r"Cannot write an animation to '.*a\.avi': use \.gif, \.png/\.apng"):
        check_animation_target(tmp_path / "a.avi")
    (tmp_path / "dir.gif").mkdir()
    with pytest.raises(UserError, match=r"Cannot write an animation to '.*dir\.gif': it is a folder\."):
        check_animation_target(tmp_path / "dir.gif")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match=r"Cannot write frames to '.*file': it is a file, not a folder\."):
        save_animation(_anim_frames(2), tmp_path / "file")
    assert (tmp_path / "file").read_text() == "x"
    assert check_animation_target(tmp_path / "new") == tmp_path / "new"    # a new frames folder
    (tmp_path / "old").mkdir()
    assert check_animation_target(str(tmp_path / "old")) == tmp_path / "old"  # an existing one


def _pretend_installed(monkeypatch, *present):
    monkeypatch.setattr(imageio, "_installed", lambda module: module in present)


def test_mp4_needs_imageio_and_a_video_plugin_and_says_which_is_missing(tmp_path, monkeypatch):
    _pretend_installed(monkeypatch)
    with pytest.raises(UserError) as err:
        check_animation_target(tmp_path / "a.MP4")
    assert str(err.value) == ("Writing MP4 needs an encoder: pip install imageio imageio-ffmpeg (or write .gif, .webp, "
                              ".png or a frames folder).")
    _pretend_installed(monkeypatch, "imageio")
    with pytest.raises(UserError) as err:
        check_animation_target(tmp_path / "a.mp4")
    assert str(err.value) == ("Writing MP4 needs an encoder: imageio is installed but has no video plugin; pip install "
                              "imageio-ffmpeg (or av), or write .gif, .webp, .png or a frames folder.")  # docs/errors.md
    for plugin in ("imageio_ffmpeg", "av"):
        _pretend_installed(monkeypatch, "imageio", plugin)
        assert imageio.mp4_encoder_problem() is None
        assert check_animation_target(tmp_path / "a.mp4", fps=120) == tmp_path / "a.mp4"


def test_installed_finds_modules_without_importing_them_and_answers_no_for_missing_ones():
    assert imageio._installed("json") and imageio._installed("email.mime")
    assert not imageio._installed("zoo3d_no_such_module") and not imageio._installed("zoo3d_no_such_module.sub")
    assert not imageio._installed("")  # find_spec refuses an empty name: no


def test_mp4_goes_through_pyav_when_installed_else_ffmpeg_told_not_to_scale(monkeypatch):
    _pretend_installed(monkeypatch, "imageio", "av", "imageio_ffmpeg")
    assert imageio._mp4_writer() == {"plugin": "pyav"}
    _pretend_installed(monkeypatch, "imageio", "imageio_ffmpeg")
    assert imageio._mp4_writer() == {"plugin": "FFMPEG", "macro_block_size": 1}


def _stand_in_imageio(monkeypatch) -> dict:
    """A stand-in ``imageio.v3`` that records what the encoder is given and writes a file where it is told to."""
    seen = {}

    def imwrite(path, frames, **kwargs):
        seen.update(path=path, frames=frames, kwargs=kwargs)
        path.write_bytes(b"mp4")

    v3 = types.ModuleType("imageio.v3")
    v3.imwrite = imwrite
    package = types.ModuleType("imageio")
    package.v3 = v3
    monkeypatch.setitem(sys.modules, "imageio", package)
    monkeypatch.setitem(sys.modules, "imageio.v3", v3)
    _pretend_installed(monkeypatch, "imageio", "imageio_ffmpeg")
    return seen


@pytest.mark.parametrize("h, w", [(3, 5), (3, 6), (4, 5), (4, 6)])
def test_mp4_frames_reach_the_encoder_padded_to_even_at_the_rate_and_land_under_the_name(tmp_path, monkeypatch, h, w):
    seen = _stand_in_imageio(monkeypatch)
    frames = [_near_levels((3, h, w), seed=20 + s) for s in range(2)]
    path = save_animation(frames, tmp_path / "t.mp4", fps=30)
    assert path == tmp_path / "t.mp4" and path.read_bytes() == b"mp4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.mp4"]  # the staging folder is gone
    # encoded under its own name (the encoder picks the container by suffix) in a hidden folder beside it
    assert seen["path"].name == "t.mp4" and seen["path"].parent.parent == tmp_path
    assert seen["path"].parent.name.startswith(".t.mp4.")
    assert seen["kwargs"] == {"fps": 30, "codec": "libx264", "plugin": "FFMPEG", "macro_block_size": 1}
    want = np.stack([_by_hand(f.numpy()) for f in frames])
    if h % 2:
        want = np.concatenate([want, want[:, -1:]], axis=1)     # the last row repeated
    if w % 2:
        want = np.concatenate([want, want[:, :, -1:]], axis=2)  # the last column repeated
    assert seen["frames"].shape == (2, h + h % 2, w + w % 2, 3)
    assert np.array_equal(seen["frames"].astype(np.int64), want)


def test_an_output_whose_folder_is_a_file_is_refused_naming_what_was_being_written(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    under = tmp_path / "afile"
    cases = [(lambda: save_image(torch.zeros(3, 2, 2), under / "a.png"), "image", "a.png"),
             (lambda: save_grid(torch.zeros(2, 3, 2, 2), under / "g.png"), "image", "g.png"),
             (lambda: save_animation(_anim_frames(2), under / "a.gif"), "animation", "a.gif"),
             (lambda: save_animation(_anim_frames(2), under / "frames"), "frames", "frames")]
    for write, what, name in cases:
        with pytest.raises(WriteError) as err:
            write()
        assert str(err.value) == f"Cannot write {what} '{under / name}': '{under}' is a file, not a folder."
    _stand_in_imageio(monkeypatch)
    with pytest.raises(WriteError, match=r"^Cannot write animation '.*t\.mp4': '.*afile' is a file, not a folder\.$"):
        save_animation(_anim_frames(2), under / "t.mp4")


def test_a_full_disk_while_reusing_a_frames_folder_names_the_frame(tmp_path, monkeypatch):
    out = tmp_path / "frames"
    out.mkdir()

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(WriteError) as err:
        save_animation(_anim_frames(2), out)
    assert str(err.value) == f"Cannot write frame '{out / 'frame_0000.png'}': the disk is full; nothing was half-written."
    assert list(out.iterdir()) == []


# ------------------------------------------------------------------------------------------------------- depth


def test_depth_with_near_and_far_given_maps_linearly_from_white_to_black_and_clamps():
    depth = torch.tensor([2.0, 3.0, 4.0, 2.5, 1.0, 5.0, 0.0]).reshape(1, 1, 1, 7)
    got = depth_to_image(depth, near=2.0, far=4.0).reshape(-1).tolist()
    # 1 - 2 (d - near) / (far - near), clamped; the ray that hit nothing (0) drawn at far
    assert got == pytest.approx([1.0, 0.0, -1.0, 0.5, 1.0, -1.0, -1.0], abs=1e-7)
    hits = torch.tensor([0.0, 1.0, 1.5, 3.0]).reshape(1, 1, 2, 2)
    assert depth_to_image(hits).reshape(-1).tolist() == pytest.approx([-1.0, 1.0, 0.5, -1.0], abs=1e-7)
    assert depth_to_image(hits, near=0.5).reshape(-1).tolist() == pytest.approx([-1.0, 0.6, 0.2, -1.0], abs=1e-6)
    flat = depth_to_image(torch.full((1, 1, 2, 2), 2.0))  # one depth: no range, no NaN
    assert torch.equal(flat, torch.ones(1, 1, 2, 2))
    assert torch.equal(depth_to_image(torch.zeros(1, 1, 1, 2)), -torch.ones(1, 1, 1, 2))  # nothing hit: all far
