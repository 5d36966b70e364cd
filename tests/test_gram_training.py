"""GRAM training: the pose head, the phase losses, and a smoke run through the CLI."""

from __future__ import annotations

import math

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.core.model import RealBatch, StepContext
from zoo3d.train.losses import pose_loss
from zoo3d.train.losses import pose_target as camera_pose
from zoo3d_gram.config import GramConfig
from zoo3d_gram.model import GramModel, build_discriminator, gram_phases


def toy_config(resolution: int = 16) -> GramConfig:
    """GRAM's recipe with narrow networks so a step takes a fraction of a second."""
    cfg = GramConfig()
    g = cfg.generator
    g.resolution = resolution
    g.manifold.hidden = 32
    g.radiance.z_dim, g.radiance.mapping_hidden, g.radiance.hidden = 16, 32, 24
    g.radiance.truncation_samples = 64
    g.render.num_samples = 16
    cfg.discriminator.channel_scale = 1 / 32
    cfg.stage("gram").lr = {"generator": 1e-4, "discriminator": 4e-4}
    return cfg


def toy_reals(n: int, resolution: int, generator: torch.Generator) -> RealBatch:
    """A bright disc on a dark background, shifted with the pose: a simple 'real' distribution with cameras."""
    yaw = torch.randn(n, generator=generator) * 0.3
    pitch = torch.randn(n, generator=generator) * 0.15
    c = (torch.arange(resolution) + 0.5) / resolution * 2 - 1
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    cx, cy = (-yaw * 0.5)[:, None, None], (-pitch * 0.5)[:, None, None]
    disc = ((xx - cx) ** 2 + (yy - cy) ** 2 < 0.35).float()
    images = (disc * 1.6 - 0.8).unsqueeze(1).expand(n, 3, resolution, resolution).contiguous()
    return RealBatch(images=images, cameras=Camera.from_angles(yaw, pitch))


def test_camera_pose_is_yaw_pitch_in_the_zoo3d_convention():
    yaw, pitch = torch.tensor([0.3, -0.2]), torch.tensor([0.1, -0.05])
    torch.testing.assert_close(camera_pose(Camera.from_angles(yaw, pitch)), torch.stack([yaw, pitch], -1))


def test_discriminator_pose_head_regresses_known_poses():
    torch.manual_seed(0)
    disc = build_discriminator(toy_config())
    batch = toy_reals(16, 16, torch.Generator().manual_seed(3))  # the disc moves with the pose
    target = camera_pose(batch.cameras)
    baseline = pose_loss(target.mean(0, keepdim=True).expand_as(target), target).item()
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.0, 0.9))
    for _ in range(80):
        loss = pose_loss(disc(batch.images).pose, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * baseline


def _context(modules, cfg, real, rng, step=0) -> StepContext:
    stage = GramModel().stages(cfg)[0]
    return StepContext(modules=modules, config=cfg, stage=stage, step=step, stage_step=step,
                       device=torch.device("cpu"), real=real, rng=rng)


def test_phase_losses_train_the_discriminator_and_reach_the_manifolds():
    torch.manual_seed(0)
    cfg = toy_config()
    cfg.stage("gram").lr["discriminator"] = 2e-3  # a fast D so a dozen steps show the separation
    modules = GramModel().build(cfg)
    gen, disc = modules["generator"], modules["discriminator"]
    rng = torch.Generator().manual_seed(0)
    data_rng = torch.Generator().manual_seed(1)
    stage = cfg.stage("gram")
    opt_g = torch.optim.Adam(gen.parameters(), lr=stage.lr["generator"], betas=stage.betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=stage.lr["discriminator"], betas=stage.betas)
    first = None
    for step in range(12):
        ctx = _context(modules, cfg, toy_reals(4, 16, data_rng), rng, step)
        d_phase, g_phase = gram_phases(cfg.loss, 16)
        d = d_phase.loss(ctx)
        opt_d.zero_grad()
        d.loss.backward()
        opt_d.step()
        first = first or d.logs
        g = g_phase.loss(ctx)
        opt_g.zero_grad(set_to_none=True)
        g.loss.backward()
        if step == 0:
            # the non-saturating loss reaches the shared scalar field through the interpolated
            # intersection points, and each instance's radiance through the mapping network
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.manifold.parameters())
            assert gen.radiance_net.mapping.out.weight.grad.abs().sum() > 0
        opt_g.step()
    last = d.logs
    assert {"r1", "d_pose", "d_pose_real"} <= set(last)
    # D learns to tell the toy reals from the fakes: the adversarial loss falls below chance (2 log 2)
    assert first["d_adv"] == pytest.approx(2 * math.log(2), abs=0.3)
    assert last["d_adv"] < first["d_adv"] - 0.05
    assert last["d_real"] > last["d_fake"]


def test_tiny_train_sample_render_through_the_cli(tmp_path):
    from click.testing import CliRunner

    from zoo3d.cli.main import cli
    from zoo3d.plugins import get_dataset_spec

    try:
        get_dataset_spec("synthetic:heads")
    except Exception:
        pytest.skip("the synthetic:heads dataset is not registered in this checkout")
    run = tmp_path / "run"
    shrink = ["generator.resolution=16", "generator.radiance.hidden=16", "generator.render.num_samples=12",
              "generator.radiance.truncation_samples=64", "stages.gram.batch_size=2", "train.sample_seeds=[0,1]",
              "discriminator.channel_scale=0.03125"]
    args = ["train", "gram", "--steps", "3", "--out", str(run), "--quiet"]
    for s in shrink:
        args += ["--set", s]
    runner = CliRunner()
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert any((run / "checkpoints").iterdir())
    records = (run / "metrics.jsonl").read_text().strip().splitlines()
    assert records and "d_adv" in records[-1]
    grid = tmp_path / "grid.png"
    result = runner.invoke(cli, ["sample", str(run), "--seeds", "0-3", "--out", str(grid), "--device", "cpu"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    from PIL import Image

    import numpy as np

    img = np.asarray(Image.open(grid).convert("L"))
    assert min(img.shape) >= 2 * 16 and len(np.unique(img)) > 4  # 4 seeds in a 2 x 2 grid
    gif = tmp_path / "t.gif"
    result = runner.invoke(cli, ["render", str(run), "--seed", "0", "--frames", "4", "--out", str(gif),
                                 "--device", "cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    frames = Image.open(gif)
    assert getattr(frames, "n_frames", 1) == 4
