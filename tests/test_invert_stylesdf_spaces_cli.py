"""``zoo3d invert --method optimize`` into StyleSDF searches W+ (the renderer's w per FiLM layer, then, once the
decoder renders, the decoder's per decoder layer) or, before the decoder renders, W: ``--space w+`` and ``auto``
invert in W+, ``w`` in W on a run stopped before the decoder stage and is refused in one sentence after it, and the
saved inversion, drawn again by ``zoo3d render --inversion`` at its input view, gives its reconstruction.png pixel
for pixel. The models: a 2-step run of the tiny preset, narrowed (the volume renderer's stage), and a 3-step run
of 8-wide layers into the decoder stage (the format-1 fixture)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FIXTURES
from conftest import run_in_process as zoo3d

pytestmark = pytest.mark.usefixtures("single_thread")

NARROW = ["generator.renderer.z_dim=8", "generator.renderer.depth=2", "generator.renderer.width=8",
          "generator.renderer.resolution=8", "generator.renderer.num_samples=4", "generator.decoder.w_dim=8",
          "generator.decoder.max_channels=4", "discriminator.channel_scale=0.03", "data.spec=synthetic:heads?count=2"]


@pytest.fixture(scope="module")
def volume_run(tmp_path_factory):
    """A 2-step tiny StyleSDF run: its checkpoint is in the volume renderer's stage (the decoder does not render)."""
    from cli_toy import one_thread, zoo3d as status_of
    from zoo3d.plugins import reset_host

    out = tmp_path_factory.mktemp("stylesdf") / "run"
    with one_thread():
        code = status_of("train", "stylesdf", "--preset", "tiny", "--steps", "2", "--quiet", "--out", out,
                         *[a for s in NARROW for a in ("--set", s)])
        reset_host()
    assert code == 0
    return out


@pytest.fixture
def runs(in_tmp, volume_run):
    shutil.copytree(FIXTURES / "format1" / "stylesdf" / "run", in_tmp / "decoder")
    pixels = (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(in_tmp / "face.png")
    return {"volume": volume_run, "decoder": in_tmp / "decoder"}


def _invert(capsys, runs, run: str, space: str):
    return zoo3d(capsys, "invert", "face.png", "--model", "stylesdf", "--ckpt", runs[run], "--method", "optimize",
                 "--space", space, "--pose", "0.1,0", "--steps", "3", "--frames", "2", "--out", "inv")


@pytest.mark.parametrize("run, space, searched", [("volume", "w+", "w+"), ("volume", "w", "w"),
                                                   ("decoder", "w+", "w+"), ("decoder", "auto", "w+")])
def test_stylesdf_is_inverted_in_w_and_w_plus_and_render_draws_the_reconstruction_again(runs, in_tmp, capsys,
                                                                                          run, space, searched):
    from zoo3d.invert import load_inversion

    code, out, err = _invert(capsys, runs, run, space)
    assert code == 0, err
    folder = in_tmp / "inv" / "face"
    assert json.loads((folder / "metrics.json").read_text())["space"] == searched
    inverter, result = load_inversion(folder, "cpu")
    gen = inverter.generator
    assert gen.decoder_renders == (run == "decoder")
    assert result.extras["header"]["space"] == searched
    assert result.latent.shape == (1, gen.num_ws, gen.w_dim)  # W is kept broadcast, as W+
    assert torch.equal(result.latent[0, 0], result.latent[0, 1]) == (searched == "w")
    code, out, err = zoo3d(capsys, "render", "--inversion", folder, "--frames", "1", "--yaw-range", "0",
                           "--pitch-range", "0", "--out", "again.png")
    assert code == 0, err
    again = np.asarray(Image.open(in_tmp / "again.png").convert("RGB"))
    assert np.array_equal(again, np.asarray(Image.open(folder / "reconstruction.png").convert("RGB")))


def test_a_broadcast_w_is_refused_once_the_decoder_renders(runs, in_tmp, capsys):
    code, out, err = _invert(capsys, runs, "decoder", "w")
    assert code == 2 and err.strip() == (
        "Error: Model 'stylesdf' can be inverted in z and w+ only, not --space w: its 2D decoder reads the w of a "
        "mapping network of its own, fed the renderer's, so no single w is broadcast to the renderer's and the "
        "decoder's layers; give --space w+, z or auto.")
    assert not (in_tmp / "inv").exists()
