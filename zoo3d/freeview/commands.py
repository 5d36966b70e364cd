"""What ``zoo3d export --format glb|gltf``, ``zoo3d render --cached`` and ``zoo3d view`` do, kept out of the
click modules so they stay small (and importable without torch)."""

from __future__ import annotations

import time
from pathlib import Path

from zoo3d.errors import UserError, shell_word, shown_name


def export_gltf(generator, model: str, seed: int, psi: float, out: str | Path, texture_resolution=None) -> str:
    """Cache seed ``seed`` and write it to ``out`` (.glb or .gltf); returns the line to print."""
    from zoo3d.freeview.cache import cache_instance

    cache = cache_instance(generator, seed, psi=psi, texture_resolution=texture_resolution, model=model)
    return write_cache(cache, f"seed {seed}", out, texture_resolution)


def write_cache(cache, what: str, out: str | Path, texture_resolution=None) -> str:
    """Write ``cache`` (``what``: ``seed 3``, ``inversion 'inv/face'``; its model named in its ``meta``, as
    :func:`~zoo3d.freeview.cache.cache_instance` and :func:`~zoo3d.freeview.cache.cache_inversion` make it) to ``out``
    (.glb or .gltf); returns the line to print."""
    from zoo3d.freeview.cache import cache_summary
    from zoo3d.freeview.gltf import write_gltf

    model = cache.meta.get("model")
    path = write_gltf(cache, out)
    line = f"Wrote {cache_summary(cache)} ({what}) to {path}."
    if texture_resolution and cache.map_resolution and cache.map_resolution != texture_resolution:
        # the protocol lets models with maps of their own ignore the request; say so rather than drop it
        line += (f"\nnote: model '{model}' keeps its own {cache.map_resolution}-pixel maps; "
                 f"--texture-resolution sets the side of baked textures (GRAM) only.")
    return line


def render_cached(generator, seed: int, cameras, psi: float, resolution, rasterizer: str = "auto",
                  depth: bool = False):
    """Frames of seed ``seed`` from its cache (:func:`render_cache`), at ``resolution`` or the generator's."""
    from zoo3d.freeview.cache import cache_instance

    cache = cache_instance(generator, seed, psi=psi)
    return render_cache(cache, cameras, resolution or generator.resolution, rasterizer, depth)


def render_cache(cache, cameras, resolution, rasterizer: str = "auto", depth: bool = False):
    """Frames of ``cache`` (a seed's, an inversion's): (RenderOutput with rgb (and depth when asked) in the generator's
    conventions, a note for the summary line: the rasterizer and its time per frame). A cache without a background
    layer also gives ``extras["picture_depth"]`` (:func:`zoo3d.imageio.picture_depth`): its depth, ``sum w t`` of the
    manifolds alone, fades to 0 where they are part transparent."""
    from zoo3d.freeview.cache import cache_summary
    from zoo3d.freeview.render import CachedRenderer

    renderer = CachedRenderer(cache, rasterizer)
    try:
        start = time.perf_counter()
        out = renderer.render(cameras, resolution, depth=depth)
        per_frame = (time.perf_counter() - start) / max(1, len(cameras))
    finally:
        renderer.close()
    if depth and not any(layer.opaque for layer in cache.layers):
        from zoo3d.imageio import picture_depth

        out.extras["picture_depth"] = picture_depth(out)
    return out, f"cached: {cache_summary(cache)}; {renderer.backend} rasterizer, {per_frame * 1000:.1f} ms per frame"


def viewer_source(run: str | None, loaded_factory, seed: int, psi: float, given: list[str] = ()):
    """The viewer's scene source: a ``.glb`` file, or the model ``loaded_factory()`` loads. ``given`` names the
    generator options the user typed; a file has its one scene, so they are refused there."""
    from zoo3d.freeview.protocol import SupportsManifoldCache
    from zoo3d.freeview.server import FileSource, GeneratorSource

    suffix = next((s for s in (".glb", ".gltf", ".ply", ".obj") if run is not None and run.lower().endswith(s)), "")
    file_like = bool(suffix)
    if file_like and Path(run).is_dir():
        from zoo3d.runs import holds_run

        if not holds_run(Path(run)):  # a run folder so named is viewed as the run it is
            raise UserError(f"'{run}' is a folder, not a {suffix} file, and holds no run; zoo3d view takes a .glb "
                            f"file written by zoo3d export, or a run.")
        file_like = False
    beside = shell_word(str(Path(run).with_suffix(".glb"))) if file_like else ""  # next to the file given
    if file_like and suffix == ".gltf":
        raise UserError(f"The viewer reads binary glTF (.glb); write '{run}' again with "
                        f"zoo3d export ... --out {beside}.")
    if file_like and suffix in (".ply", ".obj"):
        raise UserError(f"The viewer shows a .glb's textured manifold layers, not the marching-cubes mesh in '{run}' "
                        f"(open that in a mesh viewer); write the layers with zoo3d export ... --out {beside}.")
    if file_like:
        if not Path(run).is_file():
            raise UserError(f"No such file: '{run}'.")
        if given:
            one = len(given) == 1
            raise UserError(f"{' and '.join(given)} {'chooses' if one else 'choose'} what a generator draws; "
                            f"'{run}' holds one scene already (view the run with {'it' if one else 'them'} instead).")
        return FileSource(run)
    loaded = loaded_factory()
    gen = loaded.generator
    if not isinstance(gen, SupportsManifoldCache):
        raise UserError(f"Model '{loaded.spec.name}' has no radiance manifolds to cache, so it cannot be viewed; "
                        "zoo3d view takes gram, gram_hd and gram_inverter runs (or a .glb file).")
    label = f"step {loaded.step}" if getattr(loaded, "step", 0) else "untrained weights"
    source = GeneratorSource(gen, seed=seed, psi=psi, label=label, model=loaded.spec.name)
    source.glb(seed)  # the first scene before serving: a failure is reported now, not in the browser
    return source


def inversion_source(folder: str, device: str = "auto"):
    """The viewer's scene of the inversion in ``folder`` (an image's folder zoo3d invert wrote), loaded as
    ``zoo3d render --inversion`` loads it: its cache (:func:`zoo3d.freeview.cache.cache_inversion`) as one scene,
    opening at its input view, within its generator's camera prior."""
    from zoo3d.freeview.cache import cache_inversion
    from zoo3d.freeview.gltf import glb_bytes
    from zoo3d.freeview.server import SceneSource
    from zoo3d.invert.saved import inversion_generator, load_inversion

    inverter, result = load_inversion(folder, device)
    cache = cache_inversion(inverter, result)
    view, shown = cache.meta["input_view"], shown_name(str(folder))
    return SceneSource(glb_bytes(cache), inversion_generator(inverter, result).camera_prior, None,
                       f"inversion {shown}", f"inversion '{shown}'", centre={k: view[k] for k in ("yaw", "pitch")})
