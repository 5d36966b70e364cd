"""``train_model`` and ``compare_models`` train and fit with autograd on, whatever grad mode the caller is in.

A notebook that samples runs ``torch.set_grad_enabled(False)`` once, or wraps a cell in ``torch.no_grad()`` or
``torch.inference_mode()``; training from the next cell, or scoring ``neus`` (which fits a NeuS), stopped with
torch's "element 0 of tensors does not require grad and does not have a grad_fn". Both now give the run and the
scores they give with autograd on, and leave the caller's mode as it was.
"""

import pytest
import torch

from test_runs_load import toy  # noqa: F401 (a fixture: the toy models with a runs root in tmp_path)
from zoo3d.eval.harness import compare_models, load_eval_model, load_metrics
from zoo3d.eval.protocol import make_protocol
from zoo3d.launch import train_model
from zoo3d.train.checkpoint import read_checkpoint

MODES = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode}


@pytest.mark.parametrize("mode", MODES)
def test_a_run_trained_without_grad_is_the_run_trained_with_it(toy, mode):
    expected, _ = read_checkpoint(train_model("toy", steps=1, out=toy / "with", progress=False).checkpoint)
    with MODES[mode]():
        result = train_model("toy", steps=1, out=toy / mode, progress=False)
        assert not torch.is_grad_enabled()
    trained, _ = read_checkpoint(result.checkpoint)
    assert (result.status, trained.keys()) == ("done", expected.keys())
    assert all(torch.equal(trained[k], expected[k]) for k in expected)


def neus_scores() -> dict:
    """The oracle's ``neus`` scores on a NeuS of 3 iterations, less the wall time."""
    oracle = load_eval_model("oracle", None, "cpu")
    protocol = make_protocol("small", instances=1, resolution=16, views=4,
                             neus={"iterations": 3, "batch_rays": 64, "restarts": 0})
    scores = compare_models([oracle], load_metrics(["neus"]), protocol, "cpu")["models"]["oracle"]
    failed = {key: entry["failed"] for key, entry in scores.items() if entry.get("failed")}
    assert not failed, failed  # a fit that stopped in torch fails its cells: the error, not a KeyError below
    del scores["neus_seconds"]
    return scores


@pytest.fixture(scope="module")
def with_grad():
    return neus_scores()


@pytest.mark.parametrize("mode", MODES)
def test_neus_scores_without_grad_are_the_scores_with_it(mode, with_grad):
    with MODES[mode]():
        scored = neus_scores()
        assert not torch.is_grad_enabled()
    assert scored == with_grad and scored["neus_psnr"]["n"] == 1
