"""``help()`` of each function the Python API pages name says what it returns.

A notebook reads ``help(gen)`` or ``gen.forward?``: the generator's call showed torch's "Define the computation
performed at every call. Should be overridden by all subclasses.", and ``get_model_spec``, ``sample_cameras`` and
``CameraPrior.sample`` showed nothing. Each entry is the callable and a phrase its docstring must hold (what it
returns, or the range a reader needs to show an image).
"""

import inspect

import pytest

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.generator import Generator
from zoo3d.data import build_dataset, check_dataset
from zoo3d.eval.harness import compare_models, load_eval_model, load_metrics
from zoo3d.eval.metric import instance_latent, render_instance
from zoo3d.eval.protocol import make_protocol
from zoo3d.launch import train_model
from zoo3d.nn.discriminators import minibatch_stddev
from zoo3d.plugins import get_model_spec
from zoo3d.runs import load_model, resolve_checkpoint

DOCUMENTED = [
    (Generator.forward, "RenderOutput"),
    (Generator.forward, "[-1, 1]"),
    (Generator.forward, "clamp"),  # the tri-plane model's and StyleSDF's images stray outside
    (Generator.sample_z, "latents"),
    (Generator.sample_cameras, "Camera"),
    (CameraPrior.sample, "Camera"),
    (Camera.from_angles, "radians"),  # the units a notebook gives its views in
    (Camera.from_angles, "degrees"),
    (Camera.to, "device"),
    (get_model_spec, "ModelSpec"),
    (load_model, "LoadedModel"),
    (resolve_checkpoint, "checkpoint file"),
    (train_model, "TrainResult"),
    (compare_models, "returns the JSON-ready result"),
    (load_metrics, "{name: Metric}"),
    (load_eval_model, "EvalModel"),
    (make_protocol, "Protocol"),
    (build_dataset, "Items are dicts"),
    (check_dataset, "CheckReport"),
    (render_instance, '"rgb": (V, 3, R, R) in [-1, 1]'),
    (instance_latent, "z (1, z_dim)"),
    (minibatch_stddev, "MinibatchStd"),  # the layer a plugin's discriminator takes for the engine's group check
]


@pytest.mark.parametrize("function, phrase", DOCUMENTED, ids=lambda v: getattr(v, "__qualname__", v))
def test_help_says_what_it_returns(function, phrase):
    doc = inspect.getdoc(function) or ""
    assert "Should be overridden by all subclasses" not in doc  # torch.nn.Module.forward's, inherited
    assert phrase in doc
