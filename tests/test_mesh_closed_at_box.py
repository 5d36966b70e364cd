"""Surfaces the grid's box cuts are closed there: closed forms for a clipped sphere and a slab, and surfaces
inside the box exactly as marching cubes gives them."""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage import measure

from zoo3d.core.representation import Radiance
from zoo3d.mesh import CAP_OFFSET, extract_mesh, marching_cubes, sample_grid


def _edges(faces: np.ndarray) -> np.ndarray:
    """(3F, 2) directed edges of the triangles, in their winding."""
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def _boundary_edges(faces: np.ndarray) -> int:
    """Undirected edges that only one triangle holds: the rims of holes."""
    _, counts = np.unique(np.sort(_edges(faces), axis=1), axis=0, return_counts=True)
    return int((counts == 1).sum())


def _euler_characteristic(vertices: np.ndarray, faces: np.ndarray) -> int:
    edges = np.unique(np.sort(_edges(faces), axis=1), axis=0)
    return len(vertices) - len(edges) + len(faces)


def _volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Enclosed volume by the divergence theorem: positive when the triangles wind counter-clockwise from outside."""
    v = vertices.astype(np.float64)[faces]
    return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6)


class BigSphereSDF:
    """A sphere of radius 1.2 in the box [-1, 1]^3: the six faces cut off six caps that do not meet (1.2 < sqrt 2)."""

    kind = "sdf"
    bounds = 1.0
    radius = 1.2

    def query(self, points, dirs):
        return Radiance(rgb=torch.full_like(points, 0.5), sigma=points.norm(dim=-1, keepdim=True) - self.radius)


def test_a_sphere_larger_than_the_box_is_a_closed_outward_surface_of_the_clipped_volume():
    rep = BigSphereSDF()
    mesh = extract_mesh(rep, resolution=24, colors=False)
    v, f = mesh.vertices, mesh.faces
    assert _boundary_edges(f) == 0
    assert _euler_characteristic(v, f) == 2  # one closed surface, a sphere's topology
    directed = np.unique(_edges(f), axis=0)
    assert len(directed) == 3 * len(f)  # every edge is walked once each way: the winding agrees across it
    r, h = rep.radius, rep.radius - rep.bounds
    clipped = 4 / 3 * math.pi * r ** 3 - 6 * math.pi * h * h * (3 * r - h) / 3  # sphere less six caps of height h
    assert _volume(v, f) > 0  # outward winding
    assert abs(_volume(v, f) - clipped) < 0.005 * clipped  # 24 points a side: chords of a 0.087 cell lose ~0.2 %


def test_a_slab_cut_by_five_faces_encloses_the_box_below_its_plane_with_caps_just_beyond_the_faces():
    b, n, top = 1.0, 9, 0.3  # inside where z < 0.3: a linear field, which marching cubes meshes exactly
    mesh = marching_cubes(sample_grid(lambda p: top - p[..., 2], b, n), 0.0, b)
    v, f = mesh.vertices, mesh.faces
    assert _boundary_edges(f) == 0 and _euler_characteristic(v, f) == 2
    beyond = b + CAP_OFFSET * 2 * b / (n - 1)  # the caps lie CAP_OFFSET of a cell beyond the faces they close
    np.testing.assert_allclose(np.abs(v[:, :2]).max(axis=0), [beyond, beyond], rtol=1e-6)
    assert v[:, 2].min() == np.float32(-beyond) and np.abs(v[:, 2].max() - top) < 1e-6
    # the box below the plane, and at most the caps' own thickness more (where the plane meets a cap, the cap's rim
    # runs from the plane on the face down to the grid row below it beyond the face)
    box, caps = (2 * b) ** 2 * (top + b), 4 * (2 * b) * (top + b) + (2 * b) ** 2
    assert 0 < _volume(v, f) - box <= (beyond - b) * caps


def test_a_surface_inside_the_box_is_exactly_the_marching_cubes_surface():
    b, n = 1.0, 20
    volume = sample_grid(lambda p: 0.8 - p.norm(dim=-1), b, n)
    mesh = marching_cubes(volume, 0.0, b)
    spacing = 2 * b / (n - 1)
    verts, faces, _, _ = measure.marching_cubes(volume.numpy(), level=0.0, spacing=(spacing,) * 3,
                                                gradient_direction="ascent")
    np.testing.assert_array_equal(mesh.vertices, (verts - b).astype(np.float32))
    np.testing.assert_array_equal(mesh.faces, faces)


def test_a_face_value_at_the_level_itself_still_closes_the_surface():
    b, n = 1.0, 9
    volume = sample_grid(lambda p: 0.5 - p.norm(dim=-1), b, n)
    volume[-1, 4, 4] = 0.0  # one point on the +x face exactly at the level, a pinhole the cap must cover
    volume[-2, 4, 4] = 0.3
    mesh = marching_cubes(volume, 0.0, b)
    assert _boundary_edges(mesh.faces) == 0


def test_samples_exactly_at_the_level_leave_no_hole():
    # a quantised field (-1, 0, 1) at level 0, away from the box: marching cubes alone gives this one 4 boundary edges
    volume = np.full((4, 4, 4), -1.0, dtype=np.float32)
    volume[1:3, 1:3, 1:3] = [[[0, 1], [1, -1]], [[1, 1], [0, 1]]]
    kept = volume.copy()
    mesh = marching_cubes(volume, 0.0, 1.0)
    assert _boundary_edges(mesh.faces) == 0 and _volume(mesh.vertices, mesh.faces) > 0
    np.testing.assert_array_equal(volume, kept)  # the caller's grid is not changed


def test_a_quantised_field_is_closed_whatever_its_values_at_the_level():
    rng = np.random.default_rng(0)
    for _ in range(40):
        volume = np.round(rng.standard_normal((5, 5, 5))).astype(np.float32)
        if volume.min() < 0 < volume.max():
            assert _boundary_edges(marching_cubes(volume, 0.0, 1.0).faces) == 0
