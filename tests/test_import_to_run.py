"""``import_to_run`` with a stand-in model (the toy spheres generator), called as a function.

The release files are ``torch.save`` dicts of the toy generator's weights under upstream-style names
(``toy.net.0.weight``), so the expected run (which tensor goes where, the checkpoint's metadata, the
sentences of a refusal) follows from the file written here, not from the importer's output.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from safetensors import safe_open

from toy_model import ToyModel
from zoo3d.errors import UserError
from zoo3d.upstream import RELEASE_FILE, ImportedRelease
from zoo3d.upstream.importing import first_mismatch, import_to_run

PRESETS = {"small": {"toy": {"z_dim": 8, "stages": 2}}, "wide": {"toy": {"z_dim": 16}},
           "wide_copy": {"toy": {"z_dim": 16}}, "odd": {"toy": {"z_dim": 12}},
           "picky": {"toy": {"z_dim": 8, "r1_gamma": 0.0}}}


class Importer(ToyModel):
    """Reads ``{"toy.<name>": tensor}``; refuses (in the file's name) any release for a preset without R1."""

    imports_releases = True
    built_on: list[str] = []

    def build(self, config):
        Importer.built_on.append(torch.empty(0).device.type)
        return super().build(config)

    def import_release(self, release, config):
        if config.toy.r1_gamma == 0:
            raise UserError(f"{RELEASE_FILE} was trained with R1, which this preset turns off.")
        state = {k.removeprefix("toy."): v for k, v in release.items()}
        return ImportedRelease(state=state, config=config, notes=[f"read the toy weights of {RELEASE_FILE}"],
                               sources={k.removeprefix("toy."): k for k in release})


class MetaShy(Importer):
    """A builder that needs real tensors: it cannot be built on the meta device."""

    def build(self, config):
        if torch.empty(0).device.type == "meta":
            raise RuntimeError("needs data")
        return super().build(config)


@pytest.fixture
def model(tmp_path, monkeypatch):
    """A registered 'toy_importing' model with PRESETS; returns a function that swaps its plugin class."""
    presets = tmp_path / "presets"
    presets.mkdir()
    for name, body in PRESETS.items():
        (presets / f"{name}.yaml").write_text(yaml.safe_dump(body))
    spec = SimpleNamespace(name="toy_importing", version="1.2", presets_dir=presets,
                           presets=lambda: sorted(PRESETS), plugin=Importer)
    spec.load = lambda: spec.plugin()
    monkeypatch.setattr("zoo3d.plugins.get_model_spec", lambda name: spec)
    monkeypatch.setattr(Importer, "built_on", [])
    return spec


def _release(path: Path, z_dim: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = {"net.0.weight": (32, z_dim), "net.0.bias": (32,), "net.2.weight": (4, 32), "net.2.bias": (4,)}
    tensors = {f"toy.{k}": torch.randn(s, generator=g) for k, s in shapes.items()}
    torch.save(tensors, path)
    return tensors


def test_the_run_holds_the_release_as_generator_and_ema_at_step_zero_of_the_last_stage(tmp_path, model):
    path = tmp_path / "toy.pt"
    release = _release(path, 8)
    result = import_to_run("toy_importing", path, "small", tmp_path / "run")
    run = tmp_path / "run"
    assert result.run_dir == run and result.checkpoint == run / "checkpoints" / "step_000000000.safetensors"
    assert {p.name for p in run.iterdir()} == {"config.yaml", "checkpoints", "latest"}
    assert (run / "latest").read_text().strip() == "checkpoints/step_000000000.safetensors"
    assert yaml.safe_load((run / "config.yaml").read_text())["toy"]["z_dim"] == 8
    with safe_open(str(result.checkpoint), "pt") as fh:
        meta, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    for name, value in release.items():
        for copy in ("generator", "ema"):
            assert torch.equal(tensors[f"{copy}.{name.removeprefix('toy.')}"], value), (copy, name)
    # the discriminator (releases carry none) keeps a fresh initialisation of its own shapes
    disc = {k for k in tensors if k.startswith("modules.disc.")}
    assert disc == {"modules.disc.conv.0.weight", "modules.disc.conv.0.bias", "modules.disc.conv.2.weight",
                    "modules.disc.conv.2.bias", "modules.disc.head.weight", "modules.disc.head.bias"}
    assert len(tensors) == 2 * 4 + len(disc)
    assert meta["zoo3d.model"] == "toy_importing" and meta["zoo3d.plugin_version"] == "1.2"
    assert json.loads(meta["zoo3d.config"])["toy"]["stages"] == 2
    # the toy's preset has two stages, "first" and "second": an import starts at the last one
    assert (meta["zoo3d.step"], meta["zoo3d.stage"], meta["zoo3d.stage_index"], meta["zoo3d.stage_step"]) == (
        "0", "second", "1", "0")
    assert (meta["zoo3d.data_cursor"], meta["zoo3d.ema"], meta["zoo3d.optim"], meta["zoo3d.scaler"],
            meta["zoo3d.state"]) == ("0", "1", "{}", "{}", "{}")
    assert meta["zoo3d.imported_from"] == "toy.pt" and meta["zoo3d.imported_preset"] == "small"
    assert meta["zoo3d.imported_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads(meta["zoo3d.import_notes"]) == ["read the toy weights of toy.pt"]
    assert result.imported.notes == ["read the toy weights of toy.pt"]
    # the shapes were checked on a generator built on the meta device (no memory), the run's on the CPU
    assert Importer.built_on == ["meta", "cpu"]


def test_a_one_stage_preset_starts_at_stage_zero(tmp_path, model):
    path = tmp_path / "toy.pt"
    _release(path, 16)
    result = import_to_run("toy_importing", path, "wide", tmp_path / "run")
    with safe_open(str(result.checkpoint), "pt") as fh:
        meta = fh.metadata()
    assert (meta["zoo3d.stage"], meta["zoo3d.stage_index"]) == ("main", "0")


def test_a_builder_that_needs_real_tensors_is_built_on_the_cpu(tmp_path, model):
    model.plugin = MetaShy
    path = tmp_path / "toy.pt"
    release = _release(path, 16)
    result = import_to_run("toy_importing", path, "wide", tmp_path / "run")
    with safe_open(str(result.checkpoint), "pt") as fh:
        assert torch.equal(fh.get_tensor("ema.net.0.weight"), release["toy.net.0.weight"])
    assert Importer.built_on == ["cpu", "cpu"]


@pytest.mark.parametrize("z_dim, hint", [
    (16, "presets 'wide', 'wide_copy' fit it alike (their tensors have the same shapes: choose the one of the data "
         "and network the file was trained with)"),
    (12, "preset 'odd' fits it"),
    (5, "no other toy_importing preset fits it either"),
])
def test_a_release_that_does_not_fit_names_its_tensor_and_the_presets_that_fit(tmp_path, model, z_dim, hint):
    path = tmp_path / "toy.pt"
    _release(path, z_dim)
    with pytest.raises(UserError) as info:
        import_to_run("toy_importing", path, "small", tmp_path / "run")
    assert str(info.value) == (f"{path} does not fit toy_importing preset 'small': its tensor 'toy.net.0.weight' "
                               f"has shape (32, {z_dim}) where the preset needs (32, 8); {hint}.")
    assert not (tmp_path / "run").exists()


def test_an_importers_refusal_names_the_file_and_the_presets_that_take_it(tmp_path, model):
    path = tmp_path / "toy.pt"
    _release(path, 8)
    with pytest.raises(UserError) as info:
        import_to_run("toy_importing", path, "picky", tmp_path / "run")
    assert str(info.value) == f"{path} was trained with R1, which this preset turns off; preset 'small' fits it."
    _release(path, 5)  # no preset fits: the importer's sentence alone
    with pytest.raises(UserError) as info:
        import_to_run("toy_importing", path, "picky", tmp_path / "run")
    assert str(info.value) == f"{path} was trained with R1, which this preset turns off."
    assert not (tmp_path / "run").exists()


def test_the_output_must_be_new_or_an_empty_folder(tmp_path, model):
    path = tmp_path / "toy.pt"
    _release(path, 16)
    (tmp_path / "empty").mkdir()
    assert import_to_run("toy_importing", path, "wide", tmp_path / "empty").checkpoint.is_file()
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("x")
    for out in ("file", "full"):
        with pytest.raises(UserError, match=f"'{tmp_path / out}' already exists and is not an empty folder"):
            import_to_run("toy_importing", path, "wide", tmp_path / out)
    assert (tmp_path / "file").read_text() == "x" and [p.name for p in (tmp_path / "full").iterdir()] == ["notes.txt"]


def test_a_model_without_an_importer_is_refused(tmp_path, model):
    model.plugin = ToyModel
    _release(tmp_path / "toy.pt", 16)
    with pytest.raises(UserError) as info:
        import_to_run("toy_importing", tmp_path / "toy.pt", "wide", tmp_path / "run")
    assert str(info.value) == ("Model 'toy_importing' has no importer for its authors' released checkpoints; zoo3d "
                               "imports the releases of gram, gram_hd, pigan, stylesdf and triplane "
                               "(docs/pretrained.md).")


def _imported(state, sources=None):
    return ImportedRelease(state=state, config=None, sources=sources or {})


def test_first_mismatch_in_the_generators_order():
    expected = {"a": torch.zeros(2, 3), "b": torch.zeros(4), "s": torch.zeros(())}
    fits = {"a": torch.ones(2, 3), "b": torch.ones(4), "s": torch.ones(())}
    assert first_mismatch(expected, _imported(fits)) is None
    assert first_mismatch(expected, _imported({"a": torch.ones(2, 3)})) == "it has no tensor for the generator's 'b'"
    assert first_mismatch(expected, _imported({**fits, "s": torch.ones(1, 1)}, {"s": "up.scale"})) == (
        "its tensor 'up.scale' has shape (1, 1) where the preset needs ()")
    assert first_mismatch(expected, _imported({**fits, "a": torch.ones(3, 2), "b": torch.ones(5)})) == (
        "its tensor 'a' has shape (3, 2) where the preset needs (2, 3)")  # unnamed in the file: zoo3d's name
    assert first_mismatch(expected, _imported({**fits, "c": torch.ones(1), "d": torch.ones(1)}, {"c": "up.c"})) == (
        "its tensor 'up.c' has no place in the preset's generator")
    assert first_mismatch(expected, _imported({**fits, "c": torch.ones(1)}, {"a": "up.a"})) == (
        "its tensor 'c' has no place in the preset's generator")  # unnamed in the file: zoo3d's name
    # a missing tensor is named before a wrong shape that comes later in the generator's order
    assert first_mismatch(expected, _imported({"a": torch.ones(2, 3), "s": torch.ones(2)})) == (
        "it has no tensor for the generator's 'b'")
