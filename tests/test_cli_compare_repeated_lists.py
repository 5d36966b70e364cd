"""``--models`` and ``--metric`` given more than once: click kept only the last, so `--metric epi --metric depth`
scored depth alone with exit status 0 (``--set`` and ``--ckpt`` repeat, so the form is a natural one to type). The
lists now add up, in the order given."""

from __future__ import annotations

import pytest

from conftest import run_in_process as zoo3d
from zoo3d.eval.metric import EvalModel


def _recorded(monkeypatch) -> dict:
    """The models loaded and the metrics the comparison would run, with nothing evaluated."""
    import zoo3d.eval.harness as harness

    seen: dict = {"loads": []}
    monkeypatch.setattr(harness, "load_eval_model",
                        lambda name, *a: seen["loads"].append(name) or EvalModel(name, None))

    def compare_models(models, metrics, protocol, device, **kw):
        seen["metrics"] = list(metrics)
        return {"models": {}, "higher_is_better": {}, "notes": []}

    monkeypatch.setattr(harness, "compare_models", compare_models)
    return seen


@pytest.mark.parametrize("args, models, metrics", [
    (("--models", "oracle", "--metric", "epi", "--metric", "depth"), ["oracle"], ["epi", "depth"]),
    (("--models", "oracle", "--models", "oracle_inconsistent", "--metric", "depth,epi", "--metric", "swd"),
     ["oracle", "oracle_inconsistent"], ["depth", "epi", "swd"]),
    (("--models", "oracle,oracle_inconsistent", "--metric", "epi"), ["oracle", "oracle_inconsistent"], ["epi"]),
    (("--models", "oracle"), ["oracle"], ["neus"]),  # the default
])
def test_repeated_lists_add_up_in_order(args, models, metrics, monkeypatch, capsys):
    seen = _recorded(monkeypatch)
    code, _, err = zoo3d(capsys, "compare", *args)
    assert code == 0, err
    assert (seen["loads"], seen["metrics"]) == (models, metrics)


def test_a_model_named_in_two_of_them_is_still_named_twice(monkeypatch, capsys):
    seen = _recorded(monkeypatch)
    code, _, err = zoo3d(capsys, "compare", "--models", "oracle", "--models", "ORACLE", "--metric", "epi")
    assert code == 2 and seen["loads"] == []
    assert err.strip() == ("Error: --models names 'oracle' twice; a comparison scores one run per model (label two "
                           "runs of one model, each with its --ckpt: --models oracle@a,oracle@b --ckpt oracle@a=RUN "
                           "...)."), err


@pytest.mark.parametrize("args, sentence", [
    (("--metric", "epi,depth", "--metric", "epi"), "The metric 'epi' is named twice; name each metric once."),
    (("--metric", "epi,EPI"), "The metric 'epi' is named twice (as 'epi' and 'EPI'); name each metric once."),
])
def test_a_metric_named_twice_is_refused_before_any_model_is_loaded(args, sentence, monkeypatch, capsys):
    """The results are keyed by metric: the second was dropped, and the command scored `epi` once with exit 0."""
    seen = _recorded(monkeypatch)
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", *args)
    assert (code, out, seen) == (2, "", {"loads": []})
    assert err.strip() == f"Error: {sentence}", err
