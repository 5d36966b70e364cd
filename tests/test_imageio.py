"""Animations play at the asked rate, depth images keep empty space far, and outputs hold only what was written."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from zoo3d.errors import UserError
from zoo3d.imageio import check_animation_target, depth_to_image, frame_durations, save_animation


def _frames(n: int, size: int = 8) -> list[torch.Tensor]:
    return [torch.full((3, size, size), -1 + 2 * i / max(1, n - 1)) for i in range(n)]


@pytest.mark.parametrize("fps, suffix, step", [(24, ".gif", 10), (30, ".gif", 10), (12, ".gif", 10),
                                               (24, ".png", 1), (60, ".webp", 1)])
def test_frame_i_starts_at_i_over_fps_within_the_formats_step(fps, suffix, step):
    durations = frame_durations(120, fps, suffix)
    starts = [sum(durations[:i]) for i in range(121)]
    assert all(abs(t - i * 1000 / fps) <= step / 2 + 1e-9 for i, t in enumerate(starts))
    assert all(d % step == 0 and d >= step for d in durations)


def test_a_gif_at_24_fps_plays_in_the_time_it_should(tmp_path):
    path = save_animation(_frames(48), tmp_path / "a.gif", fps=24)
    with Image.open(path) as gif:
        total = 0
        for i in range(gif.n_frames):
            gif.seek(i)
            total += gif.info["duration"]
    assert gif.n_frames == 48 and abs(total - 2000) <= 10  # two seconds, not 1920 ms (25 fps)
    with pytest.raises(UserError, match="A GIF cannot play at 60 fps"):
        save_animation(_frames(4), tmp_path / "b.gif", fps=60)
    assert not (tmp_path / "b.gif").exists()
    with pytest.raises(UserError, match="A GIF cannot play at 60 fps"):  # what render checks before rendering
        check_animation_target(tmp_path / "b.gif", fps=60)


def test_depth_of_rays_that_hit_nothing_is_drawn_far_and_the_hits_use_the_whole_range():
    depth = torch.zeros(2, 1, 4, 4)
    depth[0, 0, 1:3, 1:3] = torch.tensor([[0.92, 0.95], [0.97, 0.99]])
    depth[1, 0, 0, 0] = 0.95
    image = depth_to_image(depth)
    assert image[0, 0, 1, 1] == 1 and image[0, 0, 2, 2] == -1  # nearest hit white, farthest hit black
    assert bool((image[depth == 0] == -1).all())  # empty space as far as the farthest hit, not nearest
    assert depth_to_image(torch.zeros(1, 1, 2, 2)).isfinite().all()  # nothing hit at all: no NaN


def test_a_frames_folder_written_again_holds_only_the_new_frames(tmp_path):
    out = tmp_path / "frames"
    save_animation(_frames(6), out)
    (out / "notes.txt").write_text("mine")
    save_animation(_frames(3), out)
    assert sorted(p.name for p in out.iterdir()) == ["frame_0000.png", "frame_0001.png", "frame_0002.png",
                                                    "notes.txt"]


@pytest.mark.skipif(not any(importlib.util.find_spec(m) for m in ("imageio_ffmpeg", "av")),
                    reason="MP4 needs imageio-ffmpeg or av (optional; not installed)")
def test_mp4_is_written_under_its_own_name_and_plays_at_the_rate(tmp_path):
    import imageio.v3 as iio

    path = save_animation(_frames(24, size=64), tmp_path / "t.mp4", fps=24)
    assert path.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["t.mp4"]  # no staging left
    frames = iio.imread(path)
    assert frames.shape[0] == 24 and frames.shape[1:3] == (64, 64)


@pytest.mark.skipif(not any(importlib.util.find_spec(m) for m in ("imageio_ffmpeg", "av")),
                    reason="MP4 needs imageio-ffmpeg or av (optional; not installed)")
@pytest.mark.parametrize("size, stored", [((66, 134), (66, 134)), ((33, 47), (34, 48))])
def test_mp4_keeps_the_frames_size_and_where_each_pixel_is(tmp_path, size, stored):
    """imageio-ffmpeg scales frames to a multiple of 16 px unless told not to (66 x 134 came back 80 x 144,
    stretched), and PyAV's H.264 refuses odd sizes: the frames keep their size, an odd side padded by one pixel."""
    import imageio.v3 as iio

    h, w = size
    frames = torch.full((4, 3, h, w), -1.0)
    frames[..., : w // 2] = 1.0                                          # white left half, black right half
    back = iio.imread(save_animation(list(frames), tmp_path / "t.mp4", fps=24))
    assert back.shape[1:3] == stored
    assert back[:, :h, w // 2 - 2].mean() > 230 and back[:, :h, w // 2 + 1].mean() < 25  # the edge has not moved


def test_even_frames_repeat_the_last_row_and_column_and_leave_even_sizes_alone():
    from zoo3d.imageio import even_frames

    odd = np.arange(2 * 3 * 5 * 3, dtype=np.uint8).reshape(2, 3, 5, 3)
    padded = even_frames(odd)
    assert padded.shape == (2, 4, 6, 3)
    assert np.array_equal(padded[:, :3, :5], odd)
    assert np.array_equal(padded[:, 3, :5], odd[:, 2]) and np.array_equal(padded[:, :3, 5], odd[:, :, 4])
    even = odd[:, :2, :4]
    assert even_frames(even) is even
