"""``zoo3d bench neus``' records (docs/testing.md: the ``neus`` metric's NeuS fit, seconds per iteration and per
instance) with a stand-in fit: the views are the consistent textured sphere rendered at 64² from the protocol's 30-view
yaw sweep, the fit is the protocol's settings but for its iterations (10 quick, 50 otherwise) after a 2-iteration
warm-up, ``s_per_iter`` = fit seconds / iterations and ``s_per_instance_est`` = that x the protocol's own iterations
(800 ``small``, 20 000 ``paper``), computed here by hand; each record names the resolution, views and iterations
it timed and the iterations its estimate assumes."""

from __future__ import annotations

import pytest
import torch

from zoo3d.benchmarks import neus as bench
from zoo3d.cameras import yaw_sweep
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.protocol import make_protocol


@pytest.mark.parametrize("quick", [True, False])
def test_each_protocol_is_a_record_of_a_timed_fit_of_the_textured_sphere(quick, monkeypatch):
    renders, fits = [], []

    def render_instance(gen, z, cams, resolution):
        renders.append((gen, z, cams, resolution))
        return {"rgb": torch.full((len(cams), 3, 4, 4), float(len(renders)))}

    def fit_neus(views, cams, settings, rerender=True):
        fits.append((views, cams, settings, rerender))
        return type("Fit", (), {"seconds": 100.0 if settings.iterations == 2 else 3.0 * len(renders)})()

    monkeypatch.setattr(bench, "render_instance", render_instance)
    monkeypatch.setattr(bench, "fit_neus", fit_neus)
    records = bench.run("cpu", quick)

    iterations = 10 if quick else 50
    expected = [{"protocol": "small", "device": "cpu", "resolution": 64, "views": 30, "rays_per_iter": 512,
                 "samples_per_ray": 16 + 16, "iterations_timed": iterations, "s_per_iter": 3.0 / iterations,
                 "iterations_per_instance": 800, "s_per_instance_est": 3.0 / iterations * 800}]
    if not quick:
        expected.append({"protocol": "paper", "device": "cpu", "resolution": 64, "views": 30, "rays_per_iter": 2048,
                         "samples_per_ray": 64 + 64, "iterations_timed": iterations, "s_per_iter": 6.0 / iterations,
                         "iterations_per_instance": 20000, "s_per_instance_est": 6.0 / iterations * 20000})
    assert records == [{k: pytest.approx(v) if isinstance(v, float) else v for k, v in r.items()} for r in expected]

    for i, name in enumerate(["small"] if quick else ["small", "paper"]):
        gen, z, cams, resolution = renders[i]
        assert isinstance(gen, TexturedSphereGenerator) and gen.consistent and resolution == 64
        torch.testing.assert_close(z, torch.randn(1, 4, generator=torch.Generator().manual_seed(0)))
        sweep = yaw_sweep(30, 0.4)
        torch.testing.assert_close(cams.origins, sweep.origins)
        protocol = make_protocol(name, resolution=64).neus
        (warm_views, warm_cams, warm, warm_rerender), (views, fit_cams, timed, rerender) = fits[2 * i: 2 * i + 2]
        assert warm == protocol.model_copy(update={"iterations": 2}) and warm_rerender is False
        assert timed == protocol.model_copy(update={"iterations": iterations}) and rerender is False
        assert torch.equal(views, torch.full((30, 3, 4, 4), float(i + 1))) and warm_views is views
        assert fit_cams is cams and warm_cams is cams
