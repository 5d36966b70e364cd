"""Marching cubes on analytic fields, mesh orientation and colours, and PLY/OBJ files that read back."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo3d.core.representation import Radiance
from zoo3d.errors import UserError
from zoo3d.mesh import (Mesh, extract_mesh, grid_points, marching_cubes, mesh_field_of, read_obj, read_ply, sample_grid,
                        vertex_colors, write_mesh, write_obj, write_ply)

RADIUS = 0.07


class SphereSDF:
    """An exact sphere SDF, coloured red above y = 0 and blue below."""

    kind = "sdf"
    bounds = 0.12

    def query(self, points, dirs):
        rgb = torch.where(points[..., 1:2] > 0, torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 1.0]))
        return Radiance(rgb=rgb, sigma=points.norm(dim=-1, keepdim=True) - RADIUS)


class GaussianDensity:
    """sigma = A exp(-|p|^2 / (2 s^2)): the level L surface is the sphere of radius s sqrt(2 ln(A / L))."""

    kind = "density"
    bounds = 0.12
    amplitude, scale = 100.0, 0.04

    def query(self, points, dirs):
        sigma = self.amplitude * torch.exp(-points.pow(2).sum(-1, keepdim=True) / (2 * self.scale ** 2))
        return Radiance(rgb=torch.full_like(points, 0.5), sigma=sigma)


class ManifoldLike:
    """No SDF or density: offers its own meshing field (a cube of half-side 0.05, inside above level 0.5)."""

    bounds = 0.1

    def mesh_field(self, points):
        return (points.abs().amax(-1) < 0.05).float(), 0.5


def _radii(mesh: Mesh) -> np.ndarray:
    return np.linalg.norm(mesh.vertices, axis=1)


def test_sdf_sphere_mesh_has_the_sphere_radius_outward_faces_and_the_field_colours():
    mesh = extract_mesh(SphereSDF(), resolution=40)
    r = _radii(mesh)
    assert mesh.num_faces > 500
    assert np.abs(r - RADIUS).max() < 0.01 * RADIUS
    v, f = mesh.vertices, mesh.faces
    normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    assert (np.einsum("ij,ij->i", normals, v[f].mean(1)) > 0).all()  # counter-clockwise seen from outside
    top = mesh.vertices[:, 1] > 0.01
    assert (mesh.colors[top] == [255, 0, 0]).all() and (mesh.colors[mesh.vertices[:, 1] < -0.01] == [0, 0, 255]).all()


@pytest.mark.parametrize("level", [10.0, 50.0])
def test_density_mesh_sits_where_the_density_equals_the_level(level):
    rep = GaussianDensity()
    mesh = extract_mesh(rep, resolution=48, level=level, colors=False)
    expected = rep.scale * math.sqrt(2 * math.log(rep.amplitude / level))
    assert abs(np.median(_radii(mesh)) - expected) < 0.02 * expected
    assert mesh.colors is None


def test_an_sdf_level_is_in_sdf_units():
    mesh = extract_mesh(SphereSDF(), resolution=40, level=0.02, colors=False)
    assert np.abs(_radii(mesh) - (RADIUS + 0.02)).max() < 0.01 * RADIUS


def test_density_default_level_is_documented_value():
    from zoo3d.mesh import DEFAULT_DENSITY_LEVEL

    rep = GaussianDensity()
    default = np.median(_radii(extract_mesh(rep, resolution=32, colors=False)))
    explicit = np.median(_radii(extract_mesh(rep, resolution=32, level=DEFAULT_DENSITY_LEVEL, colors=False)))
    assert default == pytest.approx(explicit)


def test_a_representation_can_offer_its_own_meshing_field():
    mesh = extract_mesh(ManifoldLike(), resolution=41, colors=False)
    assert np.abs(mesh.vertices).max() == pytest.approx(0.05, abs=0.006)


def test_no_surface_is_a_clear_error():
    with pytest.raises(UserError, match="no surface at level 5"):
        marching_cubes(sample_grid(lambda p: p.norm(dim=-1), 0.1, 8), 5.0, 0.1)
    with pytest.raises(UserError, match="cannot be meshed"):
        extract_mesh(type("Opaque", (), {"bounds": 1.0})(), resolution=8)


@pytest.mark.parametrize("writer", ["ply_binary", "ply_ascii", "obj"])
def test_mesh_files_read_back_with_the_same_vertices_faces_and_colours(tmp_path, writer):
    mesh = extract_mesh(SphereSDF(), resolution=16)
    if writer == "ply_binary":
        back = read_ply(write_ply(mesh, tmp_path / "m.ply"))
    elif writer == "ply_ascii":
        back = read_ply(write_ply(mesh, tmp_path / "m.ply", binary=False))
    else:
        back = read_obj(write_obj(mesh, tmp_path / "m.obj"))
    assert back.num_vertices == mesh.num_vertices and back.num_faces == mesh.num_faces
    np.testing.assert_allclose(back.vertices, mesh.vertices, atol=1e-6)
    np.testing.assert_array_equal(back.faces, mesh.faces)
    np.testing.assert_array_equal(back.colors, mesh.colors)


def test_write_mesh_picks_the_format_from_the_suffix_and_rejects_others(tmp_path):
    mesh = Mesh(np.eye(3, dtype=np.float32), np.array([[0, 1, 2]]))
    assert read_obj(write_mesh(mesh, tmp_path / "a.obj")).num_faces == 1
    assert read_ply(write_mesh(mesh, tmp_path / "a.ply")).num_faces == 1
    with pytest.raises(UserError, match="ply or obj"):
        write_mesh(mesh, tmp_path / "a.stl")


class _ConcentricManifolds(torch.nn.Module):
    """GRAM's scalar field as concentric spheres: s = 100 |x| (levels 23 .. 8 -> radii 0.23 .. 0.08)."""

    def forward(self, x):
        return 100 * x.norm(dim=-1)


class _BallRadiance(torch.nn.Module):
    """A radiance network whose sigma is 50 inside |x| < 0.1 and 0 outside (alpha 1 - e^-2 = 0.86 inside)."""

    def forward(self, points, dirs, freq, phase):
        sigma = 50.0 * (points.norm(dim=-1, keepdim=True) < 0.1).float()
        return torch.full_like(points, 0.25), sigma, None


def test_gram_meshes_thresholded_alpha_inside_the_band_of_manifolds():
    """GRAM's authors mesh the radiance generator's alpha on a grid; space no manifold reaches is empty."""
    from zoo3d_gram.representation import GramRepresentation
    from zoo3d_gram_hd.generator import GramHDRepresentation

    rep = GramRepresentation(_ConcentricManifolds(), _BallRadiance(), torch.zeros(1, 1, 1), torch.zeros(1, 1, 1),
                             torch.linspace(23.0, 8.0, 12), -0.12, bounds=0.12)
    mesh = extract_mesh(rep, resolution=64)
    r = np.linalg.norm(mesh.vertices, axis=1)
    # The ball's surface (r = 0.1) and the inner edge of the band (r = 0.08), nothing else.
    outer, inner = np.abs(r - 0.1) < 0.006, np.abs(r - 0.08) < 0.006
    assert (outer | inner).all() and outer.sum() > 500 and inner.sum() > 300
    assert (mesh.colors == 64).all()  # rgb 0.25 -> 64
    # GRAM-HD meshes its LR GRAM: the super-resolution never changes the geometry.
    hd = extract_mesh(GramHDRepresentation(lowres=rep, z=torch.zeros(1, 4)), resolution=64)
    np.testing.assert_array_equal(hd.vertices, mesh.vertices)


def test_the_chunked_grid_is_the_grid_whatever_the_chunk():
    field = lambda p: (p * torch.tensor([1.0, 10.0, 100.0])).sum(-1)  # noqa: E731 - tells x, y and z apart
    whole = field(grid_points(0.1, 9)).reshape(9, 9, 9)
    for chunk in (1, 7, 64, 10_000):
        torch.testing.assert_close(sample_grid(field, 0.1, 9, chunk=chunk), whole, rtol=0, atol=0)


def test_a_float64_field_is_queried_in_float64():
    class Float64Sphere(SphereSDF):
        def query(self, points, dirs):
            assert points.dtype == torch.float64
            out = super().query(points.float(), dirs)
            return Radiance(rgb=out.rgb.double(), sigma=out.sigma.double())

    mesh = extract_mesh(Float64Sphere(), resolution=24, dtype=torch.float64)
    assert mesh.num_faces > 0 and mesh.colors is not None


@pytest.mark.parametrize("args, message", [
    (["--out", "x.glb", "--level", "0.5", "--chunk", "9"], "--chunk and --level set marching cubes (ply, obj)"),
    (["--out", "x.ply", "--texture-resolution", "64"], "--texture-resolution sets the textured layers (glb, gltf)"),
])
def test_export_refuses_options_its_format_would_ignore(tmp_path, capsys, monkeypatch, args, message):
    from conftest import run_in_process

    monkeypatch.chdir(tmp_path)
    code, _, err = run_in_process(capsys, "export", "--model", "oracle", *args)
    assert code == 2 and message in err, err
    assert not list(tmp_path.iterdir())


def test_export_refuses_a_grid_that_cannot_fit_before_loading_the_model(tmp_path, capsys, monkeypatch):
    import zoo3d.limits
    from conftest import run_in_process

    monkeypatch.setattr(zoo3d.limits, "memory_budget", lambda: 2**30)
    code, _, err = run_in_process(capsys, "export", "--model", "gram", "--resolution", "1024",
                                  "--out", str(tmp_path / "x.ply"))  # gram has no run here: the grid is refused first
    assert code == 2 and "--resolution 1024 asks for a grid of 1,073,741,824 points" in err, err


class _Recorder:
    """Records each query's points and answers like the wrapped representation."""

    def __init__(self, rep, device=None):
        self.rep, self.points, self.shapes, self.devices = rep, [], [], []
        self.bounds = rep.bounds
        if device is not None:
            self.device = device

    def _record(self, points):
        self.points.append(points)
        self.shapes.append(tuple(points.shape))
        self.devices.append(points.device.type)


class _RecordedSphere(_Recorder):
    kind = "sdf"

    def query(self, points, dirs):
        self._record(points)
        if points.device.type == "meta":  # no values to compute with: a mid-grey answer on the CPU
            return Radiance(rgb=torch.full((*points.shape[:-1], 3), 0.5), sigma=torch.zeros(*points.shape[:-1], 1))
        return self.rep.query(points, dirs)


class _RecordedField(_Recorder):
    def mesh_field(self, points):
        self._record(points)
        values = torch.zeros(points.shape[:-1], device=points.device)
        return (values, 0.5) if points.device.type == "meta" else self.rep.mesh_field(points)


class SmoothCube:
    """A meshing field whose level set t is the cube of half-side 0.05 - t; it also calls itself an SDF."""

    kind = "sdf"
    bounds = 0.1

    def mesh_field(self, points):
        return 0.05 - points.abs().amax(-1), 0.0


class FacingSphere:
    """The sphere SDF only when seen along -z (its sigma grows by d_z + 1), coloured by the view direction -d."""

    kind = "sdf"
    bounds = 0.12

    def query(self, points, dirs):
        return Radiance(rgb=-dirs, sigma=points.norm(dim=-1, keepdim=True) - RADIUS + dirs[..., 2:] + 1)


class Unclamped:
    """Colours outside [0, 1]: red -0.5, green 0.5, blue 1.5."""

    def query(self, points, dirs):
        return Radiance(rgb=torch.tensor([-0.5, 0.5, 1.5]).expand(*points.shape[:-1], 3), sigma=None)


def test_the_grid_is_in_the_asked_dtype():
    points = grid_points(0.1, 3, dtype=torch.float64)
    assert points.dtype == torch.float64
    assert points[1].tolist() == [-0.1, -0.1, 0.0]  # k varies fastest: (i, j, k) -> (x, y, z)


def test_grid_values_are_float32_whatever_torchs_default_dtype():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        values = sample_grid(lambda p: p.sum(-1), 0.1, 3)
    finally:
        torch.set_default_dtype(previous)
    assert values.dtype == torch.float32
    assert values[2, 2, 2].item() == pytest.approx(0.3) and values[0, 1, 2].item() == pytest.approx(0.0, abs=1e-9)


def test_the_field_is_asked_for_batches_of_one_and_at_most_65536_points_by_default():
    shapes = []

    def field(points):
        shapes.append(tuple(points.shape))
        return points[..., 0]

    sample_grid(field, 0.1, 41)  # 68 921 points
    assert shapes == [(1, 65536, 3), (1, 41 ** 3 - 65536, 3)]


def test_extract_mesh_grids_128_points_a_side_in_chunks_of_65536_by_default():
    rep = _RecordedField(ManifoldLike())
    extract_mesh(rep, colors=False)
    assert rep.shapes[0] == (1, 1, 3)  # the level query
    assert rep.shapes[1:] == [(1, 65536, 3)] * (128 ** 3 // 65536)


def test_the_chunk_bounds_every_query_of_an_export():
    rep = _RecordedSphere(SphereSDF())
    mesh = extract_mesh(rep, resolution=20, chunk=200)
    grid, colours = rep.shapes[:40], rep.shapes[40:]
    assert grid == [(1, 200, 3)] * 40 and 20 ** 3 == 40 * 200
    assert mesh.num_vertices > 400 and all(s[1] <= 200 for s in colours)
    assert sum(s[1] for s in colours) == mesh.num_vertices


def test_a_providers_level_is_read_at_the_origin():
    rep = _RecordedField(SmoothCube())
    assert mesh_field_of(rep)[1] == 0.0
    assert len(rep.points) == 1 and torch.equal(rep.points[0], torch.zeros(1, 1, 3))


def test_a_providers_level_is_in_its_own_units_even_when_it_calls_itself_an_sdf():
    mesh = extract_mesh(SmoothCube(), resolution=21, level=0.02, colors=False)
    assert np.abs(mesh.vertices).max() == pytest.approx(0.03, abs=1e-6)


def test_fields_and_colours_are_seen_from_the_frontal_camera():
    mesh = extract_mesh(FacingSphere(), resolution=40)
    assert np.abs(_radii(mesh) - RADIUS).max() < 0.01 * RADIUS
    assert (mesh.colors == [0, 0, 255]).all()


def test_vertex_colours_are_clamped_bytes_in_chunks():
    shapes = []

    class Counted(Unclamped):
        def query(self, points, dirs):
            shapes.append(tuple(points.shape))
            return super().query(points, dirs)

    colours = vertex_colors(Counted(), np.zeros((10, 3), np.float32), chunk=3)
    assert colours.dtype == np.uint8 and (colours == [0, 128, 255]).all() and colours.shape == (10, 3)
    assert shapes == [(1, 3, 3)] * 3 + [(1, 1, 3)]
    vertex_colors(Counted(), np.zeros((70000, 3), np.float32))
    assert shapes[4:] == [(1, 65536, 3), (1, 70000 - 65536, 3)]
    empty = vertex_colors(Unclamped(), np.zeros((0, 3), np.float32))
    assert empty.dtype == np.uint8 and empty.shape == (0, 3)


def test_queries_go_to_the_representations_device_unless_one_is_given():
    """A representation on the meta device stands in for one on a GPU: the points must be made there."""
    meta = torch.device("meta")
    field = _RecordedField(ManifoldLike(), device=meta)
    assert mesh_field_of(field)[1] == 0.5 and field.devices == ["meta"]
    named = _RecordedField(ManifoldLike(), device="meta")  # not a torch.device: the CPU
    mesh_field_of(named)
    assert named.devices == ["cpu"]
    colours = _RecordedSphere(SphereSDF(), device=meta)
    assert (vertex_colors(colours, np.zeros((4, 3), np.float32)) == 128).all() and colours.devices == ["meta"]
    for rep in (_RecordedField(ManifoldLike(), device=meta), _RecordedSphere(SphereSDF(), device=meta)):
        assert extract_mesh(rep, resolution=24, device=torch.device("cpu")).num_faces > 0
        assert set(rep.devices) == {"cpu"}


def test_explicit_bounds_serve_a_representation_without_them():
    class NoBounds:
        kind = "sdf"
        query = SphereSDF.query

    mesh = extract_mesh(NoBounds(), resolution=25, bounds=0.12, colors=False)
    assert np.abs(_radii(mesh) - RADIUS).max() < 0.01 * RADIUS
    with pytest.raises(UserError) as err:
        extract_mesh(NoBounds(), resolution=8)
    assert str(err.value) == ("This model's representation (NoBounds) cannot be meshed: it has no 'bounds' attribute "
                              "(the world half-extent of the cube to grid), which its plugin must set "
                              "(docs/plugins.md, Mesh export).")


def test_a_field_that_cannot_be_meshed_is_named_in_the_error():
    with pytest.raises(UserError) as err:
        extract_mesh(type("Opaque", (), {"bounds": 1.0})(), resolution=8)
    assert str(err.value) == ("This model's representation (Opaque) cannot be meshed: it is neither an SDF nor a "
                              "density field and offers no mesh_field(points) (docs/plugins.md, Mesh export).")


@pytest.mark.parametrize("level", [0.0, 26.0])
def test_a_level_at_the_fields_minimum_or_maximum_has_no_surface(level):
    volume = np.arange(27, dtype=np.float32).reshape(3, 3, 3)
    with pytest.raises(UserError) as err:
        marching_cubes(volume, level, 1.0)
    assert str(err.value) == (f"The field has no surface at level {level:g} (values range from 0 to 26); "
                              "choose another --level.")


def test_a_field_with_nan_is_refused():
    volume = np.linspace(-1, 1, 27, dtype=np.float32).reshape(3, 3, 3)
    volume[1, 1, 1] = np.nan
    with pytest.raises(UserError) as err:
        marching_cubes(volume, 0.0, 1.0)
    assert str(err.value) == "The field holds NaN or Inf values; no mesh can be extracted."


def test_marching_cubes_takes_arrays_and_tensors_with_a_graph_alike():
    volume = sample_grid(lambda p: RADIUS - p.norm(dim=-1), 0.12, 16)
    expected = marching_cubes(volume.numpy(), 0.0, 0.12)
    assert expected.vertices.dtype == np.float32 and expected.faces.dtype == np.int64
    from_graph = marching_cubes(volume.clone().requires_grad_(), 0.0, 0.12)
    np.testing.assert_array_equal(from_graph.vertices, expected.vertices)
    np.testing.assert_array_equal(from_graph.faces, expected.faces)
