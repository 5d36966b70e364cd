"""The tri-plane model plugin: modules and EG3D's training recipe for the shared engine.

Per step, as StyleGAN2/EG3D order their phases: ``G`` (non-saturating loss through the dual D),
``G_density`` every ``density_reg_every`` steps (density smoothness), ``D`` (non-saturating loss on
reals and detached fakes) and ``D_r1`` every ``r1_every`` steps (R1 on both halves of the real dual
input). Lazy phases multiply their penalty by their interval and the optimisers' lr / betas are
scaled by interval / (interval + 1), as StyleGAN2 does.

Cameras: fakes are rendered from cameras drawn from the run's camera prior (EG3D draws dataset labels;
zoo3d's prior is the dataset's pose distribution, the same for every model); reals carry their own.
"""

from __future__ import annotations

import torch

from zoo3d.core.model import LossResult, ModelPlugin, OptimizerSpec, Phase, Stage, StepContext
from zoo3d.errors import UserError
from zoo3d.train.losses import discriminator_loss, generator_loss

from zoo3d_triplane.config import TriplaneRunConfig
from zoo3d_triplane.discriminator import DualDiscriminator, resize
from zoo3d_triplane.generator import TriplaneGenerator
from zoo3d_triplane.regularizers import (blur_sigma, conditioning_labels, density_regularization, dual_r1_penalty,
                                         neural_resolution_at, swap_probability)


def lazy_optimizer(modules: list[str], lr: float, betas: tuple[float, float], every: int) -> OptimizerSpec:
    """StyleGAN2's lazy-regularisation correction: lr * c and betas ** c with c = every / (every + 1)."""
    c = every / (every + 1) if every > 1 else 1.0
    return OptimizerSpec(modules=modules, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c), eps=1e-8)


class TriplaneRecipe:
    """EG3D's losses as phase functions over a :class:`StepContext` (one instance per stage)."""

    def __init__(self, cfg: TriplaneRunConfig, final_resolution: int | None = None):
        self.cfg = cfg
        self.initial_resolution = cfg.generator.neural_resolution
        self.final_resolution = final_resolution

    # ------------------------------------------------------------------ schedules
    def _prepare(self, ctx: StepContext) -> tuple[float, float]:
        """Set this step's neural rendering resolution; return (GPC swap probability, D blur sigma)."""
        lc = self.cfg.loss
        if self.final_resolution is not None:
            res = neural_resolution_at(ctx.stage_step, self.initial_resolution, self.final_resolution,
                                       lc.neural_resolution_fade_steps)
            ctx.generator.neural_resolution = res
            ctx.modules["discriminator"].raw_resolution = res
        swap = swap_probability(ctx.step, lc.gpc_prob, lc.gpc_fade_steps)
        return swap, blur_sigma(ctx.step, lc.blur_sigma, lc.blur_fade_steps)

    def _fakes(self, ctx: StepContext, swap: float):
        """Render a batch of fakes: (RenderOutput, camera labels (B, 25) of the rendering cameras)."""
        n = ctx.stage.batch_size
        cams = ctx.sample_cameras(n)
        c = cams.to_eg3d()
        scene = ctx.generator.represent(ctx.sample_z(n), c=conditioning_labels(c, swap, ctx.rng))
        return ctx.generator.render(scene, cams), c

    def _real(self, ctx: StepContext):
        real = ctx.real
        if real is None or real.cameras is None:
            raise UserError("The tri-plane model needs camera poses for its real images (EG3D's D is camera-"
                            "conditioned); use data with poses (dataset.json, GRAM poses/ or poses.json).")
        return real.images, real.cameras.to(ctx.device).to_eg3d()

    # ------------------------------------------------------------------ phases
    def generator_phase(self, ctx: StepContext) -> LossResult:
        swap, sigma = self._prepare(ctx)
        fake, c = self._fakes(ctx, swap)
        logits = ctx.modules["discriminator"](fake.rgb, raw=fake.raw.rgb, c=c, blur_sigma=sigma).logit
        loss = generator_loss(logits)
        return LossResult(loss, {"G/fake_logit": logits.detach().mean(), "G/swap_prob": swap, "D/blur_sigma": sigma})

    def density_phase(self, ctx: StepContext) -> LossResult:
        lc = self.cfg.loss
        swap, _ = self._prepare(ctx)
        n = ctx.stage.batch_size
        c = ctx.sample_cameras(n).to_eg3d()
        scene = ctx.generator.represent(ctx.sample_z(n), c=conditioning_labels(c, swap, ctx.rng))
        tv = density_regularization(scene, lc.density_reg_points, lc.density_reg_perturb, ctx.rng)
        return LossResult(tv * lc.density_reg * lc.density_reg_every, {"G/density_tv": tv.detach()})

    def discriminator_phase(self, ctx: StepContext) -> LossResult:
        swap, sigma = self._prepare(ctx)
        D = ctx.modules["discriminator"]
        with torch.no_grad():
            fake, fake_c = self._fakes(ctx, swap)
        images, real_c = self._real(ctx)
        fake_logits = D(fake.rgb, raw=fake.raw.rgb, c=fake_c, blur_sigma=sigma).logit
        real_logits = D(images, c=real_c, blur_sigma=sigma).logit
        loss = discriminator_loss(real_logits, fake_logits)
        return LossResult(loss, {"D/real_logit": real_logits.detach().mean(),
                                 "D/fake_logit": fake_logits.detach().mean()})

    def r1_phase(self, ctx: StepContext) -> LossResult:
        lc = self.cfg.loss
        _, sigma = self._prepare(ctx)
        D = ctx.modules["discriminator"]
        images, real_c = self._real(ctx)
        raw = resize(images, D.raw_resolution).detach().requires_grad_(True)
        images = images.detach().requires_grad_(True)
        logits = D(images, raw=raw, c=real_c, blur_sigma=sigma).logit
        penalty = dual_r1_penalty(logits, images, raw, lc.r1_gamma, lc.r1_every)
        return LossResult(penalty, {"D/r1": penalty.detach() / lc.r1_every})


class TriplaneModel(ModelPlugin):
    """EG3D-style tri-plane GAN (registered as ``triplane``, alias ``eg3d``)."""

    config_class = TriplaneRunConfig
    imports_releases = True

    def import_release(self, release, config: TriplaneRunConfig):
        """EG3D's network snapshots (``G_ema`` of a ``.pkl``); see :mod:`zoo3d_triplane.upstream`."""
        from zoo3d_triplane.upstream import import_eg3d

        return import_eg3d(release, config)

    def build(self, config: TriplaneRunConfig) -> dict[str, torch.nn.Module]:
        g, d = config.generator, config.discriminator
        generator = TriplaneGenerator(g, config.camera)
        discriminator = DualDiscriminator(g.resolution, g.neural_resolution, channel_base=d.channel_base,
                                          channel_max=d.channel_max, mapping_layers=d.mapping_layers,
                                          mbstd_group_size=d.mbstd_group_size, c_noise=d.c_noise)
        return {"generator": generator, "discriminator": discriminator}

    def _stage(self, config: TriplaneRunConfig, name: str, steps: int, recipe: TriplaneRecipe) -> Stage:
        lc = config.loss
        phases = [Phase("G", "G", recipe.generator_phase)]
        if lc.density_reg > 0:
            phases.append(Phase("G_density", "G", recipe.density_phase, every=lc.density_reg_every))
        phases.append(Phase("D", "D", recipe.discriminator_phase))
        if lc.r1_gamma > 0:
            phases.append(Phase("D_r1", "D", recipe.r1_phase, every=lc.r1_every))
        g_every = lc.density_reg_every if lc.density_reg > 0 else 1
        d_every = lc.r1_every if lc.r1_gamma > 0 else 1
        optimizers = {"G": lazy_optimizer(["generator"], lc.g_lr, lc.betas, g_every),
                      "D": lazy_optimizer(["discriminator"], lc.d_lr, lc.betas, d_every)}
        return Stage(name=name, steps=steps, phases=phases, optimizers=optimizers,
                     resolution=config.generator.resolution, batch_size=config.train.batch_size)

    def stages(self, config: TriplaneRunConfig) -> list[Stage]:
        lc = config.loss
        stages = [self._stage(config, "gan", config.train.steps, TriplaneRecipe(config))]
        if lc.finetune_steps > 0:
            fade = TriplaneRecipe(config, final_resolution=lc.finetune_neural_resolution)
            stages.append(self._stage(config, f"finetune{lc.finetune_neural_resolution}", lc.finetune_steps, fade))
        return stages
