"""``neus_detail_gain``'s band blur against the image size: a ``--set neus_detail_sigma`` whose 3-sigma reach is
not smaller than the image stopped `zoo3d compare` with a RuntimeError from torch's reflect padding, after both
NeuS fits of the first instance. It is refused in one sentence: before any model loads when the protocol names
the resolution, before the model's first fit when each model is scored at its own."""

from __future__ import annotations

import pytest
import torch

from conftest import run_in_process as zoo3d
from zoo3d.errors import UserError
from zoo3d.eval.calibration import TexturedSphereGenerator, gaussian_blur
from zoo3d.eval.metric import EvalContext, EvalModel
from zoo3d.eval.protocol import make_protocol


def test_the_blur_reaches_three_sigma_and_runs_on_any_image_wider_than_that():
    from zoo3d.eval.calibration import blur_radius

    assert [blur_radius(s) for s in (0.2, 1.0, 1.5, 6.0)] == [1, 3, 5, 18]
    ramp = torch.linspace(-1, 1, 19, dtype=torch.float64).expand(1, 1, 19, 19)
    out = gaussian_blur(ramp, 6.0)  # 19 px > 18: the reflect padding can be taken
    assert torch.allclose(out, out[..., :1, :].expand_as(out))  # constant along y, as the ramp is
    assert torch.allclose(gaussian_blur(torch.full((1, 3, 19, 19), 0.3), 6.0), torch.tensor(0.3))  # keeps a constant


def _loads(monkeypatch) -> list:
    import zoo3d.eval.harness as harness

    loads: list = []
    monkeypatch.setattr(harness, "load_eval_model", lambda *a: loads.append(a))
    return loads


def test_compare_refuses_a_band_wider_than_the_image_before_any_model_loads(monkeypatch, capsys):
    loads = _loads(monkeypatch)
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "neus", "--resolution", "16",
                           "--set", "neus_detail_sigma=6")
    assert code == 2 and loads == [] and out == ""
    assert err.strip() == ("Error: neus_detail_sigma 6 blurs 18 px to either side (3 sigma), which needs images "
                           "larger than 18 px; the protocol's resolution is 16."), err


def test_at_a_models_own_resolution_the_band_is_refused_before_its_first_fit(monkeypatch):
    import zoo3d.eval.neus.metric as neus_metric

    fits = []
    monkeypatch.setattr(neus_metric, "fit_neus", lambda *a, **k: fits.append(a))
    protocol = make_protocol("small", instances=1, views=3, neus_detail_sigma=3.0).model_copy(
        update={"resolution": None})  # as under the paper protocol: each model at its own resolution
    neus = neus_metric.NeusMetric()
    neus.check(protocol, {})  # nothing to check before the models are known
    ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=protocol.seeds)
    with pytest.raises(UserError, match=r"^neus_detail_sigma 3 blurs 9 px .* than 9 px; small's resolution is 8\.$"):
        neus.evaluate(EvalModel("small", TexturedSphereGenerator(resolution=8)), ctx)
    assert fits == []
