"""The pi-GAN model plugin: modules and training recipe.

One stage per entry of ``stages``, the curriculum of resolutions (a single 64^2 stage for CelebA upstream;
32 -> 64 -> 128 for the progressive curricula). Each step, with the shared adversarial steps
(:mod:`zoo3d.train.gan`): D (non-saturating + R1 on reals + MSE pose regression of fakes), then G
(non-saturating on the top-k fakes + the same pose loss). Density noise std decays as
max(0, 1 - step / generator.rendering.nerf_noise_steps). With ``discriminator.progressive`` one
ProgressiveCoordConvDiscriminator serves every resolution and a new one fades in over ``discriminator.fade_steps``.
"""

from __future__ import annotations

from functools import partial

import torch

from zoo3d.core.model import ModelPlugin, Stage, StepContext, stage_optimizers
from zoo3d.core.outputs import DiscriminatorOutput
from zoo3d.nn.discriminators import CoordConvDiscriminator
from zoo3d.train.gan import GANParts, Sample, adversarial_loss, gan_phases, lazy_r1_interval

from .config import PiGanConfig
from .discriminator import ProgressiveCoordConvDiscriminator
from .generator import PiGanGenerator


def density_noise_std(step: int, steps: int) -> float:
    return max(0.0, 1.0 - step / steps) if steps > 0 else 0.0


class PiGanModel(ModelPlugin):
    config_class = PiGanConfig
    imports_releases = True

    def import_release(self, release, config: PiGanConfig):
        """The authors' ``generator.pth`` and/or ``ema.pth`` as a zoo3d generator state (see ``upstream.py``).

        ``release`` is the generator record, the ``torch_ema`` record, or ``{"generator": ..., "ema": ...}``;
        with an EMA its averages are the weights (what the authors render with). Sets
        ``generator.rendering.convention = "upstream"``.
        """
        from zoo3d.errors import UserError
        from zoo3d.upstream import RELEASE_FILE, ImportedRelease, ema_decay_note, module_state_dict

        from . import upstream as up

        parts = up.release_parts(release)
        if "?" in parts:
            raise UserError(f"{RELEASE_FILE} is not a pi-GAN release: pi-GAN's generator.pth holds a pickled "
                            f"{up.GENERATOR_CLASS} and ema.pth a torch_ema ExponentialMovingAverage, this holds "
                            f"{up.qualname(release) or type(release).__name__}.")
        notes = []
        generator = parts.get("generator")
        if generator is not None:
            up.check_siren(generator, config, RELEASE_FILE)
            z_dim = up.z_dim_of(generator)
            if z_dim is not None and z_dim != config.generator.z_dim:
                raise UserError(f"{RELEASE_FILE} holds a generator with z_dim {z_dim}, the preset has "
                                f"{config.generator.z_dim}.")
        if parts.get("ema") is not None:
            weights = up.shadow_state(parts["ema"], config, RELEASE_FILE)
            decay = ema_decay_note(parts["ema"])
            notes.append(f"weights: the EMA averages in {RELEASE_FILE} (what the authors render with)" if decay is None
                         else f"weights: the EMA averages in {RELEASE_FILE}; {decay}")
        else:
            weights = module_state_dict(generator)
            notes.append(f"weights: the raw generator in {RELEASE_FILE}; the authors render with the averages in "
                         "ema.pth beside it: import that file for those")
        sources: dict[str, str] = {}
        state = up.convert_state(weights, config, RELEASE_FILE, sources)
        if parts.get("ema") is not None:
            names = up.upstream_parameter_names(config)
            sources = {k: f"shadow_params[{names.index(v)}] ({v})" for k, v in sources.items()}
        config = config.model_copy(deep=True)
        config.generator.rendering.convention = "upstream"
        return ImportedRelease(state=state, config=config, notes=notes, sources=sources)

    def release_settings(self, release, config: PiGanConfig) -> dict[str, int]:
        """The widths, depths and z_dim of a ``generator.pth`` or ``ema.pth``, read from its weights' shapes."""
        from .upstream import release_settings

        return release_settings(release)

    def build(self, config: PiGanConfig) -> dict[str, torch.nn.Module]:
        d = config.discriminator
        resolutions = [s.resolution for s in config.stages]
        if d.progressive:
            disc = ProgressiveCoordConvDiscriminator(max(resolutions), max_channels=d.max_channels, pose_dim=2,
                                                     channel_scale=d.channel_scale, mbstd_group=d.mbstd_group)
        else:  # the config guarantees one resolution
            disc = CoordConvDiscriminator(resolutions[0], max_channels=d.max_channels, pose_dim=2,
                                          channel_scale=d.channel_scale, mbstd_group=d.mbstd_group)
        return {"generator": PiGanGenerator(config), "discriminator": disc}

    def stages(self, config: PiGanConfig) -> list[Stage]:
        d = config.discriminator
        return [curriculum_stage(config, s.name, fades=d.progressive and i > 0 and d.fade_steps > 0)
                for i, s in enumerate(config.stages)]


def render_fakes(ctx: StepContext, n: int, resolution: int, noise_steps: int) -> Sample:
    """n images at ``resolution`` from prior cameras (drawn first) and latents, with the density noise of the step."""
    gen = ctx.generator
    gen.density_noise = density_noise_std(ctx.step, noise_steps)
    cameras = ctx.sample_cameras(n)
    return Sample(gen(ctx.sample_z(n), cameras, resolution=(resolution, resolution)).rgb, cameras)


def score(ctx: StepContext, sample: Sample, fade_steps: int | None) -> DiscriminatorOutput:
    """The discriminator's answer; a progressive one fades its new resolution in over ``fade_steps`` steps."""
    disc = ctx.module("discriminator")
    if isinstance(disc, ProgressiveCoordConvDiscriminator):
        return disc(sample.images, alpha=min(1.0, ctx.stage_step / fade_steps) if fade_steps else 1.0)
    return disc(sample.images)


def curriculum_stage(config: PiGanConfig, name: str, fades: bool) -> Stage:
    """One resolution of the curriculum: the shared adversarial steps with pi-GAN's weights and top-k."""
    stage, loss = config.stage(name), config.stage_loss(name)
    adversarial = adversarial_loss(loss, topk_interval=loss.topk_interval, topk_min=loss.topk_min,
                                   topk_group=loss.topk_group)
    parts = GANParts(fakes=partial(render_fakes, resolution=stage.resolution,
                                   noise_steps=config.generator.rendering.nerf_noise_steps),
                     discriminate=partial(score, fade_steps=config.discriminator.fade_steps if fades else None))
    optimizers = stage_optimizers(stage, {"discriminator": ["discriminator"], "generator": ["generator"]},
                                  lazy_every={"discriminator": lazy_r1_interval(loss)})
    return Stage.from_config(stage, gan_phases(adversarial, parts), optimizers)
