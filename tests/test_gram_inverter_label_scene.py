"""GRAMInverter's camera-conditioned discriminator (EG3D's StyleGAN2 D, the tiny preset's) reads each image's camera
label: the reals' from the data, the fakes' from the generator's camera prior. Reals posed in another scene (EG3D's own
FFHQ cameras, 2.7 from the origin with focal 4.2647, against GRAM's radius 1 and 12 deg) are refused before a new run's
folder exists (GramInverterModel.check_new_run), before the discriminator could tell reals from fakes by their labels
alone; GRAM's D and the unconditioned StyleGAN2 D read no labels and take them."""

from __future__ import annotations

import math

import pytest
import torch
from eg3d_posed import EG3D_FOV, refused_before_a_checkpoint, write_eg3d_folder
from gan_stubs import context
from test_gram_inverter_discriminator import SG2
from test_gram_inverter_model import MICRO, micro_config

from zoo3d.cameras import Camera
from zoo3d.core.model import RealBatch
from zoo3d.errors import UserError

pytestmark = pytest.mark.usefixtures("single_thread")


def _reals(radius: float, fov: float, n: int = 2) -> RealBatch:
    g = torch.Generator().manual_seed(1)
    cams = Camera.from_angles(torch.tensor([0.2, -0.1][:n]), torch.tensor([0.05, -0.1][:n]), radius, fov)
    return RealBatch(images=torch.rand(n, 3, 16, 16, generator=g) * 2 - 1, cameras=cams)


def _d_phase_logs(real: RealBatch, *overrides: str, stage_step: int = 0) -> tuple[dict, dict]:
    """The efficient-GRAM stage's D phase on ``real`` at ``stage_step``: its logs and the model's modules."""
    plugin, cfg = micro_config(*overrides)
    torch.manual_seed(0)
    modules = plugin.build(cfg)
    phase = next(p for p in plugin.stages(cfg)[0].phases if p.name == "discriminator")
    ctx = context(modules, real, batch_size=2)
    ctx.stage_step = stage_step
    return phase.loss(ctx).logs, modules


def _check_new_run(tmp_path, radius: float, fov: float, *overrides: str) -> None:
    """GRAMInverter's check of a new run on four images posed at ``radius`` with a ``fov`` deg view."""
    data = write_eg3d_folder(tmp_path / "data", radius, fov)
    plugin, cfg = micro_config(*overrides, f"data.spec={data}")
    plugin.check_new_run(cfg, plugin.build(cfg))


def test_eg3ds_own_cameras_are_refused_naming_both_scenes_and_the_ways_out(tmp_path):
    with pytest.raises(UserError) as err:
        _check_new_run(tmp_path, 2.7, EG3D_FOV, *SG2)
    assert str(err.value) == (
        "GRAMInverter's discriminator reads each image's camera label, and the data's cameras sit at radius 2.7 with "
        "a 13.37 deg field of view where the camera prior draws the fakes' at radius 1 with 12 deg, so it would tell "
        "reals from fakes by their labels alone; set camera.fov to the data's where only the fields of view differ "
        "(GRAM's manifolds are laid out for cameras 1 from the origin), use data posed in the prior's scene, or set "
        "discriminator.conditioned=false.")


@pytest.mark.parametrize("radius, fov", [(1.0, EG3D_FOV), (1.2, 12.0), (0.85, 12.0)],
                         ids=["EG3D's focal length", "farther", "nearer"])
def test_a_tenth_off_the_priors_distance_or_focal_length_is_another_scene(tmp_path, radius, fov):
    with pytest.raises(UserError, match="by their labels alone"):
        _check_new_run(tmp_path, radius, fov, *SG2)


def test_the_scene_is_the_generators_camera_prior_so_setting_its_fov_takes_eg3ds_focal_length(tmp_path):
    _check_new_run(tmp_path, 1.0, EG3D_FOV, *SG2, f"camera.fov={EG3D_FOV}")
    logs, _ = _d_phase_logs(_reals(1.0, EG3D_FOV), *SG2, f"camera.fov={EG3D_FOV}")
    assert math.isfinite(logs["d_real"])


@pytest.mark.parametrize("radius, fov", [(1.0, 12.0), (1.065, 12.0), (1.0, 12.5)],
                         ids=["the prior's", "6.5 % farther", "half a degree wider"])
def test_reals_in_the_priors_scene_are_scored_with_their_own_cameras(tmp_path, radius, fov):
    _check_new_run(tmp_path, radius, fov, *SG2)
    real = _reals(radius, fov)
    logs, modules = _d_phase_logs(real, *SG2)
    with torch.no_grad():
        expected = modules["discriminator"](real.images, cameras=real.cameras).logit.float().mean().item()
    assert logs["d_real"] == pytest.approx(expected, rel=1e-5, abs=1e-6)


GENERATOR_ONLY = ["stages.gram_inverter.encoder.steps=0", "stages.gram_inverter.detail.steps=0"]


@pytest.mark.parametrize("overrides", [(*SG2, "discriminator.conditioned=false"), ("discriminator.architecture=gram",)],
                         ids=["unconditioned StyleGAN2 D", "GRAM's D"])
def test_a_discriminator_that_reads_no_labels_takes_them(tmp_path, overrides):
    """In a run that trains the generator alone: the encoder and detail stages render from the data's cameras,
    which must then lie within the generator's reach (test_gram_inverter_render_distance.py)."""
    _check_new_run(tmp_path, 2.7, EG3D_FOV, *overrides, *GENERATOR_ONLY)
    logs, _ = _d_phase_logs(_reals(2.7, EG3D_FOV), *overrides, *GENERATOR_ONLY)
    assert math.isfinite(logs["d_real"])
    logs, _ = _d_phase_logs(_reals(1.0, EG3D_FOV), *overrides)
    assert math.isfinite(logs["d_real"])


def test_training_on_eg3d_labelled_data_stops_with_status_2_before_a_step_is_saved(tmp_path, capsys):
    data = write_eg3d_folder(tmp_path / "eg3d")
    run = tmp_path / "run"
    args = ["train", "gram_inverter", "--preset", "tiny", "--data", str(data), "--steps", "1", "--out", str(run),
            "--quiet", "--device", "cpu"]
    for s in MICRO[1:]:  # all but MICRO's data.spec; no discriminator key: the tiny preset's conditioned StyleGAN2 D
        args += ["--set", s]
    assert "at radius 2.7 with a 13.37 deg field of view" in refused_before_a_checkpoint(capsys, args, run)
