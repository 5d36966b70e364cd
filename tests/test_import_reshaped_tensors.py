"""``zoo3d import`` of a release whose tensors are all there but one has a size zoo3d's layout cannot take.

Some tensors change layout on the way in (EG3D's scalar ``noise_strength`` becomes a (1,) weight, StyleSDF's
(1,) ``sigmoid_beta`` a scalar and its 5-D modulated kernels 4-D). Such a tensor with another size is a file
that does not fit the preset: one sentence naming the tensor as the file names it, with both shapes
(docs/pretrained.md), exit 2 and no run folder, as for every other tensor, not a reshape traceback.
"""

from __future__ import annotations

import importlib
import shutil

import pytest
import torch
import yaml

from conftest import FIXTURES, one_line_error, run_in_process as zoo3d
from zoo3d.plugins import get_model_spec
from zoo3d.upstream import load_release

pytestmark = pytest.mark.usefixtures("single_thread")

RELEASES = FIXTURES / "releases"
#: stylesdf_full.pt's widths (tests/fixtures/releases/README.md) over the ffhq1024 preset
STYLESDF_NARROW = {"renderer": {"z_dim": 16, "width": 16, "depth": 3, "resolution": 64},
                   "decoder": {"output_resolution": 128, "w_dim": 32, "channel_multiplier": 2, "max_channels": 16}}


@pytest.fixture
def narrowed_stylesdf(in_tmp, monkeypatch):
    spec = get_model_spec("stylesdf")
    presets = in_tmp / "presets"
    shutil.copytree(spec.presets_dir, presets)
    path = presets / "ffhq1024.yaml"
    preset = yaml.safe_load(path.read_text())
    for key, value in STYLESDF_NARROW.items():
        preset["generator"][key] = {**preset["generator"].get(key, {}), **value}
    path.write_text(yaml.safe_dump(preset))
    monkeypatch.setattr(spec, "presets_dir", presets)
    return in_tmp


@pytest.mark.parametrize("name, shape, needs", [
    ("renderer.sigmoid_beta", (2,), "()"),
    ("decoder.conv1.conv.weight", (2, 16, 16, 3, 3), "(16, 16, 3, 3)"),
])
def test_stylesdf_tensor_of_another_size_is_named_with_its_shape(narrowed_stylesdf, capsys, name, shape, needs):
    release = torch.load(RELEASES / "stylesdf_full.pt", map_location="cpu", weights_only=True)
    assert release["g_ema"][name].numel() != torch.Size(shape).numel()
    release["g_ema"][name] = torch.zeros(shape)
    torch.save(release, narrowed_stylesdf / "ffhq1024x1024.pt")
    code, _, err = zoo3d(capsys, "import", "stylesdf", "ffhq1024x1024.pt", "--preset", "ffhq1024", "--out", "run")
    line = one_line_error(err)
    assert code == 2 and not (narrowed_stylesdf / "run").exists()
    shown = "(" + ", ".join(map(str, shape)) + ")"
    assert line.startswith("Error: ffhq1024x1024.pt does not fit stylesdf preset 'ffhq1024': ")
    assert f"its tensor 'g_ema.{name}' has shape {shown} where the preset needs {needs}" in line


def _module_record(record, dotted: str):
    """The record of the submodule ``dotted`` names, and the dict (parameters or buffers) holding its tensor."""
    *path, leaf = dotted.split(".")
    for part in path:
        record = record.state["_modules"][part]
    for group in ("_parameters", "_buffers"):
        if leaf in (record.state.get(group) or {}):
            return record.state[group], leaf
    raise KeyError(dotted)


@pytest.mark.parametrize("name, shape", [("backbone.synthesis.b32.conv0.noise_strength", (2,)),
                                         ("backbone.synthesis.b4.torgb.bias", (16, 2))])
def test_eg3d_tensor_of_another_size_is_named_with_its_shape(in_tmp, capsys, monkeypatch, name, shape):
    """EG3D's snapshot is a pickle of class records: the wrong tensor is put into the loaded records (the
    file's bytes cannot be re-pickled without EG3D's classes)."""
    snapshot = load_release(RELEASES / "eg3d_snapshot.pkl")
    tensors, leaf = _module_record(snapshot["G_ema"], name)
    assert tensors[leaf].numel() != torch.Size(shape).numel()
    tensors[leaf] = torch.zeros(shape)
    monkeypatch.setattr(importlib.import_module("zoo3d.upstream.importing"), "load_release", lambda path: snapshot)
    code, _, err = zoo3d(capsys, "import", "triplane", RELEASES / "eg3d_snapshot.pkl", "--preset", "tiny_eg3d",
                         "--out", "run")
    line = one_line_error(err)
    assert code == 2 and not (in_tmp / "run").exists()
    assert "does not fit triplane preset 'tiny_eg3d'" in line
    shown = "(" + ", ".join(map(str, shape)) + ")"
    assert f"its tensor '{name}' has shape {shown} where the preset needs" in line
