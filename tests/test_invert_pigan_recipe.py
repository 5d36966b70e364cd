"""``OptimizeSettings.pigan()``: pi-GAN's own inversion (``inverse_render.py``), step for step. Offsets to the mean W+
under Adam (lr 1e-2) whose weight decay pulls them towards that mean (not the codes towards 0), the step size x0.75
every ``lr_step`` steps, the MSE alone, and noise of 0.03 (1 - i / n) added to the codes rendered at step i but not
to the codes found."""

from __future__ import annotations

import torch

from test_pigan_generator_glue import generator as tiny_pigan
from zoo3d.cameras import Camera
from zoo3d.invert import OptimizationInverter, OptimizeSettings


def _upstream_loop(gen, image, cam, steps: int, weight_decay: float, lr_step: int) -> torch.Tensor:
    """inverse_render.py's loop, written out on the generator: the offsets are what Adam sees."""
    mean = gen.mean_latent().detach()
    offsets = torch.zeros_like(mean, requires_grad=True)
    opt = torch.optim.Adam([offsets], lr=1e-2, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.StepLR(opt, lr_step, gamma=0.75)
    for i in range(steps):
        noise = 0.03 * torch.randn_like(mean) * (steps - i) / steps
        frame = gen.render(gen.represent_ws(mean + offsets + noise), cam, image.shape[-2:]).rgb
        loss = torch.nn.MSELoss()(frame, image)
        loss.backward()
        opt.step()
        opt.zero_grad()
        schedule.step()
    return (mean + offsets).detach()


def test_the_pigan_settings_are_inverse_renders_loop():
    settings = OptimizeSettings.pigan()
    assert (settings.space, settings.steps, settings.lr, settings.weight_decay, settings.lr_step, settings.lr_gamma,
            settings.noise, settings.pixel, settings.perceptual_weight) == ("w+", 700, 1e-2, 1e-4, 100, 0.75, 0.03,
                                                                             "l2", 0.0)
    gen = tiny_pigan().eval()
    cam = Camera.from_angles(0.1, 0.05, 1.0, 12.0)
    with torch.no_grad():
        image = gen.render(gen.represent(torch.randn(1, gen.z_dim, generator=torch.Generator().manual_seed(4))),
                           cam, (6, 6)).rgb
    # a decay strong enough to tell the offsets' pull towards the mean from the codes' towards 0; the step size
    # falls every step, so three steps see it fall twice
    torch.manual_seed(11)
    want = _upstream_loop(gen, image, cam, steps=3, weight_decay=2.0, lr_step=1)
    torch.manual_seed(11)
    result = OptimizationInverter(gen, OptimizeSettings.pigan(steps=3, weight_decay=2.0, lr_step=1)).invert(image, cam)
    torch.testing.assert_close(result.latent, want, rtol=0, atol=1e-6)
    assert not torch.allclose(result.latent, gen.mean_latent(), rtol=0, atol=1e-4)  # it moved


def test_invert_recipe_pigan_runs_those_settings_and_metrics_json_records_it(in_tmp, capsys, monkeypatch):
    """``zoo3d invert --recipe pigan`` (here on a 2-step pi-GAN run of 8-wide layers, the format-1 fixture): pi-GAN's
    settings, its 700 steps unless --steps is typed; metrics.json names the recipe and no perceptual loss."""
    import json
    import shutil

    import numpy as np
    from PIL import Image

    from conftest import FIXTURES
    from conftest import run_in_process as zoo3d

    shutil.copytree(FIXTURES / "format1" / "pigan" / "run", in_tmp / "run")
    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)).save(in_tmp / "face.png")
    seen = []
    real = OptimizationInverter.invert

    def spy(self, *args, **kwargs):
        seen.append(self.settings)
        self.settings = OptimizeSettings(**{**vars(self.settings), "steps": 2})  # the test's time, not 700 steps
        return real(self, *args, **kwargs)

    monkeypatch.setattr(OptimizationInverter, "invert", spy)
    for out, steps in (("a", []), ("b", ["--steps", "3"])):
        code, _, err = zoo3d(capsys, "invert", "face.png", "--model", "pigan", "--ckpt", "run", "--recipe", "pigan",
                             "--pose", "0,0", "--frames", "2", *steps, "--out", out)
        assert code == 0, err
    assert seen == [OptimizeSettings.pigan(space="auto"), OptimizeSettings.pigan(space="auto", steps=3)]
    for out, steps in (("a", 700), ("b", 3)):  # the steps the recipe ran, not --steps' default
        metrics = json.loads((in_tmp / out / "face" / "metrics.json").read_text())
        assert (metrics["recipe"], metrics["space"], metrics["steps"], metrics["perceptual"]) == ("pigan", "w+", steps,
                                                                                                  None)
