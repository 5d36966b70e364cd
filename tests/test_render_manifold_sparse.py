"""ManifoldRenderer's sparse path (representations with ``radiance_at``) against its dense path.

The sparse path sorts the hits first and queries radiance front to back, only at valid hits that are
not behind an opaque prefix; what it leaves out weighs less than ``opaque_transmittance`` (1e-6), so
every output must equal the dense path's to that bound.
"""

from __future__ import annotations

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.core.representation import Radiance
from zoo3d.render import ManifoldRenderer
from zoo3d.render.manifold import OPAQUE_TRANSMITTANCE

NEAR, FAR, SAMPLES = 0.88, 1.12, 64
RADII = [0.105, 0.095, 0.085, 0.075, 0.065, 0.055, 0.045, 0.035, 0.025, 0.015]
OUTPUTS = ["rgb", "depth", "alpha", "features", "weights", "points"]


class LayeredSpheres(torch.nn.Module):
    """Concentric spheres s = k |x - c| with one alpha per level, colour and features that vary with the
    point (and the view direction), and the opaque background plane z = -0.12 coloured the same way."""

    def __init__(self, alphas, background_z=-0.12, dtype=torch.float64):
        super().__init__()
        kw = dict(dtype=dtype)
        self.k = torch.nn.Parameter(torch.tensor(80.0, **kw))
        self.centre = torch.nn.Parameter(torch.tensor([0.004, -0.003, -0.02], **kw))
        self.tint = torch.nn.Parameter(torch.tensor([1.0, 0.7, 0.4], **kw))
        self.register_buffer("levels", torch.tensor(RADII, **kw) * 80.0)
        self.register_buffer("alphas", torch.tensor(alphas, **kw))
        self.background_z = background_z

    def scalar(self, x):
        return self.k * (x - self.centre).norm(dim=-1)

    def _colour(self, points, dirs):
        rgb = 0.5 + 0.5 * torch.sin(40 * points * self.tint)
        features = torch.cat([10 * points, dirs[..., 2:]], dim=-1)
        return rgb, features

    def radiance(self, points, dirs):
        B, N, P, _ = points.shape
        rgb, features = self._colour(points, dirs.unsqueeze(1).expand(B, N, P, 3))
        return Radiance(rgb=rgb, alpha=self.alphas[None, :, None, None].expand(B, N, P, 1), features=features)

    def background_radiance(self, points, dirs):
        rgb, features = self._colour(points, dirs)
        return Radiance(rgb=rgb, features=features)


class SparseLayeredSpheres(LayeredSpheres):
    """The same scene, also answering ``radiance_at``; records the layers it is asked about."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: list[torch.Tensor] = []

    def radiance_at(self, points, dirs, layers):
        self.asked.append(layers.detach().clone())
        rgb, features = self._colour(points, dirs)
        alpha = torch.cat([self.alphas, self.alphas.new_ones(1)])[layers].unsqueeze(-1)
        return Radiance(rgb=rgb, alpha=alpha, features=features)


def _cameras(n=2):
    return Camera.from_angles([0.25, -0.2][:n], [0.1, -0.15][:n], 1.0, 12.0, dtype=torch.float64)


def _render(rep, cams, **kwargs):
    return ManifoldRenderer(SAMPLES, NEAR, FAR, chunk=150, **kwargs).render(rep, cams, (24, 24))


@pytest.mark.parametrize("alphas", [[0.3] * 10, [0.3, 0.2, 1.0, 0.4, 0.3, 0.6, 0.2, 0.3, 0.5, 0.4]],
                         ids=["translucent", "opaque-third-layer"])
def test_sparse_shading_equals_dense_shading(alphas):
    dense, sparse = LayeredSpheres(alphas), SparseLayeredSpheres(alphas)
    cams = _cameras()
    with torch.no_grad():
        a, b = _render(dense, cams), _render(sparse, cams)
    for key in OUTPUTS:
        torch.testing.assert_close(getattr(b, key), getattr(a, key), atol=2 * OPAQUE_TRANSMITTANCE, rtol=0)
    for key in ("valid", "layer_index"):
        assert torch.equal(b.extras[key], a.extras[key])
    assert a.extras["valid"][:, :10].float().mean() < 0.9  # the scene has invalid hits to skip


def test_a_view_of_nothing_gives_the_same_zero_features_sparse_or_dense():
    """No background plane and a camera that looks away: no hit to shade, yet the features are zeros of the
    field's width, as the dense path composites them, not missing."""
    cams = Camera.from_angles([0.0], [0.0], 1.0, 12.0, dtype=torch.float64)
    away = cams.cam2world.clone()
    away[:, :3, 1:3] = -away[:, :3, 1:3]  # a half turn about the camera's x axis: it looks out of the scene
    cams = Camera(away, cams.intrinsics)
    with torch.no_grad():
        outs = [ManifoldRenderer(SAMPLES, NEAR, FAR, chunk=150, white_background=True).render(
            cls([0.3] * 10, background_z=None), cams, (8, 8)) for cls in (LayeredSpheres, SparseLayeredSpheres)]
    dense, sparse = outs
    assert not bool(dense.extras["valid"].any())
    assert sparse.features is not None and sparse.features.shape == dense.features.shape == (1, 4, 8, 8)
    assert not bool(sparse.features.any()) and torch.equal(sparse.rgb, dense.rgb)


def test_sparse_shading_skips_invalid_hits_and_layers_behind_an_opaque_one():
    alphas = [0.3, 0.2, 1.0, 0.4, 0.3, 0.6, 0.2, 0.3, 0.5, 0.4]
    rep = SparseLayeredSpheres(alphas)
    cams = _cameras(1)
    with torch.no_grad():
        out = _render(rep, cams)
    asked = sum(layers.numel() for layers in rep.asked)
    valid, layer = out.extras["valid"][0], out.extras["layer_index"][0]  # (K, H, W), sorted near to far
    # a ray that crosses the opaque level meets it third (behind levels 0 and 1), in the first group of 4
    # layers; every valid hit after that group is skipped. Nothing else is: the other levels are translucent.
    stops = (valid & (layer == 2)).any(0)
    assert (layer[2][stops] == 2).all() and stops.float().mean() > 0.2
    skipped = int((valid[4:] & stops).sum())
    assert skipped > 0 and asked == int(valid.sum()) - skipped
    reference = _render(LayeredSpheres([0.3, 0.2, 0.999999, 0.4, 0.3, 0.6, 0.2, 0.3, 0.5, 0.4]), cams)
    torch.testing.assert_close(out.rgb, reference.rgb, atol=1e-5, rtol=0)


def test_sparse_shading_without_the_opaque_shortcut_queries_every_valid_hit():
    rep = SparseLayeredSpheres([0.3, 0.2, 1.0, 0.4, 0.3, 0.6, 0.2, 0.3, 0.5, 0.4])
    with torch.no_grad():
        out = _render(rep, _cameras(1), opaque_transmittance=0.0)
    asked = sum(layers.numel() for layers in rep.asked)
    assert asked == int(out.extras["valid"].sum())


def test_sparse_shading_gradients_equal_dense_gradients():
    alphas = [0.3, 0.2, 0.9, 0.4, 0.3, 0.6, 0.2, 0.3, 0.5, 0.4]
    grads = []
    for rep in (LayeredSpheres(alphas), SparseLayeredSpheres(alphas)):
        out = _render(rep, _cameras())
        (out.rgb.square().sum() + out.depth.sum() + out.features.sum()).backward()
        grads.append([p.grad.clone() for p in rep.parameters()])
    for dense, sparse in zip(*grads):
        assert dense.abs().max() > 0
        torch.testing.assert_close(sparse, dense, atol=1e-8, rtol=1e-8)


def test_white_background_and_per_instance_padding():
    """Two instances that need different numbers of queries (padded per instance) and GRAM's CARLA setting."""
    alphas = [0.3] * 10
    dense, sparse = LayeredSpheres(alphas, background_z=None), SparseLayeredSpheres(alphas, background_z=None)
    cams = Camera.from_angles([0.0, 0.6], [0.0, 0.3], 1.0, 18.0, dtype=torch.float64)
    with torch.no_grad():
        a, b = _render(dense, cams, white_background=True), _render(sparse, cams, white_background=True)
    counts = a.extras["valid"].flatten(1).sum(1)
    assert counts[0] != counts[1]
    for key in OUTPUTS:
        torch.testing.assert_close(getattr(b, key), getattr(a, key), atol=1e-12, rtol=0)
