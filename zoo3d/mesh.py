"""Meshes from generated scenes: dense-grid field sampling, marching cubes, and PLY/OBJ files.

Every model exports the same way: a scalar field is sampled on a dense N^3 grid over the cube
``[-b, b]^3`` (world units), and marching cubes extracts the level set ``field == level``
(scikit-image's Lewiner implementation; chosen because it is maintained, BSD-licensed and ships
wheels for every platform). The field is oriented so that *inside is above the level*:

* SDF fields (``kind == "sdf"``, negative inside): field = -SDF, level 0.
* density fields (``kind == "density"``): field = raw density sigma, level
  :data:`DEFAULT_DENSITY_LEVEL` (pi-GAN and EG3D pick such a level by hand; override with ``level``).
* any representation offering :class:`MeshFieldProvider` (e.g. GRAM's radiance manifolds, whose
  authors mesh the radiance generator's alpha on a dense grid at an empirical threshold):
  ``mesh_field(points) -> (values, level)``.

A surface the grid's box cuts is closed there by a flat cap, the grid being padded by one cell of outside
values (EG3D's and StyleSDF's shape extraction overwrite a border of the grid with such values): meshes are
always closed.

Vertex colours, when asked for, are the representation's rgb at each vertex seen from the
frontal camera (view direction -z).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from zoo3d.errors import UserError

__all__ = [
    "DEFAULT_DENSITY_LEVEL", "Mesh", "MeshFieldProvider", "extract_mesh", "grid_points", "marching_cubes",
    "mesh_field_of", "read_obj", "read_ply", "sample_grid", "vertex_colors", "write_mesh", "write_obj", "write_ply",
]

#: Density (per world unit) at which density fields are meshed by default. With pi-GAN's ray
#: sections of ~0.01-0.02 world units this is an opacity of ~10-20 % per section: the visible shell.
DEFAULT_DENSITY_LEVEL = 10.0


@runtime_checkable
class MeshFieldProvider(Protocol):
    """Optional protocol a representation offers to choose its own meshing field.

    mesh_field(points): points (1, P, 3) world -> (values (1, P), level: float); the surface is
    ``values == level`` and the inside has ``values > level``. ``bounds`` (optional attribute,
    world half-extent of the cube to grid) defaults to the exporter's ``bounds`` argument.
    """

    def mesh_field(self, points: Tensor) -> tuple[Tensor, float]: ...


@dataclass
class Mesh:
    """A triangle mesh: vertices (V, 3) float32 world units, faces (F, 3) int64 counter-clockwise
    seen from outside, optional vertex colours (V, 3) uint8."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | None = None

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])


# ------------------------------------------------------------------------------------- sampling
def grid_points(bounds: float, resolution: int, device=None, dtype=None) -> Tensor:
    """(N^3, 3) points of the N x N x N grid over [-bounds, bounds]^3, index order (i, j, k) -> (x, y, z)."""
    axis = torch.linspace(-bounds, bounds, resolution, device=device, dtype=dtype or torch.get_default_dtype())
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)


#: Bytes per grid point an export holds: the float32 values, and marching cubes' own float32 copy and work.
MESH_BYTES_PER_POINT = 16


@torch.no_grad()
def sample_grid(field: Callable[[Tensor], Tensor], bounds: float, resolution: int, chunk: int = 65536,
                device=None, dtype=None) -> Tensor:
    """Evaluate ``field`` (points (1, P, 3) -> values (1, P)) on the grid, ``chunk`` points at a time.

    The points of a chunk are made from their flat indices, so the N^3 x 3 grid never exists at once.
    Returns (N, N, N) values on the CPU (float32), index order (x, y, z) (those of :func:`grid_points`).
    """
    n = resolution
    axis = torch.linspace(-bounds, bounds, n, device=device, dtype=dtype or torch.get_default_dtype())
    values = torch.empty(n ** 3, dtype=torch.float32)
    for s in range(0, n ** 3, chunk):
        flat = torch.arange(s, min(s + chunk, n ** 3), device=axis.device)
        points = torch.stack([axis[flat // (n * n)], axis[(flat // n) % n], axis[flat % n]], dim=-1)
        values[s:s + len(flat)] = field(points.unsqueeze(0)).reshape(-1).float().cpu()
    return values.reshape(n, n, n)


def mesh_field_of(rep, density_level: float = DEFAULT_DENSITY_LEVEL,
                  device=None) -> tuple[Callable[[Tensor], Tensor], float]:
    """The scalar field (points (1, P, 3) -> (1, P), inside above the level) and the level to mesh ``rep`` at.

    ``density_level`` is used for density fields only; a ``mesh_field`` provider's level is read by
    one query at the origin.
    """
    provider = getattr(rep, "mesh_field", None)
    if callable(provider):
        def field(points: Tensor) -> Tensor:
            return provider(points)[0]

        return field, float(provider(torch.zeros(1, 1, 3, device=device or _rep_device(rep)))[1])
    kind = getattr(rep, "kind", None)
    if kind not in ("sdf", "density"):
        raise UserError(f"This model's representation ({type(rep).__name__}) cannot be meshed: it is neither an SDF "
                        "nor a density field and offers no mesh_field(points) (docs/plugins.md, Mesh export).")

    def query(points: Tensor) -> Tensor:
        sigma = rep.query(points, _frontal_dirs(points)).sigma[..., 0]
        return -sigma if kind == "sdf" else sigma

    return query, (0.0 if kind == "sdf" else float(density_level))


def _frontal_dirs(points: Tensor) -> Tensor:
    """View directions (..., 3) of the frontal camera, -z, for fields that want one."""
    dirs = torch.zeros_like(points)
    dirs[..., 2] = -1.0
    return dirs


def _rep_device(rep) -> torch.device:
    """Where to put query points: ``rep.device`` when the representation says, else the CPU."""
    dev = getattr(rep, "device", None)
    return dev if isinstance(dev, torch.device) else torch.device("cpu")


# ------------------------------------------------------------------------------------- marching cubes
def marching_cubes(volume: Tensor | np.ndarray, level: float, bounds: float) -> Mesh:
    """Extract ``volume == level`` from an (N, N, N) grid over [-bounds, bounds]^3 (inside above the level).

    A surface the box cuts (inside values on the grid's faces) is closed there by a flat cap just beyond the
    face (:func:`_closed_at_the_box`), so the mesh is always closed; a surface inside the box is as sampled.
    Raises UserError when the level does not cross the volume (no surface: all inside or all outside).
    """
    from skimage import measure

    vol = _crossed(volume, level)
    n = vol.shape[0]
    spacing = 2.0 * bounds / (n - 1)
    origin = -bounds
    own = False
    if _touches_the_box(vol, level):
        vol, origin, own = _closed_at_the_box(vol, level), -bounds - spacing, True
    vol = _off_the_level(vol, level, own)
    verts, faces, _, _ = measure.marching_cubes(vol, level=level, spacing=(spacing,) * 3,
                                                gradient_direction="ascent")  # faces CCW seen from outside
    verts = verts + origin
    return Mesh(vertices=verts.astype(np.float32), faces=faces.astype(np.int64))


def _crossed(volume: Tensor | np.ndarray, level: float, negated: bool = False) -> np.ndarray:
    """``volume`` as float32 NumPy, refused unless it is finite and the level lies strictly within its values.

    negated: the volume holds -SDF and the level -(the user's SDF level); the refusal states both in SDF units.
    """
    vol = volume.detach().cpu().numpy() if isinstance(volume, Tensor) else np.asarray(volume)
    vol = vol.astype(np.float32, copy=False)  # no copy of a float32 grid: the memory check counts one
    if not np.isfinite(vol).all():
        raise UserError("The field holds NaN or Inf values; no mesh can be extracted.")
    lo, hi = float(vol.min()), float(vol.max())
    if not lo < level < hi:
        if negated:
            level, lo, hi = 0.0 - level, -hi, -lo  # 0.0 - level: no "-0"
        raise UserError(f"The field has no surface at level {level:g} (values range from {lo:.4g} to {hi:.4g}); "
                        "choose another --level.")
    return vol


def _off_the_level(vol: np.ndarray, level: float, own: bool) -> np.ndarray:
    """``vol`` with its samples exactly at the level moved one float32 step inside (in place where ``own``).

    scikit-image's marching cubes leaves holes around such samples (a 4 x 4 x 4 grid of -1, 0 and 1 at level 0
    can give 4 boundary edges); one step above the level they are inside, and the surface passes through them.
    """
    level32 = np.float32(level)
    if float(level32) != level:
        return vol  # no float32 sample equals a level float32 cannot hold
    at = vol == level32
    if not at.any():
        return vol
    if not own:
        vol = vol.copy()
    vol[at] = np.nextafter(level32, np.float32(np.inf))
    return vol


#: Where the cap that closes a surface cut by the grid's box lies: this fraction of a grid cell beyond the box face.
CAP_OFFSET = 1e-3


def _touches_the_box(vol: np.ndarray, level: float) -> bool:
    """Whether any point on the grid's six faces is inside (at or above the level): the surface is cut there."""
    faces = (vol[0], vol[-1], vol[:, 0], vol[:, -1], vol[:, :, 0], vol[:, :, -1])
    return any(bool((face >= level).any()) for face in faces)


def _closed_at_the_box(vol: np.ndarray, level: float) -> np.ndarray:
    """``vol`` padded by one cell of outside values, so marching cubes closes the surface where the box cuts it.

    As EG3D's shape extraction sets a border band of its grid, and StyleSDF's the points outside its frustum, to
    an outside value, but on a layer added around the grid, so no sample is lost. Each padded value lies beyond the level by ``1 / CAP_OFFSET - 1`` times
    as much as its neighbour on the grid's face lies inside, so the cap's vertices lie on a plane ``CAP_OFFSET``
    of a cell beyond the face (on it, the caps of two faces would share the vertices of the box's edges). The
    layer's edges and corners touch no grid point and only need to be outside. One float32 copy of the grid,
    as the export's memory check counts (``MESH_BYTES_PER_POINT``).
    """
    level32 = np.float32(level)
    below = np.nextafter(level32, np.float32(-np.inf))  # strictly outside, also where a face value is the level
    padded = np.full(tuple(d + 2 for d in vol.shape), below, dtype=np.float32)
    padded[1:-1, 1:-1, 1:-1] = vol
    inner = (slice(1, -1),) * 2
    for axis in range(3):
        for side, face in ((0, 0), (-1, -1)):
            edge = np.take(vol, face, axis=axis).astype(np.float64)
            reflected = level32 - (edge - level32) * (1.0 / CAP_OFFSET - 1.0)
            outside = np.clip(np.where(edge > level32, reflected, edge), np.finfo(np.float32).min, below)
            index = inner[:axis] + (side,) + inner[axis:]
            padded[index] = outside
    return padded


@torch.no_grad()
def extract_mesh(rep, resolution: int = 128, level: float | None = None, bounds: float | None = None,
                 chunk: int = 65536, colors: bool = True, device=None, dtype=None) -> Mesh:
    """Mesh one instance (a representation of batch 1) by marching cubes on a dense grid.

    Args:
        rep: a FieldRepresentation or a representation offering ``mesh_field``; batch size 1.
        resolution: grid points per axis. level: overrides the default level, in the field's own units
            (the SDF value for SDF fields, density for density fields, the provider's values for
            ``mesh_field``). bounds: half-extent of the
            cube in world units (default: ``rep.bounds``). colors: add vertex colours from ``rep.query``.
        dtype: of the query points, the generator's (default: torch's default dtype).
    """
    device = device or _rep_device(rep)
    field, default_level = mesh_field_of(rep, device=device)
    bounds = bounds if bounds is not None else getattr(rep, "bounds", None)
    if bounds is None:
        raise UserError(f"This model's representation ({type(rep).__name__}) cannot be meshed: it has no 'bounds' "
                        "attribute (the world half-extent of the cube to grid), which its plugin must set "
                        "(docs/plugins.md, Mesh export).")
    negated = not callable(getattr(rep, "mesh_field", None)) and rep.kind == "sdf"
    if level is None:
        level = default_level
    elif negated:
        level = -float(level)  # the meshing field of an SDF is -SDF (inside above the level)
    volume = sample_grid(field, float(bounds), resolution, chunk=chunk, device=device, dtype=dtype)
    volume = _crossed(volume, level, negated)  # a refusal in the units of --level
    mesh = marching_cubes(volume, level, float(bounds))
    if colors and hasattr(rep, "query"):
        mesh.colors = vertex_colors(rep, mesh.vertices, chunk=chunk, device=device, dtype=dtype)
    return mesh


@torch.no_grad()
def vertex_colors(rep, vertices: np.ndarray, chunk: int = 65536, device=None, dtype=None) -> np.ndarray:
    """(V, 3) uint8 colours: ``rep.query`` rgb in [0, 1] at the vertices, seen along -z (the frontal view)."""
    pts = torch.from_numpy(vertices).to(device=device or _rep_device(rep), dtype=dtype or torch.get_default_dtype())
    out = []
    for s in range(0, pts.shape[0], chunk):
        p = pts[s:s + chunk].unsqueeze(0)
        out.append(rep.query(p, _frontal_dirs(p)).rgb[0].float().clamp(0, 1).cpu())
    rgb = torch.cat(out) if out else torch.zeros(0, 3)
    return (rgb * 255).round().to(torch.uint8).numpy()


# ------------------------------------------------------------------------------------- files
def write_ply(mesh: Mesh, path: str | Path, binary: bool = True) -> Path:
    """Write a PLY file (binary little-endian or ASCII) with float vertices, optional uchar colours, int faces."""
    path = Path(path)
    v = np.ascontiguousarray(mesh.vertices, dtype="<f4")
    f = np.ascontiguousarray(mesh.faces, dtype="<i4")
    c = None if mesh.colors is None else np.ascontiguousarray(mesh.colors, dtype=np.uint8)
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0", "comment zoo3d mesh",
              f"element vertex {len(v)}", "property float x", "property float y", "property float z"]
    if c is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    head = ("\n".join(header) + "\n").encode("ascii")
    from zoo3d.fileio import atomic_path

    with atomic_path(path, "mesh") as tmp, open(tmp, "wb") as fh:
        fh.write(head)
        if binary:
            if c is None:
                fh.write(v.tobytes())
            else:
                record = np.empty(len(v), dtype=[("xyz", "<f4", (3,)), ("rgb", "u1", (3,))])
                record["xyz"], record["rgb"] = v, c
                fh.write(record.tobytes())
            faces = np.empty(len(f), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
            faces["n"], faces["idx"] = 3, f
            fh.write(faces.tobytes())
        else:
            if c is None:
                np.savetxt(fh, v, fmt="%.7g %.7g %.7g")
            else:
                np.savetxt(fh, np.concatenate([v.astype(np.float64), c.astype(np.float64)], axis=1),
                           fmt="%.7g %.7g %.7g %d %d %d")
            np.savetxt(fh, np.concatenate([np.full((len(f), 1), 3), f], axis=1), fmt="%d %d %d %d")
    return path


def read_ply(path: str | Path) -> Mesh:
    """Read a PLY written by :func:`write_ply` (triangles; binary little-endian or ASCII)."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    binary = any(line.startswith("format binary_little_endian") for line in header)
    nv = next(int(x.split()[-1]) for x in header if x.startswith("element vertex"))
    nf = next(int(x.split()[-1]) for x in header if x.startswith("element face"))
    has_color = any(x.startswith("property uchar red") for x in header)
    body = data[end:]
    if binary:
        vdtype = [("xyz", "<f4", (3,))] + ([("rgb", "u1", (3,))] if has_color else [])
        verts = np.frombuffer(body, dtype=vdtype, count=nv)
        faces = np.frombuffer(body, dtype=[("n", "u1"), ("idx", "<i4", (3,))], count=nf,
                              offset=verts.nbytes)
        if (faces["n"] != 3).any():
            raise ValueError(f"{path}: only triangle faces are supported")
        return Mesh(verts["xyz"].copy(), faces["idx"].astype(np.int64),
                    verts["rgb"].copy() if has_color else None)
    lines = body.decode("ascii").split("\n")
    vrows = np.array([line.split() for line in lines[:nv]], dtype=np.float64).reshape(nv, -1)
    frows = np.array([line.split() for line in lines[nv:nv + nf]], dtype=np.int64).reshape(nf, -1)
    return Mesh(vrows[:, :3].astype(np.float32), frows[:, 1:4],
                vrows[:, 3:6].astype(np.uint8) if has_color else None)


def write_obj(mesh: Mesh, path: str | Path) -> Path:
    """Write a Wavefront OBJ (``v x y z [r g b]`` with colours in [0, 1], 1-based ``f`` lines)."""
    path = Path(path)
    from zoo3d.fileio import atomic_path

    v = mesh.vertices.astype(np.float64)
    with atomic_path(path, "mesh") as tmp, open(tmp, "w") as fh:
        fh.write("# zoo3d mesh\n")
        if mesh.colors is not None:
            np.savetxt(fh, np.concatenate([v, mesh.colors.astype(np.float64) / 255.0], axis=1),
                       fmt="v %.7g %.7g %.7g %.4f %.4f %.4f")
        else:
            np.savetxt(fh, v, fmt="v %.7g %.7g %.7g")
        np.savetxt(fh, mesh.faces.astype(np.int64) + 1, fmt="f %d %d %d")
    return path


def read_obj(path: str | Path) -> Mesh:
    """Read the vertices, triangle faces and optional vertex colours of an OBJ written by :func:`write_obj`."""
    verts, cols, faces = [], [], []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            verts.append([float(x) for x in parts[1:4]])
            if len(parts) >= 7:
                cols.append([float(x) for x in parts[4:7]])
        elif parts[0] == "f":
            faces.append([int(x.split("/")[0]) - 1 for x in parts[1:4]])
    colors = (np.round(np.array(cols) * 255).astype(np.uint8) if cols and len(cols) == len(verts) else None)
    return Mesh(np.array(verts, dtype=np.float32).reshape(-1, 3), np.array(faces, dtype=np.int64).reshape(-1, 3),
                colors)


def write_mesh(mesh: Mesh, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``mesh`` as ``fmt`` ("ply" or "obj"; default: from the file suffix)."""
    fmt = (fmt or Path(path).suffix.lstrip(".")).lower()
    if fmt == "ply":
        return write_ply(mesh, path)
    if fmt == "obj":
        return write_obj(mesh, path)
    raise UserError(f"Unsupported mesh format '{fmt}' for '{path}': use ply or obj.")
