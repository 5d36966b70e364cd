"""The adversarial steps of every GAN in zoo3d, written once.

A model states what its paper does differently as values of :class:`AdversarialLoss` and supplies what
only it knows as :class:`GANParts`: how it draws and renders fakes, how it prepares reals, how its
discriminator scores a batch, and any generator terms of its own. :func:`gan_phases` turns the two into
the recipe's phases, each minimised by the optimiser of the same role:

* ``discriminator``: softplus(D(fake)) + softplus(-D(real)) [+ patch_lambda x the same on the patch
  logits] + R1 on the reals when ``r1_every`` is None + lambda_pos x pose loss on the fakes (sampled poses)
  + lambda_realpos x pose loss on the reals (dataset poses, when the data has them);
* ``r1``, when ``r1_every`` is set (1 included): R1 in a phase of its own every ``r1_every`` steps, the penalty
  multiplied by the interval (StyleGAN2's lazy regularisation; give the discriminator's optimiser
  :func:`lazy_r1_interval` as its ``lazy_every``);
* ``generator``: softplus(-D(fake)) (pi-GAN: over the top-k most realistic fakes) [+ patch_lambda x the
  patch term] + lambda_pos x pose loss + the model's own terms (GRAM-HD's consistency, StyleSDF's eikonal
  and minimal surface).

R1 on a patch discriminator's output is taken on D(real) + patch_lambda x mean patch logit (GRAM-HD eq. 11).
Under fp16 autocast the real pass that R1 differentiates runs in fp32 (:func:`_r1_precision`).
Poses are (yaw, pitch) in radians in zoo3d's convention (:func:`zoo3d.train.losses.pose_target`).
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Callable, Literal

import torch
from torch import Tensor

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.config import GanLossConfig, RunConfig
from zoo3d.core.model import LossResult, OptimizerSpec, Phase, StepContext, lazy_corrected
from zoo3d.core.outputs import DiscriminatorOutput
from zoo3d.errors import PluginError, UserError
from zoo3d.train.data import resize_images, run_data_cameras, run_data_serves_cameras
from zoo3d.train.losses import (discriminator_loss, generator_loss, pose_loss, pose_target, r1_penalty,
                                topk_fraction, topk_generator_loss)

__all__ = ["LABEL_SCENE_TOLERANCE", "AdversarialLoss", "GANParts", "Sample", "adversarial_loss",
           "check_data_label_scene", "check_label_scene", "check_real_pose_data", "discriminator_step", "gan_phases",
           "generator_step", "lazy_optimizer", "lazy_r1_interval", "r1_step", "real_cameras", "real_sample",
           "score_with", "unposed_data"]


@dataclass(frozen=True)
class AdversarialLoss:
    """The weights of the adversarial steps: what differs between papers is a value here.

    Attributes:
        r1_gamma: R1 weight on reals (0: none). r1_every: None puts R1 in the discriminator step (GRAM,
            GRAM-HD, pi-GAN, StyleSDF's volume renderer); N makes it an ``r1`` phase of its own every N steps
            (EG3D, StyleSDF's decoder: 16).
        lambda_pos: pose regression of fakes in both steps (GRAM, GRAM-HD, pi-GAN, StyleSDF: 15).
        lambda_realpos: pose regression of reals in the discriminator step (GRAM, GRAM-HD: 15).
        pose_loss: ``mse`` (GRAM, pi-GAN) or ``smooth_l1`` (StyleSDF).
        patch_lambda: weight of the patch terms when the discriminator's output has patch logits (GRAM-HD: 0.1).
        topk_interval, topk_min: pi-GAN's top-k generator loss over the max(0.99^(step / interval), topk_min)
            most realistic fakes (None: every fake); topk_group: taken within each group of that many
            consecutive fakes, pi-GAN's sub-batches (None: within all the fakes of one forward pass).
    """

    r1_gamma: float = 0.0
    r1_every: int | None = None
    lambda_pos: float = 0.0
    lambda_realpos: float = 0.0
    pose_loss: Literal["mse", "smooth_l1"] = "mse"
    patch_lambda: float = 0.0
    topk_interval: int | None = None
    topk_min: float = 1.0
    topk_group: int | None = None

    @property
    def lazy_r1(self) -> bool:
        return self.r1_gamma > 0 and self.r1_every is not None


@dataclass
class Sample:
    """A batch a discriminator scores.

    Attributes:
        images: (B, 3, H, W) in [-1, 1].
        cameras: what the images were seen from (the pose targets); None for reals without poses.
        inputs: further tensors the discriminator takes (EG3D: the raw neural render ``raw`` and the camera
            labels ``c``); those that require grad are differentiated by R1 with the images.
        output: the generator's RenderOutput (fakes), for the model's generator terms.
        scene: the representation the fakes were rendered from (fakes), likewise.
        logs: scalars to record with the step's losses (schedules).
    """

    images: Tensor
    cameras: Camera | None = None
    inputs: dict[str, Tensor] = field(default_factory=dict)
    output: Any = None
    scene: Any = None
    logs: dict[str, float] = field(default_factory=dict)

    def detached(self) -> "Sample":
        inputs = {k: v.detach() for k, v in self.inputs.items()}
        return replace(self, images=self.images.detach(), inputs=inputs)

    def r1_inputs(self) -> list[Tensor]:
        return [t for t in (self.images, *self.inputs.values()) if t.requires_grad]


def real_sample(ctx: StepContext, requires_grad: bool, resolution: int | None = None) -> Sample:
    """The step's real images (area-resized to ``resolution`` when given), leaves that require grad for R1.

    A stage built without a resolution reads no data (``ctx.real`` is None): refused in one sentence that says
    how the model's recipe gives it one."""
    if ctx.real is None:
        raise PluginError(f"Stage '{ctx.stage.name}' reads real images but was built without a resolution to read "
                          f"them at; the model's stages() should pass Stage.from_config(..., resolution=R) "
                          f"(docs/plugins.md, Configs and presets).")
    images = ctx.real.images.to(ctx.device)
    if resolution is not None:
        images = resize_images(images, resolution)
    cameras = ctx.real.cameras.to(device=ctx.device) if ctx.real.cameras is not None else None
    return Sample(images.detach().requires_grad_(requires_grad), cameras)


def real_cameras(ctx: StepContext, who: str, why: str, otherwise: str = "") -> Camera:
    """The step's real cameras, for a camera-conditioned discriminator; without them a UserError that says
    ``who`` needs posed data and ``why`` (``otherwise``: a further way out, appended to the message)."""
    if ctx.real is None or ctx.real.cameras is None:
        raise UserError(f"{who} needs camera poses for its real images ({why}); {USE_POSED_DATA}{otherwise}.")
    return ctx.real.cameras


#: What a refusal of data without poses tells the user to give instead.
USE_POSED_DATA = "use data with poses (dataset.json, GRAM poses/ or poses.json)"


def unposed_data(config: RunConfig, who: str, otherwise: str = "") -> UserError:
    """The refusal, before a new run's folder exists, of a dataset that serves no camera (a plugin's dataset whose
    items have no ``camera``) for ``who``'s camera-conditioned discriminator (``otherwise``: a further way out); the
    step that reads the reals' cameras (:func:`real_cameras`) would refuse it only once the run had begun."""
    return UserError(f"{who}'s discriminator reads each image's camera label, and dataset '{config.data.spec}' "
                     f"serves no camera poses; {USE_POSED_DATA}{otherwise}.")


def check_real_pose_data(config: RunConfig, stages: list[str], resolution: int, who: str) -> None:
    """Refuse, before a new run's folder exists, data that serves no camera poses (a plugin's dataset whose items have
    no ``camera``) for a recipe that regresses the reals' poses in stages ``stages`` (those of them that train with
    ``lambda_realpos`` > 0 in their loss): the discriminator step leaves that term out where the reals have no
    cameras, so the run would train without it and say nothing. GRAM's authors train every config on real poses
    (``real_pose: True``, ``real_pos_lambda`` 15 or 30); ``set ... lambda_realpos=0`` is the way to train without."""
    weighted = [name for name in stages
                if config.stage(name).steps > 0 and getattr(config.stage_loss(name), "lambda_realpos", 0) > 0]
    if not weighted or run_data_serves_cameras(config, resolution):
        return
    name = weighted[0]
    key = f"stages.{name}.loss.lambda_realpos" if "lambda_realpos" in config.stage(name).loss else \
        "loss.lambda_realpos"
    weight = config.stage_loss(name).lambda_realpos
    raise UserError(f"{who} regresses the pose of each real image ({key}={weight:g}, as the authors train it), and "
                    f"dataset '{config.data.spec}' serves no camera poses; {USE_POSED_DATA}, or set {key}=0 to "
                    f"train without that loss.")


#: How far (relative) the real cameras' mean distance from the origin and mean focal length may lie from the camera
#: prior's before the labels of reals and fakes count as two scenes' (EG3D's own FFHQ cameras, 2.7 from a pivot 0.175
#: off the origin, lie up to 6.5 % from a prior at radius 2.7; a 13.37 deg field of view is 10.3 % from 12 deg's).
LABEL_SCENE_TOLERANCE = 0.1


def check_label_scene(cameras: Camera, prior: CameraPrior, who: str, remedy: str) -> None:
    """Refuse reals whose camera labels lie in another scene than the fakes', for a camera-conditioned discriminator
    that scores the fakes with cameras drawn from ``prior``.

    EG3D draws the fakes' labels from the dataset; zoo3d draws them from the camera prior. A discriminator that reads
    every image's label tells reals from fakes by their labels alone, and ignores the images, when the data's cameras
    sit at another distance or focal length than the prior's (more than :data:`LABEL_SCENE_TOLERANCE` off either's
    mean). The UserError says ``who``'s discriminator reads the labels, names both scenes and ends with ``remedy``
    (the keys to set for that model, or another way out)."""
    radius = float(cameras.origins.double().norm(dim=-1).mean())
    focal = float((0.5 / torch.tan(torch.deg2rad(cameras.fov.double()) / 2)).mean())
    prior_focal = 0.5 / math.tan(math.radians(prior.fov) / 2)
    off = max(abs(radius / prior.radius - 1), abs(focal / prior_focal - 1))
    if off <= LABEL_SCENE_TOLERANCE:
        return
    fov = math.degrees(2 * math.atan(0.5 / focal))
    raise UserError(f"{who}'s discriminator reads each image's camera label, and the data's cameras sit at radius "
                    f"{radius:.4g} with a {fov:.4g} deg field of view where the camera prior draws the fakes' at "
                    f"radius {prior.radius:.4g} with {prior.fov:.4g} deg, so it would tell reals from fakes by their "
                    f"labels alone; {remedy}.")


def check_data_label_scene(config: RunConfig, prior: CameraPrior, resolution: int, who: str, remedy: str) -> None:
    """:func:`check_label_scene` over every camera of the run's dataset (``config.data``, built at ``resolution``;
    :func:`zoo3d.train.data.run_data_cameras`), for a model's ``ModelPlugin.check_new_run``: data posed in another
    scene is refused before a new run's folder exists, on the mean of all its cameras rather than of one batch's, and
    so is data without poses (:func:`unposed_data`)."""
    cameras = run_data_cameras(config, resolution)
    if cameras is None:
        raise unposed_data(config, who)
    check_label_scene(cameras, prior, who, remedy)


def score_with(module: str) -> Callable[[StepContext, Sample], DiscriminatorOutput]:
    """The default scoring: the model's module ``module`` applied to the images and their cameras
    (:class:`zoo3d.core.discriminator.Discriminator`'s call: conditioned discriminators read the cameras,
    the others ignore them)."""
    return partial(_score, module=module)


def _score(ctx: StepContext, sample: Sample, module: str) -> DiscriminatorOutput:
    return ctx.module(module)(sample.images, cameras=sample.cameras)


@dataclass(frozen=True)
class GANParts:
    """What a model supplies to the shared steps.

    Attributes:
        fakes: ``fakes(ctx, n)`` draws n latents and cameras from ``ctx.rng`` and renders them (with grad
            when the caller's context allows it) -> :class:`Sample` with the cameras.
        reals: ``reals(ctx, requires_grad)`` -> the real :class:`Sample` (default: :func:`real_sample`).
        discriminate: ``discriminate(ctx, sample)`` -> :class:`DiscriminatorOutput` (default: the module
            ``discriminator`` on the images).
        generator_terms: ``generator_terms(ctx, fakes)`` -> (loss, logs) added to the generator step.
    """

    fakes: Callable[[StepContext, int], Sample]
    reals: Callable[[StepContext, bool], Sample] = real_sample
    discriminate: Callable[[StepContext, Sample], DiscriminatorOutput] = score_with("discriminator")
    generator_terms: Callable[[StepContext, Sample], tuple[Tensor | float, dict[str, float]]] | None = None


def _mean(logits: Tensor) -> float:
    return logits.float().mean().item()


def _pose_term(out: DiscriminatorOutput, cameras: Camera | None, loss: AdversarialLoss) -> Tensor | None:
    if out.pose is None or cameras is None:
        return None
    return pose_loss(out.pose, pose_target(cameras.to(device=out.pose.device)), loss.pose_loss)


def discriminator_step(ctx: StepContext, loss: AdversarialLoss, parts: GANParts) -> LossResult:
    """The discriminator phase (see the module doc): fakes rendered without grad, reals from ``parts.reals``."""
    inline_r1 = loss.r1_gamma > 0 and not loss.lazy_r1
    with torch.no_grad():
        fakes = parts.fakes(ctx, ctx.stage.batch_size)
    reals = parts.reals(ctx, inline_r1)
    with _r1_precision(ctx, inline_r1):
        real_out = parts.discriminate(ctx, reals)
    fake_out = parts.discriminate(ctx, fakes.detached())
    adv = discriminator_loss(real_out.logit, fake_out.logit)
    total = adv
    logs = {"d_adv": adv.item(), "d_real": _mean(real_out.logit), "d_fake": _mean(fake_out.logit)}
    if loss.patch_lambda > 0 and real_out.patch is not None:
        patch = discriminator_loss(real_out.patch.flatten(1), fake_out.patch.flatten(1))
        total = total + loss.patch_lambda * patch
        logs["d_patch"] = patch.item()
    if inline_r1:
        r1 = r1_penalty(_r1_logits(real_out, loss), reals.r1_inputs(), loss.r1_gamma)
        total = total + r1
        logs["r1"] = r1.item()
    if loss.lambda_pos > 0 and (pose := _pose_term(fake_out, fakes.cameras, loss)) is not None:
        total = total + loss.lambda_pos * pose
        logs["d_pose"] = pose.item()
    if loss.lambda_realpos > 0 and (pose := _pose_term(real_out, reals.cameras, loss)) is not None:
        total = total + loss.lambda_realpos * pose
        logs["d_pose_real"] = pose.item()
    logs.update(fakes.logs)
    logs["d_loss"] = total.item()
    return LossResult(total, logs)


def _r1_precision(ctx: StepContext, takes_r1: bool) -> AbstractContextManager:
    """fp32 for the real pass R1 differentiates, when the step runs under fp16 autocast: R1's input gradient
    runs back through that pass in fp16, where per-pixel gradients of about 4e-8 (GRAM's discriminator at 256 px at
    initialisation) round to 0. Scaling that inner gradient (pi-GAN, GRAM) restores R1's value but leaves its
    own gradient, carried back through the same fp16 nodes at the loss scale over the inner one, to underflow
    in turn. bf16 has fp32's exponent range and keeps its pass as it is."""
    if takes_r1 and ctx.amp_dtype == torch.float16:
        return torch.autocast(ctx.device.type, enabled=False)
    return nullcontext()


def _r1_logits(out: DiscriminatorOutput, loss: AdversarialLoss) -> Tensor:
    if loss.patch_lambda > 0 and out.patch is not None:
        return out.logit + loss.patch_lambda * out.patch.mean(dim=(2, 3))
    return out.logit


def r1_step(ctx: StepContext, loss: AdversarialLoss, parts: GANParts) -> LossResult:
    """The lazy ``r1`` phase: R1 on the reals (every input that requires grad), times the interval."""
    reals = parts.reals(ctx, True)
    with _r1_precision(ctx, True):
        out = parts.discriminate(ctx, reals)
    penalty = r1_penalty(_r1_logits(out, loss), reals.r1_inputs(), loss.r1_gamma, interval=loss.r1_every)
    return LossResult(penalty, {"r1": penalty.item() / loss.r1_every})


def generator_step(ctx: StepContext, loss: AdversarialLoss, parts: GANParts) -> LossResult:
    """The generator phase (see the module doc): fakes rendered with grad."""
    fakes = parts.fakes(ctx, ctx.stage.batch_size)
    out = parts.discriminate(ctx, fakes)
    logs: dict[str, float] = {}
    if loss.topk_interval is not None:
        fraction = topk_fraction(ctx.step, loss.topk_interval, loss.topk_min)
        adv = topk_generator_loss(out.logit, fraction, loss.topk_group)
        logs["topk"] = fraction
    else:
        adv = generator_loss(out.logit)
    total = adv
    logs["g_adv"] = adv.item()
    if loss.patch_lambda > 0 and out.patch is not None:
        patch = generator_loss(out.patch.flatten(1))
        total = total + loss.patch_lambda * patch
        logs["g_patch"] = patch.item()
    if loss.lambda_pos > 0 and (pose := _pose_term(out, fakes.cameras, loss)) is not None:
        total = total + loss.lambda_pos * pose
        logs["g_pose"] = pose.item()
    if parts.generator_terms is not None:
        extra, extra_logs = parts.generator_terms(ctx, fakes)
        total = total + extra
        logs.update(extra_logs)
    logs.update(fakes.logs)
    logs["g_loss"] = total.item()
    return LossResult(total, logs)


def gan_phases(loss: AdversarialLoss, parts: GANParts, generator_first: bool = False) -> list[Phase]:
    """``discriminator`` [+ lazy ``r1``] and ``generator``, D first (GRAM, pi-GAN, StyleSDF) or G first
    (StyleGAN2/EG3D's order); each phase steps the optimiser named after its role."""
    d = [Phase("discriminator", "discriminator", partial(discriminator_step, loss=loss, parts=parts))]
    if loss.lazy_r1:
        d.append(Phase("r1", "discriminator", partial(r1_step, loss=loss, parts=parts), every=loss.r1_every))
    g = [Phase("generator", "generator", partial(generator_step, loss=loss, parts=parts))]
    return g + d if generator_first else d + g


def lazy_optimizer(modules: list[str], lr: float, betas: tuple[float, float], every: int | None,
                   grad_clip: float | None = None, eps: float = 1e-8) -> OptimizerSpec:
    """An Adam over ``modules`` with :func:`zoo3d.core.model.lazy_corrected`'s correction for a
    regularisation phase every ``every`` steps."""
    return lazy_corrected(OptimizerSpec(modules=modules, lr=lr, betas=tuple(betas), eps=eps, grad_clip=grad_clip),
                          every)


def lazy_r1_interval(loss: GanLossConfig | AdversarialLoss) -> int | None:
    """The interval of the discriminator's lazy R1 phase, for ``stage_optimizers(lazy_every=...)``: None when R1
    runs inside every D step or not at all (``r1_gamma`` 0), and the optimiser then keeps its settings."""
    return loss.r1_every if loss.r1_gamma > 0 and loss.r1_every is not None else None


def adversarial_loss(loss: GanLossConfig, **paper: Any) -> AdversarialLoss:
    """The adversarial weights of a model's ``loss`` section (the names of :class:`GanLossConfig`), with what
    the paper fixes (``pose_loss``, ``patch_lambda``, top-k ...) as keywords."""
    return AdversarialLoss(r1_gamma=loss.r1_gamma, r1_every=loss.r1_every, lambda_pos=loss.lambda_pos,
                           lambda_realpos=loss.lambda_realpos, **paper)
