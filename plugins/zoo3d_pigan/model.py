"""The pi-GAN model plugin: modules and training recipe.

One stage per curriculum entry (a single 64^2 stage for CelebA upstream; 32 -> 64 -> 128 for the
progressive curricula). Each step: D (non-saturating + R1 on reals + MSE pose regression of fakes),
then G (non-saturating on the top-k fakes + the same pose loss). Density noise std decays as
max(0, 1 - step / nerf_noise_steps). With ``progressive_discriminator`` one
ProgressiveCoordConvDiscriminator serves every resolution and a new one fades in over ``fade_steps``.
"""

from __future__ import annotations

import math

import torch

from zoo3d.core.model import LossResult, ModelPlugin, OptimizerSpec, Phase, Stage, StepContext
from zoo3d.errors import ConfigError
from zoo3d.nn.discriminators import CoordConvDiscriminator, ProgressiveCoordConvDiscriminator
from zoo3d.train.losses import discriminator_loss, pose_loss, r1_penalty

from .config import PiGanConfig
from .generator import PiGanGenerator


def topk_fraction(step: int, interval: int, minimum: float) -> float:
    """pi-GAN's top-k schedule: max(0.99^(step / interval), minimum)."""
    return max(0.99 ** (step / interval), minimum)


def topk_generator_loss(fake_logits: torch.Tensor, fraction: float) -> torch.Tensor:
    """Non-saturating G loss over the ceil(fraction * B) most realistic fakes (top-k training)."""
    logits = fake_logits.float().reshape(-1)
    k = max(1, math.ceil(fraction * logits.numel()))
    return torch.nn.functional.softplus(-torch.topk(logits, k).values).mean()


def density_noise_std(step: int, steps: int) -> float:
    return max(0.0, 1.0 - step / steps) if steps > 0 else 0.0


def _poses(cameras) -> torch.Tensor:
    a = cameras.to_angles()
    return torch.stack([a["yaw"], a["pitch"]], dim=-1)


class PiGanPlugin(ModelPlugin):
    config_class = PiGanConfig
    imports_releases = True

    def import_release(self, release, config: PiGanConfig):
        """The authors' ``generator.pth`` and/or ``ema.pth`` as a zoo3d generator state (see ``upstream.py``).

        ``release`` is the generator record, the ``torch_ema`` record, or ``{"generator": ..., "ema": ...}``;
        with an EMA its averages are the weights (what the authors render with). Sets
        ``pigan.rendering.convention = "upstream"``.
        """
        from zoo3d.errors import UserError
        from zoo3d.upstream import RELEASE_FILE, ImportedRelease, module_state_dict

        from . import upstream as up

        parts = dict(release) if isinstance(release, dict) and set(release) <= {"generator", "ema"} else {}
        if not parts:
            kind = up.qualname(release)
            parts = {"generator" if kind == up.GENERATOR_CLASS else "ema" if kind == up.EMA_CLASS else "?": release}
        if "?" in parts:
            raise UserError(f"{RELEASE_FILE} is not a pi-GAN release: pi-GAN's generator.pth holds an "
                            f"{up.GENERATOR_CLASS} and ema.pth a torch_ema ExponentialMovingAverage, this holds "
                            f"{up.qualname(release) or type(release).__name__}.")
        notes = []
        generator = parts.get("generator")
        if generator is not None:
            up.check_siren(generator, config, RELEASE_FILE)
            z_dim = up.z_dim_of(generator)
            if z_dim is not None and z_dim != config.pigan.network.z_dim:
                raise UserError(f"{RELEASE_FILE} holds a generator with z_dim {z_dim}, the preset has "
                                f"{config.pigan.network.z_dim}.")
        if parts.get("ema") is not None:
            weights = up.shadow_state(parts["ema"], config, RELEASE_FILE)
            notes.append(f"weights: the EMA averages in {RELEASE_FILE} (what the authors render with)")
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
        config.pigan.rendering.convention = "upstream"
        return ImportedRelease(state=state, config=config, notes=notes, sources=sources)

    def build(self, config: PiGanConfig) -> dict[str, torch.nn.Module]:
        t = config.pigan.training
        resolutions = [c.resolution for c in t.curriculum]
        if t.progressive_discriminator:
            disc = ProgressiveCoordConvDiscriminator(max(resolutions), max_channels=t.discriminator_max_channels,
                                                     pose_dim=2, channel_scale=t.discriminator_channel_scale)
        else:
            if len(set(resolutions)) > 1:
                raise ConfigError("pigan.training.curriculum changes resolution: set "
                                  "pigan.training.progressive_discriminator=true.")
            disc = CoordConvDiscriminator(resolutions[0], max_channels=t.discriminator_max_channels, pose_dim=2,
                                          channel_scale=t.discriminator_channel_scale)
        return {"generator": PiGanGenerator(config), "discriminator": disc}

    def stages(self, config: PiGanConfig) -> list[Stage]:
        t = config.pigan.training
        return [self._stage(config, c.resolution, c.steps, c.batch_size, c.generator_lr, c.discriminator_lr,
                            fades=t.progressive_discriminator and i > 0 and t.fade_steps > 0)
                for i, c in enumerate(t.curriculum)]

    @staticmethod
    def _stage(config: PiGanConfig, res: int, steps: int, batch_size: int, g_lr: float, d_lr: float,
               fades: bool) -> Stage:
        t, r = config.pigan.training, config.pigan.rendering

        def disc_out(ctx: StepContext, images):
            disc = ctx.modules["discriminator"]
            if isinstance(disc, ProgressiveCoordConvDiscriminator):
                return disc(images, alpha=min(1.0, ctx.stage_step / t.fade_steps) if fades else 1.0)
            return disc(images)

        def fakes(ctx: StepContext, n: int):
            gen = ctx.generator
            gen.density_noise = density_noise_std(ctx.step, r.nerf_noise_steps)
            cams = ctx.sample_cameras(n)
            return gen(ctx.sample_z(n), cams, resolution=(res, res)).rgb, cams

        def d_step(ctx: StepContext) -> LossResult:
            n = ctx.real.images.shape[0]
            with torch.no_grad():
                fake, cams = fakes(ctx, n)
            real = ctx.real.images.detach().requires_grad_(t.r1 > 0)
            out_real, out_fake = disc_out(ctx, real), disc_out(ctx, fake)
            adv = discriminator_loss(out_real.logit, out_fake.logit)
            pose = pose_loss(out_fake.pose, _poses(cams))
            loss = adv + t.pose_lambda * pose
            logs = {"d_adv": adv.item(), "d_pose": pose.item()}
            if t.r1 > 0:
                r1 = r1_penalty(out_real.logit, real, t.r1)
                loss = loss + r1
                logs["r1"] = r1.item()
            return LossResult(loss, logs)

        def g_step(ctx: StepContext) -> LossResult:
            fake, cams = fakes(ctx, ctx.stage.batch_size)
            out = disc_out(ctx, fake)
            frac = topk_fraction(ctx.step, t.topk_interval, t.topk_min)
            adv = topk_generator_loss(out.logit, frac)
            pose = pose_loss(out.pose, _poses(cams))
            return LossResult(adv + t.pose_lambda * pose, {"g_adv": adv.item(), "g_pose": pose.item(), "topk": frac})

        betas = tuple(t.betas)
        return Stage(
            f"res{res}", steps,
            [Phase("discriminator", "discriminator", d_step), Phase("generator", "generator", g_step)],
            {"discriminator": OptimizerSpec(["discriminator"], lr=d_lr, betas=betas, grad_clip=t.grad_clip),
             "generator": OptimizerSpec(["generator"], lr=g_lr, betas=betas, grad_clip=t.grad_clip)},
            resolution=res, batch_size=batch_size)
