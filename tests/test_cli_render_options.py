"""``zoo3d render``'s options against docs/training.md: each frame is the generator's own render of the seed from the
trajectory's camera (the orbit and the sweep written out around the prior's mean view), the frame timing is the
asked fps, the depth views land where documented, and every refusal comes before the model loads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cli_toy import (FOV, PITCH_MEAN, RADIUS, YAW_MEAN, animation_frames, depth_bytes, generator, read_rgb,
                     render_bytes, toy, train_toy_run, zoo3d)  # noqa: F401 (toy: a fixture)
from conftest import one_line_error
from zoo3d.cli.render import _depth_path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_toy_run(tmp_path_factory, "render_cli")


def _orbit(n, yaw_amp, pitch_amp):
    """The orbit: frame k at phase 2 pi k / n, yaw_mean + a sin, centre pitch + b cos."""
    phase = [2 * math.pi * k / n for k in range(n)]
    return ([YAW_MEAN + yaw_amp * math.sin(p) for p in phase], [PITCH_MEAN + pitch_amp * math.cos(p) for p in phase])


def _apng_durations(n, fps):
    """APNG/WebP delays in whole ms: frame k starts at round(k * 1000 / fps)."""
    starts = [round(k * 1000 / fps) for k in range(n + 1)]
    return [b - a for a, b in zip(starts, starts[1:])]


def _close(frames, want):
    return max(float(np.abs(f - w).max()) for f, w in zip(frames, want))


def test_the_defaults_are_a_60_frame_orbit_of_seed_0_at_psi_0_7_and_24_fps(run, toy, capsys):
    assert zoo3d("render", run, "--out", "t.png") == 0
    assert capsys.readouterr().out == "Wrote 60 frames of seed 0 (orbit) to t.png.\n"
    frames, durations = animation_frames(toy / "t.png")
    assert len(frames) == 60 and durations == _apng_durations(60, 24)
    yaws, pitches = _orbit(60, 0.4, 0.15)
    gen = generator(run)
    assert _close(frames, render_bytes(gen, 0, yaws, pitches, 0.7)) <= 1.0
    # teeth: psi 1, another seed, an orbit around (0, 0) each draw other frames
    assert _close(frames, render_bytes(gen, 0, yaws, pitches, 1.0)) > 3
    assert _close(frames, render_bytes(gen, 1, yaws, pitches, 0.7)) > 3
    assert _close(frames, render_bytes(gen, 0, [y - YAW_MEAN for y in yaws], pitches, 0.7)) > 3


def test_an_orbit_takes_its_amplitudes_seed_psi_size_and_fps(run, toy, capsys):
    assert zoo3d("render", run, "--seed", "6", "--frames", "5", "--yaw-range", "0.5", "--pitch-range", "0.25",
                 "--psi", "0.4", "--resolution", "12", "--fps", "7", "--out", "o.webp") == 0
    assert capsys.readouterr().out == "Wrote 5 frames of seed 6 (orbit) to o.webp.\n"
    frames, durations = animation_frames(toy / "o.webp")
    assert frames[0].shape == (12, 12, 3) and durations == _apng_durations(5, 7)
    yaws, pitches = _orbit(5, 0.5, 0.25)
    assert _close(frames, render_bytes(generator(run), 6, yaws, pitches, 0.4, resolution=12)) <= 1.0


def test_a_yaw_sweep_spans_the_yaw_range_around_the_mean_view_at_the_centre_pitch(run, toy, capsys):
    assert zoo3d("render", run, "--seed", "3", "--frames", "4", "--trajectory", "yaw-sweep", "--yaw-range", "0.3",
                 "--out", "frames") == 0
    assert capsys.readouterr().out == "Wrote 4 frames of seed 3 (yaw-sweep) to frames.\n"
    frames = [read_rgb(toy / "frames" / f"frame_{k:04d}.png") for k in range(4)]
    yaws = [YAW_MEAN - 0.3 + 0.6 * k / 3 for k in range(4)]
    assert _close(frames, render_bytes(generator(run), 3, yaws, [PITCH_MEAN] * 4, 0.7)) <= 1.0


def test_gif_frames_last_whole_hundredths_that_keep_the_fps(run, toy, capsys):
    assert zoo3d("render", run, "--frames", "6", "--out", "t.gif") == 0
    # 24 fps: frame k starts at k / 24 s to the nearest 10 ms: 0, 40, 80, 120 (125 rounded to even), 170, 210, 250
    assert animation_frames(toy / "t.gif")[1] == [40, 40, 40, 50, 40, 40]


def test_depth_side_puts_the_depth_beside_each_frame_over_one_range(run, toy, capsys):
    assert zoo3d("render", run, "--seed", "2", "--frames", "3", "--depth", "side", "--out", "s.png") == 0
    assert capsys.readouterr().out == "Wrote 3 frames of seed 2 (orbit) to s.png.\n"
    frames, _ = animation_frames(toy / "s.png")
    yaws, pitches = _orbit(3, 0.4, 0.15)
    rgb, depth = render_bytes(generator(run), 2, yaws, pitches, 0.7, depth=True)
    drawn = depth_bytes(depth)
    assert frames[0].shape == (16, 32, 3)
    assert _close([f[:, :16] for f in frames], rgb) <= 1.0
    assert _close([f[:, 16:] for f in frames], [d[..., None] for d in drawn]) <= 1.0


def test_depth_separate_writes_out_depth_beside_the_colour(run, toy, capsys):
    assert zoo3d("render", run, "--frames", "3", "--trajectory", "yaw-sweep", "--depth", "separate", "--fps", "10",
                 "--out", "a.png") == 0
    assert capsys.readouterr().out == "Wrote 3 frames of seed 0 (yaw-sweep) to a.png, a_depth.png.\n"
    yaws = [YAW_MEAN - 0.4, YAW_MEAN, YAW_MEAN + 0.4]
    rgb, depth = render_bytes(generator(run), 0, yaws, [PITCH_MEAN] * 3, 0.7, depth=True)
    colour, durations = animation_frames(toy / "a.png")
    assert _close(colour, rgb) <= 1.0 and colour[0].shape == (16, 16, 3)
    depths, depth_durations = animation_frames(toy / "a_depth.png")
    assert _close(depths, [d[..., None] for d in depth_bytes(depth)]) <= 1.0
    assert durations == depth_durations == [100, 100, 100]
    assert zoo3d("render", run, "--frames", "2", "--depth", "separate", "--out", "f") == 0
    assert sorted(p.name for p in (toy / "f_depth").iterdir()) == ["frame_0000.png", "frame_0001.png"]


def test_no_ema_renders_the_raw_generator(run, toy, capsys):
    assert zoo3d("render", run, "--frames", "2", "--no-ema", "--out", "r.png") == 0
    frames, _ = animation_frames(toy / "r.png")
    yaws, pitches = _orbit(2, 0.4, 0.15)
    assert _close(frames, render_bytes(generator(run, ema=False), 0, yaws, pitches, 0.7)) <= 1.0
    assert _close(frames, render_bytes(generator(run), 0, yaws, pitches, 0.7)) > 1.0


@pytest.mark.parametrize("out, depth", [
    ("turn.gif", "turn_depth.gif"), ("out/turn.mp4", "out/turn_depth.mp4"), ("x.tar.webp", "x.tar_depth.webp"),
    ("frames", "frames_depth"), ("a.b/frames", "a.b/frames_depth"),
])
def test_the_depth_animation_is_named_after_the_colour_one(out, depth):
    assert _depth_path(Path(out)) == Path(depth)


def test_a_rasterizer_without_cached_is_refused_before_the_model_loads(toy, capsys):
    assert zoo3d("render", "nowhere", "--rasterizer", "torch", "--out", "a.gif") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: --rasterizer torch draws the cached layers; add --cached (without it the model itself renders "
        "every frame).")


def test_outputs_that_cannot_be_written_are_refused_before_the_model_loads(toy, capsys):
    assert zoo3d("render", "nowhere", "--fps", "60", "--out", "a.gif") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: A GIF cannot play at 60 fps: browsers hold frames shorter than 20 ms for 100 ms; use --fps 50 or "
        "less, or write .webp, .png or .mp4.")
    (toy / "a_depth.gif").mkdir()
    assert zoo3d("render", "nowhere", "--depth", "separate", "--out", "a.gif") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: Cannot write an animation to 'a_depth.gif': it is a folder.")
    assert zoo3d("render", "nowhere", "--depth", "side", "--out", "a.gif") == 2  # no depth file: the model is next
    assert "neither a run folder" in one_line_error(capsys.readouterr().err)


def test_the_frames_held_at_once_count_the_depth_views(run, toy, capsys, monkeypatch):
    from zoo3d import limits

    monkeypatch.setattr(limits, "memory_budget", lambda: 1000)
    for depth, said in (("separate", "--frames 3 asks for 6 frames of 16x16, "),
                        ("side", "--frames 3 asks for 3 frames of 16x32, "),
                        ("none", "--frames 3 asks for 3 frames of 16x16, ")):
        assert zoo3d("render", run, "--frames", "3", "--depth", depth, "--out", "a.gif") == 2
        assert one_line_error(capsys.readouterr().err).startswith("Error: " + said)
    assert zoo3d("render", run, "--frames", "3", "--resolution", "7", "--out", "a.gif") == 2
    assert one_line_error(capsys.readouterr().err).startswith("Error: --frames 3 asks for 3 frames of 7x7, ")
    assert not list(toy.iterdir())


def test_a_model_without_depth_refuses_a_depth_view_and_writes_nothing(run, toy, capsys, monkeypatch):
    import toy_model
    from zoo3d.core import RenderOutput

    real = toy_model.ToyGenerator.render
    monkeypatch.setattr(toy_model.ToyGenerator, "render", lambda self, rep, cams, resolution=None:
                        RenderOutput(rgb=real(self, rep, cams, resolution).rgb))
    for depth in ("side", "separate"):
        assert zoo3d("render", run, "--frames", "2", "--depth", depth, "--out", "d.gif") == 2
        assert one_line_error(capsys.readouterr().err) == (
            "Error: Model 'toy' renders no depth, so --depth cannot be shown.")
    assert not list(toy.iterdir())
    assert zoo3d("render", run, "--frames", "2", "--out", "d.gif") == 0  # without --depth it renders


@pytest.mark.parametrize("args, said", [
    (("--yaw-range", "inf"), "Error: Invalid value for '--yaw-range': 'inf' is not a finite number."),
    (("--pitch-range", "nan"), "Error: Invalid value for '--pitch-range': 'nan' is not a finite number."),
    (("--psi", "nan"), "Error: Invalid value for '--psi': 'nan' is not a number in the range 0<=x<=1."),
    (("--frames", "0"), "Error: Invalid value for '--frames': 0 is not in the range x>=1."),
    (("--seed", "-1"), "Error: Invalid value for '--seed': -1 is not in the range 0<=x<=9223372036854775807."),
])
def test_values_that_cannot_render_are_refused_naming_the_option(toy, capsys, args, said):
    assert zoo3d("render", "nowhere", *args, "--out", "a.gif") == 2
    assert one_line_error(capsys.readouterr().err) == said + " (see `zoo3d render --help`)"


@pytest.mark.parametrize("args, rasterizer, depth", [((), "auto", False), (("--rasterizer", "torch", "--depth", "side"),
                                                                          "torch", True)])
def test_cached_hands_the_seed_cameras_psi_size_rasterizer_and_depth_to_the_cache(run, toy, capsys, monkeypatch, args,
                                                                                   rasterizer, depth):
    """The cache and its rasterizers are test_freeview_*.py's; here, what the command hands them and writes back."""
    import torch

    from zoo3d.core import RenderOutput
    from zoo3d.freeview import commands

    seen = []

    def render_cached(gen, seed, cams, psi, res, rasterizer, with_depth):
        seen.append((gen.z_dim, seed, cams.to_angles(), psi, res, rasterizer, with_depth))
        n = len(cams)
        rgb = torch.linspace(-1, 1, n * 3 * 8 * 8).reshape(n, 3, 8, 8)
        return RenderOutput(rgb=rgb, depth=1 + rgb[:, :1].abs() if with_depth else None), "rasterized with torch"

    monkeypatch.setattr(commands, "render_cached", render_cached)
    assert zoo3d("render", run, "--cached", "--seed", "4", "--frames", "3", "--psi", "0.3", "--resolution", "8",
                 "--yaw-range", "0.5", *args, "--out", "c.png") == 0
    assert capsys.readouterr().out == "Wrote 3 frames of seed 4 (orbit) to c.png. (rasterized with torch)\n"
    (z_dim, seed, angles, psi, res, used, with_depth), = seen
    assert (z_dim, seed, psi, res, used, with_depth) == (8, 4, 0.3, (8, 8), rasterizer, depth)
    yaws, pitches = _orbit(3, 0.5, 0.15)
    assert np.allclose(angles["yaw"].numpy(), yaws, atol=1e-5) and np.allclose(angles["pitch"].numpy(), pitches,
                                                                                atol=1e-5)
    assert np.allclose(angles["radius"].numpy(), RADIUS) and np.allclose(np.asarray(angles["fov"]), FOV)
    frames, _ = animation_frames(toy / "c.png")
    assert frames[0].shape == (8, 16 if depth else 8, 3)
    rgb = ((torch.linspace(-1, 1, 3 * 3 * 8 * 8).reshape(3, 3, 8, 8) + 1) * 127.5).permute(0, 2, 3, 1).numpy()
    assert _close([f[:, :8] for f in frames], rgb) <= 1.0
