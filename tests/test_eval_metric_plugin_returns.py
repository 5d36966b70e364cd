"""A metric plugin whose evaluate (a distribution metric's score_sets) returns something other than {key: [values]}
(None, one number for a key, text), or whose class does not implement it, is one sentence naming the metric and its
plugin, exit 2, where it was a traceback from the report's summary or from the base class once the models were
loaded."""

from __future__ import annotations

import json
import sys
import textwrap
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

from zoo3d.cli.main import cli
from zoo3d.errors import PluginError
from zoo3d.eval.harness import compare_models, load_metrics
from zoo3d.eval.metric import EvalModel
from zoo3d.eval.protocol import build_protocol

PLUGIN = '''
from zoo3d import hookimpl
from zoo3d.eval.distribution import DistributionMetric
from zoo3d.eval.metric import Metric
from zoo3d.specs import MetricSpec

RETURNS = {}


class Returns(Metric):
    higher_is_better = True

    def evaluate(self, model, ctx):
        return RETURNS["value"]

    def protocol_info(self, ctx):
        return RETURNS.get("info", {})


class NoEvaluate(Metric):
    pass


class Gap(DistributionMetric):
    higher_is_better = False

    def score_sets(self, generated, real, ctx):
        return RETURNS["value"]


class NoScoreSets(DistributionMetric):
    pass


class OneArgument(Metric):
    higher_is_better = True

    def evaluate(self, model):
        return {"one_argument": [1.0]}


class CheckOptions(Returns):
    def check(self, options):
        pass


class ScaledUnits(Returns):  # needs an argument zoo3d does not pass
    def work_units(self, ctx, scale):
        return 1


class KeysText(Returns):
    keys = ("returns")


class RequiresText(Returns):
    requires = ("dataset")


class ArrowText(Returns):
    higher_is_better = "lower"


class ArrowByKey(Returns):
    higher_is_better = {"returns": "false"}


class LowerByKey(Returns):
    higher_is_better = {"returns": False}


class Undirected(Metric):  # says not which way is better, nor does its spec
    def evaluate(self, model, ctx):
        return {"undirected": [1.0]}


class Misrequired(Returns):
    requires = ("images", "datset")


class Keywords(Returns):  # other names, defaults and *args take zoo3d's call
    def check(self, *args, strict=False):
        pass

    def protocol_info(self, context, extra=None):
        return {}


@hookimpl
def zoo3d_register_metrics(register):
    register(MetricSpec(name="returns", factory="metric_returns_plugin:Returns"))
    register(MetricSpec(name="no_evaluate", factory="metric_returns_plugin:NoEvaluate"))
    register(MetricSpec(name="gap", factory="metric_returns_plugin:Gap"))
    register(MetricSpec(name="no_score_sets", factory="metric_returns_plugin:NoScoreSets"))
    register(MetricSpec(name="one_argument", factory="metric_returns_plugin:OneArgument"))
    register(MetricSpec(name="check_options", factory="metric_returns_plugin:CheckOptions"))
    register(MetricSpec(name="scaled_units", factory="metric_returns_plugin:ScaledUnits"))
    register(MetricSpec(name="keywords", factory="metric_returns_plugin:Keywords"))
    register(MetricSpec(name="keys_text", factory="metric_returns_plugin:KeysText"))
    register(MetricSpec(name="requires_text", factory="metric_returns_plugin:RequiresText"))
    register(MetricSpec(name="arrow_text", factory="metric_returns_plugin:ArrowText"))
    register(MetricSpec(name="arrow_by_key", factory="metric_returns_plugin:ArrowByKey"))
    register(MetricSpec(name="lower_by_key", factory="metric_returns_plugin:LowerByKey"))
    register(MetricSpec(name="undirected", factory="metric_returns_plugin:Undirected"))
    register(MetricSpec(name="directed_by_spec", factory="metric_returns_plugin:Undirected", higher_is_better=False))
    register(MetricSpec(name="misrequired", factory="metric_returns_plugin:Misrequired"))
'''

RULE = ("it returns {key: [one number per instance, or one in all]} (docs/metrics.md, Writing a metric plugin).")


@pytest.fixture
def returns(tmp_path, monkeypatch):
    (tmp_path / "metric_returns_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", "metric_returns_plugin")
    import metric_returns_plugin

    yield metric_returns_plugin.RETURNS
    sys.modules.pop("metric_returns_plugin", None)  # the next test's module is its own file's


def score(value, returns, metric="returns"):
    returns["value"] = value
    metrics = load_metrics([metric])
    protocol = build_protocol("small", instances=2, metrics=metrics)
    return compare_models([EvalModel(name="m", generator=SimpleNamespace(resolution=8))], metrics, protocol, "cpu")


@pytest.mark.parametrize("value, shown", [
    (None, "None"),
    ({"returns": 0.5}, "0.5 for 'returns'"),
    ({"returns": "0.5"}, "'0.5' for 'returns'"),
    ({"returns": ["0.5", 1.0]}, "['0.5', 1.0] for 'returns'"),
    ({"returns": torch.tensor(0.5)}, "tensor(0.5000) for 'returns'"),
    ({"returns": {0: 1.0, 1: 2.0}}, "{0: 1.0, 1: 2.0} for 'returns'"),  # by seed: its values would be the seeds
    ({"returns": ["0.5"] * 20}, "a list for 'returns'"),
    ({"returns": "x" * 38}, f"'{'x' * 38}' for 'returns'"),  # shown up to 40 characters
    ({"returns": "x" * 39}, "a str for 'returns'"),  # its type beyond
    ({"returns": [1.0], 0: [2.0]}, "a key that is no text (0)"),
    ({"returns": [1.0], None: [2.0]}, "a key that is no text (None)"),
    ({"returns": [1.0], "_meta": 3}, "a '_meta' that is a int, not a dict"),
])
def test_a_return_that_is_no_values_per_key_is_one_sentence(returns, value, shown):
    with pytest.raises(PluginError) as refused:
        score(value, returns)
    assert str(refused.value) == (f"Metric 'returns' from plugin 'metric_returns_plugin' returned {shown} from "
                                  f"evaluate; {RULE}")


def test_values_as_the_docs_allow_them_are_scored(returns):
    result = score({"returns": torch.tensor([1.0, 3.0]), "other": (None, 2), "_meta": {"note": 1}}, returns)
    assert result["models"]["m"] == {
        "returns": {"mean": 2.0, "std": 2 ** 0.5, "n": 2, "values": [1.0, 3.0], "note": 1},
        "other": {"mean": 2.0, "std": 0.0, "n": 1, "values": [None, 2.0], "note": 1}}


def factory_rows_after_refusal(name: str, sentence: str) -> dict[str, dict]:
    """Assert metric ``name`` is refused with ``sentence`` by load_metrics and in its ``plugins --check`` row (exit 1);
    the rows of the test plugin's metrics, by name."""
    with pytest.raises(PluginError) as refused:
        load_metrics([name])
    assert str(refused.value) == sentence
    checked = CliRunner().invoke(cli, ["plugins", "--check", "--json"])
    rows = {r["name"]: r for r in json.loads(checked.output)["factories"] if r["plugin"] == "metric_returns_plugin"}
    assert checked.exit_code == 1 and rows[name]["error"] == sentence
    return rows


def test_a_metric_without_evaluate_fails_its_factory_row_and_compare(returns, tmp_path, monkeypatch):
    sentence = ("Metric 'no_evaluate' from plugin 'metric_returns_plugin': 'metric_returns_plugin:NoEvaluate' does "
                "not implement evaluate(model, ctx), which scores a model; define it (docs/metrics.md, Writing a "
                "metric plugin).")
    rows = factory_rows_after_refusal("no_evaluate", sentence)
    assert rows["returns"]["status"] == rows["gap"]["status"] == "ok"


def test_a_distribution_metric_whose_score_sets_returns_a_number_is_one_sentence(returns, monkeypatch):
    import zoo3d.eval.distribution as distribution

    sets = (torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4))  # the protocol's sets, drawn elsewhere
    monkeypatch.setattr(distribution, "protocol_image_sets", lambda model, ctx: sets)
    with pytest.raises(PluginError) as refused:
        score(0.5, returns, "gap")
    assert str(refused.value) == (f"Metric 'gap' from plugin 'metric_returns_plugin' returned 0.5 from score_sets; "
                                  f"{RULE}")
    scored = score({"gap": [0.5], "_meta": {"note": 1}}, returns, "gap")["models"]["m"]["gap"]
    assert scored == {"mean": 0.5, "std": 0.0, "n": 1, "values": [0.5], "note": 1, "generated_images": 2,
                      "real_images": 2}


def test_a_distribution_metric_without_score_sets_fails_its_factory(returns):
    with pytest.raises(PluginError) as refused:
        load_metrics(["no_score_sets"])
    assert str(refused.value) == (
        "Metric 'no_score_sets' from plugin 'metric_returns_plugin': 'metric_returns_plugin:NoScoreSets' does not "
        "implement score_sets(generated, real, ctx), which scores its image sets; define it (docs/metrics.md, Writing "
        "a metric plugin).")


def test_what_the_report_records_that_json_cannot_hold_is_one_sentence_before_it_is_written(returns, tmp_path):
    values = {"returns": [1.0, 2.0]}
    with pytest.raises(PluginError) as refused:
        score({**values, "_meta": {"reference": tmp_path / "ref.pt"}}, returns)
    assert str(refused.value) == (
        "Metric 'returns' from plugin 'metric_returns_plugin' returned a '_meta' from evaluate that JSON cannot hold "
        f"(Object of type {type(tmp_path).__name__} is not JSON serializable); give numbers, text, lists and dicts "
        "(str(path), tensor.tolist()).")
    returns["info"] = {"yaw": torch.tensor(0.3)}
    with pytest.raises(PluginError, match=r"^Metric 'returns' from plugin 'metric_returns_plugin' returned a "
                                          r"protocol_info that JSON cannot hold \(Object of type Tensor is not JSON "):
        score(values, returns)
    returns["info"] = {"yaw": 0.3, "reference": str(tmp_path / "ref.pt")}
    assert score(values, returns)["protocol"]["metrics"] == {"returns": returns["info"]}


@pytest.mark.parametrize("metric, method, call", [
    ("one_argument", "evaluate(model) of 'metric_returns_plugin:OneArgument'", "evaluate(model, ctx)"),
    ("check_options", "check(options) of 'metric_returns_plugin:CheckOptions'", "check(protocol, options)"),
    ("scaled_units", "work_units(ctx, scale) of 'metric_returns_plugin:ScaledUnits'", "work_units(ctx)"),
])
def test_a_method_that_cannot_take_zoo3ds_call_fails_its_factory(returns, metric, method, call):
    with pytest.raises(PluginError) as refused:
        load_metrics([metric])
    assert str(refused.value) == (f"Metric '{metric}' from plugin 'metric_returns_plugin': {method} cannot be called "
                                  f"as zoo3d calls it, {call}; give it those parameters (docs/metrics.md, Writing a "
                                  f"metric plugin).")
    assert list(load_metrics(["keywords"])) == ["keywords"]


@pytest.mark.parametrize("metric, names, value", [("keys_text", "keys", "returns"),
                                                  ("requires_text", "requires", "dataset")])
def test_keys_or_requires_given_as_one_text_fail_the_factory(returns, metric, names, value):
    with pytest.raises(PluginError) as refused:
        load_metrics([metric])
    assert str(refused.value) == (f"Metric '{metric}' from plugin 'metric_returns_plugin': its {names} is the text "
                                  f"'{value}', whose letters would be read as the {names}; give a tuple, {names} = "
                                  f"('{value}',).")


def test_a_direction_that_is_no_bool_fails_the_plugin_or_the_factory(returns, tmp_path, monkeypatch):
    from zoo3d.plugins import get_host, reset_host

    for metric, shown in (("arrow_text", "'lower'"), ("arrow_by_key", "{'returns': 'false'}")):
        with pytest.raises(PluginError) as refused:
            load_metrics([metric])
        assert str(refused.value) == (f"Metric '{metric}' from plugin 'metric_returns_plugin': its higher_is_better is "
                                      f"{shown}, which is no bool nor a dict of bools by key; a text or a number reads "
                                      f"as true, so the table's arrow would point the wrong way.")
    assert load_metrics(["lower_by_key"])["lower_by_key"].better("returns") is False
    (tmp_path / "metric_arrow_plugin.py").write_text(textwrap.dedent('''
        from zoo3d import hookimpl
        from zoo3d.specs import MetricSpec


        @hookimpl
        def zoo3d_register_metrics(register):
            register(MetricSpec(name="arrow", factory="metric_returns_plugin:Returns",
                                higher_is_better="false"))
    '''))
    monkeypatch.setenv("ZOO3D_PLUGINS", "metric_returns_plugin,metric_arrow_plugin")
    reset_host()
    try:
        info = get_host().plugins["metric_arrow_plugin"]
    finally:
        sys.modules.pop("metric_arrow_plugin", None)
    assert info.status == "error" and "arrow" not in get_host().metrics
    assert info.error == ("metric 'arrow' gives higher_is_better as 'false', which is no bool; give True, False or "
                          "None (the metric class's own).")


def test_a_metric_that_says_not_which_way_is_better_fails_its_factory_row_and_compare(returns, capsys):
    """Neither its class nor its spec gives higher_is_better: the table's arrow said higher is better, of a distance
    too; given by the spec alone, that is its direction."""
    sentence = ("Metric 'undirected' from plugin 'metric_returns_plugin': it does not say whether a higher value is "
                "better; set higher_is_better = True or False on its class (or a dict of bools by key: a key left out "
                "is shown without a direction), or give it to its MetricSpec.")
    rows = factory_rows_after_refusal("undirected", sentence)
    assert rows["directed_by_spec"]["status"] == "ok"
    from conftest import run_in_process

    code, out, err = run_in_process(capsys, "compare", "--models", "oracle", "--metric", "undirected")
    assert (code, out, err.strip().replace("\n", " ")) == (2, "", f"Error: {sentence}")
    assert load_metrics(["directed_by_spec"])["directed_by_spec"].better("undirected") is False


def test_a_requirement_zoo3d_does_not_know_fails_the_factory_with_the_closest(returns):
    """A misspelt 'dataset' left the metric out of the note on a model trained on other data, without a word."""
    with pytest.raises(PluginError) as refused:
        load_metrics(["misrequired"])
    assert str(refused.value) == ("Metric 'misrequired' from plugin 'metric_returns_plugin': its requires names "
                                  "'datset', which zoo3d does not know (what a metric may require: images, depth, "
                                  "dataset); did you mean 'dataset'?")
