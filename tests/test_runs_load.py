"""Resolving RUN|CKPT|MODEL and loading trained (or checkpoint-free) models."""

import os
import time

import pytest
import torch

from toy_model import one_thread, use_toy
from zoo3d.errors import UserError
from zoo3d.launch import train_model
from zoo3d.plugins import get_host
from zoo3d.runs import find_runs, load_model, resolve_checkpoint


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        yield tmp_path


def test_a_model_name_resolves_to_its_newest_run(toy):
    older = train_model("toy", steps=1, progress=False).run_dir
    newer = train_model("toy", steps=2, progress=False).run_dir
    train_model("toy_other", steps=1, progress=False)
    past = time.time() - 100
    os.utime(resolve_checkpoint(str(older)), (past, past))
    assert older.parent == newer.parent == toy / "runs"
    assert find_runs("TOY") == [newer, older]  # names match case-insensitively
    assert resolve_checkpoint("toy") == resolve_checkpoint(str(newer))
    assert resolve_checkpoint("toy").name == "step_000000002.safetensors"
    assert load_model("toy").step == 2
    # --resume without --out continues the newest run of the model.
    assert train_model("toy", resume=True, steps=3, progress=False).run_dir == newer


def test_missing_runs_name_the_command_that_creates_one(toy):
    with pytest.raises(UserError) as err:
        resolve_checkpoint("toy")
    assert str(err.value) == f"No run of model 'toy' found under {toy / 'runs'}/; train one with `zoo3d train toy`."
    (toy / "empty").mkdir()
    with pytest.raises(UserError, match="has no checkpoint yet"):
        resolve_checkpoint(str(toy / "empty"))


def test_a_misspelt_model_name_gets_the_unknown_model_sentence(toy):
    """`zoo3d sample gramm` says what `zoo3d train gramm` says: the closest name (and the plugins that failed to
    load, one of which may provide it), not only that the text is no run, checkpoint or model."""
    with pytest.raises(UserError) as err:
        resolve_checkpoint("tyo")
    assert str(err.value) == ("'tyo' is neither a run folder, a checkpoint file nor a registered model name. "
                              "Unknown model 'tyo'. Did you mean 'toy'? Known models: "
                              + ", ".join(sorted(s.name for s in get_host().models)) + ".")
    with pytest.raises(UserError) as err:
        resolve_checkpoint("runs/tyo")  # a path names no model: no model hint, only that nothing is there
    assert str(err.value) == "Run folder or checkpoint 'runs/tyo' does not exist."


def test_load_model_gives_the_ema_generator_in_eval_mode(toy):
    run = train_model("toy", progress=False).run_dir
    ema, raw = load_model(str(run)), load_model(str(run), ema=False)
    assert not ema.generator.training and ema.checkpoint == resolve_checkpoint(str(run))
    assert ema.sha256 == raw.sha256 and len(ema.sha256) == 64 and ema.step == 6
    z = torch.randn(2, 8)
    diff = (ema.generator.represent(z)["colour"] - raw.generator.represent(z)["colour"]).abs().max()
    assert diff > 0  # the average lags behind the trained weights
    assert raw.generator is raw.modules["generator"] and set(raw.modules) == {"generator", "disc"}


def test_checkpoint_free_models_build_without_a_run(toy):
    loaded = load_model(None, model="toy_procedural")
    assert loaded.checkpoint is None and loaded.sha256 is None and loaded.step == 0
    assert loaded.config.toy.z_dim == 8
    # the same through RUN = the model name
    assert load_model("toy_procedural").checkpoint is None


def _rewrite(path, drop=(), change=None, metadata=None):
    """The checkpoint at ``path`` written again without the tensors in ``drop``, with ``change`` applied to its
    tensors and ``metadata`` merged into its header (how a file from another version of a model looks)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
    tensors = {k: v for k, v in load_file(str(path)).items() if k not in drop}
    if change:
        tensors.update(change(tensors))
    save_file(tensors, str(path), metadata={**meta, **(metadata or {})})


def test_a_checkpoint_whose_ema_or_model_does_not_fit_is_refused_in_one_sentence(toy):
    """The average is loaded whole or not at all: a missing or reshaped EMA tensor must not leave the sampled
    generator part trained weights, part the average's."""
    from safetensors.torch import load_file

    path = resolve_checkpoint(str(train_model("toy", steps=1, progress=False).run_dir))
    ema_key = sorted(k for k in load_file(str(path)) if k.startswith("ema."))[0]
    _rewrite(path, drop={ema_key})
    fits = f"Checkpoint '{path}' has an EMA generator that does not fit model 'toy'."
    with pytest.raises(UserError) as err:
        load_model(str(path))
    assert str(err.value) == fits
    assert load_model(str(path), ema=False).step == 1  # the trained weights alone still load
    path = resolve_checkpoint(str(train_model("toy", steps=1, progress=False).run_dir))
    _rewrite(path, change=lambda t: {ema_key: torch.zeros(*t[ema_key].shape, 2)})
    with pytest.raises(UserError) as err:
        load_model(str(path))
    assert str(err.value) == f"Checkpoint '{path}' has an EMA generator that does not fit model 'toy'."
    _rewrite(path, metadata={"zoo3d.model": "toy_gone"})
    with pytest.raises(UserError) as err:
        load_model(str(path))
    assert str(err.value) == (f"Checkpoint '{path}' holds model 'toy_gone', which is not installed "
                              f"(see `zoo3d models`).")


def test_load_model_refuses_a_device_zoo3d_does_not_run_on(toy):
    run = train_model("toy", steps=1, progress=False).run_dir
    with pytest.raises(UserError) as err:
        load_model(str(run), device="tpu")
    assert str(err.value) == "Unknown device 'tpu'; use cpu, cuda, cuda:N, mps or auto."


def test_load_model_names_the_checkpoint_and_the_model_whose_config_is_refused(toy, monkeypatch):
    from zoo3d.plugins import get_model_spec
    from zoo3d.train.checkpoint import CheckpointError

    run = train_model("toy", steps=1, progress=False).run_dir
    checkpoint = resolve_checkpoint(str(run))

    def refuses(data):  # the toy of a later version that no longer takes the stored config
        raise RuntimeError("z_dim 8 was retired.")

    monkeypatch.setattr(get_model_spec("toy").load().config_class, "model_validate", refuses)
    with pytest.raises(CheckpointError) as err:
        load_model(str(run))
    assert str(err.value) == (f"Checkpoint '{checkpoint}' has a config that model 'toy' no longer accepts "
                              f"(z_dim 8 was retired).")


def test_load_model_names_the_checkpoint_whose_weights_do_not_fit_its_stored_config(toy):
    """A checkpoint whose stored config was edited (``toy.z_dim`` 8 -> 4) holds weights of other sizes: the refusal
    names that file."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    run = train_model("toy", steps=1, progress=False).run_dir
    checkpoint = resolve_checkpoint(str(run))
    with safe_open(str(checkpoint), "pt") as fh:
        meta, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    config = json.loads(meta["zoo3d.config"])
    assert config["toy"]["z_dim"] == 8
    config["toy"]["z_dim"] = 4
    edited = toy / "edited.safetensors"
    save_file(tensors, str(edited), metadata={**meta, "zoo3d.config": json.dumps(config)})
    with pytest.raises(UserError) as err:
        load_model(str(edited))
    assert str(err.value).startswith(f"Checkpoint '{edited}' does not fit the model's 'generator' module (")
