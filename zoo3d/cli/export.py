"""``zoo3d export RUN|CKPT --seed S --format ply|obj|glb|gltf --out FILE``: a mesh of one generated instance, or
``zoo3d export --inversion DIR/<image name> --out FILE``: of an image ``zoo3d invert`` inverted.

ply/obj: marching cubes on a dense grid over the representation's bounds (see :mod:`zoo3d.mesh`): SDF
fields at level 0, density fields at a density level (default ``zoo3d.mesh.DEFAULT_DENSITY_LEVEL``),
representations offering ``mesh_field`` at their own level.
glb/gltf: the radiance manifolds as textured layered meshes (:mod:`zoo3d.freeview`), for models that
implement ``textured_layers`` (GRAM, GRAM-HD, GRAMInverter); an inversion's view-dependent colours are baked for its
input view.
"""

from __future__ import annotations

from pathlib import Path

import click

from zoo3d.cli.paths import UserPath
from zoo3d.cli.sample import FINITE, PSI, load_for_cli, model_options, refuse_beside_inversion, typed_options
from zoo3d.errors import UserError, counted, shown_name

FORMATS = ("ply", "obj", "glb", "gltf")
LAYERED_FORMATS = ("glb", "gltf")


@click.command()
@model_options
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="The instance's seed (as in zoo3d sample).")
@click.option("--format", "fmt", type=click.Choice(FORMATS, case_sensitive=False),
              help="Mesh format (default: from the --out suffix, which the file must have); glb/gltf: textured "
                   "manifold layers.")
@click.option("--resolution", type=click.IntRange(min=8, max=1024), default=128, show_default=True,
              help="Grid points per axis.")
@click.option("--level", type=FINITE, default=None,
              help="Iso-level in the field's units: SDF value (default 0), density (default 10), or the "
                   "model's own meshing field (GRAM/GRAM-HD: radiance alpha, default 0.2).")
@click.option("--psi", type=PSI, default=None,
              help="Truncation (default: 0.5 for ply/obj, 0.7 for glb/gltf as in zoo3d render and zoo3d view).")
@click.option("--no-colors", is_flag=True, help="Write geometry only (no vertex colours).")
@click.option("--chunk", type=click.IntRange(1, 2**22), default=65536, show_default=True, help="Grid points per query.")
@click.option("--texture-resolution", type=click.IntRange(min=8, max=4096),
              help="glb/gltf of GRAM: side of the baked textures (default: the generator's resolution).")
@click.option("--inversion", type=UserPath(exists=True),
              help="An image's folder that zoo3d invert wrote (DIR/<image name>, holding inversion.safetensors): "
                   "export that inverted image, with the run it was inverted with.")
@click.option("--out", required=True, type=UserPath(dir_okay=False), help="The mesh file (.ply, .obj, .glb, .gltf).")
def export(run, model, no_ema, device, seed, fmt, resolution, level, psi, no_colors, chunk, texture_resolution,
           inversion, out):
    """Extract a mesh of one generated instance, or of an image zoo3d invert inverted (--inversion): marching cubes
    (ply, obj) or textured manifold layers (glb, gltf)."""
    import torch

    from zoo3d.fileio import check_can_create
    from zoo3d.mesh import extract_mesh
    from zoo3d.train.sampling import seed_latents

    if inversion is not None:
        refuse_beside_inversion(run, "exports")
    name, shown = Path(out).name, shown_name(str(out))  # a '\r' printed raw moves the cursor back over the sentence
    if name.startswith(".") and name.count(".") == 1 and name[1:].lower() in FORMATS:
        raise UserError(f"Cannot write a mesh to '{shown}': the file name is the suffix alone; name it, e.g. "
                        f"'head{name}'.")
    suffix = Path(out).suffix.lstrip(".").lower()
    if fmt and suffix and fmt.lower() != suffix:
        raise UserError(f"--format {fmt.lower()} disagrees with the suffix of '{shown}'; name the file "
                        f"'{shown_name(str(Path(out).with_suffix('.' + fmt.lower())))}' or give --format {suffix}.")
    if fmt and not suffix:  # a file without the suffix every mesh viewer and loader goes by: named, not guessed
        raise UserError(f"--format {fmt.lower()} needs an --out file named *.{fmt.lower()}, not '{shown}'.")
    fmt = (fmt or suffix).lower()
    if fmt not in FORMATS:
        raise UserError(f"Cannot tell the mesh format of '{shown}': give --format ply, obj, glb or gltf, or a file "
                        "name with one of those suffixes.")
    check_can_create(out, "mesh")  # a link leading nowhere, a file on the way: said before the model loads
    ignored = typed_options(*(("chunk", "level", "no_colors", "resolution") if fmt in LAYERED_FORMATS else
                              ("texture_resolution",)))
    if ignored:
        one = len(ignored) == 1
        names = ignored[0] if one else ", ".join(ignored[:-1]) + " and " + ignored[-1]
        kind = "marching cubes (ply, obj)" if fmt in LAYERED_FORMATS else "the textured layers (glb, gltf)"
        article = "an" if fmt[0] in "aeio" else "a"
        raise UserError(f"{names} {'sets' if one else 'set'} {kind}, not {article} {fmt} export; leave "
                        f"{'it' if one else 'them'} out or choose that format.")
    if fmt not in LAYERED_FORMATS:
        from zoo3d.limits import check_grid
        from zoo3d.mesh import MESH_BYTES_PER_POINT

        check_grid("--resolution", resolution, MESH_BYTES_PER_POINT)
    if inversion is not None:
        _export_inversion(inversion, device, fmt, resolution, level, no_colors, chunk, texture_resolution, out)
        return
    loaded = load_for_cli(run, model, device, no_ema, inversion=True)
    gen = loaded.generator
    if fmt in LAYERED_FORMATS:
        from zoo3d.freeview.commands import export_gltf

        click.echo(export_gltf(gen, loaded.spec.name, seed, 0.7 if psi is None else psi, out, texture_resolution))
        return
    psi = 0.5 if psi is None else psi
    with torch.no_grad():
        rep = gen.represent(seed_latents([seed], gen.z_dim, gen.device, gen.dtype), psi=psi)
        _refuse_layers_only(rep, gen, loaded.spec.name)
        mesh = extract_mesh(rep, resolution=resolution, level=level, chunk=chunk, colors=not no_colors,
                            device=gen.device, dtype=gen.dtype)
    _write(mesh, out, fmt)


def _export_inversion(folder: str, device: str, fmt: str, resolution: int, level, no_colors: bool, chunk: int,
                      texture_resolution, out: str) -> None:
    """``zoo3d export --inversion``: the inversion in ``folder`` (as ``zoo3d render --inversion`` loads it) as
    textured layers baked for its input view, or meshed by marching cubes as a seed's representation is."""
    import torch

    from zoo3d.invert.saved import inversion_generator, load_inversion
    from zoo3d.mesh import extract_mesh

    inverter, result = load_inversion(folder, device)
    name = result.extras["header"].get("model")
    if fmt in LAYERED_FORMATS:
        from zoo3d.freeview.cache import cache_inversion
        from zoo3d.freeview.commands import write_cache

        cache = cache_inversion(inverter, result, texture_resolution)
        click.echo(write_cache(cache, f"inversion '{shown_name(str(folder))}'", out, texture_resolution))
        return
    gen, rep = inversion_generator(inverter, result), result.representation
    with torch.no_grad():
        _refuse_layers_only(rep, gen, name)
        mesh = extract_mesh(rep, resolution=resolution, level=level, chunk=chunk, colors=not no_colors,
                            device=getattr(gen, "device", None), dtype=getattr(gen, "dtype", None))
    _write(mesh, out, fmt)


def _write(mesh, out: str, fmt: str) -> None:
    from zoo3d.mesh import write_mesh

    path = write_mesh(mesh, out, fmt)
    click.echo(f"Wrote {counted(mesh.num_vertices, 'vertex', 'vertices')} and {counted(mesh.num_faces, 'face')} "
               f"({fmt}) to {shown_name(str(path))}.")


def _refuse_layers_only(rep, gen, name: str) -> None:
    """A model whose manifolds export only as textured layers (GRAMInverter's feature maps are no field over 3D
    points) is pointed at glb/gltf rather than told what its representation lacks."""
    from zoo3d.freeview.protocol import SupportsManifoldCache

    meshable = callable(getattr(rep, "mesh_field", None)) or getattr(rep, "kind", None) in ("sdf", "density")
    if not meshable and isinstance(gen, SupportsManifoldCache):
        raise UserError(f"Model '{name}' cannot be meshed by marching cubes: its representation "
                        f"({type(rep).__name__}) is neither an SDF nor a density field and offers no "
                        "mesh_field(points); export its textured manifold layers with --out NAME.glb (or .gltf).")
