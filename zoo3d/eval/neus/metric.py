"""The ``neus`` metric: how well one NeuS explains a model's 30 yaw-swept views (GRAM-HD Table 2).

Per instance: render ``protocol.views`` views with yaw evenly in [-yaw_range, yaw_range] around the
model's centre view, pitch offset ``protocol.pitch``, at the protocol resolution; fit NeuS to them
with their true cameras, and fit a second NeuS (same settings, same seed) to the same views with the
cameras permuted (the control: the same images, no consistency to exploit). Reported per instance:

- ``neus_detail_gain`` (the headline, higher = more 3D-consistent detail): 1000 x (MSE of the
  control - MSE of the true fit), on [0, 1] images, both errors taken on the detail band of the
  residual (the residual minus its Gaussian blur of ``protocol.neus_detail_sigma`` px). The
  squared error in the fine detail that knowing the right cameras removes, in absolute units:
  a detail-free image set has no detail error to remove (its gain is ~0), per-view noise is left
  by both fits (it cancels), a model that ignores the camera scores 0, and only fine content that
  moves with the camera as one 3D scene earns a gain. The coarse band is left out because every
  2D upsampler starts from a consistent low-resolution render: there both kinds of model gain alike.
  (A ratio, e.g. a PSNR difference, would reward blur: a blurred scene is fitted almost exactly.)
- ``neus_gain``: the same difference over all bands (coarse structure included).
- ``neus_psnr`` / ``neus_ssim``: the true fit's re-renders against the views (GRAM-HD Table 2's
  raw numbers; they reward images for lacking detail, so they do not rank models on their own).
- ``neus_control_psnr``: the control's PSNR; ``neus_seconds``: both fits; ``neus_restarts``: how many
  attempts of the two fits lost their surface and were drawn again (:mod:`zoo3d.eval.neus.fit`).
"""

from __future__ import annotations

from typing import Any

import torch

from zoo3d.errors import UserError
from zoo3d.eval.calibration import blur_radius, gaussian_blur
from zoo3d.eval.image_metrics import psnr, ssim, to_unit
from zoo3d.eval.metric import (EvalContext, EvalModel, Metric, instance_latent, model_resolution, note_upsampler,
                               protocol_cameras, render_instance)
from zoo3d.eval.neus.fit import fit_neus


CONTROL_SEED = 0


def control_permutation(views: int, seed: int = CONTROL_SEED) -> torch.Tensor:
    """A fixed random permutation of ``views`` (>= 2) indices with no fixed point (the control's cameras).

    Drawn with a seeded CPU generator, redrawn until no view keeps its own camera: the same for every
    model, instance and device.
    """
    gen = torch.Generator().manual_seed(seed)
    while True:
        perm = torch.randperm(views, generator=gen)
        if not bool((perm == torch.arange(views)).any()):
            return perm


def unit_residual(renders: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
    """Renders minus views on the clamped [0, 1] scale the fits are trained on.

    NeuS fits the views clamped to [0, 1] and renders inside it, so what a model draws outside
    [-1, 1] (GRAM-HD's linear HR colour, a StyleGAN toRGB) is no error either fit could remove.
    """
    return to_unit(renders) - to_unit(views)


def unit_mse(renders: torch.Tensor, views: torch.Tensor) -> float:
    """Mean squared error of (V, 3, H, W) renders against views, both in [-1, 1], on the [0, 1] scale."""
    return float(unit_residual(renders, views).pow(2).mean())


def detail_mse(renders: torch.Tensor, views: torch.Tensor, sigma: float) -> float:
    """``unit_mse`` of the residual's detail band: the residual minus its Gaussian blur of ``sigma`` px."""
    residual = unit_residual(renders, views)
    return float((residual - gaussian_blur(residual, sigma)).pow(2).mean())


def check_detail_band(sigma: float, resolution: int, whose: str = "the protocol's") -> None:
    """Refuse a detail band whose blur reaches across the whole image (its padding cannot be taken there), in one
    sentence, before any fit: ``gaussian_blur`` raised a RuntimeError after both fits of the first instance."""
    reach = blur_radius(sigma)
    if reach >= resolution:
        raise UserError(f"neus_detail_sigma {sigma:g} blurs {reach} px to either side (3 sigma), which needs images "
                        f"larger than {reach} px; {whose} resolution is {resolution}.")


class NeusMetric(Metric):
    name = "neus"
    keys = ("neus_detail_gain", "neus_gain", "neus_psnr", "neus_ssim")
    higher_is_better = dict.fromkeys(keys, True)  # the control's PSNR, the seconds and the restarts have none
    requires = ("images",)

    def check(self, protocol: Any, options: dict[str, Any]) -> None:
        if protocol.resolution is not None:
            check_detail_band(protocol.neus_detail_sigma, protocol.resolution)

    def evaluate(self, model: EvalModel, ctx: EvalContext) -> dict[str, list[float]]:
        gen, proto = model.generator, ctx.protocol
        res = model_resolution(gen, proto.resolution)
        check_detail_band(proto.neus_detail_sigma, res, f"{model.name}'s")  # its own resolution: before its fits
        cameras = protocol_cameras(gen, proto).to(device=ctx.device)
        note_upsampler(model, ctx, "neus scores its final rgb")
        shuffled = cameras[control_permutation(len(cameras)).to(ctx.device)]
        result: dict[str, list[float]] = {k: [] for k in (*self.keys, "neus_control_psnr", "neus_seconds",
                                                        "neus_restarts")}
        sigma = proto.neus_detail_sigma
        for i, seed in enumerate(ctx.seeds):
            views = render_instance(gen, instance_latent(gen, seed, ctx.device), cameras, res,
                                    psi=proto.psi_consistency)["rgb"]
            fit = fit_neus(views, cameras, proto.neus, seed=seed)
            control = fit_neus(views, shuffled, proto.neus, seed=seed)
            result["neus_detail_gain"].append(
                1000 * (detail_mse(control.renders, views, sigma) - detail_mse(fit.renders, views, sigma)))
            result["neus_gain"].append(1000 * (unit_mse(control.renders, views) - unit_mse(fit.renders, views)))
            result["neus_psnr"].append(float(psnr(fit.renders, views).mean()))
            result["neus_ssim"].append(float(ssim(fit.renders, views).mean()))
            result["neus_control_psnr"].append(float(psnr(control.renders, views).mean()))
            result["neus_seconds"].append(fit.seconds + control.seconds)
            result["neus_restarts"].append(float(fit.restarts + control.restarts))
            if fit.restarts or control.restarts:
                ctx.notes.append(f"{model.name}: seed {seed}: a NeuS fit lost its surface and was drawn again "
                                 f"({fit.restarts} true, {control.restarts} control).")
            bare = [label for label, f in (("true", fit), ("control", control))
                    if f.opacity is not None and f.opacity < proto.neus.vanish_opacity]
            if bare:
                ctx.notes.append(f"{model.name}: seed {seed}: the {' and '.join(bare)} NeuS fit kept no surface "
                                 f"in {proto.neus.restarts + 1} attempts; its gain measures no consistency.")
            if i < 2:
                self._save_evidence(model.name, ctx, seed, views, fit.renders, control.renders)
            ctx.advance(1)
        return result

    @staticmethod
    def _save_evidence(model_name: str, ctx: EvalContext, seed: int, views, renders, control) -> None:
        from zoo3d.imageio import save_grid

        for label, imgs in (("views", views), ("neus", renders), ("control", control)):
            path = ctx.evidence_path(model_name, "neus", f"seed{seed}_{label}.png")
            if path is not None:
                save_grid(imgs.cpu(), path, nrow=10)

    def protocol_info(self, ctx: EvalContext) -> dict[str, Any]:
        p = ctx.protocol
        return {"views": p.views, "yaw_range": p.yaw_range, "pitch": p.pitch,
                "about": "each model's centre view (camera prior yaw_mean, centre_pitch)", "psi": p.psi_consistency,
                "neus": p.neus.model_dump(), "detail_sigma": p.neus_detail_sigma,
                "control": {"permutation": control_permutation(p.views).tolist(), "seed": CONTROL_SEED},
                "note": "neus_gain = 1000 x (MSE of a NeuS fit with the cameras permuted - MSE of the fit with the "
                        "true cameras), [0,1] range; neus_detail_gain: the same on the residuals minus their "
                        "Gaussian blur of detail_sigma px; PSNR/SSIM of re-renders vs. the views, full frame"}
