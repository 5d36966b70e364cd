"""Shared set-up of the CLI option tests: one toy run per test module and the answers they are checked against.

The answers do not go through the commands: a seed is the latent ``randn(1, z_dim)`` of a CPU generator seeded with
it (docs/training.md), a view is ``Camera.from_angles``, an image is the generator's own render, written to bytes as
``round((x + 1) * 127.5)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from toy_model import one_thread, use_toy

#: the prior the toy run trains with: a mean view off (0, 0) and a camera off the default radius and field of view,
#: so a command that ignored any of them would show
YAW_MEAN, PITCH_MEAN, RADIUS, FOV = 0.2, 0.1, 1.2, 13.0


def zoo3d(*args) -> int:
    """``zoo3d ARGS`` in this process; its exit status (the output stays with capsys)."""
    from zoo3d.cli.main import main

    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code or 0
    return 0


def train_toy_run(tmp_path_factory, name: str):
    """A two-step toy run under a runs root of its own, trained once through ``zoo3d train``."""
    from zoo3d.plugins import reset_host

    root = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp, one_thread():
        use_toy(mp, root / "runs")
        code = zoo3d("train", "toy", "--steps", "2", "--quiet", "--out", root / "runs" / "run",
                     "--set", f"camera.yaw_mean={YAW_MEAN}", "--set", f"camera.pitch_mean={PITCH_MEAN}",
                     "--set", f"camera.radius={RADIUS}", "--set", f"camera.fov={FOV}")
        reset_host()
    assert code == 0
    return root / "runs" / "run"


def use_run(run, monkeypatch, tmp_path):
    """Run the commands from ``tmp_path`` with the toy plugin and ``run``'s runs root."""
    use_toy(monkeypatch, run.parent)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def toy(run, monkeypatch, tmp_path, single_thread):
    """The working folder of a test of the module's toy ``run`` (each module defines its own ``run`` fixture)."""
    use_run(run, monkeypatch, tmp_path)
    return tmp_path


def generator(run, ema: bool = True):
    """The run's generator on the CPU, its EMA copy unless ``ema`` is False."""
    from zoo3d.runs import load_model

    return load_model(str(run), device="cpu", ema=ema).generator


def latent(seed: int, z_dim: int) -> torch.Tensor:
    return torch.randn(1, z_dim, generator=torch.Generator().manual_seed(seed))


def render_bytes(gen, seed: int, yaws, pitches, psi: float, resolution=None, depth: bool = False):
    """(N, H, W, 3) float64 byte values of ``gen``'s render of ``seed`` from each (yaw, pitch); with ``depth`` also
    the (N, H, W) depths a picture draws (docs/rendering.md): depth / alpha where alpha >= 0.5, else 0 (nothing
    hit)."""
    from zoo3d.cameras import Camera

    prior = gen.camera_prior
    yaws = torch.as_tensor(yaws, dtype=torch.float32)
    cams = Camera.from_angles(yaws, torch.as_tensor(pitches, dtype=torch.float32).expand_as(yaws), prior.radius,
                              prior.fov)
    with torch.no_grad():
        out = gen(latent(seed, gen.z_dim).expand(len(yaws), -1), cams, psi=psi,
                  resolution=(resolution, resolution) if resolution else None)
    rgb = ((out.rgb.clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).double().numpy()
    if not depth:
        return rgb
    d, a = out.depth[:, 0].double().numpy(), out.alpha[:, 0].double().numpy()
    return rgb, np.where(a >= 0.5, d / np.maximum(a, 1e-6), 0.0)


def depth_bytes(depths: np.ndarray) -> np.ndarray:
    """Depth maps as the commands draw them: near white, far black, one range over all of them (the hit pixels')."""
    hit = depths > 0
    near, far = depths[hit].min(), depths[hit].max()
    d = np.where(hit, depths, far)
    return (1 - 2 * (d - near) / (far - near) + 1) * 127.5


def read_rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def tile(grid: np.ndarray, row: int, col: int, h: int, w: int) -> np.ndarray:
    """Image (row, col) of a grid with 2-pixel padding."""
    y, x = 2 + row * (h + 2), 2 + col * (w + 2)
    return grid[y:y + h, x:x + w]


def animation_frames(path):
    """(frames as (H, W, 3) float64 arrays, per-frame durations in ms) of an APNG, GIF or WebP."""
    im = Image.open(path)
    frames, durations = [], []
    for i in range(im.n_frames):
        im.seek(i)
        frames.append(np.asarray(im.convert("RGB"), dtype=np.float64))
        durations.append(im.info.get("duration"))
    return frames, durations
