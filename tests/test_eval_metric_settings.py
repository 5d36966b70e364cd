"""A metric plugin's own settings (``zoo3d compare --set METRIC.KEY=VALUE``) and its pre-flight check."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import FIXTURES, run_cli
from zoo3d.cameras import Camera
from zoo3d.errors import ConfigError, UserError
from zoo3d.eval.harness import compare_models, load_eval_model, load_metrics, preflight
from zoo3d.eval.metric import instance_latent, render_instance
from zoo3d.eval.protocol import build_protocol, make_protocol, resolve_metric_settings

PLUGIN_DIR = str(FIXTURES / "plugins")


@pytest.fixture
def reference_plugin(monkeypatch):
    monkeypatch.syspath_prepend(PLUGIN_DIR)
    monkeypatch.setenv("ZOO3D_PLUGINS", "zoo3d_reference_metric")
    return load_metrics(["reference_l1"])


def _cli_env(tmp_path) -> dict[str, str]:
    return {"PYTHONPATH": PLUGIN_DIR, "ZOO3D_PLUGINS": "zoo3d_reference_metric", "ZOO3D_RUNS": str(tmp_path / "runs")}


def _save_oracle_reference(path, seeds, yaw=0.0, resolution=32):
    gen = load_eval_model("oracle", None, "cpu").generator
    cam = Camera.from_angles([yaw], 0.0, gen.camera_prior.radius, gen.camera_prior.fov)
    torch.save({s: render_instance(gen, instance_latent(gen, s, "cpu"), cam, resolution)["rgb"][0] for s in seeds},
               path)


def test_set_reaches_the_metric_and_the_record_and_scores_the_model_it_names(tmp_path):
    ref = tmp_path / "oracle_front.pt"
    _save_oracle_reference(ref, seeds=[0, 1])
    out = tmp_path / "cmp.json"
    run = run_cli("compare", "--models", "oracle,oracle_inconsistent", "--metric", "reference_l1",
                  "--instances", "2", "--resolution", "32", "--set", f"reference_l1.reference={ref}",
                  "--json", str(out), env=_cli_env(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["protocol"]["metric_settings"] == {"reference_l1": {"reference": str(ref), "yaw": 0.0}}
    assert result["higher_is_better"]["reference_l1"] is False
    assert max(result["models"]["oracle"]["reference_l1"]["values"]) < 1e-6       # the renders it was made of
    assert min(result["models"]["oracle_inconsistent"]["reference_l1"]["values"]) > 0.01


def test_check_runs_before_any_model_is_loaded(tmp_path):
    # gram has no run under ZOO3D_RUNS: loading it would fail with "zoo3d train gram"; the metric's check speaks first.
    run = run_cli("compare", "--models", "gram", "--metric", "reference_l1", env=_cli_env(tmp_path))
    assert run.returncode != 0
    assert "reference_l1 needs its reference renders" in run.stderr and "zoo3d train" not in run.stderr


def test_defaults_per_protocol_then_set_items_are_validated_as_config(reference_plugin):
    assert build_protocol("small", metrics=reference_plugin).metric_settings["reference_l1"]["yaw"] == 0.0
    assert build_protocol("paper", metrics=reference_plugin).metric_settings["reference_l1"]["yaw"] == 0.25
    both = build_protocol("paper", sets=["reference_l1.yaw=-0.5", "epi_frames=9", "neus.iterations=7"],
                          metrics=reference_plugin)
    assert (both.metric_settings["reference_l1"]["yaw"], both.epi_frames, both.neus.iterations) == (-0.5, 9, 7)
    assert both.neus.batch_rays == 2048  # the rest of paper's NeuS block stays
    with pytest.raises(ConfigError, match=r"Invalid value 3 for config key 'yaw' in metric 'reference_l1' settings"):
        build_protocol(sets=["reference_l1.yaw=3"], metrics=reference_plugin)
    with pytest.raises(ConfigError, match=r"Unknown config key 'refrence'.*did you mean 'reference'"):
        build_protocol(sets=["reference_l1.refrence=x.pt"], metrics=reference_plugin)
    with pytest.raises(ConfigError, match=r"names metric 'reference_l1' but no key"):
        build_protocol(sets=["reference_l1=3"], metrics=reference_plugin)
    with pytest.raises(ConfigError, match=r"'epi_frms' is not a protocol key.*Did you mean 'epi_frames'"):
        build_protocol(sets=["epi_frms=3"], metrics=reference_plugin)
    with pytest.raises(ConfigError, match=r"metric 'epi' has no settings of its own"):
        build_protocol(sets=["epi.frames=3"], metrics=load_metrics(["epi"]))
    with pytest.raises(ConfigError, match=r"choose the protocol with --protocol"):
        build_protocol(sets=["name=paper"])


def test_python_callers_get_the_defaults_recorded_and_resolving_twice_changes_nothing(reference_plugin, tmp_path):
    ref = tmp_path / "ref.pt"
    _save_oracle_reference(ref, seeds=[0], yaw=0.3)
    metric = reference_plugin["reference_l1"]
    protocol = make_protocol(instances=1, resolution=32)
    assert protocol.metric_settings == {}
    assert metric.settings_under(protocol).yaw == 0.0 and metric.settings_under(make_protocol("paper")).yaw == 0.25
    once = resolve_metric_settings(protocol, reference_plugin, {"reference_l1": [f"reference={ref}", "yaw=0.3"]})
    assert resolve_metric_settings(once, reference_plugin) == once
    preflight(reference_plugin, once, {})
    with pytest.raises(UserError, match="is not a file"):
        preflight(reference_plugin, protocol, {})
    oracle = load_eval_model("oracle", None, "cpu")
    result = compare_models([oracle], reference_plugin, once, "cpu")
    assert result["protocol"]["metric_settings"]["reference_l1"] == {"reference": str(ref), "yaw": 0.3}
    assert result["models"]["oracle"]["reference_l1"]["values"][0] < 1e-6  # the yaw it was saved at
    # An unresolved protocol: compare_models records what the metric ran with, its defaults for "small".
    metric.protocol_settings = {"small": {"reference": str(ref), "yaw": 0.3}}
    result = compare_models([oracle], reference_plugin, protocol, "cpu")
    assert result["protocol"]["metric_settings"]["reference_l1"] == {"reference": str(ref), "yaw": 0.3}


def test_a_settings_metric_named_like_a_protocol_field_is_refused(reference_plugin):
    metric = reference_plugin["reference_l1"]
    with pytest.raises(UserError, match="Metric 'views' declares settings under a name the protocol uses"):
        build_protocol(metrics={"views": metric})


def test_builtin_preflights_refuse_missing_data_and_inception(tmp_path, monkeypatch):
    monkeypatch.delenv("ZOO3D_INCEPTION", raising=False)
    protocol = make_protocol()
    with pytest.raises(UserError, match="neither a registered dataset"):
        preflight(load_metrics(["swd"]), protocol, {"data": str(tmp_path / "missing")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="cannot be used"):
        preflight(load_metrics(["diversity"]), protocol, {"data": str(tmp_path / "empty")})
    with pytest.raises(UserError, match="Inception"):
        preflight(load_metrics(["kid"]), protocol, {"data": "synthetic:heads"})
    preflight(load_metrics(["kid", "swd", "epi"]), protocol, {"data": "synthetic:heads", "standin_features": True})
