"""GRAMInverter's encoder and detail stages render the frozen generator from each real image's own camera. GRAM's
manifolds lie around the origin and the generator's rays reach only from ``generator.render.near`` to ``far`` (0.88 to
1.12), so from EG3D's own cameras, 2.7 away, a render shows the background alone: data posed there is refused before
a new run's folder exists when one of those stages has steps (GramInverterModel.check_new_run), instead of training
the encoder and the detail branch against empty renders."""

from __future__ import annotations

import math

import pytest
import torch
from eg3d_posed import EG3D_FOV, refused_before_a_checkpoint, write_eg3d_folder
from gan_stubs import context
from test_gram_inverter_model import MICRO, micro_config

from zoo3d.cameras import Camera
from zoo3d.core.model import RealBatch
from zoo3d.errors import UserError

pytestmark = pytest.mark.usefixtures("single_thread")

PLAIN = ["loss.perceptual=ms-ssim"]


def _reals(radius: float, fov: float = 12.0) -> RealBatch:
    g = torch.Generator().manual_seed(1)
    cams = Camera.from_angles(torch.tensor([0.2, -0.1]), torch.tensor([0.05, -0.1]), radius, fov)
    return RealBatch(images=torch.rand(2, 3, 16, 16, generator=g) * 2 - 1, cameras=cams)


def _stage_loss(index: int, real: RealBatch, stage_step: int = 0):
    plugin, cfg = micro_config(*PLAIN)
    torch.manual_seed(0)
    modules = plugin.build(cfg)
    ctx = context(modules, real, batch_size=2)
    ctx.stage_step = stage_step
    return plugin.stages(cfg)[index].phases[0].loss(ctx), modules


def _check_new_run(tmp_path, radius: float, fov: float = 12.0, *overrides: str) -> None:
    """GRAMInverter's check of a new run (GRAM's D, which reads no labels) on four images posed at ``radius``."""
    data = write_eg3d_folder(tmp_path / "data", radius, fov)
    plugin, cfg = micro_config(*PLAIN, "discriminator.architecture=gram", *overrides, f"data.spec={data}")
    plugin.check_new_run(cfg, plugin.build(cfg))


@torch.no_grad()
@pytest.mark.parametrize("radius, sees_the_head", [(1.0, True), (1.1, True), (1.5, False), (2.7, False)])
def test_the_generator_renders_a_head_from_the_distances_the_stages_take_and_none_from_farther(tmp_path, radius,
                                                                                                 sees_the_head):
    """The reason for the refusal: a render from a camera farther than ``far`` has no foreground."""
    _, modules = _stage_loss(1, _reals(1.0))
    gen = modules["generator"].eval()
    rep = gen.represent(gen.sample_z(2, generator=torch.Generator().manual_seed(0)))
    out = gen.render(rep, _reals(radius).cameras, 16)
    assert bool((out.extras["foreground_depth"] > 0).any()) == sees_the_head
    if sees_the_head:
        _check_new_run(tmp_path, radius)
        assert math.isfinite(_stage_loss(1, _reals(radius))[0].loss.item())
    else:
        with pytest.raises(UserError, match="would cut the head or miss it"):
            _check_new_run(tmp_path, radius)


def test_eg3ds_own_cameras_are_refused_for_the_encoder_stage_naming_the_distances(tmp_path):
    with pytest.raises(UserError) as err:
        _check_new_run(tmp_path, 2.7, EG3D_FOV)
    assert str(err.value) == (
        "GRAMInverter's encoder stage renders the generator from each real image's camera, and the data's cameras sit "
        "at radius 2.7 where the generator's rays reach only from 0.88 to 1.12 (generator.render.near and far, around "
        "GRAM's manifolds at the origin), so its renders from them would cut the head or miss it; use data posed 1 "
        "from the origin (GRAM's poses/, poses.json angles or a dataset.json at that distance).")


def test_the_detail_stage_is_named_when_it_alone_renders_from_them(tmp_path):
    with pytest.raises(UserError, match="GRAMInverter's detail stage renders .* at radius 2.7 "):
        _check_new_run(tmp_path, 2.7, EG3D_FOV, "stages.gram_inverter.encoder.steps=0")


def test_cameras_nearer_than_the_rays_start_are_refused_too(tmp_path):
    with pytest.raises(UserError, match="at radius 0.8 where the generator's rays reach only from 0.88 to 1.12"):
        _check_new_run(tmp_path, 0.8)


def test_a_run_that_trains_the_generator_alone_takes_them(tmp_path):
    _check_new_run(tmp_path, 2.7, EG3D_FOV, "stages.gram_inverter.encoder.steps=0",
                   "stages.gram_inverter.detail.steps=0")


def test_another_field_of_view_at_the_generators_distance_is_rendered_as_it_is():
    result, _ = _stage_loss(2, _reals(1.0, EG3D_FOV))
    assert math.isfinite(result.loss.item()) and result.logs["novel_mask"] < 1


def test_an_eg3d_run_with_an_unconditioned_discriminator_stops_before_a_step_is_saved(tmp_path, capsys):
    data = write_eg3d_folder(tmp_path / "eg3d")
    run = tmp_path / "run"
    args = ["train", "gram_inverter", "--preset", "tiny", "--data", str(data), "--out", str(run), "--quiet",
            "--device", "cpu"]
    for s in [*MICRO[1:], *PLAIN, "discriminator.conditioned=false", "stages.gram_inverter.efficient_gram.steps=1",
              "stages.gram_inverter.encoder.steps=1", "stages.gram_inverter.detail.steps=1"]:
        args += ["--set", s]
    assert "GRAMInverter's encoder stage renders" in refused_before_a_checkpoint(capsys, args, run)
