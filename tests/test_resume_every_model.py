"""Resume in the middle of a stage, for every built-in model: the run continues exactly as if uninterrupted.

One run goes straight through, writing a checkpoint at ``train.checkpoint_every``; a second run
resumes from that mid-stage checkpoint. The losses of every later step and every tensor of the
final checkpoint (weights, EMA, optimiser moments, RNG states, the plugin's schedule state) must
be identical. Each model is shrunk far below its ``tiny`` preset so a case takes a few seconds;
the resume point is placed where the model keeps schedule state: GRAM-HD in stage 2, the
tri-plane model inside its fades, StyleSDF in its decoder stage, pi-GAN before a progressive step,
GRAMInverter in its third stage.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import metrics_by_step
from zoo3d.config import load_run_config
from zoo3d.plugins import get_model_spec
from zoo3d.train.checkpoint import read_checkpoint
from zoo3d.train.engine import Trainer

TINY_DATA = "data.spec=synthetic:heads?count=4"
ENGINE = [TINY_DATA, "train.sample_every=0", "train.keep_checkpoints=50", "train.log_every=1",
          "train.sample_seeds=[0]"]

GRAM_SHRINK = ["resolution=8", "manifold.hidden=16", "manifold.num_levels=4", "radiance.z_dim=8",
               "radiance.mapping_hidden=16", "radiance.hidden=16", "radiance.num_layers=3",
               "radiance.truncation_samples=16", "render.num_samples=6"]

CASES = {
    # name: (overrides, checkpoint step); the run's stage lengths come from the overrides.
    "gram": ([f"generator.{s}" for s in GRAM_SHRINK] + [
        "stages.gram.steps=4", "stages.gram.batch_size=2", "discriminator.channel_scale=0.03125"], 2),
    "gram_hd": ([f"generator.lowres.{s}" for s in GRAM_SHRINK] + [
        "generator.resolution=16", "generator.lowres.radiance.feature_dim=4", "generator.foreground_sr.nf=8",
        "generator.foreground_sr.nb=1", "generator.foreground_sr.gc=4", "generator.foreground_sr.up_channels=[8]",
        "generator.foreground_sr.style_hidden=16", "generator.background_sr.nf=8", "generator.background_sr.nb=1",
        "generator.background_sr.gc=4", "generator.background_sr.up_channels=[8]",
        "stages.gram_hd.stage1.steps=1", "stages.gram_hd.stage1.batch_size=2", "stages.gram_hd.stage2.steps=3",
        "stages.gram_hd.stage2.batch_size=2",
        "discriminator.channel_scale=0.03125", "discriminator.patch_ndf=4", "discriminator.patch_layers=1"], 2),
    "triplane": (["generator.z_dim=8", "generator.w_dim=8", "generator.plane_resolution=8",
                  "generator.plane_channels=4", "generator.channel_base=128", "generator.channel_max=8",
                  "generator.decoder_hidden=8", "generator.num_samples=4", "generator.num_importance=4",
                  "generator.neural_resolution=8", "generator.resolution=16", "generator.sr_input_resolution=8",
                  "generator.sr_channels=[8,8]", "discriminator.channel_base=128", "discriminator.channel_max=8",
                  "discriminator.mapping_layers=1", "stages.gan.batch_size=2", "stages.finetune.batch_size=2",
                  "loss.density_reg_points=32", "stages.gan.steps=2", "stages.finetune.steps=3",
                  "loss.finetune_neural_resolution=12",
                  "loss.neural_resolution_fade_steps=4", "loss.gpc_fade_steps=8", "loss.blur_fade_steps=8",
                  "loss.r1_every=2", "loss.density_reg_every=2"], 3),
    "stylesdf": (["generator.renderer.z_dim=8", "generator.renderer.depth=2", "generator.renderer.width=8",
                  "generator.renderer.resolution=8", "generator.renderer.num_samples=4",
                  "generator.decoder.output_resolution=16", "generator.decoder.w_dim=8",
                  "generator.decoder.max_channels=8", "discriminator.channel_scale=0.03",
                  "discriminator.decoder_channel_base=128", "discriminator.decoder_max_channels=8",
                  "stages.sphere_init.steps=1", "stages.sphere_init.batch_size=2",
                  "stages.volume_renderer.steps=1", "stages.volume_renderer.batch_size=2",
                  "stages.decoder.steps=3", "stages.decoder.batch_size=2", "stages.decoder.loss.r1_every=2"], 3),
    "pigan": (["generator.z_dim=8", "generator.mapping_hidden=8", "generator.depth=2",
               "generator.width=8", "generator.rendering.num_steps=4", "generator.rendering.nerf_noise_steps=6",
               "stages=[{name: res8, resolution: 8, steps: 2, batch_size: 2, grad_clip: 10.0, "
               "lr: {generator: 6.0e-5, discriminator: 2.0e-4}}, {name: res16, resolution: 16, steps: 3, "
               "batch_size: 2, grad_clip: 10.0, lr: {generator: 6.0e-5, discriminator: 2.0e-4}}]",
               "discriminator.progressive=true", "discriminator.fade_steps=2",
               "discriminator.channel_scale=0.03"], 1),
    "gram_inverter": (["stages.gram_inverter.efficient_gram.batch_size=2", "stages.gram_inverter.encoder.batch_size=2",
                       "stages.gram_inverter.detail.batch_size=2",
                       "generator.resolution=16", "generator.texture_resolution=8",
                       "generator.manifold.num_levels=4", "generator.render.num_samples=6",
                       "generator.feature_dim=4", "generator.channel_max=8", "generator.channel_base=64",
                       "generator.truncation_samples=32", "detail.voxel_resolution=4", "detail.voxel_depth=4",
                       "detail.lr_resolution=4", "detail.unet_depth=2", "detail.unet_channels=4",
                       "detail.sr_channels=4", "encoder.channels=4", "encoder.max_channels=8",
                       "stages.gram_inverter.efficient_gram.steps=1", "stages.gram_inverter.encoder.steps=1",
                       "stages.gram_inverter.detail.steps=3"], 3),
}


def _trainer(name: str, overrides: list[str], run_dir: Path) -> Trainer:
    spec = get_model_spec(name)
    plugin = spec.load()
    cfg = load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny", None, overrides)
    return Trainer(plugin, cfg, run_dir, model_name=spec.name, device="cpu", progress=False)


@pytest.mark.usefixtures("single_thread")
@pytest.mark.parametrize("name", list(CASES))
def test_resume_mid_stage_continues_like_an_uninterrupted_run(name, tmp_path):
    overrides, at = CASES[name]
    overrides = ENGINE + overrides + [f"train.checkpoint_every={at}"]
    straight = _trainer(name, overrides, tmp_path / "straight")
    stage_lengths = list(straight.lengths)
    done = straight.run()
    total = sum(stage_lengths)
    assert done.step == total
    # the resume point lies inside a stage, not on its boundary
    ends = [sum(stage_lengths[:i + 1]) for i in range(len(stage_lengths))]
    assert at not in ends and 0 < at < total, (at, ends)

    mid = tmp_path / "straight" / "checkpoints" / f"step_{at:09d}.safetensors"
    resumed = _trainer(name, overrides, tmp_path / "resumed").run(resume_from=mid)
    assert resumed.step == total

    a, b = metrics_by_step(tmp_path / "straight"), metrics_by_step(tmp_path / "resumed")
    later = [s for s in sorted(a) if s > at]
    assert later == [s for s in sorted(b) if s > at] == list(range(at + 1, total + 1))
    for s in later:
        assert a[s] == b[s], (name, s)
    losses = [a[s][k] for s in later for k in a[s] if k.startswith("loss.")]
    assert len(set(losses)) > 1  # the comparison is not between constants

    ta, ma = read_checkpoint(done.checkpoint, device="cpu")
    tb, mb = read_checkpoint(resumed.checkpoint, device="cpu")
    assert sorted(ta) == sorted(tb)
    differing = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert differing == [], differing[:5]
    for key in ("zoo3d.step", "zoo3d.stage_index", "zoo3d.stage_step", "zoo3d.data_cursor", "zoo3d.state",
                "zoo3d.optim"):
        assert ma[key] == mb[key], key
