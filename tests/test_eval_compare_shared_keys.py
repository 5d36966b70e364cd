"""Two metrics of one comparison that report a result of one name: the results are keyed by it, so the later metric's
values (and its direction) replaced the earlier one's without a word; a plugin metric with ``keys = ("epi",)`` beside
``epi`` showed its own number under the built-in's name, with the built-in's arrow turned round. Both are refused:
keys that metrics declare before any model is loaded, a key a metric reports without declaring it when it comes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import zoo3d.plugins
from conftest import one_line_error
from conftest import run_in_process
from zoo3d.errors import UserError
from zoo3d.eval import harness
from zoo3d.eval.metric import EvalModel, Metric
from zoo3d.eval.protocol import Protocol


class Edges(Metric):
    """A plugin's metric that declares the key of the built-in ``epi``."""

    keys = ("epi",)
    higher_is_better = True

    def evaluate(self, model, ctx):
        return {"epi": [42.0]}


class Loose(Metric):
    """Declares nothing: its keys are known when it reports them (as ``speed``'s ``speed_ms_<R>``)."""

    higher_is_better = False

    def __init__(self, name: str, key: str):
        self.name, self.key = name, key

    def evaluate(self, model, ctx):
        return {self.key: [1.0]}


def test_a_plugin_metric_declaring_a_built_in_key_is_refused_before_any_model_is_loaded(monkeypatch, capsys):
    real = zoo3d.plugins.get_metric_spec
    monkeypatch.setattr(zoo3d.plugins, "get_metric_spec", lambda name: SimpleNamespace(
        name="edges", load=Edges, higher_is_better=None) if name == "edges" else real(name))
    monkeypatch.setattr(harness, "load_eval_model", lambda *a: pytest.fail("a model was loaded"))
    code, out, err = run_in_process(capsys, "compare", "--models", "oracle", "--metric", "epi,edges")
    assert (code, out) == (2, "")
    assert one_line_error(err) == ("Error: Metrics 'epi' and 'edges' both report a result named 'epi', and one would "
                                   "replace the other; give the key of one of them another name.")


def test_a_key_reported_without_being_declared_is_refused_when_it_comes():
    metrics = {"first": Loose("first", "shared"), "second": Loose("second", "shared")}
    with pytest.raises(UserError, match="^Metrics 'first' and 'second' both report a result named 'shared', "):
        harness.compare_models([EvalModel("m", SimpleNamespace())], metrics, Protocol(instances=1, resolution=16),
                               "cpu")
    metrics = {"first": Loose("first", "a"), "second": Loose("second", "b")}  # keys of their own: both kept
    result = harness.compare_models([EvalModel("m", SimpleNamespace())], metrics, Protocol(instances=1, resolution=16),
                                    "cpu")
    assert {k: v["values"] for k, v in result["models"]["m"].items()} == {"a": [1.0], "b": [1.0]}
