"""A metric class's settings declared so that they would be dropped or never apply (a plain pydantic settings class,
which drops a misspelt `--set` key; protocol_settings for a protocol zoo3d does not have, "smal") or refused later
(protocol_settings its settings class refuses, met only when someone runs `--protocol paper`) fail the metric's
factory in one sentence (so `zoo3d plugins --check`, which loads every factory, fails too), where the first two were
ignored without a word."""

from __future__ import annotations

import sys
import textwrap

import pytest

from zoo3d.errors import PluginError
from zoo3d.eval.harness import load_metrics

SETTINGS_MISTAKES = '''
from pydantic import BaseModel

from zoo3d import hookimpl
from zoo3d.config import Config
from zoo3d.eval.metric import Metric
from zoo3d.specs import MetricSpec


class GainSettings(Config):
    gain: float = 1.0


class Misspelt(Metric):
    settings = GainSettings
    protocol_settings = {"smal": {"gain": 3.0}}

    def evaluate(self, model, ctx):
        return {}


class Refused(Misspelt):
    protocol_settings = {"small": {"gain": 3.0}, "paper": {"gian": 2.0}}


class Unsettled(Metric):
    protocol_settings = {"paper": {"gain": 2.0}}

    def evaluate(self, model, ctx):
        return {}


class PlainSettings(BaseModel):
    gain: float = 1.0


class Plain(Misspelt):
    settings = PlainSettings
    protocol_settings = {}


class Instance(Misspelt):
    settings = GainSettings()
    protocol_settings = {}


class Listed(Misspelt):
    protocol_settings = [("paper", {"gain": 2.0})]


@hookimpl
def zoo3d_register_metrics(register):
    for name in ("Misspelt", "Refused", "Unsettled", "Plain", "Instance", "Listed"):
        register(MetricSpec(name=name.lower(), factory=f"metric_settings_mistakes:{name}"))
'''


@pytest.mark.parametrize("metric, problem", [
    ("misspelt", "its protocol_settings names the protocol 'smal', which zoo3d does not have (the protocols are small, "
                 "paper); did you mean 'small'?"),
    ("refused", "Unknown config key 'gian' in its protocol_settings['paper']; did you mean 'gain' (valid keys: gain)."),
    ("unsettled", "it gives protocol_settings but no settings class for them (settings = a zoo3d.config.Config)."),
    ("plain", "its settings class PlainSettings is no zoo3d.config.Config, which refuses a key it does not have; "
              "derive it from zoo3d.config.Config."),
    ("instance", "its settings is a GainSettings instance, where zoo3d reads the class; give settings = GainSettings."),
    ("listed", "its protocol_settings is a list, not {protocol: {key: value}}."),
])
def test_settings_that_would_be_dropped_never_apply_or_be_refused_later_fail_the_factory(
        tmp_path, monkeypatch, metric, problem):
    (tmp_path / "metric_settings_mistakes.py").write_text(textwrap.dedent(SETTINGS_MISTAKES))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", "metric_settings_mistakes")
    try:
        with pytest.raises(PluginError) as refused:
            load_metrics([metric])
    finally:
        sys.modules.pop("metric_settings_mistakes", None)
    assert str(refused.value) == f"Metric '{metric}' from plugin 'metric_settings_mistakes': {problem}"
