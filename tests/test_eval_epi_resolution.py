"""``epi`` below the width its shift search needs: `zoo3d compare --metric epi --resolution 8` printed "-" for
every model (each row's scored span between the two edge margins was empty, a mean of nothing), with exit
status 0. It is refused before any model loads, as `diversity` refuses images too small for its features."""

from __future__ import annotations

import math

import torch

from conftest import run_in_process as zoo3d
from zoo3d.eval.epi import epi_roughness


def _moving_edge(width: int, frames: int = 4) -> torch.Tensor:
    """An EPI (3, F, W) of a step edge moving 1 px right per frame: the best shift predicts it exactly."""
    x = torch.arange(width, dtype=torch.float32)
    rows = torch.stack([torch.where(x >= 2 + f, 1.0, -1.0) for f in range(frames)])   # (F, W) in [-1, 1]
    return rows[None].expand(3, -1, -1)


def test_the_narrowest_scored_image_is_nine_px_and_one_less_scores_nothing():
    from zoo3d.eval.epi import MIN_RESOLUTION

    assert MIN_RESOLUTION == 9  # 4 px unscored at either edge (3 px search + 1), one scored pixel between
    assert epi_roughness(_moving_edge(9)) == 0  # whole-pixel motion inside the search: exactly predicted
    assert epi_roughness(_moving_edge(16)) == 0
    assert math.isnan(float(epi_roughness(_moving_edge(8))))  # nothing left to score: the NaN shown as "-"


def _loads(monkeypatch) -> list:
    import zoo3d.eval.harness as harness

    loads: list = []
    monkeypatch.setattr(harness, "load_eval_model", lambda *a: loads.append(a))
    return loads


def test_compare_refuses_epi_below_its_width_before_any_model_loads(monkeypatch, capsys):
    loads = _loads(monkeypatch)
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi", "--resolution", "8")
    assert code == 2 and loads == [] and out == ""
    assert err.strip() == ("Error: epi needs images of at least 9 px (its shift search leaves 4 px at either edge "
                           "of a row unscored); the protocol's resolution is 8."), err
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "depth,epi", "--set", "resolution=8")
    assert code == 2 and loads == [] and "epi needs images of at least 9 px" in err
