"""The tri-plane recipe's camera labels: EG3D draws the fakes' labels from the dataset, zoo3d from the camera prior,
and the dual discriminator reads both. Reals whose cameras lie in another scene than the prior's (EG3D's own FFHQ
cameras, 2.7 from the origin with focal 4.2647, against zoo3d's radius 1 and 12 deg) are refused before a new run's
folder exists (TriplaneModel.check_new_run), before the discriminator could learn to tell reals from fakes by their
labels alone."""

from __future__ import annotations

from pathlib import Path

from eg3d_posed import EG3D_FOV, refused_before_a_checkpoint, write_eg3d_folder
import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.config import load_run_config
from zoo3d.core.model import RealBatch, StepContext
from zoo3d.errors import UserError
import zoo3d_triplane
from zoo3d_triplane.config import TriplaneConfig
from zoo3d_triplane.model import TriplaneModel, real_dual_sample

pytestmark = pytest.mark.usefixtures("single_thread")

PRESETS = Path(zoo3d_triplane.__file__).parent / "presets"
MICRO = ["generator.z_dim=16", "generator.w_dim=16", "generator.plane_resolution=16", "generator.plane_channels=8",
         "generator.channel_base=256", "generator.channel_max=16", "generator.decoder_hidden=16",
         "generator.num_samples=6", "generator.num_importance=6", "generator.neural_resolution=8",
         "generator.resolution=16", "generator.sr_input_resolution=8", "generator.sr_channels=[16,8]",
         "discriminator.channel_base=256", "discriminator.channel_max=16", "discriminator.mapping_layers=2",
         "stages.gan.batch_size=2", "loss.density_reg_points=10"]


def _reals(radius: float, fov: float, n: int = 2) -> RealBatch:
    """Images (their content does not matter here) seen from cameras at ``radius`` with a ``fov`` deg field of view."""
    cams = Camera.from_angles(torch.tensor([0.2, -0.1, 0.0, 0.3][:n]), torch.tensor([0.05, -0.1, 0.0, 0.1][:n]),
                              radius, fov)
    return RealBatch(images=torch.zeros(n, 3, 16, 16), cameras=cams)


def _first_step(real: RealBatch, stage_step: int = 0) -> StepContext:
    cfg = load_run_config(TriplaneConfig, "triplane", PRESETS, "tiny", overrides=MICRO)
    model = TriplaneModel()
    return StepContext(modules=model.build(cfg), config=cfg, stage=model.stages(cfg)[0], step=stage_step,
                       stage_step=stage_step, device=torch.device("cpu"), real=real, rng=torch.Generator().manual_seed(0))


def _check_new_run(tmp_path: Path, radius: float, fov: float) -> None:
    """The tri-plane model's check of a new run on four images posed at ``radius`` with a ``fov`` deg view."""
    data = write_eg3d_folder(tmp_path / "data", radius, fov)
    cfg = load_run_config(TriplaneConfig, "triplane", PRESETS, "tiny", overrides=[*MICRO, f"data.spec={data}"])
    model = TriplaneModel()
    model.check_new_run(cfg, model.build(cfg))


def test_eg3ds_own_cameras_against_zoo3ds_prior_are_refused_naming_both_scenes(tmp_path):
    with pytest.raises(UserError) as err:
        _check_new_run(tmp_path, 2.7, EG3D_FOV)
    assert str(err.value) == (
        "The tri-plane model's discriminator reads each image's camera label, and the data's cameras sit at radius "
        "2.7 with a 13.37 deg field of view where the camera prior draws the fakes' at radius 1 with 12 deg, so it "
        "would tell reals from fakes by their labels alone; set camera.radius and camera.fov to the data's, with the "
        "scene to match (generator.box_warp, near, far and density_scale; in EG3D's FFHQ units 1, 2.25, 3.3 and 1), "
        "or use data posed in the prior's scene.")


@pytest.mark.parametrize("radius, fov", [(1.0, EG3D_FOV), (1.2, 12.0), (0.85, 12.0)],
                         ids=["EG3D's focal length", "farther", "nearer"])
def test_a_tenth_off_the_priors_distance_or_focal_length_is_another_scene(tmp_path, radius, fov):
    with pytest.raises(UserError, match="by their labels alone"):
        _check_new_run(tmp_path, radius, fov)


@pytest.mark.parametrize("radius, fov", [(1.0, 12.0), (1.065, 12.0), (1.0, 12.5)],
                         ids=["the prior's", "EG3D's pivot offset", "half a degree wider"])
def test_reals_in_the_priors_scene_keep_their_own_labels(tmp_path, radius, fov):
    _check_new_run(tmp_path, radius, fov)
    real = _reals(radius, fov)
    ctx = _first_step(real)
    sample = real_dual_sample(ctx, True, loss=ctx.config.loss, fade=None)
    assert torch.equal(sample.inputs["c"], real.cameras.to_eg3d())
    assert sample.images.requires_grad and sample.inputs["raw"].requires_grad


def test_training_on_eg3d_labelled_data_stops_before_a_step_is_saved(tmp_path, capsys):
    data = write_eg3d_folder(tmp_path / "eg3d")
    run = tmp_path / "run"
    args = ["train", "triplane", "--preset", "tiny", "--data", str(data), "--steps", "1", "--out", str(run),
            "--quiet", "--device", "cpu"]
    for s in MICRO:
        args += ["--set", s]
    assert "at radius 2.7 with a 13.37 deg field of view" in refused_before_a_checkpoint(capsys, args, run)
