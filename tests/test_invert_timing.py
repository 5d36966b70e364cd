"""metrics.json's ``invert_seconds`` is the time of that image's inversion: the optimisation's perceptual loss
(LPIPS, whose weights take a while to read) is built once before the first image, not inside its time, so the
first image's record is comparable with the others'.

The build is made to take BUILD_SECONDS on a stand-in clock (``time.perf_counter`` moved on by that much) rather
than by sleeping, so the check does not depend on how fast this machine inverts: a record that counted the build
would be at least BUILD_SECONDS, however quick the inversion."""

from __future__ import annotations

import json
import time

from test_invert_cli import _zoo3d
from test_invert_cli import toy_image  # noqa: F401 (a fixture)

BUILD_SECONDS = 1000.0


def test_building_the_perceptual_loss_is_not_counted_in_the_first_images_time(toy_image, tmp_path, capsys,
                                                                              monkeypatch):
    import zoo3d.invert.losses as losses

    real, builds = losses.perceptual_for, []
    real_clock, skipped = time.perf_counter, []

    def slow_build(*args, **kwargs):  # a perceptual network whose weights take BUILD_SECONDS to read
        builds.append(args)
        skipped.append(BUILD_SECONDS)
        return real(*args, **kwargs)

    monkeypatch.setattr(time, "perf_counter", lambda: real_clock() + sum(skipped))
    monkeypatch.setattr(losses, "perceptual_for", slow_build)
    out = tmp_path / "out"
    code, _, err = _zoo3d(capsys, "invert", str(toy_image), "--model", "toy_procedural", "--method", "optimize",
                          "--pose", "0,0", "--steps", "2", "--frames", "1", "--out", str(out))
    assert code == 0, err
    assert len(builds) == 1
    seconds = json.loads((out / "sphere" / "metrics.json").read_text())["invert_seconds"]
    assert seconds < BUILD_SECONDS, seconds


def test_no_perceptual_loss_is_built_when_nothing_is_optimised(toy_image, tmp_path, capsys, monkeypatch):
    import zoo3d.invert.losses as losses

    builds = []
    monkeypatch.setattr(losses, "perceptual_for", lambda *args, **kwargs: builds.append(args))
    code, _, err = _zoo3d(capsys, "invert", str(toy_image), "--model", "toy_procedural", "--method", "optimize",
                          "--pose", "0,0", "--steps", "0", "--frames", "1", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert builds == []
