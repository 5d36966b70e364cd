"""A metric plugin's evidence image, named as docs/metrics.md writes it: ``ctx.evidence_path(model, metric, filename)``.

The page lists what a metric receives: ``model`` (with ``.name``) and ``ctx``, whose ``evidence_path(model, metric,
filename)`` gives a file for an evidence image. A metric that passes the ``model`` it receives (the page's name for
it) gets the same file as one that passes ``model.name``: ``OUT/<model name>/<metric>/<filename>``, listed in the
result's ``evidence`` and shown in the Markdown report; without an output folder it gets None.
"""

from __future__ import annotations

import pytest
import torch

from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.harness import compare_models, write_markdown
from zoo3d.eval.metric import EvalModel, Metric
from zoo3d.eval.protocol import make_protocol

pytestmark = pytest.mark.usefixtures("single_thread")


class Evidence(Metric):
    """Writes one file per model through ``evidence_path``, naming the model as ``by`` says; scores 1."""

    name = "evidence"
    units = "one"

    def __init__(self, by: str):
        self.by = by

    def evaluate(self, model, ctx):
        path = ctx.evidence_path(model if self.by == "model" else model.name, self.name, "seen.txt")
        if path is not None:
            path.write_text(model.name)
        ctx.advance(1)
        return {"evidence": [1.0]}


@pytest.mark.parametrize("by", ["model", "name"])
def test_evidence_path_takes_the_model_evaluate_receives_or_its_name(tmp_path, by):
    model = EvalModel("sphere", TexturedSphereGenerator(True))
    protocol = make_protocol("small", instances=1, resolution=8)
    result = compare_models([model], {"evidence": Evidence(by)}, protocol, torch.device("cpu"), out_dir=tmp_path / "ev")
    expected = tmp_path / "ev" / "sphere" / "evidence" / "seen.txt"
    assert expected.read_text() == "sphere"
    assert result["evidence"] == {"sphere/evidence": [str(expected)]}
    report = write_markdown(result, tmp_path / "report.md").read_text()
    assert "### sphere/evidence" in report and "![seen](ev/sphere/evidence/seen.txt)" in report
    assert compare_models([model], {"evidence": Evidence(by)}, protocol, "cpu")["evidence"] == {}
