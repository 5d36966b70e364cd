"""The oracle generators: registered, deterministic in z, exactly consistent; the calibration model is not."""

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.config import load_run_config
from zoo3d.errors import ConfigError
from zoo3d.plugins import get_host, get_model_spec


def _build(name):
    plugin = get_model_spec(name).load()
    return plugin, plugin.build(plugin.config_class())["generator"]


def _reprojection_error(gen, z):
    """Mean |colour(view A) - colour(view B at A's surface points)| over head pixels: 0 for a consistent model."""
    cams = Camera.from_angles(torch.tensor([-0.2, 0.15]), torch.tensor([0.0, 0.05]))
    out = gen(z.expand(2, -1), cams, resolution=(48, 48))
    origins, dirs = cams[0].rays(48, 48)
    points = origins + dirs * out.depth[0].reshape(1, -1, 1)
    uv, _ = cams[1].project(points)
    grid = (uv * 2 - 1).reshape(1, 48, 48, 2)
    seen = torch.nn.functional.grid_sample(out.rgb[1:2], grid, align_corners=False)
    back = torch.nn.functional.grid_sample(out.depth[1:2], grid, align_corners=False)
    dist_b = (points - cams[1].origins[:, None]).norm(dim=-1).reshape(1, 1, 48, 48)
    visible = ((back - dist_b).abs() < 2e-3) & (out.alpha[0:1] > 0.5)
    return (seen - out.rgb[0:1]).abs().mean(1, keepdim=True)[visible].mean().item()


def test_oracle_models_are_registered_with_cards_and_presets():
    spec = get_model_spec("oracle")
    calib = get_model_spec("Oracle-Inconsistent")
    assert spec.kind == "generator" and calib.kind == "calibration"
    assert "tiny" in spec.presets() and spec.card.is_file() and calib.card.is_file()
    plugin = spec.load()
    assert plugin.requires_checkpoint is False and plugin.stages(plugin.config_class()) == []
    assert "synthetic:heads" in get_host().datasets


def test_same_latent_same_head_and_psi_zero_is_the_mean_head():
    _, gen = _build("oracle")
    z = gen.sample_z(2, generator=torch.Generator().manual_seed(0))
    cams = Camera.from_angles([0.1, 0.1], 0.0)
    a = gen(z, cams, resolution=(32, 32))
    b = gen(z.flip(0), cams.cat([cams[1], cams[0]]), resolution=(32, 32))
    assert torch.equal(a.rgb, b.rgb.flip(0)) and not torch.equal(a.rgb[0], a.rgb[1])
    mean = gen(z, cams, psi=0.0, resolution=(32, 32))
    assert torch.allclose(mean.rgb[0], mean.rgb[1])
    assert a.depth.shape == (2, 1, 32, 32) and torch.all(a.alpha.sum((1, 2, 3)) > 100)


def test_oracle_is_consistent_and_the_calibration_model_ranks_below_it():
    _, oracle = _build("oracle")
    _, broken = _build("oracle_inconsistent")
    z = oracle.sample_z(1, generator=torch.Generator().manual_seed(3))
    err_oracle = _reprojection_error(oracle, z)
    err_broken = _reprojection_error(broken, z)
    assert err_oracle < 0.05  # only resampling error of the fine texture
    assert err_broken > 2 * err_oracle
    # single images stay plausible: close to the oracle's image of the same view
    cams = Camera.from_angles([0.1], 0.0)
    diff = (broken(z, cams, resolution=(64, 64)).rgb - oracle(z, cams, resolution=(64, 64)).rgb).abs().mean()
    assert diff < 0.15


def test_the_oracle_section_is_the_generator_and_old_stored_configs_upgrade():
    plugin = get_model_spec("oracle").load()
    cls = plugin.config_class
    stored = {"model": "oracle", "oracle": {"resolution": 32, "noise": 0.5}, "stages": []}
    upgraded = cls.model_validate(cls.upgrade_stored(stored))
    assert upgraded == cls.model_validate({"model": "oracle", "generator": {"resolution": 32, "noise": 0.5}})
    assert plugin.build(upgraded)["generator"].resolution == (32, 32)
    with pytest.raises(ConfigError, match="the oracle trains nothing"):
        load_run_config(cls, "oracle", get_model_spec("oracle").presets_dir, "tiny",
                        overrides=["stages=[{name: a, steps: 1, batch_size: 1, lr: {generator: 1.0}}]"])


def test_the_inconsistent_warp_is_the_same_share_of_the_image_at_every_resolution():
    # A warp fixed in output pixels shrank, relative to the head, as the protocol's resolution grew: at 256 px
    # the depth metric could no longer tell the pair apart.
    _, broken = _build("oracle_inconsistent")
    cams = Camera.from_angles(torch.tensor([0.2, -0.1]), torch.tensor([0.05, 0.0]))
    coarse, fine = broken._warp_grid(cams, 65, 65), broken._warp_grid(cams, 257, 257)
    assert torch.allclose(fine[:, ::4, ::4], coarse, atol=1e-6)  # the same displacement at the same place
    for grid, side in ((coarse, 65), (fine, 257)):
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, side), torch.linspace(-1, 1, side), indexing="ij")
        most = (grid[..., 0] - xs).abs().max() * side / 2  # in pixels
        assert most == pytest.approx(1.5 / 64 * side, rel=0.01)


def test_a_warp_stored_in_pixels_upgrades_to_the_same_share_of_its_resolution():
    cls = get_model_spec("oracle_inconsistent").load().config_class
    stored = {"model": "oracle_inconsistent", "generator": {"resolution": 128, "warp_px": 3.0}, "stages": []}
    assert cls.model_validate(cls.upgrade_stored(stored)).generator.warp == pytest.approx(3.0 / 128)
