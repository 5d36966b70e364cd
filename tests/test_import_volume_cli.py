"""``zoo3d import stylesdf|pigan`` through the real CLI, on files the authors' code wrote
(tests/fixtures/releases): the runs sample like any other, and wrong presets get one sentence.

The release files are tiny networks, so the presets they are imported with are the real
``ffhq1024`` / ``celeba`` presets narrowed to the files' widths (written to a temporary presets
folder the model specs are pointed at); everything else is the shipped preset.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import yaml
from PIL import Image
from safetensors import safe_open

from conftest import FIXTURES, one_line_error, run_in_process as zoo3d
from zoo3d.plugins import get_model_spec
from zoo3d.upstream import load_release

RELEASES = FIXTURES / "releases"
NARROW = {
    ("stylesdf", "ffhq1024"): {"generator": {
        "renderer": {"z_dim": 16, "width": 16, "depth": 3, "resolution": 64},
        "decoder": {"output_resolution": 128, "w_dim": 32, "channel_multiplier": 2, "max_channels": 16}}},
    ("pigan", "celeba"): {"generator": {"z_dim": 8, "mapping_hidden": 16, "width": 16}},
}


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(base.get(k, {}), v) if isinstance(v, dict) else v
    return out


@pytest.fixture
def in_tmp(in_tmp, monkeypatch):
    """conftest's in_tmp, with the pi-GAN and StyleSDF presets narrowed (NARROW) in a copy the registry points at."""
    tmp_path = in_tmp
    for model in ("stylesdf", "pigan"):
        spec = get_model_spec(model)
        presets = tmp_path / "presets" / model
        shutil.copytree(spec.presets_dir, presets)
        for (name, preset), narrow in NARROW.items():
            if name == model:
                path = presets / f"{preset}.yaml"
                path.write_text(yaml.safe_dump(_merge(yaml.safe_load(path.read_text()), narrow)))
        monkeypatch.setattr(spec, "presets_dir", presets)
    return tmp_path


def _checkpoint(run):
    with safe_open(str(run / "checkpoints" / "step_000000000.safetensors"), "pt") as fh:
        return fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}


def test_stylesdf_full_model_imports_and_samples(in_tmp, capsys):
    code, out, err = zoo3d(capsys, "import", "stylesdf", RELEASES / "stylesdf_full.pt", "--preset", "ffhq1024",
                           "--out", "run")
    assert code == 0, err
    meta, tensors = _checkpoint(in_tmp / "run")
    config = json.loads(meta["zoo3d.config"])
    assert config["generator"]["renderer"]["convention"] == "upstream" and config["generator"]["decoder"]["enabled"]
    g_ema = load_release(RELEASES / "stylesdf_full.pt")["g_ema"]
    assert bool(tensors["ema.decoder_active"])
    assert torch.equal(tensors["ema.volume.sdf_sharpness"], g_ema["renderer.sigmoid_beta"][0])
    assert torch.equal(tensors["ema.decoder.synthesis.convs.1.noise.noise_const"], g_ema["decoder.noises.noise_2"])
    code, out, err = zoo3d(capsys, "sample", "run", "--seeds", "0-1", "--out", "grid.png", "--device", "cpu")
    assert code == 0, err
    grid = Image.open(in_tmp / "grid.png").convert("RGB")
    assert grid.size[1] == 128 + 4 and len(set(grid.tobytes())) > 50  # the 128^2 decoder output, not blank


def test_stylesdf_volume_renderer_only_file_turns_the_decoder_off(in_tmp, capsys):
    code, out, err = zoo3d(capsys, "import", "stylesdf", RELEASES / "stylesdf_sphere_init.pt", "--preset",
                           "ffhq1024", "--out", "run")
    assert code == 0, err
    assert "only the volume renderer" in out and "stylesdf_sphere_init.pt" in out
    meta, tensors = _checkpoint(in_tmp / "run")
    assert json.loads(meta["zoo3d.config"])["generator"]["decoder"]["enabled"] is False
    code, out, err = zoo3d(capsys, "sample", "run", "--seeds", "0", "--out", "grid.png", "--device", "cpu")
    assert code == 0, err
    assert Image.open(in_tmp / "grid.png").size[1] == 64 + 4  # the volume render itself


@pytest.mark.parametrize("name", ["pigan_ema.pth", "pigan_generator.pth"])
def test_pigan_release_imports_and_samples(in_tmp, capsys, name):
    code, out, err = zoo3d(capsys, "import", "pigan", RELEASES / name, "--preset", "celeba", "--out", "run")
    assert code == 0, err
    meta, tensors = _checkpoint(in_tmp / "run")
    assert json.loads(meta["zoo3d.config"])["generator"]["rendering"]["convention"] == "upstream"
    release = load_release(RELEASES / name)
    if name == "pigan_ema.pth":
        assert "EMA averages" in out
        first, last = release.get("shadow_params")[0], release.get("shadow_params")[-1]
    else:
        assert "ema.pth" in out  # says where the averages are
        siren = release.state["_modules"]["siren"].state["_modules"]
        first = siren["network"].state["_modules"]["0"].state["_modules"]["layer"].state["_parameters"]["weight"]
        last = siren["mapping_network"].state["_modules"]["network"].state["_modules"]["6"].state["_parameters"]["bias"]
    assert torch.equal(tensors["ema.siren.trunk.layers.0.layer.weight"], first)
    assert torch.equal(tensors["ema.mapping.out.bias"], last)
    code, out, err = zoo3d(capsys, "sample", "run", "--seeds", "0-1", "--yaw", "0", "--yaw", "0.3",
                           "--resolution", "16", "--out", "grid.png", "--device", "cpu")
    assert code == 0, err
    assert len(set(Image.open(in_tmp / "grid.png").convert("RGB").tobytes())) > 20


def test_pigan_ema_averages_land_on_the_layers_the_generator_file_names(in_tmp, capsys):
    """The fixture's EMA averages equal the generator's weights, so an import of each must give the same
    tensors everywhere: ema.pth's unnamed list mapped in another order would put a layer in another's place."""
    for name in ("pigan_ema.pth", "pigan_generator.pth"):
        code, _, err = zoo3d(capsys, "import", "pigan", RELEASES / name, "--preset", "celeba", "--out", name)
        assert code == 0, err
    averaged, weights = _checkpoint(in_tmp / "pigan_ema.pth")[1], _checkpoint(in_tmp / "pigan_generator.pth")[1]
    keys = [k for k in weights if k.startswith(("generator.", "ema."))]
    assert keys and sorted(keys) == sorted(k for k in averaged if k.startswith(("generator.", "ema.")))
    for key in keys:
        assert torch.equal(averaged[key], weights[key]), key
    distinct = {tuple(weights[k].flatten()[:4].tolist()) for k in keys if weights[k].dim() == 2}
    assert len(distinct) > 3  # same-shaped layers hold different weights: a swap would show


def test_wrong_stylesdf_preset_names_the_tensor_and_the_preset_that_fits(in_tmp, capsys):
    code, _, err = zoo3d(capsys, "import", "stylesdf", RELEASES / "stylesdf_full.pt", "--preset", "afhq512",
                         "--out", "run")
    line = one_line_error(err)
    assert code == 2 and not (in_tmp / "run").exists()
    assert "'g_ema.style.0.weight' has shape (16, 16) where the preset needs (256, 256)" in line
    assert "preset 'ffhq1024' fits it" in line


def test_a_stylesdf_file_with_tensors_zoo3d_would_drop_is_refused(in_tmp, capsys):
    """Every tensor of g_ema must land somewhere (or be one upstream never computes with): a layer zoo3d's
    model lacks would otherwise be dropped without a word."""
    release = load_release(RELEASES / "stylesdf_full.pt")
    release["g_ema"]["renderer.network.extra_linear.weight"] = torch.zeros(3, 16)
    torch.save(release, in_tmp / "extra.pt")
    code, _, err = zoo3d(capsys, "import", "stylesdf", in_tmp / "extra.pt", "--preset", "ffhq1024", "--out", "run")
    line = one_line_error(err)
    assert code == 2 and not (in_tmp / "run").exists()
    assert "'g_ema.renderer.network.extra_linear.weight', which zoo3d's StyleSDF model has no place for" in line


def test_carla_preset_refuses_a_celeba_network(in_tmp, capsys):
    code, _, err = zoo3d(capsys, "import", "pigan", RELEASES / "pigan_generator.pth", "--preset", "carla",
                         "--out", "run")
    line = one_line_error(err)
    assert code == 2 and "pigan_generator.pth" in line and "SPATIALSIRENBASELINE" in line
    assert "preset 'celeba' fits it" in line


def test_a_stylesdf_file_is_not_a_pigan_release(in_tmp, capsys):
    code, _, err = zoo3d(capsys, "import", "pigan", RELEASES / "stylesdf_full.pt", "--preset", "celeba",
                         "--out", "run")
    line = one_line_error(err)
    assert code == 2 and "stylesdf_full.pt is not a pi-GAN release" in line
    code, _, err = zoo3d(capsys, "import", "stylesdf", RELEASES / "pigan_ema.pth", "--preset", "ffhq1024",
                         "--out", "run")
    line = one_line_error(err)
    assert code == 2 and "pigan_ema.pth is not a StyleSDF checkpoint" in line


def test_a_file_that_several_presets_fit_names_them_all(in_tmp, capsys, monkeypatch):
    """pi-GAN's CelebA, Cats and CARLA networks have the same tensor shapes, so a shape check cannot pick
    one: the refusal names every preset that fits (here a stand-in check in which those three fit)."""
    from zoo3d.upstream import importing

    def fit(plugin, release, config, path):  # stand-in: every preset but tiny (8 samples a ray) fits
        fits = config.generator.rendering.num_steps != 8
        return None, None if fits else "its tensor 'x' has shape (1,) where the preset needs (2,)"

    monkeypatch.setattr(importing, "_fit", fit)
    code, _, err = zoo3d(capsys, "import", "pigan", RELEASES / "pigan_generator.pth", "--preset", "tiny",
                         "--out", "run")
    line = one_line_error(err)
    assert code == 2 and "presets 'carla', 'cats', 'celeba' fit it alike" in line and "choose the one" in line
