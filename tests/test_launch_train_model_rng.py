"""``zoo3d.launch.train_model`` from Python gives the caller's random stream back.

The trainer seeds the process stream with ``train.seed`` and draws its noise from it (docs/training.md), which is
the run's business: a notebook that seeds torch, trains a few steps and draws again gets the draws it would have
got without the training in between, and the run is the same whatever the caller had drawn before.
"""

import torch

from test_runs_load import toy  # noqa: F401 (a fixture: the toy models with a runs root in tmp_path)
from zoo3d.launch import train_model
from zoo3d.train.checkpoint import read_checkpoint


def test_training_leaves_the_callers_stream_where_it_was_and_is_the_same_run_after_any_draws(toy):
    torch.manual_seed(21)
    expected = torch.rand(4)
    torch.manual_seed(21)
    first = train_model("toy", steps=2, progress=False)
    assert torch.equal(torch.rand(4), expected)
    torch.rand(100)  # the caller draws more: the next run starts from its own seed all the same
    second = train_model("toy", steps=2, progress=False)
    a, _ = read_checkpoint(first.checkpoint)
    b, _ = read_checkpoint(second.checkpoint)
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)
