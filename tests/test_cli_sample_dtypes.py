"""``zoo3d sample`` draws each seed's documented latent (float32 ``randn`` on the CPU, docs/training.md) and hands it
in the generator's own dtype: a float64 generator's grid is its own float64 render of that seed through the Python
API."""

from __future__ import annotations

import numpy as np
import torch

from cli_toy import latent, read_rgb, tile, zoo3d
from toy_model import use_toy


def test_a_float64_generator_is_handed_float64_latents(tmp_path, capsys, monkeypatch, single_thread):
    from zoo3d import runs
    from zoo3d.cameras import Camera

    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    real = runs.load_model

    def load_double(*args, **kw):
        loaded = real(*args, **kw)
        loaded.generator.double()
        return loaded

    monkeypatch.setattr(runs, "load_model", load_double)
    assert zoo3d("sample", "--model", "toy_procedural", "--seeds", "6", "--out", "g.png") == 0
    gen = load_double(None, model="toy_procedural", device="cpu").generator
    assert next(gen.parameters()).dtype == torch.float64
    prior = gen.camera_prior
    cams = Camera.from_angles(torch.tensor([prior.yaw_mean], dtype=torch.float64),
                              torch.tensor([prior.centre_pitch], dtype=torch.float64), prior.radius, prior.fov)
    with torch.no_grad():
        out = gen(latent(6, gen.z_dim).double(), cams, psi=0.7)
    want = ((out.rgb.clamp(-1, 1) + 1) * 127.5)[0].permute(1, 2, 0).numpy()
    assert np.abs(tile(read_rgb(tmp_path / "g.png"), 0, 0, 16, 16) - want).max() <= 1.0
