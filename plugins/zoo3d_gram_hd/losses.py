"""GRAM-HD's stage-2 losses (paper eqs. 9-12, upstream SRGan3DProcess), on the shared adversarial steps.

D: softplus(D(fake)) + softplus(-D(real)) + patch_lambda * [softplus(Dp(fake)) + softplus(-Dp(real))]
   + R1(gamma) on (D(real) + patch_lambda * mean Dp(real)) + pose MSE on fakes (lambda_pos) and reals
   (lambda_realpos).
G: softplus(-D(fake)) + patch_lambda * softplus(-Dp(fake)) + lambda_pos * pose MSE
   + lambda_cons * [MSE(Down_s(HR image), LR image) + MSE(Down_s(HR rgba maps), LR rgba maps)]   (12)
Patch terms average softplus over every patch logit. Down_s is the fixed Keys-bicubic kernel.
Only the fakes (:func:`render_hr_fakes`), the two discriminators' scores (:func:`score_hr`) and loss (12)
(:func:`consistency_terms`) are GRAM-HD's own; the rest is :mod:`zoo3d.train.gan`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import torch.nn.functional as F
from torch import Tensor

from zoo3d.core.model import Phase, StepContext
from zoo3d.core.outputs import DiscriminatorOutput
from zoo3d.devices import at_least_float32
from zoo3d.train.gan import GANParts, Sample, adversarial_loss, gan_phases, real_sample

from zoo3d_gram_hd.config import LossConfig
from zoo3d_gram_hd.generator import ManifoldTextures
from zoo3d_gram_hd.resample import bicubic_downsample

__all__ = ["consistency_loss", "consistency_terms", "hr_phases", "render_hr_fakes", "score_hr"]


def consistency_loss(hr_image: Tensor, lr_image: Tensor, textures: ManifoldTextures) -> tuple[Tensor, Tensor]:
    """Loss (12)'s two terms: (image MSE, radiance-map MSE) between Down_s(HR) and LR.

    hr_image (B, 3, H, W) and lr_image (B, 3, h, w) in [-1, 1]; the maps are rgba in [0, 1] of every
    foreground manifold plus the background (whose alpha is 0 at both resolutions). LR targets are
    constants (the frozen stage-1 model).
    """
    scale = hr_image.shape[-1] // lr_image.shape[-1]
    hr_image = at_least_float32(hr_image)  # bf16 under autocast: fp32; a float64 model's float64 stays
    image_term = F.mse_loss(bicubic_downsample(hr_image, scale), lr_image.detach().to(hr_image.dtype))
    hr_maps, lr_maps = textures.rgba(hr=True), textures.rgba(hr=False).detach()
    B, K, C, H, W = hr_maps.shape
    hr_maps = at_least_float32(hr_maps)
    down = bicubic_downsample(hr_maps.reshape(B, K * C, H, W), scale).reshape(lr_maps.shape)
    return image_term, F.mse_loss(down, lr_maps.to(hr_maps.dtype))


def render_hr_fakes(ctx: StepContext, n: int, resolution: int, lowres_image: bool = True) -> Sample:
    """n HR images of prior latents from prior cameras, with the render (a GramHDOutput: its LR image, unless
    ``lowres_image`` is off, and textures)."""
    z, cameras = ctx.sample_z(n), ctx.sample_cameras(n)
    out = ctx.generator(z, cameras, resolution=(resolution, resolution), lowres_image=lowres_image)
    return Sample(out.rgb, cameras, output=out)


def score_hr(ctx: StepContext, sample: Sample) -> DiscriminatorOutput:
    """The HR CoordConv D's logit and pose with the patch D's logits (the shared steps weigh them by patch_lambda)."""
    main = ctx.module("discriminator")(sample.images)
    patch = ctx.module("patch_discriminator")(sample.images)
    return DiscriminatorOutput(logit=main.logit, pose=main.pose, patch=patch.patch)


def consistency_terms(ctx: StepContext, fakes: Sample, lambda_cons: float) -> tuple[Tensor | float, dict[str, float]]:
    """lambda_cons x loss (12) on the fakes' HR and LR renders."""
    if lambda_cons <= 0:
        return 0.0, {}
    out = fakes.output
    image_term, map_term = consistency_loss(out.rgb, out.raw.rgb, out.textures)
    return lambda_cons * (image_term + map_term), {"cons_image": image_term.item(), "cons_maps": map_term.item()}


def hr_phases(loss: LossConfig, resolution: int) -> list[Phase]:
    """Stage 2's D and G phases: the shared adversarial steps with the patch D and the consistency loss.

    The LR image is read by loss (12) alone, so the discriminator's fakes are rendered without it, and the
    generator's too when ``lambda_cons`` is 0 (the LR rays are still intersected: the HR render samples at their
    hits); the images, losses and gradients are those of renders with it."""
    adversarial = adversarial_loss(loss, patch_lambda=loss.patch_lambda)
    scored = GANParts(fakes=partial(render_hr_fakes, resolution=resolution, lowres_image=False),
                      reals=partial(real_sample, resolution=resolution), discriminate=score_hr,
                      generator_terms=partial(consistency_terms, lambda_cons=loss.lambda_cons))
    generated = replace(scored, fakes=partial(render_hr_fakes, resolution=resolution,
                                              lowres_image=loss.lambda_cons > 0))
    return ([p for p in gan_phases(adversarial, scored) if p.optimizer == "discriminator"]
            + [p for p in gan_phases(adversarial, generated) if p.optimizer == "generator"])
