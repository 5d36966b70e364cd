"""A generator whose ``render`` returns the bare image instead of a ``RenderOutput`` is named in one sentence by
``Generator.forward``, which training, ``zoo3d sample`` and ``zoo3d render`` call, where each stopped with an
AttributeError traceback on ``.rgb``; an output object with an ``rgb`` tensor passes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import toy_model
from conftest import one_line_error, run_in_process
from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core import Generator
from zoo3d.errors import PluginError

SENTENCE = ("{name}.render returned a Tensor without an rgb tensor; return a zoo3d.core.RenderOutput (rgb (B, 3, H, "
            "W) in [-1, 1], depth, alpha, ...; docs/plugins.md, The model interface).")


class BareImage(Generator):
    z_dim, resolution, camera_prior = 2, (2, 2), CameraPrior()

    def __init__(self, wrap=None):
        super().__init__()
        self.wrap = wrap

    def represent(self, z, psi=1.0):
        return z

    def render(self, representation, cameras, resolution=None):
        rgb = representation[:, :1, None, None].expand(-1, 3, 2, 2)
        return rgb if self.wrap is None else self.wrap(rgb)


def test_forward_names_a_render_that_returns_the_bare_image():
    z, cams = torch.tensor([[0.5, 0.0]]), Camera.from_angles([0.0], 0.0)
    with pytest.raises(PluginError) as refused:
        BareImage()(z, cams)
    assert str(refused.value) == SENTENCE.format(name="BareImage")
    out = BareImage(lambda rgb: SimpleNamespace(rgb=rgb))(z, cams)
    assert torch.equal(out.rgb, torch.full((1, 3, 2, 2), 0.5))


def test_sample_says_it_in_one_line(toy, monkeypatch, capsys):
    real = toy_model.ToyGenerator.render
    monkeypatch.setattr(toy_model.ToyGenerator, "render", lambda self, *a, **k: real(self, *a, **k).rgb)
    code, _, err = run_in_process(capsys, "sample", "toy_procedural", "--seeds", "0", "--out", toy / "grid.png")
    assert code == 2 and one_line_error(err) == "Error: " + SENTENCE.format(name="ToyGenerator")
    assert not (toy / "grid.png").exists()
