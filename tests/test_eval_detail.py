"""The detail metric: the high-band share of known signals, ~1 for the dataset against itself, far less for
up-sampled half-resolution images, and through the harness the oracle's sharp heads above blurred ones."""

import math

import pytest
import torch
import torch.nn.functional as F

from zoo3d.eval.detail import detail, high_band_share
from zoo3d.eval.protocol import make_protocol

pytestmark = pytest.mark.usefixtures("single_thread")

RES = 32
N = 32

# heads_32px (conftest): items 0-95 at 32 px; here two disjoint draws of N, 0-31 and 32-63


def _waves(res, *components):
    """One grey image (1, 3, res, res): the sum of a * cos(2 pi (kx x + ky y) / res) over (a, kx, ky)."""
    y, x = torch.meshgrid(torch.arange(res, dtype=torch.float64), torch.arange(res, dtype=torch.float64),
                          indexing="ij")
    img = sum(a * torch.cos(2 * math.pi * (kx * x + ky * y) / res) for a, kx, ky in components)
    return img.expand(1, 3, res, res)


def test_the_share_of_cosines_is_their_power_above_a_quarter_of_the_side():
    r = 32  # band edge: 8 cycles per image
    assert float(high_band_share(_waves(r, (1.0, 3, 0)))) == pytest.approx(0.0, abs=1e-12)
    assert float(high_band_share(_waves(r, (1.0, 0, 12)))) == pytest.approx(1.0, abs=1e-12)
    # the larger of the two frequencies decides: (2, 9) is above the edge, (8, 8) on it is not
    assert float(high_band_share(_waves(r, (1.0, 2, 9)))) == pytest.approx(1.0, abs=1e-12)
    assert float(high_band_share(_waves(r, (1.0, 8, 8)))) == pytest.approx(0.0, abs=1e-12)
    # amplitudes 2 (low) and 1 (high): power 4 : 1; a constant offset is not detail
    mixed = _waves(r, (2.0, 5, 1), (1.0, 11, 3)) + 0.7
    assert float(high_band_share(mixed)) == pytest.approx(1 / 5, abs=1e-12)
    assert float(high_band_share(torch.full((1, 3, r, r), 0.3))) == 0.0
    # a render of NaNs (a diverged model) has no share: it was scored 0, a finite number among the others
    nan = high_band_share(torch.cat([torch.full((1, 3, r, r), float("nan")), mixed]))
    assert math.isnan(float(nan[0])) and float(nan[1]) == pytest.approx(1 / 5, abs=1e-12)


def test_the_dataset_against_itself_scores_one_and_upsampled_halves_far_less(heads_32px):
    other = heads_32px[N:2 * N]
    assert 0.7 < detail(other, heads_32px[:N])["score"] < 1.3  # measured: 0.84
    halves = F.interpolate(F.avg_pool2d(other, 2), scale_factor=2, mode="bicubic", align_corners=False)
    assert detail(halves, heads_32px[:N])["score"] < 0.3  # measured: 0.05 (0.08 at 64 px on 64 images)
    with pytest.raises(ValueError):
        detail(heads_32px[:2], F.avg_pool2d(heads_32px[:2], 2))


def test_through_the_harness_blurred_oracle_heads_score_below_sharp_ones(heads_32px):
    from zoo3d.eval.harness import compare_models, load_eval_model, load_metrics
    from zoo3d.eval.metric import EvalModel

    oracle = load_eval_model("oracle", None, torch.device("cpu"))
    gen = oracle.generator

    class Blurred(type(gen)):
        """The oracle's images through a 3x3 box blur."""

        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.rgb = F.avg_pool2d(out.rgb, 3, 1, 1, count_include_pad=False)
            return out

    blurred = EvalModel("blurred", Blurred(gen.config))
    protocol = make_protocol("small", resolution=RES, distribution_images=N)
    result = compare_models([oracle, blurred], load_metrics(["detail"]), protocol, "cpu",
                            options={"real_images": {RES: heads_32px[:N]}})
    score = {name: row["detail"]["mean"] for name, row in result["models"].items()}
    assert 0.7 < score["oracle"] < 1.4, score
    assert score["blurred"] < 0.5 * score["oracle"], score  # measured: 0.79 and 0.05
