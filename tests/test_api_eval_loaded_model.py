"""A model loaded with ``zoo3d.runs.load_model`` is a model the evaluation harness takes, as docs/metrics.md says.

The page lists what a metric receives as ``model (EvalModel or zoo3d.runs.LoadedModel): .name, .generator,
.checkpoint, .sha256``. A trained toy run is loaded both ways, by ``load_model`` and by ``load_eval_model`` (the
command's own route), and compared on ``depth``: the two give the same scores, the loaded model answers to its
registered name, and the provenance names its checkpoint file and that file's SHA-256 (hashed here with hashlib),
as text a JSON report can hold. Two models of one name (two loads of one model) are refused before any is
scored, since the result is keyed by name; named apart as ``EvalModel``s they are compared.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from toy_model import one_thread, use_toy
from zoo3d.eval.harness import compare_models, load_eval_model, load_metrics, write_json
from zoo3d.eval.protocol import make_protocol
from zoo3d.launch import train_model
from zoo3d.runs import load_model


@pytest.fixture
def toy_run(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        yield train_model("toy", steps=1, progress=False)


def test_a_loaded_model_is_compared_as_its_registered_name(toy_run, tmp_path):
    loaded = load_model(str(toy_run.run_dir))
    assert loaded.name == "toy" and loaded.name == loaded.spec.name
    protocol = make_protocol("small", instances=1, resolution=16, depth_views=3)
    metrics = load_metrics(["depth"])
    result = compare_models([loaded], metrics, protocol, "cpu")
    by_command = compare_models([load_eval_model("toy", str(toy_run.run_dir), "cpu")], metrics, protocol, "cpu")
    assert result["models"] == by_command["models"] and set(result["models"]) == {"toy"}
    assert result["models"]["toy"]["depth"]["n"] == 1
    provenance = result["provenance"]["toy"]
    digest = hashlib.sha256(toy_run.checkpoint.read_bytes()).hexdigest()
    assert provenance["checkpoint"] == str(loaded.checkpoint) and provenance["sha256"] == digest
    assert provenance == by_command["provenance"]["toy"]
    path = write_json(result, tmp_path / "result.json")
    assert json.loads(path.read_text())["provenance"]["toy"]["checkpoint"] == str(toy_run.checkpoint.resolve())



def test_two_models_of_one_name_are_refused_before_anything_is_scored(toy_run):
    """The result is keyed by name: the second run's scores would replace the first's without a word."""
    from zoo3d.errors import UserError
    from zoo3d.eval.metric import EvalModel

    first, second = load_model(str(toy_run.run_dir)), load_model(str(toy_run.run_dir), ema=False)
    metrics = load_metrics(["depth"])
    protocol = make_protocol("small", instances=1, resolution=16, depth_views=3)
    ticks: list[int] = []
    with pytest.raises(UserError) as err:
        compare_models([first, second], metrics, protocol, "cpu", progress=ticks.append)
    assert str(err.value) == ("Two of the models to compare are named 'toy', and the results are keyed by name; give "
                              "each a name of its own (EvalModel(name, generator, ...)).")
    assert ticks == []
    apart = [EvalModel("ema", first.generator, str(first.checkpoint)), EvalModel("raw", second.generator)]
    result = compare_models(apart, metrics, protocol, "cpu")
    assert list(result["models"]) == ["ema", "raw"] and result["provenance"]["raw"]["checkpoint"] is None
