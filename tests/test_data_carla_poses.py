"""GRAM's CARLA poses: ``poses/<stem>_extrinsics.npy`` (GRAF's z-up cam2world) read as GRAM's [phi, theta]."""

import math
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from zoo3d.cameras import Camera
from zoo3d.data.folder import FolderDataset
from zoo3d.data.formats import Source, detect_format, list_dataset


def _graf_cam2world(azimuth: float, elevation: float, radius: float) -> np.ndarray:
    """A GRAF-style camera (z up, OpenGL axes) at ``azimuth`` about +z from +x and ``elevation`` above the
    xy plane, looking at the origin."""
    eye = radius * np.array([math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth),
                             math.sin(elevation)])
    forward = -eye / np.linalg.norm(eye)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, up, -forward, eye
    return m


def _upstream_phi_theta(m: np.ndarray) -> tuple[float, float]:
    """GRAM's loader, as described: rows reordered to (1, 2, 0), then the angles of the translation column."""
    p = m[[1, 2, 0]][:, 3]
    theta = math.atan2(-p[0], p[2]) + math.pi / 2
    phi = math.atan(-p[1] / math.sqrt(p[0] ** 2 + p[2] ** 2)) + math.pi / 2
    return phi, theta


def _wrap(angle: float) -> float:
    return math.atan2(math.sin(angle), math.cos(angle))


#: (stem, azimuth, elevation, radius, rows): above and below the horizon, both yaw signs, 4x4 and 3x4
CASES = [
    ("above", 0.5, 0.4, 10.0, 4),
    ("below", -2.0, -0.2, 3.0, 3),
    ("behind", math.pi / 2 + 0.3, 1.2, 1.0, 4),
    ("front", 0.0, 0.0, 2.5, 3),
    ("unit", 0.0, 0.0, 1.0, 4),  # the centre (1, 0, 0) exactly: a camera at distance 1 is a camera like any other
]


def _write_carla(folder, cases=CASES, size=16):
    (folder / "poses").mkdir(parents=True, exist_ok=True)
    for stem, az, el, r, rows in cases:
        Image.new("RGB", (size, size), (255, 255, 255)).save(folder / f"{stem}.png")
        np.save(folder / "poses" / f"{stem}_extrinsics.npy", _graf_cam2world(az, el, r)[:rows].astype(np.float32))


def test_extrinsics_give_the_analytic_yaw_pitch_at_radius_1_and_fov_30(tmp_path):
    _write_carla(tmp_path)
    source = Source(tmp_path)
    assert detect_format(source) == "gram"
    listing = list_dataset(source)
    assert listing.format == "gram" and not listing.problems
    cams = {r.name: Camera.from_eg3d(torch.tensor(r.camera)[None]) for r in listing.records}
    assert sorted(cams) == sorted(f"{c[0]}.png" for c in CASES)
    for stem, az, el, r, rows in CASES:
        cam = cams[f"{stem}.png"]
        a = cam.to_angles()
        # GRAF azimuth a (counter-clockwise about +z seen from above) is zoo3d yaw -a; elevation is pitch
        assert math.isclose(a["yaw"].item(), _wrap(-az), abs_tol=1e-6), stem
        assert math.isclose(a["pitch"].item(), el, abs_tol=1e-6), stem
        assert math.isclose(a["radius"].item(), 1.0, abs_tol=1e-9) and math.isclose(a["fov"].item(), 30.0)
        phi, theta = (t.item() for t in cam.to_gram())
        up_phi, up_theta = _upstream_phi_theta(_graf_cam2world(az, el, r))
        assert math.isclose(phi, up_phi, abs_tol=1e-6) and math.isclose(_wrap(theta - up_theta), 0, abs_tol=1e-6)
        # the centre is GRAF's, axes (y, z, x) -> zoo3d (x, y, z), scaled to radius 1
        eye = _graf_cam2world(az, el, 1.0)[:3, 3]
        assert np.allclose(cam.origins[0].numpy(), eye[[1, 2, 0]], atol=1e-6), stem
    assert cams["above.png"].to_gram()[0].item() < math.pi / 2 < cams["below.png"].to_gram()[0].item()
    assert cams["above.png"].to_angles()["yaw"].item() < 0 < cams["below.png"].to_angles()["yaw"].item()


def test_camera_helper_matches_the_upstream_formula_for_random_batches():
    rng = np.random.default_rng(0)
    mats = np.stack([_graf_cam2world(rng.uniform(-math.pi, math.pi), rng.uniform(-1.4, 1.4), rng.uniform(0.5, 20))
                     for _ in range(64)])
    mats[:, :3, :3] = rng.normal(size=(64, 3, 3))  # the rotation is not used
    for batch in (mats, mats[:, :3]):
        cam = Camera.from_gram_carla_extrinsics(torch.tensor(batch), dtype=torch.float64)
        phi, theta = cam.to_gram()
        for i, m in enumerate(mats):
            up_phi, up_theta = _upstream_phi_theta(m)
            assert math.isclose(phi[i].item(), up_phi, abs_tol=1e-9)
            assert math.isclose(_wrap(theta[i].item() - up_theta), 0, abs_tol=1e-9)


@pytest.mark.parametrize("bad, why", [
    (np.eye(4)[:, :3], "4x4 or 3x4"),
    (np.zeros(16), "4x4 or 3x4"),
    (np.eye(4)[None], "4x4 or 3x4"),
    (np.full((4, 4), np.nan), "NaN"),
    (np.eye(4), "vertical"),  # centre at the origin
    (_graf_cam2world(0.3, math.pi / 2, 2.0), "vertical"),  # straight above: no yaw
])
def test_bad_extrinsics_are_a_problem_for_that_image_only(tmp_path, bad, why):
    _write_carla(tmp_path)
    Image.new("RGB", (16, 16)).save(tmp_path / "odd.png")
    np.save(tmp_path / "poses" / "odd_extrinsics.npy", bad)
    listing = list_dataset(Source(tmp_path))
    assert [p.file for p in listing.problems] == ["poses/odd_extrinsics.npy"]
    assert why in listing.problems[0].problem
    posed = {r.name: r.camera is not None for r in listing.records}
    assert posed == {"odd.png": False, **{f"{c[0]}.png": True for c in CASES}}
    assert sorted(r.name for r in FolderDataset(tmp_path, 16).records) == sorted(f"{c[0]}.png" for c in CASES)


def test_missing_pose_message_names_the_extrinsics_file(tmp_path):
    _write_carla(tmp_path)
    Image.new("RGB", (16, 16)).save(tmp_path / "lonely.png")
    problems = list_dataset(Source(tmp_path)).problems
    assert len(problems) == 1 and problems[0].file == "lonely.png"
    assert "poses/lonely_extrinsics.npy" in problems[0].problem


def test_carla_zip_is_served_and_mirroring_maps_theta_to_pi_minus_theta(tmp_path):
    folder = tmp_path / "carla"
    cases = [(f"{i:02d}", -3.0 + 0.7 * i, 0.1 + 0.1 * i, 5.0, 3 + i % 2) for i in range(8)]
    _write_carla(folder, cases)
    with zipfile.ZipFile(tmp_path / "carla.zip", "w") as zf:
        for f in sorted(folder.rglob("*")):
            zf.write(f, f.relative_to(folder).as_posix())
    plain = FolderDataset(tmp_path / "carla.zip", 16)
    ds = FolderDataset(tmp_path / "carla.zip", 16, mirror=True)
    assert plain.format == ds.format == "gram" and len(ds) == 8
    items = [ds[i] for i in range(8)]
    assert 0 < sum(it["mirrored"] for it in items) < 8
    for it in items:
        phi0, theta0 = Camera.from_eg3d(plain[it["index"]]["camera"].double()[None]).to_gram()
        phi, theta = Camera.from_eg3d(it["camera"].double()[None]).to_gram()
        expected = math.pi - theta0.item() if it["mirrored"] else theta0.item()
        assert math.isclose(_wrap(theta.item() - expected), 0, abs_tol=1e-5)
        assert math.isclose(phi.item(), phi0.item(), abs_tol=1e-5)
