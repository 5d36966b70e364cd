"""``--neus-iterations N`` is short for ``--set neus.iterations=N`` (docs/metrics.md); given with such a ``--set``,
the ``--set`` (read after the shorthand) won without a word: `--neus-iterations 400 --set neus.iterations=800` fitted
800. Both are refused, as `--instances 1 --set instances=2` is."""

from __future__ import annotations

import pytest

from conftest import run_in_process as zoo3d
from zoo3d.eval.metric import EvalModel


def _recorded(monkeypatch) -> dict:
    """``load_eval_model`` and ``compare_models`` replaced: the loads and the protocol the comparison would run."""
    import zoo3d.eval.harness as harness

    seen: dict = {"loads": []}
    monkeypatch.setattr(harness, "load_eval_model", lambda *a: seen["loads"].append(a) or EvalModel(a[0], None))

    def compare_models(models, metrics, protocol, device, **kw):
        seen["protocol"] = protocol
        return {"models": {}, "higher_is_better": {}, "notes": []}

    monkeypatch.setattr(harness, "compare_models", compare_models)
    return seen


@pytest.mark.parametrize("item", ["neus.iterations=800", "neus={iterations: 800}"])
def test_the_shorthand_and_a_set_of_the_iterations_are_refused(item, monkeypatch, capsys):
    seen = _recorded(monkeypatch)
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--neus-iterations", "400", "--set", item)
    assert code == 2 and seen["loads"] == [] and out == ""
    assert err.strip() == (f"Error: --neus-iterations 400 and --set '{item}' both set the NeuS iterations; give it "
                           f"once."), err


@pytest.mark.parametrize("args, iterations", [
    (("--neus-iterations", "400"), 400),
    (("--set", "neus.iterations=800"), 800),
    (("--neus-iterations", "400", "--set", "neus.batch_rays=256"), 400),  # another NeuS key beside it is fine
    (("--neus-iterations", "400", "--set", "neus={batch_rays: 256}"), 400),  # so is a NeuS map without them
])
def test_either_alone_sets_the_iterations(args, iterations, monkeypatch, capsys):
    seen = _recorded(monkeypatch)
    code, _, err = zoo3d(capsys, "compare", "--models", "oracle", *args)
    assert code == 0, err
    assert seen["protocol"].neus.iterations == iterations
