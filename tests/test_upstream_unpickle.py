"""Reading the authors' release files without running anything from them.

The release-format files in tests/fixtures/releases were written by the authors' code (see the
README there); the hostile files are made here.
"""

from __future__ import annotations

import os
import pickle
import re
import sys
import types

import numpy as np
import pytest
import torch

from zoo3d.errors import UserError
from zoo3d.upstream import InertObject, load_release, module_state_dict

from conftest import FIXTURES

RELEASES = FIXTURES / "releases"


def _one_sentence(message: str, path) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert str(path) in message
    assert message.endswith(".")
    assert len(re.findall(r"[.!?](?:\s|$)", message)) == 1, message


# --------------------------------------------------------------------------------------------------
# The five formats


def test_gram_state_dict_zip_and_legacy_formats_read_the_same_tensors():
    zipped = load_release(RELEASES / "gram_generator.pth")
    legacy = load_release(RELEASES / "gram_generator_legacy.pth")
    assert len(zipped) == 62 and list(zipped) == list(legacy)
    assert list(zipped)[0] == "representation.sample_network.network.0.weight"
    for name in zipped:
        assert torch.equal(zipped[name], legacy[name]), name
    # torch's own weights-only reader agrees exactly
    reference = torch.load(RELEASES / "gram_generator.pth", weights_only=True)
    assert all(torch.equal(zipped[k], reference[k]) for k in reference)


def test_gram_torch_ema_object_is_a_record_with_shadow_params_in_parameter_order():
    ema = load_release(RELEASES / "gram_ema.pth")
    generator = load_release(RELEASES / "gram_generator.pth")
    assert isinstance(ema, InertObject) and ema.qualname == "torch_ema.ema.ExponentialMovingAverage"
    assert ema.get("decay") == 0.999 and ema.get("num_updates") == 1
    shadow = ema.get("shadow_params")
    assert len(shadow) == len(generator)
    # The file was written after one update following a +0.01 step: warm-up decay 2/11.
    step = 0.01 * (1 - 2 / 11)
    for (name, value), averaged in zip(generator.items(), shadow):
        assert averaged.shape == value.shape, name
        torch.testing.assert_close(averaged, value + step, rtol=0, atol=1e-6)


def test_gram_hd_state_dict():
    state = load_release(RELEASES / "gram_hd_ffhq256.pt")
    assert isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())
    assert {k.split(".")[0] for k in state} == {"representation", "super_resolution", "super_resolution_bg"}
    assert state["super_resolution.conv_first.weight"].shape == (8, 4 + 4, 3, 3)


def test_pigan_whole_pickled_module_gives_its_state_dict_and_attributes():
    generator = load_release(RELEASES / "pigan_generator.pth")
    ema = load_release(RELEASES / "pigan_ema.pth")
    assert generator.qualname == "generators.generators.ImplicitGenerator3d"
    assert generator.get("z_dim") == 8 and generator.get("device") == torch.device("cpu")
    siren = generator.get("_modules")["siren"]
    assert siren.qualname == "siren.siren.SPATIALSIRENBASELINE" and siren.get("hidden_dim") == 16
    state = module_state_dict(generator)
    assert list(state)[:2] == ["siren.network.0.layer.weight", "siren.network.0.layer.bias"]
    assert len(state) == 30 and state["siren.final_layer.weight"].shape == (1, 16)
    # The EMA was taken right after construction: its shadow is the module's parameters, in order.
    shadow = ema.get("shadow_params")
    assert len(shadow) == len(state)
    assert all(torch.equal(a, b) for a, b in zip(shadow, state.values()))
    # a prefix is prepended like torch's state_dict(prefix=...)
    assert list(module_state_dict(siren, "siren."))[0] == "siren.network.0.layer.weight"
    assert generator.get("avg_frequencies").shape == (1, 9 * 16)


def test_eg3d_persistence_pickle_reads_records_without_their_embedded_source():
    snapshot = load_release(RELEASES / "eg3d_snapshot.pkl")
    assert set(snapshot) == {"training_set_kwargs", "G_ema", "augment_pipe"}
    assert snapshot["training_set_kwargs"]["resolution"] == 128
    G = snapshot["G_ema"]
    assert G.qualname == "TriPlaneGenerator"
    kwargs = G.get("_init_kwargs")
    assert kwargs["z_dim"] == 16 and kwargs["rendering_kwargs"]["avg_camera_pivot"] == [0, 0, 0.2]
    # an EasyDict (a dict subclass) is a record whose entries are its items
    assert kwargs["mapping_kwargs"].qualname == "dnnlib.util.EasyDict"
    assert kwargs["mapping_kwargs"].get("num_layers") == 2
    state = module_state_dict(G)
    # The FIR filter buffer has a known value: outer([1,3,3,1]) normalised to sum 1.
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    torch.testing.assert_close(state["backbone.synthesis.b4.resample_filter"], torch.outer(taps, taps) / 64)
    mapping = G.get("_modules")["backbone"].get("_modules")["mapping"]
    assert mapping.get("w_avg_beta") == 0.998
    layer = mapping.get("_modules")["fc0"]
    # numpy scalars (weight_gain = lr_multiplier / np.sqrt(in_features)) come back as Python numbers
    assert isinstance(layer.get("weight_gain"), float)
    assert np.isclose(layer.get("weight_gain"), 0.01 / np.sqrt(16 + 16))
    assert state["backbone.mapping.fc0.weight"].shape == (16, 32)


def test_stylesdf_dict_of_state_dicts():
    release = load_release(RELEASES / "stylesdf_sphere_init.pt")
    assert set(release) == {"g", "g_ema"}
    g_ema = release["g_ema"]
    assert "renderer.network.0.gamma.weight" in g_ema or any(k.startswith("renderer.") for k in g_ema)
    assert module_state_dict(g_ema) == g_ema


# --------------------------------------------------------------------------------------------------
# Hostile files


class _WritesOnLoad:
    """Unpickling this with pickle.load would create ``target``."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


class _OpensOnLoad:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return open, (self.target, "w")


class _SetstateWrites:
    """A class whose own __setstate__ writes a file (pickled normally: NEWOBJ then BUILD)."""

    def __init__(self, target):
        self.target = str(target)

    def __setstate__(self, state):  # pragma: no cover - must never run
        open(state["target"], "w").close()


@pytest.mark.parametrize("payload", [_WritesOnLoad, _OpensOnLoad])
@pytest.mark.parametrize("writer", ["pickle", "torch"])
def test_a_pickle_whose_reduce_would_write_a_file_is_refused_and_nothing_is_written(tmp_path, payload, writer):
    target = tmp_path / "pwned"
    release = tmp_path / f"release.{writer}"
    tree = {"state": {"w": torch.zeros(2)}, "evil": payload(target)}
    if writer == "pickle":
        release.write_bytes(pickle.dumps(tree))
    else:
        torch.save(tree, release)
    with pytest.raises(UserError) as info:
        load_release(release)
    _one_sentence(str(info.value), release)
    assert "refuses" in str(info.value)
    assert not target.exists()


def test_a_class_is_never_imported_nor_its_setstate_run(tmp_path):
    target = tmp_path / "pwned"
    release = tmp_path / "release.pkl"
    release.write_bytes(pickle.dumps({"net": _SetstateWrites(target)}))
    loaded = load_release(release)
    assert isinstance(loaded["net"], InertObject)
    assert loaded["net"].qualname.endswith("_SetstateWrites") and loaded["net"].get("target") == str(target)
    assert not target.exists()


def test_persistence_source_is_never_executed(tmp_path, monkeypatch):
    target = tmp_path / "pwned"
    source = f"open({str(target)!r}, 'w').close()\nclass Net:\n    pass\n"

    # A pickle naming torch_utils.persistence._reconstruct_persistent_obj, as StyleGAN/EG3D writes it.
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - only named by the pickle
        raise AssertionError

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", persistence)

    class Persistent:
        def __reduce__(self):
            meta = dict(type="class", version=6, module_src=source, class_name="Net",
                        state={"_parameters": {"w": torch.ones(3)}, "_buffers": {}, "_modules": {}})
            return _reconstruct_persistent_obj, (meta,)

    release = tmp_path / "snapshot.pkl"
    release.write_bytes(pickle.dumps({"G_ema": Persistent()}))
    loaded = load_release(release)
    assert loaded["G_ema"].qualname == "Net"
    assert torch.equal(module_state_dict(loaded["G_ema"])["w"], torch.ones(3))
    assert not target.exists()


def test_getattr_and_builtins_tricks_are_refused(tmp_path):
    target = tmp_path / "pwned"

    class Trick:
        def __reduce__(self):
            return getattr, (target, "touch")

    release = tmp_path / "trick.pkl"
    release.write_bytes(pickle.dumps(Trick()))
    with pytest.raises(UserError, match="refuses"):
        load_release(release)
    assert not target.exists()


# --------------------------------------------------------------------------------------------------
# Files that are not releases


@pytest.mark.parametrize("name", ["gram_generator.pth", "gram_ema.pth", "pigan_generator.pth", "eg3d_snapshot.pkl",
                                  "gram_generator_legacy.pth"])
def test_truncated_files_give_one_sentence(tmp_path, name):
    data = (RELEASES / name).read_bytes()
    for cut in (len(data) // 2, len(data) - 7, 40):
        broken = tmp_path / f"cut{cut}_{name}"
        broken.write_bytes(data[:cut])
        with pytest.raises(UserError) as info:
            load_release(broken)
        _one_sentence(str(info.value), broken)


@pytest.mark.parametrize("content", [b"", b"hello, this is a text file\n", bytes(range(256)) * 8,
                                     b"\x89PNG\r\n\x1a\n" + b"\0" * 64])
def test_garbage_gives_one_sentence(tmp_path, content):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(UserError) as info:
        load_release(path)
    _one_sentence(str(info.value), path)


def test_an_image_is_not_read_as_a_pickle(tmp_path):
    """A real PNG's bytes, unpickled, met a persistent-id opcode: 'p.png asks for a persistent object'."""
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.new("RGB", (64, 64), (120, 90, 80)).save(path)
    with pytest.raises(UserError, match="is truncated or is not a checkpoint zoo3d can read") as info:
        load_release(path)
    assert "persistent" not in str(info.value)


def test_missing_file_gives_one_sentence(tmp_path):
    with pytest.raises(UserError) as info:
        load_release(tmp_path / "nope.pth")
    _one_sentence(str(info.value), tmp_path / "nope.pth")


def test_module_state_dict_of_something_that_is_not_a_network():
    with pytest.raises(UserError, match="not a network"):
        module_state_dict(InertObject("torch_ema.ema.ExponentialMovingAverage", state={"decay": 0.9}))
