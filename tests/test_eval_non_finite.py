"""A model that draws NaN pixels gets no score ("-" in the table, null in the JSON), never a traceback that loses
the comparison's other results and never a number."""

import math

import numpy as np
import torch

from zoo3d.core.outputs import RenderOutput
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.distribution import generated_images
from zoo3d.eval.fid import fid_from_features
from zoo3d.eval.harness import compare_models, format_value, load_metrics
from zoo3d.eval.metric import EvalModel
from zoo3d.eval.protocol import make_protocol


class NanSphere(TexturedSphereGenerator):
    """The consistent sphere with every pixel NaN, as a diverged model draws it (depth and alpha left sane)."""

    def render(self, representation, cameras, resolution=None):
        out = super().render(representation, cameras, resolution)
        return RenderOutput(rgb=torch.full_like(out.rgb, float("nan")), depth=out.depth, alpha=out.alpha)


def test_fid_of_features_that_are_not_finite_is_nan_not_a_linalg_error():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    assert math.isfinite(fid_from_features(a, b))
    a[3, 1] = np.nan  # one NaN image among twenty poisons the covariance: there is no distance to report
    assert math.isnan(fid_from_features(a, b)) and math.isnan(fid_from_features(b, a))
    a[3, 1] = np.inf
    assert math.isnan(fid_from_features(a, b))


def test_a_model_drawing_nan_gets_no_fid_and_the_other_models_keep_theirs():
    protocol = make_protocol("small", instances=1, resolution=16, distribution_images=8)
    reference = generated_images(TexturedSphereGenerator(True), 8, 16, 1.0, protocol.seed_start, "cpu")
    options = {"standin_features": True, "real_images": {16: reference}}
    models = [EvalModel("nan", NanSphere(True)), EvalModel("sphere", TexturedSphereGenerator(False))]
    result = compare_models(models, load_metrics(["fid", "swd"]), protocol, "cpu", options=options)
    for key in ("fid", "swd"):  # as swd already did
        entry = result["models"]["nan"][key]
        assert (entry["mean"], entry["n"], entry["values"]) == (None, 0, [None])
        assert format_value(entry) == "-"
        sane = result["models"]["sphere"][key]
        assert sane["n"] == 1 and sane["mean"] > 0
