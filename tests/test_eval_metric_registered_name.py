"""A metric is what its plugin registered it as: a class that names itself otherwise (a class reused under another
name) has its `--set NAME.KEY` settings resolved under the registered name, and reads them, where it read its
defaults in silence while the JSON recorded the value given; its result key is that name too. `--set METRIC.KEY` spells
the metric as `--metric` does (any case, '-' for '_', an alias), where only the registered spelling was taken."""

from __future__ import annotations

import sys
import textwrap
from types import SimpleNamespace

import pytest

from zoo3d.eval.harness import compare_models, load_metrics
from zoo3d.eval.metric import EvalModel
from zoo3d.eval.protocol import build_protocol

PLUGIN = '''
from zoo3d import hookimpl
from zoo3d.config import Config
from zoo3d.eval.metric import Metric
from zoo3d.specs import MetricSpec


class GainSettings(Config):
    gain: float = 1.0


class Gain(Metric):
    name = "gain"
    higher_is_better = True
    settings = GainSettings

    def evaluate(self, model, ctx):
        return {self.result_keys()[0]: [ctx.settings(self).gain for _ in ctx.seeds]}


@hookimpl
def zoo3d_register_metrics(register):
    register(MetricSpec(name="image_gain", factory="metric_gain_plugin:Gain", aliases=("ig",)))
'''


@pytest.fixture
def metric_gain_plugin(tmp_path, monkeypatch):
    (tmp_path / "metric_gain_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", "metric_gain_plugin")
    yield
    sys.modules.pop("metric_gain_plugin", None)  # the next test's module is its own file's


@pytest.mark.parametrize("typed", ["image_gain", "ig"])
def test_set_reaches_a_metric_whose_class_names_itself_otherwise(metric_gain_plugin, typed):
    metrics = load_metrics([typed])
    protocol = build_protocol("small", instances=2, sets=["image_gain.gain=7"], metrics=metrics)
    model = EvalModel(name="m", generator=SimpleNamespace(resolution=8))
    result = compare_models([model], metrics, protocol, "cpu")
    assert result["protocol"]["metric_settings"] == {"image_gain": {"gain": 7.0}}
    assert result["models"]["m"] == {"image_gain": {"mean": 7.0, "std": 0.0, "n": 2, "values": [7.0, 7.0]}}
    assert list(metrics) == ["image_gain"] and metrics["image_gain"].name == "image_gain"


@pytest.mark.parametrize("spelt", ["Image-Gain", "IMAGE_GAIN", "ig"])
def test_set_spells_the_metric_as_metric_does(metric_gain_plugin, spelt):
    metrics = load_metrics(["image_gain"])
    protocol = build_protocol("small", instances=1, sets=[f"{spelt}.gain=7"], metrics=metrics)
    assert protocol.metric_settings == {"image_gain": {"gain": 7.0}}
