"""``zoo3d export --out head.ply`` of a model whose manifolds hold feature maps rather than a field over 3D points
(GRAMInverter's Efficient GRAM) is refused in one sentence that points at the textured layers it does export
(``.glb``), as docs/freeview.md says; a model with neither (no field, no layers) still hears what its representation
lacks. The generator is the tiny preset's, with fixed random weights, handed to the command in place of a run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cli_toy import zoo3d
from conftest import one_line_error
from test_freeview_models import tiny_generator


@pytest.fixture(scope="module")
def inverter_generator():
    return tiny_generator("gram_inverter")


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    return tmp_path


def _load(monkeypatch, generator, name):
    from zoo3d.cli import export

    monkeypatch.setattr(export, "load_for_cli", lambda *a, **k: SimpleNamespace(generator=generator,
                                                                               spec=SimpleNamespace(name=name)))


@pytest.mark.parametrize("out", ["head.ply", "head.OBJ"])
def test_feature_manifolds_are_pointed_at_the_glb(here, capsys, monkeypatch, inverter_generator, out):
    _load(monkeypatch, inverter_generator, "gram_inverter")
    assert zoo3d("export", "run", "--resolution", "8", "--out", out) == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: Model 'gram_inverter' cannot be meshed by marching cubes: its representation (FeatureManifolds) is "
        "neither an SDF nor a density field and offers no mesh_field(points); export its textured manifold layers "
        "with --out NAME.glb (or .gltf).")
    assert not list(here.iterdir())


def test_a_representation_with_no_field_and_no_layers_hears_what_it_lacks(here, capsys, monkeypatch):
    class Opaque:
        bounds = 0.1

    class Plain:
        z_dim, device, dtype = 2, "cpu", None

        def represent(self, z, psi):
            return Opaque()

    _load(monkeypatch, Plain(), "plain")
    assert zoo3d("export", "run", "--resolution", "8", "--out", "head.ply") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: This model's representation (Opaque) cannot be meshed: it is neither an SDF nor a density field and "
        "offers no mesh_field(points) (docs/plugins.md, Mesh export).")
