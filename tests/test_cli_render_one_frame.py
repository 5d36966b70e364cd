"""A yaw sweep or an orbit of one frame is the centre view (the prior's mean yaw and centre pitch), not the sweep's
first end or the orbit's top.

``linspace(-r, r, 1)`` is ``[-r]``: ``zoo3d render RUN --frames 1 --trajectory yaw-sweep`` drew the head turned by
the whole yaw range, a still that a user takes for the model's front view; the orbit's one phase, 0, raised the
pitch by the whole ``--pitch-range``."""

from __future__ import annotations

import pytest

from cli_toy import PITCH_MEAN, YAW_MEAN, generator, read_rgb, render_bytes, toy, train_toy_run, zoo3d  # noqa: F401
from zoo3d.cameras import yaw_sweep


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_toy_run(tmp_path_factory, "render_one_frame")


def test_one_camera_of_a_sweep_is_its_centre_and_more_cameras_span_the_range():
    (one,) = yaw_sweep(1, 0.4, yaw_center=0.2).to_angles()["yaw"].tolist()
    assert one == pytest.approx(0.2)
    assert yaw_sweep(3, 0.4, yaw_center=0.2).to_angles()["yaw"].tolist() == pytest.approx([-0.2, 0.2, 0.6])


def test_render_one_frame_draws_the_mean_view(run, toy, capsys):
    assert zoo3d("render", run, "--seed", "2", "--frames", "1", "--trajectory", "yaw-sweep", "--yaw-range", "0.4",
                 "--out", "still") == 0
    (frame,) = [read_rgb(p) for p in sorted((toy / "still").glob("frame_*.png"))]
    (want,) = render_bytes(generator(run), 2, [YAW_MEAN], [PITCH_MEAN], 0.7)
    assert abs(frame.astype(int) - want.astype(int)).max() <= 1


def test_one_camera_of_an_orbit_is_its_centre_and_more_cameras_go_round_it():
    from zoo3d.cameras import orbit

    one = orbit(1, 0.4, 0.15, yaw_center=0.2, pitch_center=0.1).to_angles()
    assert (one["yaw"].item(), one["pitch"].item()) == (pytest.approx(0.2), pytest.approx(0.1))
    two = orbit(2, 0.4, 0.15, yaw_center=0.2, pitch_center=0.1).to_angles()
    assert two["yaw"].tolist() == pytest.approx([0.2, 0.2], abs=1e-6)
    assert two["pitch"].tolist() == pytest.approx([0.25, -0.05])


def test_render_one_frame_of_the_default_orbit_draws_the_mean_view(run, toy, capsys):
    """The default trajectory, an orbit, drew its one frame at the path's top, the pitch raised by --pitch-range."""
    assert zoo3d("render", run, "--seed", "2", "--frames", "1", "--out", "orbit_still") == 0
    (frame,) = [read_rgb(p) for p in sorted((toy / "orbit_still").glob("frame_*.png"))]
    (want,) = render_bytes(generator(run), 2, [YAW_MEAN], [PITCH_MEAN], 0.7)
    assert abs(frame.astype(int) - want.astype(int)).max() <= 1
