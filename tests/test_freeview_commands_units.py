"""``zoo3d export --format glb``, ``render --cached`` and ``view``'s glue, on a stand-in generator with a closed-form
scene (two tilted planes over a 6 x 6 mesh grid: 25 quads, 50 triangles each; the background grid 2 * 37^2).

No model is trained here: what each command says and does is checked against what the stand-in was asked for and
against the cache and the file written out independently.
"""

from __future__ import annotations

import json
import struct
from types import SimpleNamespace

import pytest
import torch

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.errors import UserError
from zoo3d.freeview import commands
from zoo3d.freeview.cache import cache_instance
from zoo3d.freeview.protocol import TexturedLayers
from zoo3d.freeview.render import CachedRenderer
from zoo3d.freeview.server import FileSource, GeneratorSource
from zoo3d.render.texture import TexturedManifolds

TRIANGLES = 2 * 50 + 2 * 37 ** 2
SUMMARY = f"2 manifold layers + background, {TRIANGLES} triangles, textures 4x4, 7x7"


class StandIn:
    """A generator with the cache protocol: s = 100 (z - 0.1 x) at levels 6 and 2, 5 x 5 maps, a 4 x 4 background."""

    z_dim = 4
    resolution = 12

    def __init__(self):
        self.device = torch.device("cpu")
        self.camera_prior = CameraPrior(yaw_mean=0.1, pitch_mean=0.05, fov=13.0)
        self.calls = []

    def represent(self, z, psi):
        self.calls.append((z, psi))
        return z

    def textured_layers(self, representation, camera, texture_resolution=None):
        g = torch.Generator().manual_seed(int(representation.abs().sum() * 1000))
        maps = torch.rand(1, 2, 4, 5, 5, generator=g)
        maps[:, :, 3] = 0.3 + 0.5 * maps[:, :, 3]
        tm = TexturedManifolds(lambda x: 100 * (x[..., 2] - 0.1 * x[..., 0]), maps,
                               torch.rand(1, 3, 4, 4, generator=g), levels=torch.tensor([6.0, 2.0]), extent=0.12)
        self.calls.append(("textured_layers", texture_resolution))
        return TexturedLayers(tm, grid_resolution=4, num_samples=64)


def glb_json(path) -> dict:
    data = path.read_bytes()
    length, kind = struct.unpack_from("<II", data, 12)
    assert data[:4] == b"glTF" and kind == 0x4E4F534A
    return json.loads(data[20:20 + length])


@pytest.fixture  # function-scoped, so a mutation tool sees every test that writes the file
def glb_file(tmp_path):
    gen = StandIn()
    path = tmp_path / "scene.glb"
    commands.export_gltf(gen, "stand_in", 4, 0.6, path)
    return path


def test_export_writes_the_seeds_cache_with_the_model_name_and_says_what_it_wrote(tmp_path):
    gen = StandIn()
    line = commands.export_gltf(gen, "stand_in", 4, 0.6, tmp_path / "scene.glb")
    assert line == f"Wrote {SUMMARY} (seed 4) to {tmp_path / 'scene.glb'}."
    meta = glb_json(tmp_path / "scene.glb")["asset"]["extras"]["zoo3d"]
    assert (meta["model"], meta["seed"], meta["psi"]) == ("stand_in", 4, 0.6)
    assert gen.calls[1] == ("textured_layers", None) and gen.calls[0][1] == 0.6
    assert torch.equal(gen.calls[0][0], torch.randn(1, 4, generator=torch.Generator().manual_seed(4)))
    text = commands.export_gltf(StandIn(), "stand_in", 4, 0.6, tmp_path / "scene.gltf")
    assert text.endswith(f"to {tmp_path / 'scene.gltf'}.")
    assert json.loads((tmp_path / "scene.gltf").read_text())["asset"]["extras"]["zoo3d"]["model"] == "stand_in"


def test_a_texture_resolution_other_than_the_models_maps_is_noted_and_passed_on(tmp_path):
    gen = StandIn()
    line = commands.export_gltf(gen, "stand_in", 4, 0.6, tmp_path / "a.glb", texture_resolution=16)
    assert gen.calls[1] == ("textured_layers", 16)
    assert line.splitlines() == [f"Wrote {SUMMARY} (seed 4) to {tmp_path / 'a.glb'}.",
                                 "note: model 'stand_in' keeps its own 5-pixel maps; --texture-resolution sets the "
                                 "side of baked textures (GRAM) only."]
    # the maps' own side (5), not the stored texture's (7, with its transparent ring), draws no note
    assert "note:" not in commands.export_gltf(StandIn(), "stand_in", 4, 0.6, tmp_path / "b.glb", 5)
    assert "note:" not in commands.export_gltf(StandIn(), "stand_in", 4, 0.6, tmp_path / "c.glb", 0)


def test_render_cached_gives_the_caches_frames_and_a_note_with_the_time_per_frame(monkeypatch):
    gen = StandIn()
    cams = Camera.from_angles([0.0, 0.2], 0.0, 1.0, 13.0)
    ticks = iter([10.0, 10.5, 0.0, 1.0])
    monkeypatch.setattr(commands, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    out, note = commands.render_cached(gen, 3, cams, 0.5, None, "torch", depth=True)
    assert note == f"cached: {SUMMARY}; torch rasterizer, 250.0 ms per frame"  # 0.5 s over two frames
    expected = CachedRenderer(cache_instance(StandIn(), 3, psi=0.5), "torch").render(cams, 12)
    assert torch.equal(out.rgb, expected.rgb) and torch.equal(out.depth, expected.depth)
    assert gen.calls[0][1] == 0.5
    flat, note = commands.render_cached(gen, 3, cams[:1], 0.5, (6, 7), "torch")
    assert flat.rgb.shape == (1, 3, 6, 7) and flat.depth is None
    assert note.endswith("; torch rasterizer, 1000.0 ms per frame")  # one frame in 1 s


def test_render_cached_picks_the_rasterizer_as_auto_does_when_none_is_named(monkeypatch):
    import zoo3d.freeview.gl as gl

    monkeypatch.setattr(gl, "gl_available", lambda: False)
    _, note = commands.render_cached(StandIn(), 3, Camera.from_angles(0.0, 0.0, 1.0, 13.0), 0.5, 8)
    assert note.startswith(f"cached: {SUMMARY}; torch rasterizer, ")


def test_render_cached_closes_its_renderer_when_the_render_fails(monkeypatch):
    closed = []

    class Failing:
        backend = "torch"

        def __init__(self, cache, rasterizer):
            assert rasterizer == "gl"

        def render(self, cameras, res, depth):
            raise RuntimeError("out of memory")

        def close(self):
            closed.append(True)

    import zoo3d.freeview.render as render

    monkeypatch.setattr(render, "CachedRenderer", Failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        commands.render_cached(StandIn(), 0, Camera.from_angles(0.0, 0.0), 0.7, 8, "gl")
    assert closed == [True]


def test_a_gltf_or_a_missing_glb_is_refused_before_any_model_is_loaded(tmp_path):
    def no_model():
        raise AssertionError("the model was loaded")

    with pytest.raises(UserError) as err:
        commands.viewer_source(str(tmp_path / "head.GLTF"), no_model, 0, 0.7)
    assert str(err.value) == (f"The viewer reads binary glTF (.glb); write '{tmp_path / 'head.GLTF'}' again with "
                              f"zoo3d export ... --out {tmp_path / 'head.glb'}.")  # beside the .gltf
    with pytest.raises(UserError) as err:
        commands.viewer_source(str(tmp_path / "none.glb"), no_model, 0, 0.7)
    assert str(err.value) == f"No such file: '{tmp_path / 'none.glb'}'."


def test_a_glb_is_viewed_as_its_one_scene_and_generator_options_are_refused(glb_file, tmp_path):
    def no_model():
        raise AssertionError("the model was loaded")

    source = commands.viewer_source(str(glb_file), no_model, 0, 0.7)
    assert isinstance(source, FileSource) and source.path == glb_file and source.seed == 4
    (tmp_path / "upper").mkdir()
    upper = tmp_path / "upper" / "SCENE.GLB"
    upper.write_bytes(glb_file.read_bytes())
    assert isinstance(commands.viewer_source(str(upper), no_model, 0, 0.7), FileSource)
    for given, verb, pronoun in [(["--seed"], "chooses", "it"), (["--seed", "--psi"], "choose", "them"),
                                 (["--seed", "--psi", "--model"], "choose", "them")]:
        with pytest.raises(UserError) as err:
            commands.viewer_source(str(glb_file), no_model, 0, 0.7, given)
        assert str(err.value) == (f"{' and '.join(given)} {verb} what a generator draws; '{glb_file}' holds one "
                                  f"scene already (view the run with {pronoun} instead).")


def test_a_run_is_served_from_its_generator_after_its_first_scene_is_made():
    gen = StandIn()
    loaded = SimpleNamespace(generator=gen, spec=SimpleNamespace(name="stand_in"), step=1200)
    source = commands.viewer_source("runs/x", lambda: loaded, 9, 0.4)
    assert isinstance(source, GeneratorSource) and source.generator is gen
    assert (source.seed, source.psi, source.label, source.model) == (9, 0.4, "step 1200", "stand_in")
    assert len(gen.calls) == 2 and gen.calls[0][1] == 0.4  # the first scene was made before serving
    assert torch.equal(gen.calls[0][0], torch.randn(1, 4, generator=torch.Generator().manual_seed(9)))
    fresh = SimpleNamespace(generator=StandIn(), spec=SimpleNamespace(name="stand_in"), step=0)
    assert commands.viewer_source(None, lambda: fresh, 0, 0.7).label == "untrained weights"
    bare = SimpleNamespace(generator=StandIn(), spec=SimpleNamespace(name="stand_in"))
    assert commands.viewer_source(None, lambda: bare, 0, 0.7).label == "untrained weights"


def test_a_model_without_manifolds_cannot_be_viewed():
    loaded = SimpleNamespace(generator=object(), spec=SimpleNamespace(name="pigan"), step=5)
    with pytest.raises(UserError) as err:
        commands.viewer_source(None, lambda: loaded, 0, 0.7)
    assert str(err.value) == ("Model 'pigan' has no radiance manifolds to cache, so it cannot be viewed; zoo3d view "
                              "takes gram, gram_hd and gram_inverter runs (or a .glb file).")
