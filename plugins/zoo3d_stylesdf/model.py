"""The StyleSDF model plugin: modules and the three-stage training recipe.

1. ``sphere_init``: the SDF is fitted (L1) to a sphere of ``sphere_radius`` at ray samples of prior cameras.
2. ``volume_renderer``: GAN at the render resolution: non-saturating loss, R1 every D step, smooth-L1
   viewpoint regression for D and G, eikonal and minimal-surface losses at the renderer's samples.
3. ``decoder``: the volume renderer is frozen; the 2D decoder and a StyleGAN2 D train at the output
   resolution with the non-saturating loss and lazy R1 (path-length regularisation is not applied).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo3d.core.model import LossResult, ModelPlugin, OptimizerSpec, Phase, Stage, StepContext
from zoo3d.nn.discriminators import CoordConvDiscriminator, StyleGAN2Discriminator
from zoo3d.render.samples import bin_centres
from zoo3d.train.losses import discriminator_loss, generator_loss, r1_penalty

from .config import StyleSDFConfig
from .generator import StyleSDFGenerator
from .losses import eikonal_loss, minimal_surface_loss, sphere_init_loss


def _pose_targets(cameras) -> torch.Tensor:
    angles = cameras.to_angles()
    return torch.stack([angles["yaw"], angles["pitch"]], dim=-1)


def _view_loss(predicted: torch.Tensor, cameras) -> torch.Tensor:
    return F.smooth_l1_loss(predicted.float(), _pose_targets(cameras).to(predicted.device).float())


def sphere_init_points(gen: StyleSDFGenerator, cameras, resolution: int, generator=None) -> torch.Tensor:
    """(B, resolution^2 * S, 3) stratified ray samples of ``cameras`` in [near, far] (where the renderer looks)."""
    r = gen.renderer
    origins, dirs = cameras.rays(resolution, resolution)
    t = bin_centres(r.near, r.far, r.num_samples, origins.shape[:2], origins, jitter=True, generator=generator)
    pts = origins.unsqueeze(-2) + t.unsqueeze(-1) * dirs.unsqueeze(-2)
    return pts.reshape(origins.shape[0], -1, 3)


def _decoder_w_avg(config: StyleSDFConfig, state: dict) -> torch.Tensor:
    """The decoder mapping's ``w_avg``: its mean output over the renderer ws of 10000 fixed latents
    (upstream's ``mean_latent``; zoo3d tracks it while training stage 2)."""
    gen = StyleSDFGenerator(config)
    try:
        result = gen.load_state_dict(state, strict=False)
    except RuntimeError:  # shapes differ: the caller's strict load names the tensor
        return torch.zeros_like(gen.decoder.mapping.w_avg)
    if result.missing_keys != ["decoder.mapping.w_avg"] or result.unexpected_keys:
        return torch.zeros_like(gen.decoder.mapping.w_avg)
    return gen.truncation_centres()[1].reshape(-1)


class StyleSDFPlugin(ModelPlugin):
    config_class = StyleSDFConfig
    imports_releases = True

    def import_release(self, release, config: StyleSDFConfig):
        """The authors' ``.pt`` (``g_ema``) as a zoo3d generator state for ``config`` (see ``upstream.py``).

        Sets ``stylesdf.renderer.convention = "upstream"``; a file without the 2D decoder (a pretrained
        volume renderer, ``sphere_init.pt``) turns the decoder off.
        """
        from zoo3d.upstream import RELEASE_FILE, ImportedRelease

        from .upstream import convert_g_ema, has_decoder, release_state

        g_ema = release_state(release, RELEASE_FILE)
        sources: dict[str, str] = {}
        state = convert_g_ema(g_ema, RELEASE_FILE, sources)
        config = config.model_copy(deep=True)
        config.stylesdf.renderer.convention = "upstream"
        notes = ["weights from 'g_ema' (the EMA generator upstream renders with)"]
        full = has_decoder(g_ema)
        if not full and config.stylesdf.decoder.enabled:
            config.stylesdf.decoder.enabled = False
            notes.append(f"{RELEASE_FILE} holds only the volume renderer: the 2D decoder is off, images are "
                         f"{config.stylesdf.renderer.resolution}x{config.stylesdf.renderer.resolution} volume renders")
        state["decoder_active"] = torch.tensor(full and config.stylesdf.decoder.enabled)
        if config.stylesdf.decoder.enabled and full:
            state["decoder.mapping.w_avg"] = _decoder_w_avg(config, state)
        return ImportedRelease(state=state, config=config, notes=notes, sources=sources)

    def build(self, config: StyleSDFConfig) -> dict[str, torch.nn.Module]:
        m = config.stylesdf
        d = m.discriminator
        modules: dict[str, torch.nn.Module] = {
            "generator": StyleSDFGenerator(config),
            "discriminator": CoordConvDiscriminator(m.renderer.resolution, max_channels=d.max_channels, pose_dim=2,
                                                    channel_scale=d.channel_scale),
        }
        if m.decoder.enabled:
            modules["decoder_discriminator"] = StyleGAN2Discriminator(
                m.decoder.output_resolution, channel_base=d.decoder_channel_base, max_channels=d.decoder_max_channels)
        return modules

    # ------------------------------------------------------------------ recipe
    def stages(self, config: StyleSDFConfig) -> list[Stage]:
        m = config.stylesdf
        s, loss_cfg, res = m.schedule, m.loss, m.renderer.resolution

        def sphere_init(ctx: StepContext) -> LossResult:
            gen: StyleSDFGenerator = ctx.generator
            n = ctx.stage.batch_size
            rep = gen.represent(ctx.sample_z(n))
            pts = sphere_init_points(gen, ctx.sample_cameras(n), res, ctx.rng)
            loss = sphere_init_loss(rep.sdf(pts), pts, m.sphere_radius)
            return LossResult(loss, {"sphere_l1": loss.item()})

        def d_step(ctx: StepContext) -> LossResult:
            gen, disc = ctx.generator, ctx.modules["discriminator"]
            n = ctx.real.images.shape[0]
            with torch.no_grad():
                cams = ctx.sample_cameras(n)
                fake = gen.render_volume(gen.represent(ctx.sample_z(n)), cams).rgb
            real = ctx.real.images.detach().requires_grad_(loss_cfg.r1 > 0)
            out_real, out_fake = disc(real), disc(fake)
            adv = discriminator_loss(out_real.logit, out_fake.logit)
            view = _view_loss(out_fake.pose, cams)
            loss = adv + loss_cfg.view * view
            logs = {"d_adv": adv.item(), "d_view": view.item()}
            if loss_cfg.r1 > 0:
                r1 = r1_penalty(out_real.logit, real, loss_cfg.r1)
                loss = loss + r1
                logs["r1"] = r1.item()
            return LossResult(loss, logs)

        def g_step(ctx: StepContext) -> LossResult:
            gen, disc = ctx.generator, ctx.modules["discriminator"]
            n = ctx.stage.batch_size
            cams = ctx.sample_cameras(n)
            rep = gen.represent(ctx.sample_z(n))
            rep.record = True
            out = gen.render_volume(rep, cams)
            d_out = disc(out.rgb)
            adv = generator_loss(d_out.logit)
            view = _view_loss(d_out.pose, cams)
            pts = [p for p, _ in rep.recorded]
            sdf = [v for _, v in rep.recorded]
            eik = sum(eikonal_loss(p, v) * p.shape[1] for p, v in zip(pts, sdf)) / sum(p.shape[1] for p in pts)
            surf = minimal_surface_loss(torch.cat([v.reshape(n, -1) for v in sdf], 1), loss_cfg.min_surface_beta)
            loss = adv + loss_cfg.view * view + loss_cfg.eikonal * eik + loss_cfg.min_surface * surf
            return LossResult(loss, {"g_adv": adv.item(), "g_view": view.item(), "eikonal": eik.item(),
                                     "min_surface": surf.item(),
                                     "sdf_sharpness": float(gen.volume.sdf_sharpness.detach())})

        gen_opt = OptimizerSpec(["generator.volume"], lr=s.generator_lr, betas=tuple(s.betas))
        stages = [
            Stage("sphere_init", s.sphere_init_steps, [Phase("sphere_init", "generator", sphere_init)],
                  {"generator": OptimizerSpec(["generator.volume"], lr=s.sphere_init_lr, betas=tuple(s.betas))},
                  resolution=None, batch_size=s.sphere_init_batch, ema=False),
            Stage("volume_renderer", s.renderer_steps,
                  [Phase("discriminator", "discriminator", d_step), Phase("generator", "generator", g_step)],
                  {"discriminator": OptimizerSpec(["discriminator"], lr=s.discriminator_lr, betas=tuple(s.betas)),
                   "generator": gen_opt},
                  resolution=res, batch_size=s.renderer_batch),
        ]
        if m.decoder.enabled:
            stages.append(self._decoder_stage(config))
        return stages

    def _decoder_stage(self, config: StyleSDFConfig) -> Stage:
        m = config.stylesdf
        s, loss_cfg = m.schedule, m.loss

        def fake_images(ctx: StepContext, n: int) -> torch.Tensor:
            gen: StyleSDFGenerator = ctx.generator
            with torch.no_grad():  # the volume renderer is frozen in this stage
                rep = gen.represent(ctx.sample_z(n))
                features = gen.render_volume(rep, ctx.sample_cameras(n)).features
            return gen.decoder(features, rep.w)

        def d_step(ctx: StepContext) -> LossResult:
            disc = ctx.modules["decoder_discriminator"]
            n = ctx.real.images.shape[0]
            with torch.no_grad():
                fake = fake_images(ctx, n)
            loss = discriminator_loss(disc(ctx.real.images).logit, disc(fake).logit)
            return LossResult(loss, {"dec_d_adv": loss.item()})

        def r1_step(ctx: StepContext) -> LossResult:
            disc = ctx.modules["decoder_discriminator"]
            real = ctx.real.images.detach().requires_grad_(True)
            r1 = r1_penalty(disc(real).logit, real, loss_cfg.decoder_r1, interval=loss_cfg.decoder_r1_every)
            return LossResult(r1, {"dec_r1": r1.item()})

        def g_step(ctx: StepContext) -> LossResult:
            disc = ctx.modules["decoder_discriminator"]
            loss = generator_loss(disc(fake_images(ctx, ctx.stage.batch_size)).logit)
            return LossResult(loss, {"dec_g_adv": loss.item()})

        def activate_decoder(ctx: StepContext) -> None:
            ctx.generator.decoder_active.fill_(True)

        b = tuple(s.decoder_betas)
        # StyleGAN2's lazy-regularisation correction of the D optimiser (upstream's d_reg_ratio)
        c = loss_cfg.decoder_r1_every / (loss_cfg.decoder_r1_every + 1) if loss_cfg.decoder_r1 > 0 else 1.0
        phases = [Phase("decoder_discriminator", "decoder_discriminator", d_step)]
        if loss_cfg.decoder_r1 > 0:
            phases.append(Phase("decoder_r1", "decoder_discriminator", r1_step, every=loss_cfg.decoder_r1_every))
        phases.append(Phase("decoder_generator", "decoder", g_step))
        return Stage("decoder", s.decoder_steps, phases,
                     {"decoder_discriminator": OptimizerSpec(["decoder_discriminator"], lr=s.decoder_lr * c,
                                                             betas=(b[0] ** c, b[1] ** c)),
                      "decoder": OptimizerSpec(["generator.decoder"], lr=s.decoder_lr, betas=b)},
                     resolution=m.decoder.output_resolution, batch_size=s.decoder_batch,
                     frozen=["generator.volume"], on_start=activate_decoder)
