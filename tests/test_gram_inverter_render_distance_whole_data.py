"""GRAMInverter's check that its encoder and detail stages can render the generator from the data's cameras
(zoo3d_gram_inverter.losses.check_render_distance) runs over all of the data's cameras before a new run's folder
exists: a refused command leaves nothing behind, so the same command is refused again for its data (not as a folder
that "already holds a run"), and the data is judged by the mean distance of all its cameras, not of one batch's."""

from __future__ import annotations

import math

import pytest
import torch
from eg3d_posed import refused_before_a_checkpoint
from gan_stubs import context
from test_gram_inverter_model import MICRO, micro_config
from test_train_label_scene_whole_data import write_posed_folder

from zoo3d.cameras import Camera
from zoo3d.core.model import RealBatch
from zoo3d.errors import UserError

pytestmark = pytest.mark.usefixtures("single_thread")

UNLABELLED = ["loss.perceptual=ms-ssim", "discriminator.conditioned=false"]


def test_the_same_command_after_a_refusal_is_refused_for_its_data_not_for_a_run_folder(tmp_path, capsys):
    data = write_posed_folder(tmp_path / "far", [2.7] * 4)
    run = tmp_path / "run"
    args = ["train", "gram_inverter", "--preset", "tiny", "--data", str(data), "--steps", "1", "--out", str(run),
            "--quiet", "--device", "cpu"]
    for s in [*MICRO[1:], *UNLABELLED]:
        args += ["--set", s]
    for attempt in range(2):
        err = refused_before_a_checkpoint(capsys, args, run)
        assert "GRAMInverter's encoder stage renders the generator" in err and "at radius 2.7 " in err, (attempt, err)
        assert "already holds a run" not in err
        assert not run.exists()


def _check_new_run(data) -> None:
    plugin, cfg = micro_config(*UNLABELLED, f"data.spec={data}")
    plugin.check_new_run(cfg, plugin.build(cfg))


def test_the_data_is_judged_by_the_mean_distance_of_all_its_cameras(tmp_path):
    """Two of three cameras at 0.8 and one at 1.5: every batch of two lies outside the rays' 0.88 to 1.12 (0.8 or
    1.15), the whole data does not (1.033); one at 0.8 and two at 1.5 lie 1.267 away on average."""
    _check_new_run(write_posed_folder(tmp_path / "near", [0.8, 0.8, 1.5]))
    with pytest.raises(UserError) as err:
        _check_new_run(write_posed_folder(tmp_path / "far", [0.8, 1.5, 1.5]))
    assert f"the data's cameras sit at radius {(0.8 + 1.5 + 1.5) / 3:.4g} where" in str(err.value)


@pytest.mark.parametrize("stage", [1, 2], ids=["encoder", "detail"])
def test_a_first_batch_outside_the_rays_reach_is_trained_on_at_the_stages_first_step(stage):
    """The run's data passed as a whole before the run began; its first batch, two cameras at 0.8, is rendered."""
    plugin, cfg = micro_config(*UNLABELLED)
    torch.manual_seed(0)
    modules = plugin.build(cfg)
    cams = Camera.from_angles(torch.tensor([0.2, -0.1]), torch.tensor([0.05, -0.1]), 0.8, 12.0)
    real = RealBatch(images=torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1,
                     cameras=cams)
    ctx = context(modules, real, batch_size=2)
    ctx.stage_step = 0
    assert math.isfinite(plugin.stages(cfg)[stage].phases[0].loss(ctx).loss.item())
