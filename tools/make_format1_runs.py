"""Record run folders in checkpoint format 1 (config shape 1), for tests/test_legacy_runs.py.

Format 1 is what zoo3d 0.1 wrote: ``disc.<name>.*`` tensors for every module but the generator,
optimisers named by each plugin (``G``/``D``, ``E``/``R``, ``decoder``...), and per-model config
sections (``loss``/``optim``, ``stage1``/``stage2``, ``pigan.*``, ``stylesdf.*``, ``gan_loss``...).
This script ran once on that code (commit 043b521) and its output is committed; it cannot run on
later code, whose configs no longer have these keys. For every built-in trainable model it trains a
shrunk ``tiny`` run straight through and keeps, in ``tests/fixtures/format1/<model>/``:

* ``run/``: the run folder as an interruption at the mid-stage checkpoint leaves it (``config.yaml``,
  ``checkpoints/step_<N>.safetensors``, ``latest``, ``metrics.jsonl`` up to step N);
* ``expected.json``: the losses of every phase at every later step of the uninterrupted run, in phase
  order (what a resume must reproduce), and the run's stage lengths;
* ``sample.safetensors``: ``images`` (2, 3, R, R), the EMA generator of that checkpoint rendering
  seeds 0 and 1 at yaw -0.2 and +0.2 with psi 1 (what loading must reproduce).

    python tools/make_format1_runs.py [--out tests/fixtures/format1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

ENGINE = ["data.spec=synthetic:heads?count=4", "train.sample_every=0", "train.keep_checkpoints=50",
          "train.log_every=1", "train.sample_seeds=[0]"]
GRAM_SHRINK = ["resolution=8", "manifold.hidden=16", "manifold.num_levels=4", "radiance.z_dim=8",
               "radiance.mapping_hidden=16", "radiance.hidden=16", "radiance.num_layers=3",
               "radiance.truncation_samples=16", "render.num_samples=6"]

# the cases of tests/test_resume_every_model.py in config shape 1, with narrower CoordConv discriminators (small
# files): (overrides, mid-stage checkpoint step)
CASES = {
    "gram": ([f"generator.{s}" for s in GRAM_SHRINK] + [
        "train.steps=4", "train.batch_size=2", "discriminator.channel_scale=0.004"], 2),
    "gram_hd": ([f"generator.lowres.{s}" for s in GRAM_SHRINK] + [
        "generator.resolution=16", "generator.lowres.radiance.feature_dim=4", "generator.foreground_sr.nf=8",
        "generator.foreground_sr.nb=1", "generator.foreground_sr.gc=4", "generator.foreground_sr.up_channels=[8]",
        "generator.foreground_sr.style_hidden=16", "generator.background_sr.nf=8", "generator.background_sr.nb=1",
        "generator.background_sr.gc=4", "generator.background_sr.up_channels=[8]",
        "stage1.steps=1", "stage1.batch_size=2", "stage1.discriminator.channel_scale=0.004",
        "stage2.steps=3", "stage2.batch_size=2", "stage2.discriminator.channel_scale=0.004",
        "stage2.discriminator.patch_ndf=4", "stage2.discriminator.patch_layers=1"], 2),
    "triplane": (["generator.z_dim=8", "generator.w_dim=8", "generator.plane_resolution=8",
                  "generator.plane_channels=4", "generator.channel_base=128", "generator.channel_max=8",
                  "generator.decoder_hidden=8", "generator.num_samples=4", "generator.num_importance=4",
                  "generator.neural_resolution=8", "generator.resolution=16", "generator.sr_input_resolution=8",
                  "generator.sr_channels=[8,8]", "discriminator.channel_base=128", "discriminator.channel_max=8",
                  "discriminator.mapping_layers=1", "train.batch_size=2", "loss.density_reg_points=32",
                  "train.steps=2", "loss.finetune_steps=3", "loss.finetune_neural_resolution=12",
                  "loss.neural_resolution_fade_steps=4", "loss.gpc_fade_steps=8", "loss.blur_fade_steps=8",
                  "loss.r1_every=2", "loss.density_reg_every=2"], 3),
    "stylesdf": (["stylesdf.renderer.z_dim=8", "stylesdf.renderer.depth=2", "stylesdf.renderer.width=8",
                  "stylesdf.renderer.resolution=8", "stylesdf.renderer.num_samples=4",
                  "stylesdf.decoder.output_resolution=16", "stylesdf.decoder.w_dim=8",
                  "stylesdf.decoder.max_channels=8", "stylesdf.discriminator.channel_scale=0.004",
                  "stylesdf.discriminator.decoder_channel_base=128", "stylesdf.discriminator.decoder_max_channels=8",
                  "stylesdf.schedule.renderer_batch=2", "stylesdf.schedule.decoder_batch=2",
                  "stylesdf.schedule.sphere_init_batch=2", "stylesdf.schedule.sphere_init_steps=1",
                  "stylesdf.schedule.renderer_steps=1", "stylesdf.schedule.decoder_steps=3",
                  "stylesdf.loss.decoder_r1_every=2"], 3),
    "pigan": (["pigan.network.z_dim=8", "pigan.network.mapping_hidden=8", "pigan.network.depth=2",
               "pigan.network.width=8", "pigan.rendering.num_steps=4", "pigan.rendering.nerf_noise_steps=6",
               "pigan.training.curriculum=[{resolution: 8, steps: 2, batch_size: 2}, "
               "{resolution: 16, steps: 3, batch_size: 2}]",
               "pigan.training.progressive_discriminator=true", "pigan.training.fade_steps=2",
               "pigan.training.discriminator_channel_scale=0.004"], 1),
    "gram_inverter": (["train.batch_size=2", "encoder_stage.batch_size=2", "detail_stage.batch_size=2",
                       "generator.resolution=16", "generator.texture_resolution=8",
                       "generator.manifold.num_levels=4", "generator.render.num_samples=6",
                       "generator.feature_dim=4", "generator.channel_max=8", "generator.channel_base=64",
                       "generator.truncation_samples=32", "detail.voxel_resolution=4", "detail.voxel_depth=4",
                       "detail.lr_resolution=4", "detail.unet_depth=2", "detail.unet_channels=4",
                       "detail.sr_channels=4", "detail.sr_blocks=0", "encoder.channels=4", "encoder.max_channels=8",
                       "train.steps=1", "encoder_stage.steps=1", "detail_stage.steps=3",
                       "discriminator.channel_scale=0.004"], 3),
}
SAMPLE_SEEDS, SAMPLE_YAWS = [0, 1], [-0.2, 0.2]


def phase_losses(record: dict) -> list[float]:
    """A metrics record's ``loss.<phase>`` values in the order the phases ran."""
    return [v for k, v in record.items() if k.startswith("loss.")]


def record(name: str, out: Path) -> None:
    from zoo3d.cameras import Camera
    from zoo3d.config import dump_config, load_run_config
    from zoo3d.plugins import get_model_spec
    from zoo3d.runs import load_model
    from zoo3d.train.checkpoint import set_latest, write_safetensors
    from zoo3d.train.engine import Trainer
    from zoo3d.train.sampling import render_views, seed_latents

    overrides, at = CASES[name]
    spec = get_model_spec(name)
    plugin = spec.load()
    config = load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny", None,
                             ENGINE + overrides + [f"train.checkpoint_every={at}"])
    with tempfile.TemporaryDirectory() as tmp:
        straight = Path(tmp) / "run"
        trainer = Trainer(plugin, config, straight, model_name=spec.name, device="cpu", progress=False)
        (straight / "config.yaml").parent.mkdir(parents=True, exist_ok=True)
        (straight / "config.yaml").write_text(dump_config(config))
        lengths = list(trainer.lengths)
        trainer.run()
        records = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
        records = [r for r in records if "event" not in r]
        target = out / name
        shutil.rmtree(target, ignore_errors=True)
        run = target / "run"
        (run / "checkpoints").mkdir(parents=True)
        shutil.copy(straight / "config.yaml", run / "config.yaml")
        mid = run / "checkpoints" / f"step_{at:09d}.safetensors"
        shutil.copy(straight / "checkpoints" / mid.name, mid)
        set_latest(run, mid)
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records if r["step"] <= at))
    later = {str(r["step"]): phase_losses(r) for r in records if r["step"] > at}
    expected = {"model": spec.name, "checkpoint_step": at, "stage_lengths": lengths, "later_losses": later,
                "sample": {"seeds": SAMPLE_SEEDS, "yaws": SAMPLE_YAWS, "psi": 1.0}}
    (target / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    gen = load_model(str(run), device="cpu").generator
    prior = gen.camera_prior
    cams = Camera.from_angles(torch.tensor(SAMPLE_YAWS), prior.pitch_mean, prior.radius, prior.fov)
    images = render_views(gen, seed_latents(SAMPLE_SEEDS, gen.z_dim), cams, psi=1.0).rgb
    write_safetensors({"images": images}, {"model": spec.name}, target / "sample.safetensors")
    print(f"{name}: stages {lengths}, checkpoint at {at}, {mid.stat().st_size // 1024} KiB", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "format1")
    parser.add_argument("models", nargs="*", default=list(CASES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.models:
        record(name, args.out)


if __name__ == "__main__":
    main()
