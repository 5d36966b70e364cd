"""The tri-plane model plugin: modules and EG3D's training recipe for the shared engine.

Per step, as StyleGAN2/EG3D order their phases: ``generator`` (non-saturating loss through the dual D),
``density`` every ``density_reg_every`` steps (density smoothness), ``discriminator`` (non-saturating loss
on reals and detached fakes) and ``r1`` every ``r1_every`` steps (R1 on both halves of the real dual
input). Lazy phases multiply their penalty by their interval and the optimisers' lr / betas are
scaled by interval / (interval + 1), as StyleGAN2 does. The adversarial phases are the shared ones
(:mod:`zoo3d.train.gan`); the fakes, the dual input and the schedules are EG3D's.

Cameras: fakes are rendered from cameras drawn from the run's camera prior (EG3D draws dataset labels;
zoo3d's prior is the dataset's pose distribution, the same for every model); reals carry their own. D reads both
labels, so data whose cameras lie at another distance or focal length than the prior's is refused.
"""

from __future__ import annotations

from functools import partial

import torch

from zoo3d.config import StageConfig
from zoo3d.core.model import LossResult, ModelPlugin, OptimizerSpec, Phase, Stage, StepContext, stage_optimizers
from zoo3d.core.outputs import DiscriminatorOutput
from zoo3d.nn.resize import resize
from zoo3d.train.gan import (GANParts, Sample, adversarial_loss, check_data_label_scene, gan_phases,
                             lazy_r1_interval, real_cameras)

from zoo3d_triplane.config import TriplaneConfig, TriplaneLossConfig
from zoo3d_triplane.discriminator import DualDiscriminator, blur_images
from zoo3d_triplane.generator import TriplaneGenerator
from zoo3d_triplane.regularizers import (blur_sigma, conditioning_labels, density_regularization, neural_resolution_at,
                                         swap_probability)


#: The way out of :func:`zoo3d.train.gan.check_label_scene`'s refusal for the tri-plane model.
LABEL_SCENE_REMEDY = ("set camera.radius and camera.fov to the data's, with the scene to match (generator.box_warp, "
                      "near, far and density_scale; in EG3D's FFHQ units 1, 2.25, 3.3 and 1), or use data posed in the "
                      "prior's scene")


def prepare_step(ctx: StepContext, loss: TriplaneLossConfig, fade: tuple[int, int] | None) -> tuple[float, float]:
    """This step's schedules: in a fading stage (``fade`` = (initial, final) neural resolution) set the
    generator's and discriminator's neural rendering resolution; return (GPC swap probability, D blur sigma)."""
    if fade is not None:
        res = neural_resolution_at(ctx.stage_step, fade[0], fade[1], loss.neural_resolution_fade_steps)
        ctx.generator.neural_resolution = res
        ctx.module("discriminator").raw_resolution = res
    return (swap_probability(ctx.step, loss.gpc_prob, loss.gpc_fade_steps),
            blur_sigma(ctx.step, loss.blur_sigma, loss.blur_fade_steps))


def render_fakes(ctx: StepContext, n: int, loss: TriplaneLossConfig, fade: tuple[int, int] | None) -> Sample:
    """n fakes from prior cameras and latents, the mapping conditioned on the cameras' labels (swapped by GPC);
    the dual discriminator's inputs are the raw neural render and those labels."""
    swap, sigma = prepare_step(ctx, loss, fade)
    cameras = ctx.sample_cameras(n)
    c = cameras.to_eg3d()
    # the discriminator's fakes are the ones drawn without grad (GANParts): they alone move the tracked mean w
    scene = ctx.generator.represent(ctx.sample_z(n), c=conditioning_labels(c, swap, ctx.rng),
                                    update_w_avg=not torch.is_grad_enabled())
    out = ctx.generator.render(scene, cameras)
    return Sample(out.rgb, cameras, inputs={"raw": out.raw.rgb, "c": c}, output=out,
                  logs={"swap_prob": swap, "blur_sigma": sigma})


def real_dual_sample(ctx: StepContext, requires_grad: bool, loss: TriplaneLossConfig,
                     fade: tuple[int, int] | None) -> Sample:
    """The real images with their raw half (downsampled to the neural rendering resolution, then blurred by this
    step's sigma at that resolution, as EG3D's ``blur_raw_target``) and camera labels."""
    _, sigma = prepare_step(ctx, loss, fade)
    real_cameras(ctx, "The tri-plane model", "EG3D's D is camera-conditioned")
    real = ctx.real
    raw = blur_images(resize(real.images, ctx.module("discriminator").raw_resolution), sigma)
    return Sample(real.images.detach().requires_grad_(requires_grad), real.cameras,
                  inputs={"raw": raw.detach().requires_grad_(requires_grad), "c": real.cameras.to(ctx.device).to_eg3d()})


def score_dual(ctx: StepContext, sample: Sample, loss: TriplaneLossConfig) -> DiscriminatorOutput:
    """The dual discriminator on (image, raw) given the labels, its image half blurred by this step's sigma."""
    sigma = blur_sigma(ctx.step, loss.blur_sigma, loss.blur_fade_steps)
    return ctx.module("discriminator")(sample.images, raw=sample.inputs["raw"], c=sample.inputs["c"],
                                       blur_sigma=sigma)


def density_step(ctx: StepContext, loss: TriplaneLossConfig, fade: tuple[int, int] | None) -> LossResult:
    """EG3D's density smoothness on scenes of prior latents, weighted and multiplied by its lazy interval.

    Their conditioning labels are swapped row by row with the step's GPC probability, as for the fakes; EG3D
    draws one swap decision for the whole batch here (``loss.py``: ``torch.rand([])``). The expected share of
    swapped labels is the same."""
    swap, _ = prepare_step(ctx, loss, fade)
    n = ctx.stage.batch_size
    c = ctx.sample_cameras(n).to_eg3d()
    scene = ctx.generator.represent(ctx.sample_z(n), c=conditioning_labels(c, swap, ctx.rng))
    tv = density_regularization(scene, loss.density_reg_points, loss.density_reg_perturb, ctx.rng)
    return LossResult(tv * loss.density_reg * loss.density_reg_every, {"density_tv": tv.detach()})


def triplane_phases(loss: TriplaneLossConfig, fade: tuple[int, int] | None = None) -> list[Phase]:
    """EG3D's order: ``generator``, ``density`` (lazy), ``discriminator``, ``r1`` (lazy, on both halves)."""
    parts = GANParts(fakes=partial(render_fakes, loss=loss, fade=fade),
                     reals=partial(real_dual_sample, loss=loss, fade=fade), discriminate=partial(score_dual, loss=loss))
    phases = gan_phases(adversarial_loss(loss), parts, generator_first=True)
    if loss.density_reg > 0:
        phases.insert(1, Phase("density", "generator", partial(density_step, loss=loss, fade=fade),
                               every=loss.density_reg_every))
    return phases


def triplane_optimizers(stage: StageConfig, loss: TriplaneLossConfig) -> dict[str, OptimizerSpec]:
    """The stage's Adam for G and D, each corrected for its lazy regularisation phase (density, R1)."""
    return stage_optimizers(stage, {"generator": ["generator"], "discriminator": ["discriminator"]},
                            lazy_every={"generator": loss.density_reg_every if loss.density_reg > 0 else None,
                                        "discriminator": lazy_r1_interval(loss)})


def triplane_stage(config: TriplaneConfig, name: str, fade: tuple[int, int] | None) -> Stage:
    """Stage ``name`` of the config, its phases and optimisers built from its loss; reals at the output
    resolution (D's raw half is downsampled from them)."""
    stage, loss = config.stage(name), config.stage_loss(name)
    return Stage.from_config(stage, triplane_phases(loss, fade), triplane_optimizers(stage, loss),
                             resolution=config.generator.resolution)


class TriplaneModel(ModelPlugin):
    """EG3D-style tri-plane GAN (registered as ``triplane``, alias ``eg3d``)."""

    config_class = TriplaneConfig
    imports_releases = True

    def check_new_run(self, config: TriplaneConfig, modules: dict[str, torch.nn.Module]) -> None:
        """Every stage's dual discriminator reads the reals' camera labels and the prior's: data whose cameras, all
        of them, sit in another scene than ``camera``'s is refused before the run's folder exists
        (:func:`zoo3d.train.gan.check_data_label_scene`)."""
        if any(stage.steps > 0 for stage in self.stages(config)):
            check_data_label_scene(config, config.camera, config.generator.resolution, "The tri-plane model",
                                   LABEL_SCENE_REMEDY)

    def release_settings(self, release, config: TriplaneConfig) -> dict:
        """The widths, z_dim, w_dim and plane resolution an EG3D snapshot's generator was built with."""
        from zoo3d_triplane.upstream import release_settings

        return release_settings(release)

    def import_release(self, release, config: TriplaneConfig):
        """EG3D's network snapshots (``G_ema`` of a ``.pkl``); see :mod:`zoo3d_triplane.upstream`."""
        from zoo3d_triplane.upstream import import_eg3d

        return import_eg3d(release, config)

    def build(self, config: TriplaneConfig) -> dict[str, torch.nn.Module]:
        g, d = config.generator, config.discriminator
        generator = TriplaneGenerator(g, config.camera)
        discriminator = DualDiscriminator(g.resolution, g.neural_resolution, channel_base=d.channel_base,
                                          channel_max=d.channel_max, mapping_layers=d.mapping_layers,
                                          mbstd_group_size=d.mbstd_group_size, c_noise=d.c_noise,
                                          conv_clamp=d.conv_clamp)
        return {"generator": generator, "discriminator": discriminator}

    def stages(self, config: TriplaneConfig) -> list[Stage]:
        """``gan``, then ``finetune`` fading the neural rendering resolution; a ``finetune`` of 0 steps (EG3D's
        models without fine-tuning) is no stage at all, so such a run has the one stage."""
        stages = [triplane_stage(config, "gan", None)]
        if config.stage("finetune").steps > 0:
            fade = (config.generator.neural_resolution, config.stage_loss("finetune").finetune_neural_resolution)
            stages.append(triplane_stage(config, "finetune", fade))
        return stages
