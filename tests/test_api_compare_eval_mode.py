"""``compare_models`` scores a generator in eval mode, as ``zoo3d compare`` loads it, and gives each module its mode
back.

``load_model``'s docstring says to call ``requires_grad_(True)`` to train a loaded model on; a notebook that then
compared it scored it in training mode, where pi-GAN samples its rays as it trains and StyleSDF draws fresh noise (a
tiny pi-GAN's epi read 81.5 instead of 51.4). The stand-in here draws noise over its images while training.
"""

from dataclasses import replace

import torch

from zoo3d.core.generator import Generator
from zoo3d.eval.harness import compare_models, load_eval_model, load_metrics
from zoo3d.eval.metric import EvalModel
from zoo3d.eval.protocol import make_protocol


class NoisyWhileTraining(Generator):
    """The oracle, with noise over every image while in training mode."""

    def __init__(self, base):
        super().__init__()
        self.base = base
        self.z_dim, self.resolution, self.camera_prior = base.z_dim, base.resolution, base.camera_prior
        self.head = torch.nn.Linear(1, 1)  # a module of its own, whose mode is given back too

    def represent(self, z, psi=1.0):
        return self.base.represent(z, psi)

    def render(self, representation, cameras, resolution=None):
        out = self.base.render(representation, cameras, resolution)
        return replace(out, rgb=out.rgb + torch.rand_like(out.rgb)) if self.training else out


def test_a_generator_left_training_is_scored_as_in_eval_mode_and_left_training():
    gen = NoisyWhileTraining(load_eval_model("oracle", None, "cpu").generator)
    protocol = make_protocol("small", instances=1, resolution=16, epi_frames=8)
    metrics = load_metrics(["epi"])
    expected = compare_models([EvalModel("noisy", gen.eval())], metrics, protocol, "cpu")["models"]
    gen.train()
    gen.base.eval()  # a part left in eval mode stays so
    assert compare_models([EvalModel("noisy", gen)], metrics, protocol, "cpu")["models"] == expected
    assert gen.training and gen.head.training and not gen.base.training
