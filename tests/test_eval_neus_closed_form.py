"""The NeuS fit's fields and ray loop against hand computations (fast; the fits are in test_eval_neus.py).

The positional encoding against math.sin/cos, the geometric init against its stated weights and the sphere
|x| - r it gives, the networks against plain loops over their layers, the up-sampling weights and the ray
loop (NeuS's discrete opacity, transmittance with its 1e-7 guard, the background) against per-ray Python
float loops through an exact sphere SDF.
"""

from __future__ import annotations

import math

import pytest
import torch

from conftest import reference_weights
from zoo3d.eval.neus import render
from zoo3d.eval.neus.fields import ColorNetwork, DirectionalBackground, SDFNetwork, Variance, positional_encoding
from zoo3d.render.samples import sample_pdf

pytestmark = pytest.mark.usefixtures("single_thread")


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def softplus100(x: float) -> float:
    return math.log1p(math.exp(100.0 * x)) / 100.0 if 100.0 * x < 20 else x  # torch's threshold 20


# ------------------------------------------------------------------------------ positional encoding

def test_positional_encoding_is_x_then_sin_and_cos_at_doubling_frequencies():
    x = torch.tensor([[0.3, -1.2, 2.5], [0.0, 0.7, -0.1]], dtype=torch.float64)
    enc = positional_encoding(x, 3)
    assert enc.shape == (2, 21) and enc.dtype == torch.float64
    for row, point in zip(enc.tolist(), x.tolist()):
        expected = list(point)
        for k in range(3):
            expected += [math.sin(2 ** k * v) for v in point] + [math.cos(2 ** k * v) for v in point]
        assert row == pytest.approx(expected, abs=1e-12)
    assert positional_encoding(x, 0) is x
    batched = positional_encoding(x.reshape(1, 2, 3).expand(4, 2, 3), 2)
    assert batched.shape == (4, 2, 15) and torch.equal(batched[3], positional_encoding(x, 2))


# ------------------------------------------------------------------------------ the SDF network

def _plain(lin):
    """A weight-normed Linear's effective weight and bias."""
    return lin.weight.detach(), lin.bias.detach()


@pytest.mark.parametrize("layers, hidden, multires, skip", [(8, 64, 6, 4), (4, 64, 2, 2), (3, 64, 2, None),
                                                            (4, 30, 6, None), (6, 48, 0, 3),
                                                            (4, 15, 2, None)])  # no room: hidden = input width
def test_sdf_network_layout_and_skip(layers, hidden, multires, skip):
    net = SDFNetwork(layers=layers, hidden=hidden, feature_dim=5, multires=multires)
    in_dim = 3 * (1 + 2 * multires)
    assert net.skip == skip and len(net.linears) == layers + 1
    ins = [lin.in_features for lin in net.linears]
    outs = [lin.out_features for lin in net.linears]
    assert ins[0] == in_dim and outs[-1] == 6 and ins[-1] == hidden
    for i in range(layers):
        assert outs[i] == (hidden - in_dim if skip is not None and i + 1 == skip else hidden)
        assert ins[i + 1] == hidden


@pytest.mark.parametrize("multires", [6, 1, 0])
def test_geometric_init_weights(multires):
    torch.manual_seed(0)
    hidden, radius = 256, 0.7
    net = SDFNetwork(layers=4, hidden=hidden, feature_dim=7, multires=multires, init_radius=radius)
    in_dim = 3 * (1 + 2 * multires)
    for i, lin in enumerate(net.linears[:-1]):
        w, b = _plain(lin)
        assert torch.equal(b, torch.zeros_like(b))
        live = w
        if multires > 0 and i == 0:
            assert torch.equal(w[:, 3:], torch.zeros_like(w[:, 3:])) and w[:, :3].abs().min() > 0
            live = w[:, :3]
        if multires > 0 and i == net.skip:
            assert torch.equal(w[:, -(in_dim - 3):], torch.zeros_like(w[:, -(in_dim - 3):]))
            live = w[:, :-(in_dim - 3)]
            assert live.abs().min() > 0
        std = math.sqrt(2) / math.sqrt(lin.out_features)
        assert float(live.mean()) == pytest.approx(0.0, abs=0.1 * std)
        assert float(live.std()) == pytest.approx(std, rel=0.08)
    w, b = _plain(net.linears[-1])
    assert torch.equal(b, torch.full_like(b, -radius))
    assert float(w.mean()) == pytest.approx(math.sqrt(math.pi) / math.sqrt(hidden), rel=1e-4)
    assert float(w.std()) == pytest.approx(1e-4, rel=0.1)


def test_geometric_init_is_roughly_the_sphere_of_the_given_radius():
    """f ~ |x| - r at init (the softplus offsets and the random first layer make it rough: within 0.1 on
    average at 128 units), and the radius is exactly the last bias: two nets of one seed differ by it."""
    dirs = torch.nn.functional.normalize(torch.randn(512, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    nets = {}
    for radius in (0.3, 0.6):
        torch.manual_seed(0)
        nets[radius] = SDFNetwork(layers=4, hidden=128, feature_dim=4, multires=6, init_radius=radius)
    means = []
    for r in (0.1, 0.3, 0.6, 0.9):
        sdf = nets[0.3].sdf(dirs * r).squeeze(-1).detach()
        assert float((sdf - (r - 0.3)).mean().abs()) < 0.1, r
        means.append(float(sdf.mean()))
        assert torch.allclose(sdf - nets[0.6].sdf(dirs * r).squeeze(-1).detach(), torch.full_like(sdf, 0.3),
                              atol=1e-6)
    assert means[0] < 0 < means[2] and means == sorted(means)
    assert torch.equal(SDFNetwork(layers=2, hidden=8).linears[-1].bias, torch.full((257,), -0.5))  # the default


def _sdf_reference(net, x):
    """Net's forward as a loop over its layers with Python floats, for one point x (3 floats)."""
    inp = list(x)
    for k in range(net.multires):
        inp += [math.sin(2 ** k * v) for v in x] + [math.cos(2 ** k * v) for v in x]
    h = inp
    for i, lin in enumerate(net.linears):
        if i == net.skip:
            h = [v / math.sqrt(2) for v in h + inp]
        w, b = (t.tolist() for t in _plain(lin))
        h = [sum(wi * hi for wi, hi in zip(row, h)) + bi for row, bi in zip(w, b)]
        if i < len(net.linears) - 1:
            h = [softplus100(v) for v in h]
    return h


def test_sdf_network_forward_matches_a_loop_over_its_layers():
    torch.manual_seed(1)
    net = SDFNetwork(layers=4, hidden=24, feature_dim=3, multires=2).double()
    with torch.no_grad():  # away from the geometric init, so that every input column and the skip matter
        for lin in net.linears:
            lin.parametrizations.weight.original1.normal_(0, 0.4)
            lin.bias.normal_(0, 0.2)
    x = torch.tensor([[0.2, -0.4, 0.5], [-0.7, 0.1, 0.3]], dtype=torch.float64)
    sdf, feature = net(x)
    assert sdf.shape == (2, 1) and feature.shape == (2, 3)
    for p, s, f in zip(x.tolist(), sdf.tolist(), feature.tolist()):
        ref = _sdf_reference(net, p)
        assert s == pytest.approx(ref[:1], rel=1e-9, abs=1e-12)
        assert f == pytest.approx(ref[1:], rel=1e-9, abs=1e-12)
    assert torch.equal(net.sdf(x), sdf)


@pytest.mark.parametrize("create_graph", [False, True])
def test_sdf_gradient_is_the_spatial_derivative(create_graph):
    torch.manual_seed(2)
    net = SDFNetwork(layers=4, hidden=16, feature_dim=2, multires=2).double()
    x = torch.tensor([[0.2, -0.4, 0.5], [-0.3, 0.1, 0.6]], dtype=torch.float64)
    source = x.clone().requires_grad_(True)
    sdf, feature, grad = net.sdf_and_gradient(source * 1.0, create_graph=create_graph)
    assert torch.equal(sdf, net.sdf(x)) and torch.equal(feature, net(x)[1])
    h = 1e-6
    for j in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[j] = h
        fd = (net.sdf(x + e) - net.sdf(x - e)).squeeze(-1) / (2 * h)
        assert torch.allclose(grad[:, j], fd, rtol=1e-6, atol=1e-9)
    assert grad.requires_grad is create_graph
    assert source.grad is None  # the points' own graph is cut


def _away_from_init(net):
    """Random weights, so that every encoded column, the skip and both Softplus regimes carry the gradient."""
    with torch.no_grad():
        for lin in net.linears:
            lin.parametrizations.weight.original1.normal_(0, 0.5)
            lin.bias.normal_(0, 0.02)
    return net


def _autograd_sdf_and_gradient(net, x):
    """The reference: the gradient by autograd with create_graph, as the eikonal term's textbook form."""
    x = x.detach().requires_grad_(True)
    sdf, feature = net(x)
    (grad,) = torch.autograd.grad(sdf, x, torch.ones_like(sdf), create_graph=True)
    return sdf, feature, grad


@pytest.mark.parametrize("layers,multires", [(4, 2), (4, 0), (3, 3), (2, 1)])
def test_sdf_gradient_beside_the_forward_pass_equals_autograd_to_second_order(layers, multires):
    """First order: the gradient; second order: the parameters' gradient of a loss with an eikonal term.

    (4, 2) and (4, 0) re-inject the input at layer 2, (3, 3) and (2, 1) have no skip. The slope is sigmoid(100 z)
    everywhere, where torch's Softplus is linear above 100 z = 20: they differ there by less than e^-20 (so 1e-8).
    """
    torch.manual_seed(5)
    net = _away_from_init(SDFNetwork(layers=layers, hidden=24, feature_dim=2, multires=multires).double())
    assert (net.skip is not None) is (layers == 4)
    x = torch.randn(64, 3, dtype=torch.float64) * 0.6
    ours, ref = net.sdf_and_gradient(x, create_graph=True), _autograd_sdf_and_gradient(net, x)
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-8)

    def loss(sdf, feature, grad):
        return (sdf ** 2).mean() + ((grad.norm(dim=-1) - 1) ** 2).mean() + (feature * sdf).mean()

    params = list(net.parameters())
    ours_grads = torch.autograd.grad(loss(*ours), params)
    ref_grads = torch.autograd.grad(loss(*ref), params)
    for a, b in zip(ours_grads, ref_grads):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-8)
    assert max(float(g.abs().max()) for g in ours_grads) > 1e-3  # the loss reaches the parameters


def test_sdf_gradient_without_create_graph_builds_no_graph():
    torch.manual_seed(6)
    net = _away_from_init(SDFNetwork(layers=4, hidden=8, feature_dim=2, multires=1).double())
    x = torch.randn(5, 3, dtype=torch.float64)
    sdf, feature, grad = net.sdf_and_gradient(x, create_graph=False)
    assert not (sdf.requires_grad or feature.requires_grad or grad.requires_grad)
    assert torch.allclose(grad, _autograd_sdf_and_gradient(net, x)[2], rtol=1e-8, atol=1e-8)


# ------------------------------------------------------------------------------ colour, variance, background

def _mlp_reference(linears, h, last):
    for i, lin in enumerate(linears):
        w, b = (t.tolist() for t in _plain(lin))
        h = [sum(wi * hi for wi, hi in zip(row, h)) + bi for row, bi in zip(w, b)]
        if i < len(linears) - 1:
            h = [max(v, 0.0) for v in h]
    return [last(v) for v in h]


def _pe(v, multires):
    out = list(v)
    for k in range(multires):
        out += [math.sin(2 ** k * a) for a in v] + [math.cos(2 ** k * a) for a in v]
    return out


def test_color_network_is_a_relu_mlp_of_position_encoded_view_normal_and_feature():
    torch.manual_seed(3)
    net = ColorNetwork(feature_dim=4, layers=2, hidden=8, view_multires=2).double()
    assert net.linears[0].in_features == 3 + 15 + 3 + 4 and net.linears[-1].out_features == 3
    assert [lin.out_features for lin in net.linears] == [8, 8, 3]
    g = torch.Generator().manual_seed(0)
    x, v, n, f = (torch.randn(2, d, generator=g, dtype=torch.float64) for d in (3, 3, 3, 4))
    rgb = net(x, v, n, f)
    for i in range(2):
        h = x[i].tolist() + _pe(v[i].tolist(), 2) + n[i].tolist() + f[i].tolist()
        assert rgb[i].tolist() == pytest.approx(_mlp_reference(net.linears, h, sigmoid), rel=1e-9)


def test_background_is_a_function_of_the_encoded_direction():
    torch.manual_seed(4)
    bg = DirectionalBackground(hidden=6, multires=3).double()
    assert bg.net[0].in_features == 21 and bg.net[0].out_features == 6 and bg.net[2].out_features == 3
    dirs = torch.nn.functional.normalize(torch.randn(3, 3, dtype=torch.float64), dim=-1)
    out = bg(dirs)
    lins = [bg.net[0], bg.net[2]]
    for i in range(3):
        ref = _mlp_reference(lins, _pe(dirs[i].tolist(), 3), sigmoid)
        assert out[i].tolist() == pytest.approx(ref, rel=1e-9)


def test_variance_is_exp_10v_clamped():
    assert Variance().variance.item() == pytest.approx(0.3)
    assert Variance().inv_s().item() == pytest.approx(math.exp(3.0), rel=1e-6)
    assert Variance(0.5).inv_s().item() == pytest.approx(math.exp(5.0), rel=1e-6)
    assert Variance(2.0).inv_s().item() == 1e6
    assert Variance(-2.0).inv_s().item() == pytest.approx(1e-6, rel=1e-6)
    v = Variance(0.1)
    v.inv_s().backward()
    assert float(v.variance.grad) == pytest.approx(10 * math.exp(1.0), rel=1e-6)


# ------------------------------------------------------------------------------ sphere bounds, up-sampling

def test_sphere_bounds_are_the_closest_approach_plus_minus_one():
    origins = torch.tensor([[0.0, 0.0, -3.0], [0.5, 0.0, -2.0], [0.0, 0.0, 0.2]])
    dirs = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.6, 0.8], [0.0, 0.0, 1.0]])
    near, far = render.sphere_bounds(origins, dirs)
    assert near.shape == (3, 1) and far.shape == (3, 1)
    assert near.squeeze(-1).tolist() == pytest.approx([2.0, 0.6, 1e-3])  # inside the sphere: clamped at 1e-3
    assert far.squeeze(-1).tolist() == pytest.approx([4.0, 2.6, 0.8])


def _neus_alpha(prev_sdf, next_sdf, s):
    p, n = sigmoid(prev_sdf * s), sigmoid(next_sdf * s)
    return min(max((p - n + 1e-5) / (p + 1e-5), 0.0), 1.0)


def _weights(alphas):
    return reference_weights(alphas, 1e-7)  # NeuS's transmittance guard, written out


def _upsample_reference(pts, ts, sdf, s):
    """NeuS's up_sample for one ray, with Python floats."""
    S = len(ts)
    alphas, prev_cos = [], 0.0
    for i in range(S - 1):
        inside = math.dist(pts[i], (0, 0, 0)) < 1.0 or math.dist(pts[i + 1], (0, 0, 0)) < 1.0
        cos = (sdf[i + 1] - sdf[i]) / (ts[i + 1] - ts[i] + 1e-5)
        c = min(max(min(cos, prev_cos), -1e3), 0.0) * inside
        prev_cos = cos
        mid, d = (sdf[i] + sdf[i + 1]) / 2, ts[i + 1] - ts[i]
        alphas.append(_neus_alpha(mid - c * d / 2, mid + c * d / 2, s))
    return _weights(alphas)


def test_upsample_weights_match_a_loop_over_the_sections():
    # the last ray starts inside the unit sphere and leaves it: its far sections are outside
    origins = torch.tensor([[0.0, 0.0, -2.0], [0.3, -0.2, -1.5], [1.5, 0.0, -2.0], [0.0, 0.1, -1.2]],
                           dtype=torch.float64)
    dirs = torch.nn.functional.normalize(torch.tensor([[0.0, 0.0, 1.0], [-0.1, 0.2, 1.0], [0.0, 0.0, 1.0],
                                                       [0.0, 0.0, 1.0]], dtype=torch.float64), dim=-1)
    t = torch.linspace(0.5, 3.5, 13, dtype=torch.float64)[None].expand(4, 13) + torch.tensor(
        [[0.0], [0.05], [0.1], [0.0]], dtype=torch.float64)
    pts = origins[:, None] + dirs[:, None] * t[..., None]
    sdf = pts.norm(dim=-1) - 0.5 + 0.2 * torch.sin(3 * t)  # a wavy SDF: slopes of both signs along the ray
    for s, field in ((8.0, sdf), (64.0, sdf), (8.0, -sdf)):  # -sdf: falling outside the unit sphere too
        weights = render.upsample_alpha(pts, t, field, s)
        for r in range(4):
            ref = _upsample_reference(pts[r].tolist(), t[r].tolist(), field[r].tolist(), s)
            assert weights[r].tolist() == pytest.approx(ref, rel=1e-9, abs=1e-15), (s, r)
    assert float(render.upsample_alpha(pts, t, sdf, 64.0)[0].max()) > 0.1  # not all transparent
    steep = sdf * 1e4  # slopes beyond the -1e3 clip
    ref = _upsample_reference(pts[0].tolist(), t[0].tolist(), steep[0].tolist(), 1e-3)
    assert render.upsample_alpha(pts, t, steep, 1e-3)[0].tolist() == pytest.approx(ref, rel=1e-9, abs=1e-15)


# ------------------------------------------------------------------------------ the ray loop

R_SPHERE = 0.5


class SphereSDF:
    """f(x) = |x| - radius with its exact gradient x / |x|; the feature is (x_0, |x|)."""

    def __init__(self, radius=R_SPHERE):
        self.radius, self.graphs = radius, []

    def sdf(self, x):
        return x.norm(dim=-1, keepdim=True) - self.radius

    def sdf_and_gradient(self, x, create_graph):
        self.graphs.append(create_graph)
        r = x.norm(dim=-1, keepdim=True)
        return r - self.radius, torch.cat([x[:, :1], r], dim=-1), x / r


def color_net(x, view, normals, feature):
    return torch.sigmoid(x + 0.5 * view - 0.25 * normals + feature[:, :1] - feature[:, 1:])


class InvS:
    def inv_s(self):
        return torch.tensor(30.0, dtype=torch.float64)


def background(dirs):
    return torch.sigmoid(2 * dirs + 0.1)


def _ray_reference(o, d, n_coarse, n_importance, upsample_steps, ratio, shift=0.0, radius=R_SPHERE):
    """render_rays for one ray with Python floats (sample_pdf from zoo3d.render, tested on its own)."""
    mid = -sum(a * b for a, b in zip(o, d))
    near, far = max(mid - 1.0, 1e-3), mid + 1.0
    ts = [near + (far - near) * i / max(n_coarse - 1, 1) + shift for i in range(n_coarse)]
    point = lambda t: [a + t * b for a, b in zip(o, d)]  # noqa: E731
    sdf = lambda p: math.dist(p, (0, 0, 0)) - radius  # noqa: E731
    if n_importance > 0 and upsample_steps > 0:
        for i in range(upsample_steps):
            pts = [point(t) for t in ts]
            w = _upsample_reference(pts, ts, [sdf(p) for p in pts], 64.0 * 2 ** i)
            new = sample_pdf(torch.tensor([ts], dtype=torch.float64), torch.tensor([w], dtype=torch.float64),
                             n_importance // upsample_steps)
            ts = sorted(ts + new[0].tolist())
    dists = [b - a for a, b in zip(ts[:-1], ts[1:])] + [2.0 / n_coarse]
    alphas, colours, grads = [], [], []
    for t, dist in zip(ts, dists):
        p = point(t + dist / 2)
        r = math.dist(p, (0, 0, 0))
        g = [v / r for v in p]
        grads.append(g)
        cos = sum(a * b for a, b in zip(d, g))
        c = -(max(-cos / 2 + 0.5, 0.0) * (1 - ratio) + max(-cos, 0.0) * ratio)
        f = r - radius
        alpha = _neus_alpha(f - c * dist / 2, f + c * dist / 2, 30.0)
        alphas.append(alpha * (r < 1.0))
        colours.append([sigmoid(pi + 0.5 * di - 0.25 * gi + p[0] - r) for pi, di, gi in zip(p, d, g)])
    w = _weights(alphas)
    total = sum(w)
    colour = [sum(wk * ck[j] for wk, ck in zip(w, colours)) + (1 - total) * sigmoid(2 * d[j] + 0.1)
              for j in range(3)]
    inside = [math.dist(point(t + dist / 2), (0, 0, 0)) < 1.2 for t, dist in zip(ts, dists)]
    return colour, grads, inside, total


def _rays():
    origins = torch.tensor([[0.05, 0.0, -1.6], [0.2, -0.1, -1.5], [0.9, 0.0, -1.4], [0.0, 0.0, 0.3]],
                           dtype=torch.float64)
    dirs = torch.nn.functional.normalize(torch.tensor([[0.0, 0.0, 1.0], [-0.05, 0.1, 1.0], [0.0, 0.0, 1.0],
                                                       [0.3, 0.0, 1.0]], dtype=torch.float64), dim=-1)
    return origins, dirs


@pytest.mark.parametrize("n_coarse, n_importance, upsample_steps, ratio", [
    (16, 0, 0, 1.0), (16, 8, 0, 1.0), (12, 8, 2, 1.0), (12, 9, 3, 0.3), (9, 8, 1, 0.0), (9, 1, 1, 1.0),
    (1, 0, 0, 1.0)])  # one sample: a section of length 2 from the near bound, through the closest approach
def test_render_rays_matches_a_per_ray_loop(n_coarse, n_importance, upsample_steps, ratio):
    origins, dirs = _rays()
    net = SphereSDF()
    out = render.render_rays(net, color_net, InvS(), background, origins, dirs, n_coarse, n_importance,
                             upsample_steps, ratio, perturb=False, create_graph=ratio > 0.5)
    assert net.graphs == [ratio > 0.5]
    for r in range(4):
        colour, grads, inside, total = _ray_reference(origins[r].tolist(), dirs[r].tolist(), n_coarse,
                                                      n_importance, upsample_steps, ratio)
        assert out.color[r].tolist() == pytest.approx(colour, rel=1e-9, abs=1e-12), r
        assert out.gradients[r].tolist() == [pytest.approx(g, rel=1e-9) for g in grads], r
        assert out.inside[r].tolist() == inside, r
        assert float(out.weight_sum[r]) == pytest.approx(total, rel=1e-9, abs=1e-12), r
    if n_coarse > 1:
        assert float(out.weight_sum[0]) > 0.9 and float(out.weight_sum[2]) < 0.01  # a hit and a miss


def test_up_sampling_near_the_unit_sphere_masks_the_sections_outside_it():
    """A surface just inside the unit sphere: sections that leave the sphere get no slope in the up-sampling,
    at every up-sampling step (the sample points are recomputed after each merge)."""
    origins, dirs = _rays()
    out = render.render_rays(SphereSDF(0.95), color_net, InvS(), background, origins, dirs, 8, 12, 3, 1.0,
                             perturb=False, create_graph=False)
    for r in range(4):
        colour, _, _, total = _ray_reference(origins[r].tolist(), dirs[r].tolist(), 8, 12, 3, 1.0, radius=0.95)
        assert out.color[r].tolist() == pytest.approx(colour, rel=1e-9, abs=1e-12), r
        assert float(out.weight_sum[r]) == pytest.approx(total, rel=1e-9, abs=1e-12), r


def test_perturbed_samples_shift_each_ray_by_one_draw():
    origins, dirs = _rays()
    torch.manual_seed(7)
    out = render.render_rays(SphereSDF(), color_net, InvS(), background, origins, dirs, 10, 0, 0, 1.0,
                             perturb=True, create_graph=False)
    torch.manual_seed(7)
    u = torch.rand(4, 1, dtype=torch.float64)
    for r in range(4):
        mid = -float((origins[r] * dirs[r]).sum())
        near, far = max(mid - 1.0, 1e-3), mid + 1.0
        shift = (float(u[r]) - 0.5) * (far - near) / 10
        colour, _, _, _ = _ray_reference(origins[r].tolist(), dirs[r].tolist(), 10, 0, 0, 1.0, shift=shift)
        assert out.color[r].tolist() == pytest.approx(colour, rel=1e-9, abs=1e-12), r

