"""Strict 3D consistency of GRAM-HD: super-resolution on the manifolds, not on the image.

One generated representation is rendered from two cameras. Manifold points that camera A sees
are projected into camera B; where B sees the same point, B's rendered colour there must equal A's. An HR
image made by the same super-resolution network applied to the LR *render* (a 2D upsampler, as tri-plane/SDF
baselines have) fails the same check, because its detail is laid out on each view's pixel grid, not on the surface.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo3d.cameras import Camera
from zoo3d.render.texture import TexturedManifolds
from zoo3d_gram.config import GeneratorConfig as GramGeneratorConfig
from zoo3d_gram.config import ManifoldConfig, RadianceConfig, RenderConfig
from zoo3d_gram_hd.config import BackgroundSRConfig, ForegroundSRConfig, GeneratorConfig
from zoo3d_gram_hd.generator import GramHDGenerator

LR, HR = 16, 32


def toy_generator(view_dependent: bool = False, residual: bool | str = False) -> GramHDGenerator:
    """GRAM-HD with narrow networks (random weights: GRAM's geometric init gives concentric-sphere manifolds);
    ``residual`` is the foreground SR net's option (False: upstream's net)."""
    lowres = GramGeneratorConfig(resolution=LR, manifold=ManifoldConfig(hidden=32, num_levels=8),
                                 radiance=RadianceConfig(z_dim=16, mapping_hidden=32, hidden=32, feature_dim=4,
                                                         truncation_samples=64),
                                 render=RenderConfig(num_samples=24))
    cfg = GeneratorConfig(resolution=HR, lowres=lowres, view_dependent_textures=view_dependent,
                          foreground_sr=ForegroundSRConfig(nf=16, nb=1, gc=8, up_channels=[16], style_hidden=32,
                                                           residual=residual),
                          background_sr=BackgroundSRConfig(nf=16, nb=1, gc=8, up_channels=[16]))
    torch.manual_seed(0)
    gen = GramHDGenerator(cfg).eval()
    gen.super_resolve.fill_(True)
    return gen


def _sample(image: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear sample (1, C, H, W) at normalised image coords uv (1, P, 2) in [0, 1] -> (P, C)."""
    grid = (uv * 2 - 1).reshape(1, -1, 1, 2)
    return F.grid_sample(image, grid, mode="bilinear", align_corners=False)[0, :, :, 0].T


def _visible_points(out) -> tuple[torch.Tensor, torch.Tensor]:
    """World points (1, 3, H, W) of the layer each pixel shows; mask (H*W,) of pixels showing one opaque manifold."""
    w, k = out.weights.max(dim=1)  # (1, H, W)
    pts = out.points.gather(1, k[:, None, :, :, None].expand(-1, -1, -1, -1, 3))[:, 0]  # (1, H, W, 3)
    layer = out.extras["layer_index"].gather(1, k[:, None])[:, 0]
    n_fg = int(out.extras["layer_index"].max())  # the background's index
    mask = (w > 0.99) & (layer < n_fg)
    return pts.permute(0, 3, 1, 2), mask.reshape(-1)


def cross_view_error(images: dict, renders: dict, cams: dict) -> tuple[float, int]:
    """Mean |colour_A(p) - colour_B(p)| over manifold points p shown by view A that view B also shows."""
    pts_a, mask = _visible_points(renders["a"])
    p = pts_a.reshape(1, 3, -1)[:, :, mask].transpose(1, 2)
    uv, depth = cams["b"].project(p)
    inside = ((uv > 0.02) & (uv < 0.98)).all(-1)[0] & (depth[0] > 0)
    front_b = _sample(_visible_points(renders["b"])[0], uv)  # the point B shows near uv
    visible = inside & ((front_b - p[0]).norm(dim=-1) < 2e-3)
    colour_a = _sample(images["a"], cams["a"].project(p)[0])[visible]
    colour_b = _sample(images["b"], uv)[visible]
    return (colour_a - colour_b).abs().mean().item(), int(visible.sum())


def test_hr_views_of_one_representation_agree_where_a_2d_upsampler_does_not():
    gen = toy_generator()
    z = gen.sample_z(1, generator=torch.Generator().manual_seed(3))
    cams = {"a": Camera.from_angles(torch.tensor([-0.2]), torch.tensor([0.05])),
            "b": Camera.from_angles(torch.tensor([0.2]), torch.tensor([-0.05]))}
    view = 4 * HR  # the HR maps are 32²: render the views finer so that reading B's image between pixels is exact
    with torch.no_grad():
        rep = gen.represent(z)
        tex = gen.textures(rep, cams["a"])
        # Opaque manifolds, so each pixel shows one surface point and the comparison is exact.
        hr_maps = torch.cat([tex.hr_maps[:, :, :3], torch.ones_like(tex.hr_maps[:, :, 3:])], dim=2)
        lr_maps = tex.lr_maps.clone()
        lr_maps[:, :, 3] = 1.0
        hr_scene = TexturedManifolds(rep.lowres, hr_maps, tex.hr_background)
        lr_scene = TexturedManifolds(rep.lowres, lr_maps, torch.cat([tex.lr_background, torch.zeros_like(
            tex.lr_background[:, :1]).expand(-1, lr_maps.shape[2] - 4, -1, -1)], dim=1))
        renders = {k: gen.renderer.render(hr_scene, c, view, intersection_resolution=LR) for k, c in cams.items()}
        manifold_sr = {k: r.rgb for k, r in renders.items()}
        # The same super-resolution network applied in image space: to the LR render's rgb, alpha and features.
        image_sr = {}
        for k, c in cams.items():
            low = gen.renderer.render(lr_scene, c, LR)
            x = torch.cat([(low.rgb + 1) / 2, torch.ones_like(low.alpha), low.features], dim=1)
            image_sr[k] = gen.foreground_sr(x, z)[:, :3] * 2 - 1
    consistent, n = cross_view_error(manifold_sr, renders, cams)
    inconsistent, n2 = cross_view_error(image_sr, renders, cams)
    assert n == n2 and n > 1000, n  # enough points on the manifolds are seen by both cameras
    spread = manifold_sr["a"].std().item()
    assert consistent < 0.05 * spread, (consistent, spread)
    assert inconsistent > 4 * consistent, (consistent, inconsistent)


def test_textures_do_not_depend_on_the_camera_without_view_dependence():
    """With frontal texel directions the HR maps are one fixed 3D texture for every camera."""
    gen = toy_generator()
    z = gen.sample_z(2, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        rep = gen.represent(z)
        a = gen.textures(rep, Camera.from_angles(torch.tensor([-0.3, 0.1]), torch.tensor([0.0, 0.1])))
        b = gen.textures(rep, Camera.from_angles(torch.tensor([0.3, -0.2]), torch.tensor([0.1, 0.0])))
    torch.testing.assert_close(a.hr_maps, b.hr_maps)
    assert not torch.allclose(a.hr_maps[0], a.hr_maps[1])  # but they do depend on z
