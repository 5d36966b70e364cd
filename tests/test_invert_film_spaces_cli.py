"""``zoo3d invert --method optimize`` into pi-GAN searches W+ (its mapping network's per-layer frequencies and phases,
as pi-GAN's own inversion does): ``--space w+`` and ``auto`` invert there, the saved inversion keeps the W+ code and,
loaded as ``zoo3d render --inversion`` loads it, draws its reconstruction again; ``--space w``, one w broadcast to
every layer, is no space of the model and is refused in one sentence. The model: a 2-step pi-GAN run of 8-wide
layers (the format-1 fixture)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURES
from conftest import run_in_process as zoo3d

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def pigan_run(in_tmp):
    shutil.copytree(FIXTURES / "format1" / "pigan" / "run", in_tmp / "run")
    pixels = (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(in_tmp / "face.png")
    return in_tmp / "run"


def _invert(capsys, run, space: str, out: str):
    return zoo3d(capsys, "invert", run.parent / "face.png", "--model", "pigan", "--ckpt", run, "--method", "optimize",
                 "--space", space, "--pose", "0.1,0", "--steps", "3", "--frames", "2", "--out", run.parent / out)


@pytest.mark.parametrize("space", ["w+", "auto"])
def test_pigan_is_inverted_in_w_plus_and_its_saved_inversion_draws_the_reconstruction_again(pigan_run, capsys, space):
    from zoo3d.imageio import to_uint8
    from zoo3d.invert import load_inversion

    code, out, err = _invert(capsys, pigan_run, space, "inv")
    assert code == 0, err
    folder = pigan_run.parent / "inv" / "face"
    assert json.loads((folder / "metrics.json").read_text())["space"] == "w+"
    inverter, result = load_inversion(folder, "cpu")
    gen = inverter.generator
    assert result.extras["header"]["space"] == "w+" and result.latent.shape == (1, gen.num_ws, gen.w_dim)
    assert not np.array_equal(result.latent.numpy(), gen.mean_latent().numpy())  # the steps moved it from the mean
    recon = np.asarray(Image.open(folder / "reconstruction.png").convert("RGB"))
    assert np.array_equal(to_uint8(inverter.render(result, result.cameras).rgb[0]), recon)


def test_a_broadcast_w_is_refused_naming_the_spaces_pigan_has(pigan_run, capsys):
    code, out, err = _invert(capsys, pigan_run, "w", "o")
    assert code == 2 and err.strip() == (
        "Error: Model 'pigan' can be inverted in z and w+ only, not --space w: its mapping network gives every layer "
        "a w of its own (W+), so no single w is broadcast to all; give --space w+, z or auto.")
    assert not (pigan_run.parent / "o").exists()
