"""The compare harness and CLI: JSON schema, reproducibility, evidence, missing-checkpoint error."""

import json

import pytest
import torch
from click.testing import CliRunner

from zoo3d.cli.main import cli
from zoo3d.errors import UserError
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.harness import compare_models, load_metrics, merge_results, write_markdown
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


def test_results_of_separate_runs_merge_into_the_joint_run():
    """`zoo3d bench zoo` splits its comparison over processes: each part must score as the joint run does."""
    metrics = load_metrics(["epi", "depth"])
    both, (first, second) = _models(), _models()
    joint = compare_models(both, metrics, _protocol(), "cpu")
    parts = [compare_models([second], metrics, _protocol(), "cpu"), compare_models([first], metrics, _protocol(), "cpu")]
    merged = merge_results(parts, order=["sphere", "sphere_jitter"])
    assert merged["models"] == joint["models"] and list(merged["models"]) == ["sphere", "sphere_jitter"]
    assert merged["provenance"] == joint["provenance"] and merged["higher_is_better"] == joint["higher_is_better"]
    assert merged["protocol"] == joint["protocol"]
    with pytest.raises(UserError, match="both score sphere"):
        merge_results([parts[1], parts[1]])
    other = compare_models([first], metrics, make_protocol("small", instances=1, resolution=16, epi_frames=12,
                                                           depth_views=3), "cpu")
    with pytest.raises(UserError, match="different protocols"):
        merge_results([parts[0], other])


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


def _oracle_pair():
    from zoo3d.plugins import get_host

    if "oracle" not in get_host().models or "oracle_inconsistent" not in get_host().models:
        pytest.skip("the oracle models are not installed")
    from zoo3d.eval.harness import load_eval_model

    return [load_eval_model(n, None, torch.device("cpu")) for n in ("oracle", "oracle_inconsistent")]


def test_calibration_oracle_beats_inconsistent_oracle_on_epi_and_depth(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    protocol = make_protocol("small", instances=1, resolution=48, epi_frames=16, depth_views=3)
    result = compare_models(_oracle_pair(), load_metrics(["epi", "depth"]), protocol, "cpu")
    good, bad = result["models"]["oracle"], result["models"]["oracle_inconsistent"]
    assert good["epi"]["mean"] < 0.5 * bad["epi"]["mean"]      # measured at 64 px: 10.0 vs 49.9
    assert good["depth"]["mean"] < bad["depth"]["mean"]        # measured at 64 px: 2.8 vs 4.4
    assert result["provenance"]["oracle_inconsistent"]["strictly_3d_consistent"] is False


def test_distribution_metrics_through_the_harness_with_stand_in_features():
    from zoo3d.eval.distribution import generated_images

    protocol = make_protocol("small", instances=1, resolution=16, distribution_images=12, swd_patches_per_image=16)
    reference = generated_images(TexturedSphereGenerator(True), 12, 16, 1.0, protocol.seed_start, "cpu")
    options = {"standin_features": True, "real_images": {16: reference}}
    result = compare_models(_models(), load_metrics(["fid", "kid", "swd"]), protocol, "cpu", options=options)
    same, other = result["models"]["sphere"], result["models"]["sphere_jitter"]
    for entry in (same["fid"], same["kid"]):
        assert entry["comparable"] is False and entry["backbone"].startswith("standin") and entry["n"] == 1
    assert abs(same["fid"]["mean"]) < 1e-6 and same["swd"]["mean"] < 1e-6
    assert other["fid"]["mean"] > 0 and other["swd"]["mean"] > 0
    assert result["protocol"]["metrics"]["fid"]["comparable"] is False
    # the harness's numbers are the metric functions on the protocol's images: recomputed independently
    from zoo3d.eval.fid import StandInExtractor, features, fid_from_features, kid_from_features

    ext = StandInExtractor()
    fake = features(ext, generated_images(TexturedSphereGenerator(False), 12, 16, protocol.psi_distribution,
                                          protocol.seed_start, "cpu"))
    real = features(ext, reference)
    assert other["fid"]["values"] == [pytest.approx(fid_from_features(fake, real), rel=1e-9)]
    assert other["kid"]["values"] == [pytest.approx(kid_from_features(fake, real, protocol.seed_start), rel=1e-9)]
    info = result["protocol"]["metrics"]["fid"]
    assert info["images"] == 12 and info["psi"] == protocol.psi_distribution and info["backbone"] == ext.backbone


def test_fid_and_kid_check_their_image_sets_as_every_distribution_metric_does():
    from zoo3d.eval.distribution import generated_images

    protocol = make_protocol("small", instances=1, resolution=16, distribution_images=6)
    reference = generated_images(TexturedSphereGenerator(True), 3, 16, 1.0, protocol.seed_start, "cpu")
    options = {"standin_features": True, "real_images": {16: reference}}
    result = compare_models(_models()[:1], load_metrics(["fid", "kid"]), protocol, "cpu", options=options)
    for name in ("fid", "kid"):
        entry = result["models"]["sphere"][name]
        assert (entry["generated_images"], entry["real_images"]) == (6, 3)
    assert any("holds 3 images, fewer than the protocol's 6" in n for n in result["notes"])
    options = {"standin_features": True, "real_images": {16: reference[:1]}}
    for name in ("fid", "kid"):  # a covariance of one image: a LinAlgError traceback (fid), a silent NaN (kid)
        with pytest.raises(UserError, match=f"holds 1 image; {name} compares sets of images"):
            compare_models(_models()[:1], load_metrics([name]), protocol, "cpu", options=dict(options))


def test_speed_reports_time_per_image_and_honest_cpu_memory():
    protocol = make_protocol("small", speed_resolutions=[8, 16], speed_repeats=2)
    result = compare_models(_models()[:1], load_metrics(["speed"]), protocol, "cpu")
    row = result["models"]["sphere"]
    assert set(row) == {"speed_ms_8", "speed_ms_8_grad", "speed_ms_16", "speed_ms_16_grad"}
    assert all(v > 0 for v in row["speed_ms_16"]["values"]) and row["speed_ms_16"]["n"] == 2
    assert row["speed_ms_16"]["peak_mb"] is None and "CPU" in row["speed_ms_16"]["peak_mb_reason"]


@pytest.mark.slow  # 2048-dim features: two 2048 x 2048 matrix square roots and the dataset's sphere tracing
def test_fid_with_an_inception_file_reads_the_dataset_and_records_the_weights(tmp_path):
    """The comparable path: the Inception file given by option, real images read from ``data``. The result is the
    metric functions on the extractor's features of the protocol's generated images and of the dataset."""
    from test_eval_references import save_inception_stand_in

    from zoo3d.eval.distribution import generated_images, real_images
    from zoo3d.eval.fid import InceptionExtractor, features, fid_from_features
    from zoo3d.runs import file_sha256

    weights = save_inception_stand_in(tmp_path / "inception-2015-12-05.pt")
    protocol = make_protocol("small", instances=1, resolution=16, distribution_images=6)
    data = "synthetic:heads?count=6"
    result = compare_models(_models()[1:], load_metrics(["fid"]), protocol, "cpu",
                            options={"inception": str(weights), "data": data})
    entry = result["models"]["sphere_jitter"]["fid"]
    assert entry["comparable"] is True and entry["backbone"] == InceptionExtractor.backbone
    ext = InceptionExtractor(weights)
    fake = features(ext, generated_images(TexturedSphereGenerator(False), 6, 16, protocol.psi_distribution,
                                          protocol.seed_start, "cpu"))
    real = features(ext, real_images(data, 6, 16))
    assert entry["values"] == [pytest.approx(fid_from_features(fake, real), rel=1e-9)]
    info = result["protocol"]["metrics"]["fid"]
    assert info["comparable"] is True and info["data"] == data and info["weights_sha256"] == file_sha256(weights)


def test_cli_compare_table_too_wide_for_the_console_prints_every_metric_whole(monkeypatch):
    """On a console narrower than the table (rich reads COLUMNS), each model gets a field/value table, so no
    metric name or value is cut to an ellipsis."""
    import zoo3d.eval.harness as harness

    gens = {"oracle": TexturedSphereGenerator(True), "oracle_inconsistent": TexturedSphereGenerator(False)}
    monkeypatch.setattr(harness, "load_eval_model", lambda name, ckpt, device: EvalModel(name, gens[name], ckpt))
    monkeypatch.setenv("COLUMNS", "40")
    res = CliRunner().invoke(cli, ["compare", "--models", "oracle,oracle_inconsistent", "--metric", "epi,depth",
                                   "--instances", "1", "--resolution", "16", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    report = res.output[res.output.index("zoo3d compare ("):]  # after the progress bar, which may abridge
    lines = report.splitlines()
    assert "…" not in report
    for model in gens:
        assert any(model in line.split() for line in lines), model
    for metric in ("epi", "depth"):  # one row per model, the whole name and arrow, the value beside it
        rows = [line for line in lines if line.split()[1:3] == [metric, "↓"]]
        assert len(rows) == 2 and all("(n=1)" in row for row in rows), (metric, res.output)
