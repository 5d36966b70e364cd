"""The ``neus`` metric: how well one NeuS explains a model's 30 yaw-swept views (GRAM-HD Table 2).

Per instance: render ``protocol.views`` views with yaw evenly in [-yaw_range, yaw_range], pitch
``protocol.pitch``, at the protocol resolution; fit NeuS; report PSNR and SSIM of NeuS's
re-renders against the views (averaged over views). Higher = more 3D-consistent.
"""

from __future__ import annotations

from typing import Any

from zoo3d.cameras import yaw_sweep
from zoo3d.eval.image_metrics import psnr, ssim
from zoo3d.eval.metric import (EvalContext, EvalModel, Metric, instance_latent, model_resolution,
                               render_instance, strictly_consistent)
from zoo3d.eval.neus.fit import fit_neus


def protocol_cameras(generator, protocol, n: int | None = None, yaw_range: float | None = None):
    """The yaw sweep at the generator's camera radius and field of view (pitch from the protocol)."""
    prior = generator.camera_prior
    return yaw_sweep(n or protocol.views, protocol.yaw_range if yaw_range is None else yaw_range,
                     pitch=protocol.pitch, radius=prior.radius, fov=prior.fov)


class NeusMetric(Metric):
    name = "neus"
    keys = ("neus_psnr", "neus_ssim")
    higher_is_better = True
    requires = ("images",)

    def evaluate(self, model: EvalModel, ctx: EvalContext) -> dict[str, list[float]]:
        gen, proto = model.generator, ctx.protocol
        res = model_resolution(gen, proto.resolution)
        cameras = protocol_cameras(gen, proto).to(device=ctx.device)
        if not strictly_consistent(gen):
            ctx.notes.append(f"{model.name}: not strictly 3D-consistent (2D upsampler); neus scores its final rgb.")
        result: dict[str, list[float]] = {"neus_psnr": [], "neus_ssim": [], "neus_seconds": []}
        for i, seed in enumerate(ctx.seeds):
            views = render_instance(gen, instance_latent(gen, seed, ctx.device), cameras, res,
                                    psi=proto.psi_consistency)["rgb"]
            fit = fit_neus(views, cameras, proto.neus, seed=seed)
            result["neus_psnr"].append(float(psnr(fit.renders, views).mean()))
            result["neus_ssim"].append(float(ssim(fit.renders, views).mean()))
            result["neus_seconds"].append(fit.seconds)
            if i < 2:
                self._save_evidence(model.name, ctx, seed, views, fit.renders)
            ctx.advance(1)
        return result

    @staticmethod
    def _save_evidence(model_name: str, ctx: EvalContext, seed: int, views, renders) -> None:
        from zoo3d.imageio import save_grid

        for label, imgs in (("views", views), ("neus", renders)):
            path = ctx.evidence_path(model_name, "neus", f"seed{seed}_{label}.png")
            if path is not None:
                save_grid(imgs.cpu(), path, nrow=10)

    def protocol_info(self, ctx: EvalContext) -> dict[str, Any]:
        p = ctx.protocol
        return {"views": p.views, "yaw_range": p.yaw_range, "pitch": p.pitch, "psi": p.psi_consistency,
                "neus": p.neus.model_dump(),
                "note": "PSNR/SSIM of NeuS re-renders vs. the training views, full frame, [0,1] range"}
