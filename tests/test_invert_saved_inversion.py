"""``zoo3d invert`` saves each image's inversion (inversion.safetensors) on a trained toy run: loaded again by
``zoo3d.invert.load_inversion`` it draws reconstruction.png's pixels at the input view, PTI's tuned weights come back,
and a checkpoint changed or gone since is refused in one sentence."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from cli_toy import train_toy_run, zoo3d
from cli_toy import toy  # noqa: F401 (a fixture)
from test_invert_cli import toy_image  # noqa: F401 (a fixture)
from toy_model import REAL_COLOUR, render_spheres
from zoo3d.cameras import Camera
from zoo3d.errors import UserError
from zoo3d.imageio import save_image, to_uint8
from zoo3d.invert import load_inversion

#: the input pose given to invert, and the turntable's half range
POSE, YAW_RANGE = (0.25, 0.1), 0.3


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_toy_run(tmp_path_factory, "saved_inversion")


@pytest.fixture
def photo(toy):
    """A reddish sphere seen from POSE, in the test's working folder."""
    cam = Camera.from_angles(*POSE, 1.2, 13.0)
    image = render_spheres(torch.tensor([REAL_COLOUR]), torch.tensor([0.07]), cam, (16, 16)).rgb[0]
    save_image(image, toy / "sphere.png")
    return toy / "sphere.png"


def _invert(photo, ckpt, *args) -> "Path":  # noqa: F821
    code = zoo3d("invert", photo, "--model", "toy", "--ckpt", ckpt, "--method", "optimize", "--pose",
                 ",".join(map(str, POSE)), "--steps", "5", "--frames", "4", "--yaw-range", str(YAW_RANGE), "--out",
                 "inv", *args)
    assert code == 0
    return photo.parent / "inv" / "sphere"


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_the_reloaded_inversion_draws_reconstruction_png_at_the_input_view_with_the_run_it_names(photo, run, capsys):
    from zoo3d.runs import file_sha256

    folder = _invert(photo, run)
    inverter, result = load_inversion(folder, "cpu")
    checkpoint = run / "checkpoints" / "step_000000002.safetensors"
    header = result.extras["header"]
    assert (header["model"], header["checkpoint"], header["sha256"]) == ("toy", str(checkpoint.resolve()),
                                                                        file_sha256(checkpoint))
    assert (header["method"], header["space"], header["steps"], header["ema"]) == ("optimize", "z", 5, True)
    angles = result.cameras.to_angles()
    assert [float(angles["yaw"][0]), float(angles["pitch"][0])] == pytest.approx(POSE, abs=1e-6)
    recon = _png(folder / "reconstruction.png")
    assert np.array_equal(to_uint8(inverter.render(result, result.cameras).rgb[0]), recon)
    start = inverter.restore({"latent": torch.zeros_like(result.latent)}, result.cameras)
    assert not np.array_equal(to_uint8(inverter.render(start, result.cameras).rgb[0]), recon)  # the latent moved


def test_ptis_tuned_weights_come_back_and_draw_its_reconstruction(photo, run, monkeypatch):
    import zoo3d.invert as invert

    results = []
    real_invert = invert.OptimizationInverter.invert

    def recording(self, *args, **kwargs):
        results.append(real_invert(self, *args, **kwargs))
        return results[-1]

    monkeypatch.setattr(invert.OptimizationInverter, "invert", recording)
    folder = _invert(photo, run, "--tune-steps", "3")
    tuned = results[0].generator.state_dict()
    inverter, result = load_inversion(folder, "cpu")
    base = inverter.generator.state_dict()
    assert result.generator is not None and any(not torch.equal(v, base[k]) for k, v in tuned.items())
    assert all(torch.equal(value, tuned[name]) for name, value in result.generator.state_dict().items())
    assert np.array_equal(to_uint8(inverter.render(result, result.cameras).rgb[0]),
                          _png(folder / "reconstruction.png"))


def test_a_checkpoint_changed_or_gone_since_is_refused_in_one_sentence(photo, run):
    from safetensors.torch import load_file, save_file

    from zoo3d.train.checkpoint import read_metadata

    copy = shutil.copytree(run, photo.parent / "copy")
    folder = _invert(photo, copy)
    checkpoint = (copy / "checkpoints" / "step_000000002.safetensors").resolve()
    tensors, meta = load_file(checkpoint), read_metadata(checkpoint)
    name = next(k for k in tensors if k.startswith("generator."))
    save_file({**tensors, name: tensors[name] + 1}, checkpoint, metadata=meta)  # other weights, a valid checkpoint
    with pytest.raises(UserError) as refused:
        load_inversion(folder)
    assert str(refused.value).startswith(f"Checkpoint '{checkpoint}' has changed since inversion "
                                         f"'{folder / 'inversion.safetensors'}' was made with it")
    checkpoint.unlink()
    with pytest.raises(UserError, match="which no longer exists; invert the image again"):
        load_inversion(folder)


def test_resume_inverts_again_an_image_whose_folder_lacks_its_inversion(photo, run, capsys):
    folder = _invert(photo, run)
    (folder / "inversion.safetensors").unlink()  # as an inversion made before invert saved one
    capsys.readouterr()
    folder = _invert(photo, run, "--resume")
    assert "already inverted" not in capsys.readouterr().err
    assert (folder / "inversion.safetensors").is_file()
    assert json.loads((folder / "metrics.json").read_text())["steps"] == 5
    _invert(photo, run, "--resume")
    assert "1 of the 1 image already inverted by this command, passed over" in capsys.readouterr().err


def test_a_checkpoint_free_models_inversion_is_drawn_by_the_model_built_afresh(toy_image, tmp_path, capsys):
    from test_invert_cli import _zoo3d

    code, _, err = _zoo3d(capsys, "invert", str(toy_image), "--model", "toy_procedural", "--pose", "0.1,0", "--steps",
                          "3", "--frames", "1", "--out", str(tmp_path / "inv"))
    assert code == 0, err
    folder = tmp_path / "inv" / "sphere"
    inverter, result = load_inversion(folder, "cpu")
    assert (result.extras["header"]["checkpoint"], result.extras["header"]["sha256"]) == (None, None)
    assert np.array_equal(to_uint8(inverter.render(result, result.cameras).rgb[0]), _png(folder / "reconstruction.png"))
