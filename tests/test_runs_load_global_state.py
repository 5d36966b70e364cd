"""Loading a trained model from Python leaves the caller's process state as it was.

A notebook seeds torch, loads a run and draws its latents: ``load_model`` builds the modules (which initialises
their weights at random) before it reads the checkpoint over them, and that build must not draw from the caller's
random stream, as the build of a checkpoint-free model does not
(``test_a_checkpoint_free_model_is_built_from_its_run_seed_and_leaves_the_process_rng_alone``).
"""

import torch

from test_runs_load import toy  # noqa: F401 (a fixture: the toy models with a runs root in tmp_path)
from zoo3d.launch import train_model
from zoo3d.runs import load_model, resolve_checkpoint
from zoo3d.train.checkpoint import read_checkpoint


def test_loading_a_trained_run_leaves_the_process_rng_and_modes_alone(toy):
    run = train_model("toy", steps=1, progress=False).run_dir
    torch.manual_seed(11)
    expected = torch.rand(4)  # what the caller's next draw is without the load in between
    torch.manual_seed(11)
    grad, dtype, threads = torch.is_grad_enabled(), torch.get_default_dtype(), torch.get_num_threads()
    loaded = {ema: load_model(str(run), ema=ema, device="cpu") for ema in (True, False)}
    assert torch.equal(torch.rand(4), expected)
    assert (torch.is_grad_enabled(), torch.get_default_dtype(), torch.get_num_threads()) == (grad, dtype, threads)
    tensors, _ = read_checkpoint(resolve_checkpoint(str(run)))  # and the weights are still the checkpoint's
    for ema, prefix in ((True, "ema."), (False, "generator.")):  # the stored average, and the raw generator
        state = loaded[ema].generator.state_dict()
        assert state and all(torch.equal(v, tensors[prefix + k]) for k, v in state.items()), prefix


def test_a_loaded_model_renders_without_keeping_an_autograd_graph_ema_or_not(toy):
    """A notebook that keeps its renders (frames for a video) keeps only the images: with the raw generator
    (``ema=False``, ``--no-ema``) a kept output held the graph of its whole render, tens of MB a frame."""
    run = train_model("toy", steps=1, progress=False).run_dir
    z = torch.randn(2, 8)
    loads = [load_model(str(run), ema=ema, device="cpu") for ema in (True, False)]
    loads.append(load_model(None, model="toy_procedural", device="cpu"))  # checkpoint-free: the same
    for loaded in loads:
        frozen = [not p.requires_grad for m in (loaded.generator, *loaded.modules.values()) for p in m.parameters()]
        assert frozen and all(frozen)
        assert loaded.generator.represent(z)["colour"].grad_fn is None
        assert not loaded.generator.training and not any(m.training for m in loaded.modules.values())
