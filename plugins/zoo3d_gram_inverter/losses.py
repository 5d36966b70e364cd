"""Losses of GRAMInverter's encoder stage and detail stage (the Efficient GRAM stage reuses GRAM's).

Encoder stage (E_w trained, Efficient GRAM frozen):
    rec_l1 * L1 + rec_perceptual * P on real images rendered back at their camera
    + latent * MSE(W+) and pose * MSE(yaw, pitch) on images sampled from the generator (known W+ and pose)
    + pose * MSE on real poses when the data has them.
Detail stage (detail reconstructor trained, E_w and Efficient GRAM frozen), per real image x at camera c:
    reconstruction   rec_l1 * L1(I(c), x) + rec_perceptual * P(I(c), x)
    novel view       novel_view * mean(M * |I(c') - I_coarse(c')|), c' from the camera prior, where the mask
                     M = 1 - v; v = max(0, -n . d_in) for surface points of I_coarse(c') that are unoccluded
                     from c (normal-aware visibility; n = the coarse manifolds' normal, d_in = the unit
                     direction from c's centre), 0 for occluded ones. Details are free where the input saw
                     the surface head-on and follow the coarse result where it did not.
    depth            depth * mean_pixels(sum_k w_k |t_k - d_coarse| / (far - near)) at c and c': the detailed
                     render's layer weights must stay near the coarse surface depth d_coarse.
P is LPIPS when its weights are available, else the MS-SSIM substitute (zoo3d.invert.losses).
Both stages render the generator from the real images' own cameras, so a new run whose encoder or detail stage has
steps refuses, before its folder exists, data whose cameras sit at a mean distance from the origin that the
generator's rays do not reach (:func:`check_render_distance`, from ``GramInverterModel.check_new_run``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.core.model import LossResult, StepContext
from zoo3d.core.outputs import RenderOutput
from zoo3d.errors import UserError
from zoo3d.invert.losses import perceptual_for, pixel_loss

from zoo3d.train.data import resize_images
from zoo3d.train.losses import pose_target
from zoo3d_gram_inverter.config import GramInverterConfig, GramInverterLossConfig
from zoo3d_gram_inverter.inverter import camera_from_pose

__all__ = ["check_render_distance", "encoder_step_loss", "detail_step_loss", "visibility", "surface_spread"]


def _rec(pred: Tensor, target: Tensor, lw: GramInverterLossConfig, device) -> tuple[Tensor, dict]:
    l1 = pixel_loss(pred, target, "l1").mean()
    loss, logs = lw.rec_l1 * l1, {"rec_l1": l1.item()}
    if lw.rec_perceptual > 0:
        p = perceptual_for(device, lw.perceptual)(pred, target).mean()
        loss = loss + lw.rec_perceptual * p
        logs["rec_perceptual"] = p.item()
    return loss, logs


def check_render_distance(cameras: Camera, config: GramInverterConfig, stage: str) -> None:
    """Refuse real cameras whose mean distance from the origin lies outside the generator's ray range
    (``generator.render.near`` to ``far``): GRAM's manifolds lie around the origin, so a render from such a
    camera samples no point of them and shows the background alone (EG3D's own cameras sit 2.7 away, where
    the tiny and ffhq256 presets' rays reach from 0.88 to 1.12)."""
    rc = config.generator.render
    radius = float(cameras.origins.double().norm(dim=-1).mean())
    if rc.near <= radius <= rc.far:
        return
    raise UserError(f"GRAMInverter's {stage} stage renders the generator from each real image's camera, and the "
                    f"data's cameras sit at radius {radius:.4g} where the generator's rays reach only from "
                    f"{rc.near:.4g} to {rc.far:.4g} (generator.render.near and far, around GRAM's manifolds at the "
                    f"origin), so its renders from them would cut the head or miss it; use data posed 1 from the "
                    f"origin (GRAM's poses/, poses.json angles or a dataset.json at that distance).")


def _real(ctx: StepContext, resolution: int) -> tuple[Tensor, Camera | None]:
    """The step's real images at ``resolution`` and their cameras (None for unposed data)."""
    images = resize_images(ctx.real.images.to(ctx.device), resolution)
    cams = ctx.real.cameras.to(device=ctx.device) if ctx.real.cameras is not None else None
    return images, cams


def encoder_step_loss(ctx: StepContext, config: GramInverterConfig, weights: GramInverterLossConfig) -> LossResult:
    """The encoder stage's loss with ``weights`` (the run's ``loss`` section with the stage's overrides)."""
    gen, enc = ctx.generator, ctx.module("encoder")
    lw, res = weights, config.generator.resolution
    images, cams = _real(ctx, res)
    B = images.shape[0]
    mean_w = gen.mean_latent().detach()
    ws, pose = enc(images, mean_w)
    render_cams = cams if cams is not None else camera_from_pose(pose.detach(), gen.camera_prior).to(device=ctx.device)
    with ctx.autocast():
        out = gen.render(gen.represent_ws(ws), render_cams, res)
    loss, logs = _rec(out.rgb, images, lw, ctx.device)
    if lw.pose > 0 and pose is not None and cams is not None:
        real_pose = F.mse_loss(pose, pose_target(cams))
        loss = loss + lw.pose * real_pose
        logs["pose_real"] = real_pose.item()
    if lw.latent > 0 or (lw.pose > 0 and pose is not None):
        with torch.no_grad():
            ws_true = gen.map_latent(ctx.sample_z(B))
            cams_s = ctx.sample_cameras(B)
            with ctx.autocast():
                fakes = gen.render(gen.represent_ws(ws_true), cams_s, res).rgb.float()
        ws_hat, pose_hat = enc(fakes, mean_w)
        lat = F.mse_loss(ws_hat, ws_true)
        loss = loss + lw.latent * lat
        logs["latent"] = lat.item()
        if pose_hat is not None:
            ps = F.mse_loss(pose_hat, pose_target(cams_s))
            loss = loss + lw.pose * ps
            logs["pose_fake"] = ps.item()
    logs["encoder_loss"] = loss.item()
    return LossResult(loss=loss, logs=logs)


def visibility(novel: RenderOutput, novel_cams: Camera, input_cams: Camera, input_depth: Tensor,
               occlusion_eps: float = 0.01) -> Tensor:
    """Normal-aware visibility (B, 1, H, W) in [0, 1] from the input cameras of the surface seen by ``novel``.

    ``novel`` must carry normals (render with normals=True). Surface points are the novel rays at the
    rendered depth; v = max(0, -n . d_in) where the point is not farther than ``occlusion_eps`` (world units)
    behind the input view's own depth ``input_depth`` (B, 1, h, w) at its projection, else 0.
    """
    B, _, H, W = novel.rgb.shape
    o, d = novel_cams.rays(H, W)
    p = o + d * novel.depth.reshape(B, H * W, 1)
    n = novel.normals.reshape(B, 3, H * W).transpose(1, 2)
    to_p = p - input_cams.origins[:, None, :]
    dist = to_p.norm(dim=-1)
    facing = (-(n * (to_p / dist.unsqueeze(-1).clamp_min(1e-8))).sum(-1)).clamp(0, 1)
    uv, _ = input_cams.project(p)
    seen = F.grid_sample(input_depth, (uv * 2 - 1).reshape(B, H * W, 1, 2).to(input_depth.dtype), mode="bilinear",
                         padding_mode="border", align_corners=False).reshape(B, H * W)
    inside = ((uv >= 0) & (uv <= 1)).all(-1)
    unoccluded = (dist <= seen + occlusion_eps) & inside
    return (facing * unoccluded.to(facing.dtype)).reshape(B, 1, H, W)


def surface_spread(out: RenderOutput, cameras: Camera, reference_depth: Tensor, scale: float) -> Tensor:
    """Per-pixel (B, 1, H, W) ``sum_k w_k |t_k - d_ref| / scale``: how far the layers that carry weight lie
    from the reference surface depth ``reference_depth`` (B, 1, H, W)."""
    B, K, H, W = out.weights.shape
    origins = cameras.origins.to(out.points)[:, None, None, None, :]
    t = (out.points - origins).norm(dim=-1)  # (B, K, H, W)
    return (out.weights * (t - reference_depth).abs()).sum(1, keepdim=True) / scale


def detail_step_loss(ctx: StepContext, config: GramInverterConfig, weights: GramInverterLossConfig) -> LossResult:
    """The detail stage's loss with ``weights`` (the run's ``loss`` section with the stage's overrides)."""
    gen, enc, det = ctx.generator, ctx.module("encoder"), ctx.module("detail")
    lw, res, rc = weights, config.generator.resolution, config.generator.render
    images, cams = _real(ctx, res)
    B = images.shape[0]
    with torch.no_grad():
        ws, pose = enc(images, gen.mean_latent())
        if cams is None:
            cams = camera_from_pose(pose, gen.camera_prior).to(device=ctx.device)
        coarse = gen.represent_ws(ws).detach()
        fg_points, _ = gen.gridded(config.detail.lr_resolution)
    # The coarse and the detailed scene share the (frozen) manifolds: each camera's rays are intersected once,
    # where the detailed render would, and both renders take the hits. Under mixed precision the coarse renders,
    # which run without it, intersect in full precision as before.
    shared = ctx.amp_dtype is None
    with ctx.autocast():
        full = coarse + det(images, cams, fg_points)
        hits = gen.intersect(cams, res)
        out = gen.render(full, cams, res, intersections=hits)
    loss, logs = _rec(out.rgb.float(), images, lw, ctx.device)
    if lw.novel_view > 0 or lw.depth > 0:
        novel_cams = ctx.sample_cameras(B)
        with ctx.autocast():
            novel_hits = gen.intersect(novel_cams, res)
        with torch.no_grad():
            coarse_in = gen.render(coarse, cams, res, intersections=hits if shared else None)
            coarse_novel = gen.render(coarse, novel_cams, res, normals=True,
                                      intersections=novel_hits if shared else None)
        with ctx.autocast():
            full_novel = gen.render(full, novel_cams, res, intersections=novel_hits)
        if lw.novel_view > 0:
            mask = 1 - visibility(coarse_novel, novel_cams, cams, coarse_in.depth.float())
            nv = (mask * (full_novel.rgb.float() - coarse_novel.rgb.float()).abs()).mean()
            loss = loss + lw.novel_view * nv
            logs.update(novel_view=nv.item(), novel_mask=mask.mean().item())
        if lw.depth > 0:
            scale = rc.far - rc.near
            dep = 0.5 * (surface_spread(out, cams, coarse_in.depth, scale).mean()
                         + surface_spread(full_novel, novel_cams, coarse_novel.depth, scale).mean())
            loss = loss + lw.depth * dep
            logs["depth_spread"] = dep.item()
    logs["detail_loss"] = loss.item()
    return LossResult(loss=loss, logs=logs)
