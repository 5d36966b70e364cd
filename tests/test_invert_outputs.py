"""What ``zoo3d invert`` writes per image, checked against values computed here from the written files: the
turntable's poses (yaw = input yaw + range * sin(2 pi i / frames), at the input pitch, radius and fov),
reconstruction.png, depth.png and metrics.json (PSNR and SSIM written out in NumPy, the pose, LPIPS)."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

import zoo3d.eval.image_metrics as image_metrics_module
from zoo3d.cameras import Camera
from zoo3d.core.inverter import InversionResult
from zoo3d.core.outputs import RenderOutput
from zoo3d.errors import UserError
from zoo3d.invert.outputs import image_metrics, load_lpips_or_reason, parse_pose, write_inversion_outputs

pytestmark = pytest.mark.usefixtures("single_thread")

SIZE = 32  # LPIPS upsamples images under 32 px; at 32 its input is the image itself


def _levels(seed: int) -> torch.Tensor:
    """A (3, SIZE, SIZE) image on 8-bit levels (exact in a PNG) with few colours (exact in a GIF)."""
    rng = np.random.default_rng(seed)
    k = rng.choice([20, 90, 160, 230], size=(3, SIZE, SIZE))
    return torch.from_numpy(k / 127.5 - 1).float()


def _yaw_level(yaw: float) -> int:
    return int(round(128 + 150 * yaw))


class YawPainter:
    """An inverter stand-in: the red channel of a render is one level encoding the camera's yaw, green and blue are
    the representation's; depth is a ramp along x from 1.0 to 1.7 with one pixel that hit nothing (0). Without a
    resolution it renders at half the size, as a model renders at its own resolution."""

    def __init__(self, depth=True):
        self.cameras, self.depth = [], depth

    def render(self, result, cameras, resolution=None):
        yaw = cameras.to_angles()["yaw"]
        self.cameras.append(cameras)
        b = len(yaw)
        rgb = result.representation[None].repeat(b, 1, 1, 1)
        if resolution is None:
            rgb = rgb[..., ::2, ::2]
        assert resolution in (None, (SIZE, SIZE))
        rgb[:, 0] = torch.tensor([_yaw_level(float(y)) / 127.5 - 1 for y in yaw])[:, None, None]
        depth = None
        if self.depth and resolution is not None:
            depth = (1.0 + 0.1 * torch.arange(8.0)).repeat_interleave(SIZE // 8).expand(b, 1, SIZE, SIZE).clone()
            depth[:, :, 0, 0] = 0.0
        return RenderOutput(rgb=rgb, depth=depth)


def _result(yaw=0.3, pitch=-0.1, radius=1.4, fov=14.0):
    cam = Camera.from_angles(yaw, pitch, radius, fov, dtype=torch.float64)
    return InversionResult(representation=_levels(1), cameras=cam)


def _png(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0  # (H, W, 3) in [0, 1]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004 on [0, 1] images (H, W, 3): 11x11 Gaussian (sigma 1.5), valid windows, per channel."""
    x = np.arange(11) - 5.0
    g = np.exp(-x ** 2 / (2 * 1.5 ** 2))
    w = np.outer(g, g) / g.sum() ** 2

    def filt(img):
        windows = np.lib.stride_tricks.sliding_window_view(img, (11, 11), axis=(0, 1))  # (H', W', 3, 11, 11)
        return np.einsum("ijckl,kl->ijc", windows, w)

    mx, my = filt(a), filt(b)
    vx, vy, cxy = filt(a * a) - mx ** 2, filt(b * b) - my ** 2, filt(a * b) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return float(s.mean())


def _write(tmp_path, inverter=None, **kwargs):
    inverter = inverter or YawPainter()
    result = _result()
    target = _levels(2)[None]
    metrics = write_inversion_outputs(inverter, result, target, tmp_path / "out", **kwargs)
    return inverter, metrics, tmp_path / "out"


def test_metrics_json_holds_psnr_ssim_and_pose_of_the_written_reconstruction(tmp_path):
    _, metrics, out = _write(tmp_path, frames=2, extra={"method": "optimize", "time_s": 1.5})
    text = (out / "metrics.json").read_text()
    saved = json.loads(text)
    assert saved == metrics and text == json.dumps(saved, indent=2) + "\n"  # readable, one key a line
    recon, target = _png(out / "reconstruction.png"), (_levels(2).permute(1, 2, 0).numpy() + 1) / 2
    expected_red = _yaw_level(0.3) / 255.0  # the reconstruction is the render at the input pose
    assert np.allclose(recon[..., 0], expected_red) and np.allclose(recon[..., 1:], (_levels(1)[1:].permute(1, 2, 0)
                                                                                     .numpy() + 1) / 2)
    assert saved["psnr"] == pytest.approx(_psnr(recon, target), abs=1e-4)
    assert saved["ssim"] == pytest.approx(_ssim(recon, target), abs=1e-5)
    assert saved["pose"] == pytest.approx({"yaw": 0.3, "pitch": -0.1}, abs=1e-6)
    assert saved["lpips"] is None and saved["lpips_unavailable"] == "no LPIPS model was given"
    assert saved["method"] == "optimize" and saved["time_s"] == 1.5
    assert set(saved) == {"psnr", "ssim", "lpips", "lpips_unavailable", "pose", "method", "time_s"}


class MeanGap(torch.nn.Module):
    """Stands in for LPIPS: mean(pred) - 2 mean(target), asymmetric so the argument order shows."""

    def forward(self, pred, target, normalize=False):
        return (pred.mean((1, 2, 3)) - 2 * target.mean((1, 2, 3)))[:, None, None, None]


def test_lpips_is_the_models_distance_from_the_reconstruction_to_the_input(tmp_path):
    _, metrics, out = _write(tmp_path, frames=2, lpips_model=MeanGap(), lpips_reason="ignored: a model was given")
    recon, target = _png(out / "reconstruction.png") * 2 - 1, _levels(2).numpy()
    assert metrics["lpips"] == pytest.approx(recon.mean() - 2 * target.mean(), abs=1e-5)
    assert "lpips_unavailable" not in metrics
    _, without, _ = _write(tmp_path / "without", frames=2, lpips_reason="no AlexNet weights in the cache")
    assert without["lpips"] is None and without["lpips_unavailable"] == "no AlexNet weights in the cache"
    reason = image_metrics(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), None, "no AlexNet weights in the cache")
    assert reason["lpips"] is None and reason["lpips_unavailable"] == "no AlexNet weights in the cache"
    assert reason["psnr"] == pytest.approx(100.0) and reason["ssim"] == pytest.approx(1.0)


@pytest.mark.parametrize("frames", [3, 5, 8])
def test_the_turntable_renders_each_hand_computed_yaw_at_the_input_pitch_radius_and_fov(tmp_path, frames):
    inverter, _, out = _write(tmp_path, frames=frames, yaw_range=0.4, fps=10)
    assert len(inverter.cameras) == 1 + frames  # the reconstruction, then one view at a time
    yaws = [0.3 + 0.4 * math.sin(2 * math.pi * i / frames) for i in range(frames)]
    for cam, yaw in zip(inverter.cameras[1:], yaws):
        angles = cam.to_angles()
        assert len(cam) == 1
        assert angles["yaw"].item() == pytest.approx(yaw, abs=1e-6)
        assert angles["pitch"].item() == pytest.approx(-0.1, abs=1e-6)
        assert angles["radius"].item() == pytest.approx(1.4, abs=1e-6)
        assert angles["fov"].item() == pytest.approx(14.0, abs=1e-5)
    with Image.open(out / "turntable.gif") as gif:
        assert gif.size == (SIZE, SIZE)  # the views are rendered at the input's size
        shown = [np.asarray(f.convert("RGB"))[5, 5, 0] for f in ImageSequence.Iterator(gif)]
        durations = [f.info["duration"] for f in ImageSequence.Iterator(gif)]
    assert shown == [_yaw_level(y) for y in yaws]
    assert durations == [100] * frames  # 10 fps


def test_two_frames_are_the_two_ends_of_the_sweep():
    from zoo3d.invert.outputs import turntable_cameras

    view = Camera.from_angles(-0.2, 0.15, 1.1, 10.0, dtype=torch.float64)
    angles = turntable_cameras(view, 2, 0.3).to_angles()
    assert angles["yaw"].tolist() == pytest.approx([-0.2 + 0.3, -0.2 - 0.3], abs=1e-6)
    assert angles["pitch"].tolist() == pytest.approx([0.15, 0.15], abs=1e-6)
    assert angles["radius"].tolist() == pytest.approx([1.1, 1.1], abs=1e-6)


def test_the_defaults_are_thirty_frames_within_half_a_radian_at_fifteen_fps(tmp_path):
    """docs/training.md: --frames 30, --yaw-range 0.5 (the CLI's defaults); the GIF plays at 15 fps."""
    inverter, _, out = _write(tmp_path)
    yaws = [c.to_angles()["yaw"].item() for c in inverter.cameras[1:]]
    assert yaws == pytest.approx([0.3 + 0.5 * math.sin(2 * math.pi * i / 30) for i in range(30)], abs=1e-6)
    with Image.open(out / "turntable.gif") as gif:
        durations = [f.info["duration"] for f in ImageSequence.Iterator(gif)]
    # frame i starts at i/15 s, in GIF's 10 ms steps; frames 7 and 8 (and 22 and 23) are one view (sin 84° =
    # sin 96°), which the GIF stores once for both durations
    starts = [round(i * 1000 / 15 / 10) * 10 for i in range(31)]
    each = [b - a for a, b in zip(starts, starts[1:])]
    assert durations == each[:7] + [each[7] + each[8]] + each[9:22] + [each[22] + each[23]] + each[24:]
    assert sum(durations) == 2000


def test_depth_png_is_near_bright_far_dark_and_a_miss_drawn_as_far(tmp_path):
    _, _, out = _write(tmp_path, frames=2)
    depth = np.asarray(Image.open(out / "depth.png").convert("RGB")).astype(int)
    column_depth = 1.0 + 0.1 * (np.arange(SIZE) // 4)
    expected = np.floor(255 * (1.7 - column_depth) / 0.7 + 0.5).astype(int)  # 1.0 -> 255, 1.7 -> 0
    expected = np.broadcast_to(expected, (SIZE, SIZE)).copy()
    expected[0, 0] = 0  # nothing hit: as far as the farthest hit
    for c in range(3):
        assert np.abs(depth[..., c] - expected).max() <= 1


def test_without_depth_no_depth_png_and_an_existing_folder_keeps_its_other_files(tmp_path):
    """An earlier inversion's depth.png goes (the folder would mix two inversions); a file of the user's stays."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    (tmp_path / "out" / "depth.png").write_bytes(b"an earlier depth")
    _write(tmp_path, inverter=YawPainter(depth=False), frames=2)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["metrics.json", "notes.txt", "reconstruction.png", "turntable.gif"]
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the staging folder is gone


def test_a_pose_at_the_range_limits_is_accepted_and_just_past_them_refused():
    assert parse_pose(f" {math.pi} , {-math.pi / 2} ") == (math.pi, -math.pi / 2)
    assert parse_pose(f"{-math.pi},{math.pi / 2}") == (-math.pi, math.pi / 2)
    for text in (f"{math.pi + 1e-9},0", f"0,{math.pi / 2 + 1e-9}", f"{-math.pi - 1e-9},0", f"0,{-math.pi / 2 - 1e-9}"):
        with pytest.raises(UserError) as err:
            parse_pose(text)
        assert str(err.value) == f"--pose '{text}' is out of range: |yaw| <= pi and |pitch| <= pi/2 (radians)."
    with pytest.raises(UserError) as err:
        parse_pose("0.1;0.2")
    assert str(err.value) == "Cannot read --pose '0.1;0.2': give yaw,pitch in radians, e.g. --pose 0.2,-0.05."
    with pytest.raises(UserError) as err:
        parse_pose("0.1,nan")
    assert str(err.value) == "Cannot read --pose '0.1,nan': yaw and pitch must be finite numbers (radians)."


def test_lpips_missing_is_a_reason_not_an_error(monkeypatch):
    asked = []

    def absent(device=None):
        asked.append(device)
        raise UserError("LPIPS needs the AlexNet weights at /cache/alexnet.pth")

    monkeypatch.setattr(image_metrics_module, "load_lpips", absent)
    assert load_lpips_or_reason("cpu") == (None, "LPIPS needs the AlexNet weights at /cache/alexnet.pth")
    model = MeanGap()
    monkeypatch.setattr(image_metrics_module, "load_lpips", lambda device=None: asked.append(device) or model)
    assert load_lpips_or_reason("meta") == (model, None)
    assert asked == ["cpu", "meta"]


def test_a_full_disk_is_one_sentence_naming_the_output_folder(tmp_path, monkeypatch):
    import errno

    import zoo3d.imageio
    from zoo3d.fileio import WriteError

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zoo3d.imageio, "save_animation", full_disk)
    with pytest.raises(WriteError) as err:
        _write(tmp_path, frames=2)
    assert str(err.value) == f"Cannot write inversion outputs '{tmp_path / 'out'}': the disk is full; nothing was " \
                             "half-written."


def test_a_full_disk_while_writing_metrics_json_names_the_output_folder_not_its_hidden_staging_copy(tmp_path,
                                                                                                    monkeypatch):
    import errno

    import zoo3d.fileio
    from zoo3d.fileio import WriteError

    flush = zoo3d.fileio._fsync

    def full_at_metrics(path):
        if "metrics.json" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        flush(path)

    monkeypatch.setattr(zoo3d.fileio, "_fsync", full_at_metrics)
    with pytest.raises(WriteError) as err:
        _write(tmp_path, frames=2)
    assert str(err.value) == f"Cannot write inversion outputs '{tmp_path / 'out'}': the disk is full; nothing was " \
                             "half-written."
    assert err.value.reason == "the disk is full"
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither the folder nor its staging copy


def test_an_output_that_is_a_link_to_a_file_is_written_through(tmp_path):
    """``out/metrics.json`` linked to a file elsewhere: the staged file is moved onto that file and the link stays
    (before, the link was replaced by a plain file and the file it led to kept its old content)."""
    from zoo3d.fileio import json_text

    (tmp_path / "disk").mkdir()
    (tmp_path / "disk" / "metrics.json").write_text("old")
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "disk" / "metrics.json", tmp_path / "out" / "metrics.json")
    _, metrics, out = _write(tmp_path, frames=2)
    assert (out / "metrics.json").is_symlink()
    assert json.loads((tmp_path / "disk" / "metrics.json").read_text()) == json.loads(json_text(metrics))
