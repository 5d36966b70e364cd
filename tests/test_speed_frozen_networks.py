"""A frozen network queried with grad mode on takes the no-graph linear, and computes what the plain formula does.

A training step runs with grad mode on, yet a frozen network in it records no graph: GRAMInverter's fixed
manifolds (its tiny preset), GRAM-HD's stage-1 generator in its super-resolution stage. Its linear layers take
oneDNN's fused kernel, as a no-grad query does. A query whose input requires grad still builds its graph.
"""

from __future__ import annotations

import pytest
import torch

from zoo3d.nn import siren
from zoo3d.nn.siren import linear, records_graph
from zoo3d_gram.networks import ManifoldPredictor

pytestmark = pytest.mark.usefixtures("single_thread")


def test_records_graph_is_grad_mode_and_a_tensor_that_requires_grad():
    a, b = torch.ones(2), torch.ones(2, requires_grad=True)
    assert not records_graph(a, None)
    assert records_graph(a, b)
    with torch.no_grad():
        assert not records_graph(a, b)


def test_linear_with_grad_mode_on_and_nothing_to_differentiate_takes_the_fused_kernel(monkeypatch):
    if siren._ONEDNN_LINEAR is None:
        pytest.skip("this build has no oneDNN fused linear")
    calls = []
    fused = siren._ONEDNN_LINEAR
    monkeypatch.setattr(siren, "_ONEDNN_LINEAR", lambda *args: calls.append(args[3]) or fused(*args))
    torch.manual_seed(0)
    x, w, b = torch.randn(50, 7), torch.randn(5, 7), torch.randn(5)
    want = (x.double() @ w.double().T + b.double()).relu()
    got = linear(x, w, b, relu=True)  # grad mode on, as in a training step
    assert calls == ["relu"]
    assert not got.requires_grad
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-6)
    w.requires_grad_(True)  # a trained weight: the plain op, whose gradient reaches it
    y = linear(x, w, b, relu=True)
    assert calls == ["relu"]
    y.sum().backward()
    torch.testing.assert_close(w.grad.double(), (want > 0).double().T @ x.double(), rtol=1e-6, atol=1e-6)


def _frozen_predictor() -> ManifoldPredictor:
    torch.manual_seed(0)
    net = ManifoldPredictor(hidden=16, layers=3).requires_grad_(False)
    with torch.no_grad():
        for layer in net.hidden:
            layer.bias.normal_(0, 0.5)
    return net


def _predictor_reference(net: ManifoldPredictor, p):
    """s(x) = MLP(x * warp - centre), written out in float64."""
    h = p.double() * net.warp_scale - net.center.double()
    for layer in net.hidden:
        h = (h @ layer.weight.double().T + layer.bias.double()).relu()
    return (h @ net.out.weight.double().T + net.out.bias.double()).squeeze(-1)


def test_a_frozen_manifold_predictor_in_grad_mode_equals_its_mlp(monkeypatch):
    calls = []
    if siren._ONEDNN_LINEAR is not None:
        fused = siren._ONEDNN_LINEAR
        monkeypatch.setattr(siren, "_ONEDNN_LINEAR", lambda *args: calls.append(args[3]) or fused(*args))
    net = _frozen_predictor()
    p = (torch.rand(300, 3) - 0.5) * 0.3
    got = net(p)
    assert not got.requires_grad
    assert calls == ([] if siren._ONEDNN_LINEAR is None else ["relu"] * 3)
    torch.testing.assert_close(got.double(), _predictor_reference(net, p), rtol=1e-6, atol=1e-5)


def test_a_frozen_manifold_predictor_still_differentiates_points_that_require_grad():
    """fp32 points that require grad (a graph through the frozen net): the plain op, and the reference's gradient."""
    net = _frozen_predictor()
    p = ((torch.rand(300, 3) - 0.5) * 0.3).requires_grad_(True)
    got = torch.autograd.grad(net(p).square().sum(), p)[0]
    q = p.detach().double().requires_grad_(True)
    want = torch.autograd.grad(_predictor_reference(net, q).square().sum(), q)[0]
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)
