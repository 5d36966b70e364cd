"""A model that draws NaN pixels gets no score ("-" in the table, null in the JSON), never a traceback that loses
the comparison's other results and never a number."""

import json
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
    # fid on the stand-in feature extractor (StandInExtractor), not Inception: no weights file is needed, and the
    # NaN handling under test is the same for any features
    options = {"standin_features": True, "real_images": {16: reference}}
    models = [EvalModel("nan", NanSphere(True)), EvalModel("sphere", TexturedSphereGenerator(False))]
    result = compare_models(models, load_metrics(["fid", "swd"]), protocol, "cpu", options=options)
    for key in ("fid", "swd"):  # as swd already did
        entry = result["models"]["nan"][key]
        assert (entry["mean"], entry["n"], entry["values"]) == (None, 0, [None])
        assert format_value(entry) == "-"
        sane = result["models"]["sphere"][key]
        assert sane["n"] == 1 and sane["mean"] > 0


def _strict(constant):
    raise ValueError(f"{constant} is not JSON")


def test_the_json_of_a_model_drawing_nan_is_standard_json_with_null_for_every_missing_number(tmp_path):
    """The values were null already, but the per-level swd, the diversity groups and detail's shares went out as
    NaN, which is not JSON: a strict parser (JavaScript's, Python's with parse_constant) refused the whole file."""
    from zoo3d.eval.harness import write_json

    protocol = make_protocol("small", instances=1, resolution=16, distribution_images=6, swd_patches_per_image=8)
    reference = generated_images(TexturedSphereGenerator(True), 6, 16, 1.0, protocol.seed_start, "cpu")
    models = [EvalModel("nan", NanSphere(True)), EvalModel("sphere", TexturedSphereGenerator(False))]
    result = compare_models(models, load_metrics(["swd", "diversity", "detail"]), protocol, "cpu",
                            options={"real_images": {16: reference}})
    read = json.loads(write_json(result, tmp_path / "r.json").read_text(), parse_constant=_strict)
    nan = read["models"]["nan"]
    assert nan["swd"]["per_level"] == [None] * len(result["models"]["nan"]["swd"]["per_level"])
    assert nan["diversity"]["groups"] == {"layout": None, "colour": None, "texture": None}
    assert nan["detail"]["generated_share"] is None and nan["detail"]["dataset_share"] > 0
    assert read["models"]["sphere"] == result["models"]["sphere"]  # finite numbers are written as they are
