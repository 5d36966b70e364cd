"""``train_model`` and ``load_model`` work in float32 whatever a notebook made torch's default dtype.

A notebook that ran ``torch.set_default_dtype(torch.float64)`` for work of its own then trained a model: its modules
were built in float64 and the first step stopped in torch (``Input type (float) and bias type (double) should be the
same``: the data are float32); a run it loaded came back in float64, not the checkpoint's float32. Both now build in
float32 and give the caller's default back.
"""

import pytest
import torch

from test_runs_load import toy  # noqa: F401 (a fixture: the toy models with a runs root in tmp_path)
from zoo3d.launch import train_model
from zoo3d.runs import load_model
from zoo3d.train.checkpoint import read_checkpoint


@pytest.fixture
def float64_default():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def test_a_run_trained_under_a_float64_default_is_the_float32_run(toy, float64_default):
    with_float64 = train_model("toy", steps=1, out=toy / "float64", progress=False)
    assert torch.get_default_dtype() == torch.float64  # the caller's, given back
    torch.set_default_dtype(torch.float32)
    with_float32 = train_model("toy", steps=1, out=toy / "float32", progress=False)
    a, _ = read_checkpoint(with_float32.checkpoint)
    b, _ = read_checkpoint(with_float64.checkpoint)
    assert a.keys() == b.keys() and all(b[k].dtype == a[k].dtype and torch.equal(b[k], a[k]) for k in a)


def test_a_run_loaded_under_a_float64_default_holds_the_checkpoints_float32_weights(toy, float64_default):
    torch.set_default_dtype(torch.float32)
    run = train_model("toy", steps=1, out=toy / "run", progress=False)
    torch.set_default_dtype(torch.float64)
    loaded = load_model(str(run.run_dir), device="cpu")
    built = load_model(None, model="toy_procedural", device="cpu")  # checkpoint-free: built, not loaded
    assert torch.get_default_dtype() == torch.float64
    assert loaded.generator.dtype == torch.float32 and built.generator.dtype == torch.float32
    stored, _ = read_checkpoint(run.checkpoint)
    assert all(torch.equal(v, stored["ema." + k]) for k, v in loaded.generator.state_dict().items())
