"""Cache fidelity on the GRAM family: the cached render matches each generator's own render within the training
range of yaw (tiny presets, fixed random weights; a trained GRAM-HD is measured in benchmarks/RESULTS.md)."""

from __future__ import annotations

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.config import load_run_config
from zoo3d.freeview.cache import cache_instance
from zoo3d.freeview.protocol import SupportsManifoldCache
from zoo3d.freeview.render import CachedRenderer
from zoo3d.plugins import get_model_spec
from zoo3d.train.sampling import seed_latents

SEED = 3


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).pow(2).mean()
    return float(-10 * torch.log10(mse))


def tiny_generator(name: str, overrides: tuple[str, ...] = ()):
    """The model's tiny-preset generator with weights fixed by a seed (GRAM-HD switched to its HR render)."""
    spec = get_model_spec(name)
    plugin = spec.load()
    config = load_run_config(plugin.config_class, spec.name, spec.presets_dir, default_preset="tiny",
                             overrides=list(overrides))
    torch.manual_seed(0)
    gen = plugin.build(config)["generator"].eval()
    if hasattr(gen, "super_resolve"):
        gen.super_resolve.fill_(True)
    return gen


YAWS = (-0.3, 0.0, 0.3)  # the prior's yaw is N(0, 0.3)


@pytest.fixture(scope="module")
def gram_hd():
    """The tiny GRAM-HD, its seed's cache, and its own renders at YAWS."""
    gen = tiny_generator("gram_hd")
    cache = cache_instance(gen, SEED, psi=1.0)  # textures made for the prior's frontal camera
    z = seed_latents([SEED], gen.z_dim)
    cams = Camera.from_angles(torch.tensor(YAWS), 0.0, 1.0, gen.camera_prior.fov)
    with torch.no_grad():
        full = [gen(z, cams[i], psi=1.0) for i in range(len(YAWS))]
    return gen, cache, cams, full


def test_cached_gram_hd_matches_its_hr_render_within_the_training_yaws(gram_hd):
    gen, cache, cams, full = gram_hd
    assert isinstance(gen, SupportsManifoldCache)
    renderer = CachedRenderer(cache, "torch")
    for i, yaw in enumerate(YAWS):
        cached = renderer.render(cams[i], full[i].rgb.shape[-1])
        assert psnr(cached.rgb, full[i].rgb) >= 30, yaw
        # depth agrees too: the meshes are the surfaces the renderer intersects
        assert (cached.depth - full[i].depth).abs().median() < 2e-3


def test_a_cache_of_another_seed_does_not_pass_for_this_one(gram_hd):
    gen, cache, cams, full = gram_hd
    other = CachedRenderer(cache_instance(gen, SEED + 1, psi=1.0), "torch").render(cams[1], full[1].rgb.shape[-1])
    same = CachedRenderer(cache, "torch").render(cams[1], full[1].rgb.shape[-1])
    assert psnr(same.rgb, full[1].rgb) > psnr(other.rgb, full[1].rgb) + 10


@pytest.mark.parametrize("name, yaw", [("gram", 0.3), ("gram_inverter", -0.3)])
def test_cached_gram_and_efficient_gram_match_their_renders(name, yaw):
    gen = tiny_generator(name)
    assert isinstance(gen, SupportsManifoldCache)
    cam = Camera.from_angles(yaw, 0.0, 1.0, gen.camera_prior.fov)
    with torch.no_grad():
        full = gen(seed_latents([SEED], gen.z_dim), cam, psi=1.0)
    cached = CachedRenderer(cache_instance(gen, SEED, psi=1.0), "torch").render(cam, full.rgb.shape[-1])
    assert psnr(cached.rgb, full.rgb) >= 30


@pytest.mark.parametrize("backend", ["torch", "gl"])
def test_a_white_background_without_a_plane_is_white_in_the_cache_too(backend):
    """GRAM's CARLA setting: no background plane, white where the manifolds leave the ray uncovered."""
    from zoo3d.freeview.gl import gl_available
    from zoo3d.freeview.gltf import gltf_document

    if backend == "gl" and not gl_available():
        pytest.skip("no headless OpenGL (EGL) here")
    gen = tiny_generator("gram", ("generator.manifold.background_z=null", "generator.render.white_background=true"))
    cam = gen.camera_prior.frontal()
    with torch.no_grad():
        full = gen(seed_latents([SEED], gen.z_dim), cam, psi=1.0)
    cache = cache_instance(gen, SEED, psi=1.0)
    assert cache.backdrop == (1.0, 1.0, 1.0) and not any(lay.opaque for lay in cache.layers)
    assert gltf_document(cache)[0]["asset"]["extras"]["zoo3d"]["backdrop"] == [1.0, 1.0, 1.0]  # for the viewer
    renderer = CachedRenderer(cache, backend)
    try:
        cached = renderer.render(cam, full.rgb.shape[-1])
    finally:
        renderer.close()
    corner = full.rgb[0, :, 0, 0]
    assert bool((corner > 0.5).all())  # the model's own image is near white where little is (black: -1)
    assert psnr(cached.rgb, full.rgb) >= 30


def test_the_texture_resolution_note_compares_the_request_with_the_maps_the_model_made(gram_hd, tmp_path):
    """The note used the stored texture's side, which the transparent ring (and GRAM-HD's magnification) grows:
    a GRAM bake that honoured the request was said to keep 18-pixel maps, and GRAM-HD's own side drew a note."""
    from zoo3d.freeview.commands import export_gltf

    gram = tiny_generator("gram")
    assert "note:" not in export_gltf(gram, "gram", SEED, 0.7, tmp_path / "g.glb", 16)  # baked at 16 as asked
    gen, cache = gram_hd[0], gram_hd[1]
    with torch.no_grad():
        own = gen.textured_layers(gen.represent(seed_latents([SEED], gen.z_dim)), gen.camera_prior.frontal())
    side = own.textured.maps.shape[-1]
    stored = [lay for lay in cache.layers if not lay.opaque][0].texture.shape[-1]
    assert stored != side
    assert "note:" not in export_gltf(gen, "gram_hd", SEED, 0.7, tmp_path / "h.glb", side)  # what it has
    line = export_gltf(gen, "gram_hd", SEED, 0.7, tmp_path / "h.glb", stored)
    assert f"note: model 'gram_hd' keeps its own {side}-pixel maps; --texture-resolution sets the side" in line
