"""The compare harness and CLI: JSON schema, reproducibility, evidence, missing-checkpoint error."""

import json

import pytest
import torch
from click.testing import CliRunner

from zoo3d.cli.main import cli
from zoo3d.errors import UserError
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.harness import compare_models, load_metrics, write_markdown
from zoo3d.eval.metric import EvalModel
from zoo3d.eval.protocol import make_protocol


def _models():
    return [EvalModel("sphere", TexturedSphereGenerator(True)), EvalModel("sphere_jitter", TexturedSphereGenerator(False))]


def _protocol():
    return make_protocol("small", instances=2, resolution=16, epi_frames=12, depth_views=3)


def test_compare_json_schema_ranks_and_reproduces(tmp_path):
    metrics = load_metrics(["epi", "depth"])
    ticks = []
    result = compare_models(_models(), metrics, _protocol(), "cpu", out_dir=tmp_path / "img", progress=ticks.append)
    assert set(result) >= {"models", "protocol", "provenance"}
    for name in ("sphere", "sphere_jitter"):
        for key in ("epi", "depth"):
            entry = result["models"][name][key]
            assert set(entry) >= {"mean", "std", "n", "values"} and entry["n"] == 2 and len(entry["values"]) == 2
        assert set(result["provenance"][name]) >= {"checkpoint", "sha256", "resolution", "seeds"}
        assert result["provenance"][name]["seeds"] == [0, 1]
    assert result["models"]["sphere"]["epi"]["mean"] < result["models"]["sphere_jitter"]["epi"]["mean"]
    assert sum(ticks) == 2 * 2 * 2
    assert result["protocol"]["resolution"] == 16 and result["protocol"]["metrics"]["epi"]["frames"] == 12
    again = compare_models(_models(), metrics, _protocol(), "cpu")
    assert again["models"] == result["models"]
    json.dumps(result)  # JSON-ready
    report = write_markdown(result, tmp_path / "report.md")
    text = report.read_text()
    assert "| sphere |" in text and "img/sphere/epi/seed0_epi.png" in text
    assert (tmp_path / "img" / "sphere" / "epi" / "seed0_epi.png").is_file()


def test_depth_metric_is_not_applicable_without_depth():
    class NoDepth(TexturedSphereGenerator):
        def render(self, rep, cameras, resolution=None):
            out = super().render(rep, cameras, resolution)
            out.depth = None
            return out

    result = compare_models([EvalModel("flat", NoDepth())], load_metrics(["depth"]), _protocol(), "cpu")
    entry = result["models"]["flat"]["depth"]
    assert entry["n"] == 0 and entry["mean"] is None and "no depth" in entry["not_applicable"]


def test_cli_compare_writes_json_and_markdown(tmp_path, monkeypatch):
    import zoo3d.eval.harness as harness

    gens = {"oracle": TexturedSphereGenerator(True), "oracle_inconsistent": TexturedSphereGenerator(False)}
    monkeypatch.setattr(harness, "load_eval_model", lambda name, ckpt, device: EvalModel(name, gens[name], ckpt))
    out = tmp_path / "res.json"
    md = tmp_path / "report.md"
    res = CliRunner().invoke(cli, ["compare", "--models", "oracle,oracle_inconsistent", "--metric", "epi",
                                   "--instances", "1", "--resolution", "16", "--json", str(out),
                                   "--markdown", str(md), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["models"]["oracle"]["epi"]["n"] == 1
    assert data["protocol"]["instances"] == 1 and data["protocol"]["seeds"] == [0]
    assert md.is_file() and (tmp_path / "report_images").is_dir()


def test_missing_checkpoint_names_the_training_command(tmp_path, monkeypatch):
    from zoo3d.core.model import ModelPlugin
    from zoo3d.plugins import get_host
    from zoo3d.specs import ModelSpec

    class NeedsWeights(ModelPlugin):
        def build(self, config):
            raise AssertionError("must not be built without a checkpoint")

        def stages(self, config):
            return []

    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    host = get_host()
    spec = ModelSpec(name="needs_weights_test", factory=NeedsWeights)
    if "needs_weights_test" not in host.models:
        host.models.add(spec)
    from zoo3d.eval.harness import load_eval_model

    with pytest.raises(UserError, match="zoo3d train needs_weights_test"):
        load_eval_model("needs_weights_test", None, torch.device("cpu"))
    res = CliRunner().invoke(cli, ["compare", "--models", "needs_weights_test", "--metric", "epi", "--device", "cpu"])
    assert res.exit_code != 0 and "zoo3d train needs_weights_test" in str(res.exception)
