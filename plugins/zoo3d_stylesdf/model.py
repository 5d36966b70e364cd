"""The StyleSDF model plugin: modules and the three-stage training recipe.

Each stage is sized by its entry in ``config.stages`` (steps, batch size, learning rate by role, betas).

1. ``sphere_init``: the SDF is fitted (L1) to a sphere of ``generator.sphere_radius`` at ray samples of prior
   cameras.
2. ``volume_renderer``: GAN at the render resolution: non-saturating loss, R1 every D step, smooth-L1
   viewpoint regression for D and G, eikonal and minimal-surface losses at the renderer's samples.
3. ``decoder`` (when ``generator.decoder.enabled``): the volume renderer is frozen; the 2D decoder and a
   StyleGAN2 D train at the output resolution with the non-saturating loss and lazy R1 (the stage's own
   ``loss`` overrides; path-length regularisation is not applied).
The adversarial phases of stages 2 and 3 are the shared ones (:mod:`zoo3d.train.gan`).
"""

from __future__ import annotations

from functools import partial

import torch

from zoo3d.core.model import LossResult, ModelPlugin, Phase, Stage, StepContext, stage_optimizers
from zoo3d.nn.discriminators import CoordConvDiscriminator, StyleGAN2Discriminator
from zoo3d.render.samples import bin_centres
from zoo3d.train.ema import take_averages
from zoo3d.train.gan import GANParts, Sample, adversarial_loss, gan_phases, lazy_r1_interval, score_with

from .config import StyleSDFConfig
from .generator import StyleSDFGenerator
from .losses import eikonal_loss, minimal_surface_loss, sphere_init_loss


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


class StyleSDFModel(ModelPlugin):
    config_class = StyleSDFConfig
    imports_releases = True

    def release_settings(self, release, config: StyleSDFConfig) -> dict[str, int]:
        """The renderer's and decoder's widths, depths and resolutions, read from the shapes of a ``.pt``'s
        ``g_ema``."""
        from .upstream import release_settings

        return release_settings(release)

    def import_release(self, release, config: StyleSDFConfig):
        """The authors' ``.pt`` (``g_ema``) as a zoo3d generator state for ``config`` (see ``upstream.py``).

        Sets ``generator.renderer.convention = "upstream"``; a file without the 2D decoder (a pretrained
        volume renderer, ``sphere_init.pt``) turns the decoder off.
        """
        from zoo3d.upstream import RELEASE_FILE, ImportedRelease

        from .upstream import convert_g_ema, has_decoder, release_state

        g_ema = release_state(release, RELEASE_FILE)
        sources: dict[str, str] = {}
        state = convert_g_ema(g_ema, RELEASE_FILE, sources)
        config = config.model_copy(deep=True)
        g = config.generator
        g.renderer.convention = "upstream"
        notes = ["weights from 'g_ema' (the EMA generator upstream renders with)"]
        full = has_decoder(g_ema)
        if not full and g.decoder.enabled:
            g.decoder.enabled = False
            notes.append(f"{RELEASE_FILE} holds only the volume renderer: the 2D decoder is off, images are "
                         f"{g.renderer.resolution}x{g.renderer.resolution} volume renders")
        state["decoder_active"] = torch.tensor(full and g.decoder.enabled)
        if g.decoder.enabled and full:
            state["decoder.mapping.w_avg"] = _decoder_w_avg(config, state)
        return ImportedRelease(state=state, config=config, notes=notes, sources=sources)

    def build(self, config: StyleSDFConfig) -> dict[str, torch.nn.Module]:
        g, d = config.generator, config.discriminator
        modules: dict[str, torch.nn.Module] = {
            "generator": StyleSDFGenerator(config),
            "discriminator": CoordConvDiscriminator(g.renderer.resolution, max_channels=d.max_channels, pose_dim=2,
                                                    channel_scale=d.channel_scale, mbstd_group=d.mbstd_group),
        }
        if g.decoder.enabled:
            modules["decoder_discriminator"] = StyleGAN2Discriminator(
                g.decoder.output_resolution, channel_base=d.decoder_channel_base, max_channels=d.decoder_max_channels,
                mbstd_group_size=d.decoder_mbstd_group)
        return modules

    def stages(self, config: StyleSDFConfig) -> list[Stage]:
        stages = [sphere_init_stage(config), volume_renderer_stage(config)]
        if config.generator.decoder.enabled:
            stages.append(decoder_stage(config))
        return stages


def sphere_init_stage(config: StyleSDFConfig) -> Stage:
    """Stage 1: the SDF fitted to the sphere (no EMA in this stage)."""
    g, stage = config.generator, config.stage("sphere_init")
    phase = Phase("sphere_init", "generator", partial(sphere_init_step, resolution=g.renderer.resolution,
                                                      radius=g.sphere_radius))
    return Stage.from_config(stage, [phase], stage_optimizers(stage, {"generator": ["generator.volume"]}),
                             ema=False)


def volume_renderer_stage(config: StyleSDFConfig) -> Stage:
    """Stage 2: the volume renderer against the CoordConv D at the render resolution, with the geometry terms."""
    stage, loss_cfg = config.stage("volume_renderer"), config.stage_loss("volume_renderer")
    loss = adversarial_loss(loss_cfg, pose_loss="smooth_l1")
    parts = GANParts(fakes=render_volume_fakes,
                     generator_terms=partial(geometry_terms, eikonal=loss_cfg.eikonal,
                                             min_surface=loss_cfg.min_surface, beta=loss_cfg.min_surface_beta))
    optimizers = stage_optimizers(stage, {"discriminator": ["discriminator"], "generator": ["generator.volume"]},
                                  lazy_every={"discriminator": lazy_r1_interval(loss)})
    return Stage.from_config(stage, gan_phases(loss, parts), optimizers,
                             resolution=config.generator.renderer.resolution)


def sphere_init_step(ctx: StepContext, resolution: int, radius: float) -> LossResult:
    """Stage 1: L1 between the SDF and a sphere's at ray samples of prior cameras."""
    gen: StyleSDFGenerator = ctx.generator
    n = ctx.stage.batch_size
    rep = gen.represent(ctx.sample_z(n))
    pts = sphere_init_points(gen, ctx.sample_cameras(n), resolution, ctx.rng)
    loss = sphere_init_loss(rep.sdf(pts), pts, radius)
    return LossResult(loss, {"sphere_l1": loss.item()})


def render_volume_fakes(ctx: StepContext, n: int) -> Sample:
    """Stage 2's fakes: volume renders from prior cameras (drawn first) and latents; with grad, the SDF at
    every sample is recorded for the geometry terms."""
    gen: StyleSDFGenerator = ctx.generator
    cameras = ctx.sample_cameras(n)
    rep = gen.represent(ctx.sample_z(n))
    rep.record = torch.is_grad_enabled()
    out = gen.render_volume(rep, cameras)
    return Sample(out.rgb, cameras, output=out, scene=rep)


def geometry_terms(ctx: StepContext, fakes: Sample, eikonal: float, min_surface: float,
                   beta: float) -> tuple[torch.Tensor, dict[str, float]]:
    """eikonal x the eikonal loss + min_surface x the minimal-surface loss at the fakes' recorded samples."""
    rep, n = fakes.scene, fakes.images.shape[0]
    pts = [p for p, _ in rep.recorded]
    sdf = [v for _, v in rep.recorded]
    eik = sum(eikonal_loss(p, v) * p.shape[1] for p, v in zip(pts, sdf)) / sum(p.shape[1] for p in pts)
    surf = minimal_surface_loss(torch.cat([v.reshape(n, -1) for v in sdf], 1), beta)
    return eikonal * eik + min_surface * surf, {"eikonal": eik.item(), "min_surface": surf.item(),
                                                "sdf_sharpness": float(ctx.generator.volume.sdf_sharpness.detach())}


def render_decoder_fakes(ctx: StepContext, n: int) -> Sample:
    """Stage 3's fakes: the frozen volume renderer's features (latents drawn first, then cameras), decoded."""
    gen: StyleSDFGenerator = ctx.generator
    with torch.no_grad():  # the volume renderer is frozen in this stage
        rep = gen.represent(ctx.sample_z(n))
        cameras = ctx.sample_cameras(n)
        features = gen.render_volume(rep, cameras).features
    return Sample(gen.decoder(features, rep.w), cameras)


def activate_decoder(ctx: StepContext) -> None:
    """Stage 3's start: the volume renderer's EMA weights into ``generator.volume`` (upstream's
    ``train_full_pipeline.py`` loads the renderer's ``g_ema``), then the decoder on."""
    if ctx.ema is not None:
        take_averages(ctx.generator.volume, ctx.ema.volume)
    ctx.generator.decoder_active.fill_(True)


def decoder_stage(config: StyleSDFConfig) -> Stage:
    """Stage 3: the 2D decoder against a StyleGAN2 D, non-saturating loss and lazy R1 (no path length, but
    upstream's G optimiser settings for it with ``g_reg_every``), with the stage's own loss weights
    (``stages.decoder.loss``)."""
    stage = config.stage("decoder")
    weights = config.stage_loss("decoder")
    loss = adversarial_loss(weights)
    parts = GANParts(fakes=render_decoder_fakes, discriminate=score_with("decoder_discriminator"))
    roles = {"discriminator": ["decoder_discriminator"], "generator": ["generator.decoder"]}
    optimizers = stage_optimizers(stage, roles, lazy_every={"discriminator": lazy_r1_interval(loss),
                                                            "generator": weights.g_reg_every})
    return Stage.from_config(stage, gan_phases(loss, parts), optimizers,
                             resolution=config.generator.decoder.output_resolution, frozen=["generator.volume"],
                             on_start=activate_decoder)
