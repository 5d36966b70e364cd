"""NeuS volume rendering inside the unit sphere: sampling, hierarchical up-sampling, opacity.

Rays: origins/directions (N, 3) in the normalised scene, unit directions. Distances t are
along the ray. The opacity of section [t_i, t_i + d_i] follows NeuS eq. (13):
alpha_i = max((Phi_s(f_i) - Phi_s(f_{i+1})) / Phi_s(f_i), 0) with Phi_s = sigmoid(s x).

The primitives are the renderer's (:mod:`zoo3d.render`): NeuS opacity (:func:`neus_alpha`,
:func:`neus_alpha_from_ends`), compositing weights and inverse-CDF sampling; what is NeuS's own
here is the unit-sphere bounds, the up-sampling weights with rising s, and the ray loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.render.composite import compositing_weights
from zoo3d.render.samples import sample_pdf
from zoo3d.render.volume import neus_alpha, neus_alpha_from_ends

#: NeuS's transmittance guard: T = exclusive cumprod(1 - alpha + 1e-7).
NEUS_TRANSMITTANCE_EPS = 1e-7


def sphere_bounds(origins: Tensor, dirs: Tensor) -> tuple[Tensor, Tensor]:
    """near/far (N, 1) of each ray with the unit sphere: mid -+ 1 around the closest approach (NeuS)."""
    mid = -(origins * dirs).sum(-1, keepdim=True)
    return (mid - 1.0).clamp_min(1e-3), mid + 1.0


def upsample_alpha(points: Tensor, t: Tensor, sdf: Tensor, inv_s: float) -> Tensor:
    """Section weights (N, S-1) for up-sampling from SDF values at sample points (no gradients).

    The slope of each section is the smaller of its own and its predecessor's (NeuS), clipped to [-1e3, 0];
    sections outside the unit sphere get no slope (opacity ~1e-5 where the SDF is positive), as upstream.
    """
    radius = points.norm(dim=-1)
    inside = ((radius[:, :-1] < 1.0) | (radius[:, 1:] < 1.0)).to(sdf.dtype)
    prev_sdf, next_sdf = sdf[:, :-1], sdf[:, 1:]
    prev_t, next_t = t[:, :-1], t[:, 1:]
    mid_sdf = (prev_sdf + next_sdf) * 0.5
    cos = (next_sdf - prev_sdf) / (next_t - prev_t + 1e-5)
    prev_cos = torch.cat([torch.zeros_like(cos[:, :1]), cos[:, :-1]], dim=-1)
    cos = torch.minimum(cos, prev_cos).clamp(-1e3, 0.0) * inside
    dist = next_t - prev_t
    alpha = neus_alpha_from_ends(mid_sdf - cos * dist * 0.5, mid_sdf + cos * dist * 0.5, inv_s)
    return compositing_weights(alpha, NEUS_TRANSMITTANCE_EPS)


@dataclass
class RayBatchOutput:
    """colour (N, 3) in [0, 1]; gradients (N, S, 3) and inside mask (N, S) for the eikonal term; weight sum (N,)."""

    color: Tensor
    gradients: Tensor
    inside: Tensor
    weight_sum: Tensor


def render_rays(sdf_net, color_net, variance, background, origins: Tensor, dirs: Tensor, n_coarse: int,
                n_importance: int, upsample_steps: int, cos_anneal_ratio: float, perturb: bool,
                create_graph: bool) -> RayBatchOutput:
    """Render N rays through the NeuS fields (coarse samples + hierarchical up-sampling with rising s)."""
    n_rays = origins.shape[0]
    near, far = sphere_bounds(origins, dirs)
    steps = torch.linspace(0.0, 1.0, n_coarse, device=origins.device, dtype=origins.dtype)
    t = near + (far - near) * steps[None]
    if perturb:
        t = t + (torch.rand(n_rays, 1, device=t.device, dtype=t.dtype) - 0.5) * (far - near) / n_coarse
    if n_importance > 0 and upsample_steps > 0:
        per_step = n_importance // upsample_steps
        with torch.no_grad():
            pts = origins[:, None] + dirs[:, None] * t[..., None]
            sdf = sdf_net.sdf(pts.reshape(-1, 3)).reshape(n_rays, -1)
            for i in range(upsample_steps):
                weights = upsample_alpha(pts, t, sdf, 64.0 * 2 ** i)
                new_t = sample_pdf(t, weights, per_step)
                new_pts = origins[:, None] + dirs[:, None] * new_t[..., None]
                t, order = torch.sort(torch.cat([t, new_t], dim=-1), dim=-1)
                pts = origins[:, None] + dirs[:, None] * t[..., None]
                if i + 1 < upsample_steps:
                    new_sdf = sdf_net.sdf(new_pts.reshape(-1, 3)).reshape(n_rays, -1)
                    sdf = torch.cat([sdf, new_sdf], dim=-1).gather(-1, order)
    t = t.detach()
    dists = torch.cat([t[:, 1:] - t[:, :-1], torch.full_like(t[:, :1], 2.0 / max(n_coarse, 1))], dim=-1)
    mid_t = t + dists * 0.5
    pts = origins[:, None] + dirs[:, None] * mid_t[..., None]              # (N, S, 3)
    view = dirs[:, None].expand_as(pts)
    sdf, feature, grad = sdf_net.sdf_and_gradient(pts.reshape(-1, 3), create_graph=create_graph)
    normals = F.normalize(grad, dim=-1)
    rgb = color_net(pts.reshape(-1, 3), view.reshape(-1, 3), normals, feature).reshape(n_rays, -1, 3)
    sdf = sdf.reshape(n_rays, -1)
    grad = grad.reshape(n_rays, -1, 3)
    true_cos = (view * grad).sum(-1)
    # the slope annealed from "always slightly opaque" (r = 0) to the exact one (r = 1), as NeuS does
    alpha = neus_alpha(sdf, true_cos, dists * 0.5, dists * 0.5, variance.inv_s(), cos_anneal_ratio)
    inside = (pts.norm(dim=-1) < 1.0).to(alpha.dtype)
    alpha = alpha * inside
    weights = compositing_weights(alpha, NEUS_TRANSMITTANCE_EPS)
    weight_sum = weights.sum(-1)
    color = (weights[..., None] * rgb).sum(1) + (1.0 - weight_sum)[:, None] * background(dirs)
    return RayBatchOutput(color, grad, (pts.norm(dim=-1) < 1.2), weight_sum)
