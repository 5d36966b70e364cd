"""Pose files in each upstream convention read as the camera the upstream code places, and bad ones refused.

The expected cameras are built here from the upstream formulas written out in numpy: GRAM's loaders
(``datasets.py``: ``read_pose``, ``read_pose_npy``) and camera origins (``generators.py``:
``get_camera_origins``), and EG3D's ``LookAtPoseSampler`` with ``create_cam2world_matrix``
(``camera_utils.py``) and its FFHQ focal 4.2647, not with zoo3d's own camera code.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from zoo3d.data.formats import Source, list_dataset


def _eg3d_cam2world(origin: np.ndarray, target=(0.0, 0.0, 0.0)) -> np.ndarray:
    """EG3D's ``create_cam2world_matrix``: y up, no roll; columns right, 'up' (image down), forward, centre."""
    forward = np.asarray(target) - origin
    forward /= np.linalg.norm(forward)
    right = -np.cross([0.0, 1.0, 0.0], forward)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, down / np.linalg.norm(down), forward, origin
    return m


def _intrinsics(focal: float) -> np.ndarray:
    """Normalised intrinsics of a square image, principal point at its centre."""
    return np.array([[focal, 0, 0.5], [0, focal, 0.5], [0, 0, 1.0]])


def _fov_intrinsics(fov_degrees: float) -> np.ndarray:
    """Intrinsics for this full vertical field of view, to the image edges."""
    return _intrinsics(0.5 / math.tan(math.radians(fov_degrees) / 2))


def _label(m: np.ndarray, k: np.ndarray) -> np.ndarray:
    return np.concatenate([m.reshape(-1), k.reshape(-1)])


def _gram_origin(phi: float, theta: float, r: float = 1.0) -> np.ndarray:
    """GRAM's ``get_camera_origins``: phi the polar angle from +y, theta the azimuth from +x towards +z."""
    return r * np.array([math.sin(phi) * math.cos(theta), math.cos(phi), math.sin(phi) * math.sin(theta)])


def _gram_label(phi: float, theta: float, fov: float = 12.0) -> np.ndarray:
    return _label(_eg3d_cam2world(_gram_origin(phi, theta)), _fov_intrinsics(fov))


def _images(folder, *stems):
    for stem in stems:
        Image.new("RGB", (8, 8)).save(folder / f"{stem}.png")


def _cameras(folder) -> dict[str, np.ndarray | None]:
    listing = list_dataset(Source(folder))
    assert not listing.problems and not listing.notes, (listing.problems, listing.notes)
    return {r.name: r.camera for r in listing.records}


NON_FINITE = "pose has NaN or infinite values"
MAT_RANGE = "pose out of range: angle components must be within [-pi, pi]: they are radians ([{}] degrees is [{}])"
NPY_COUNT = "missing pose (the _pose.npy file must hold 2 numbers)"
NPY_RANGE = "pose out of range: [pitch, yaw] must be pi/2-centred radians"
YAW_RANGE = "pose out of range: 'yaw' is {}, outside [-pi, pi]; yaw and pitch are radians ({} degrees is {})"
PITCH_RANGE = "pose out of range: 'pitch' is {}, outside (-pi/2, pi/2); yaw and pitch are radians ({} degrees is {})"
RADIUS = "pose out of range: 'radius' is {}; it is the camera's distance from the origin, above 0"
FOV = "pose out of range: 'fov' is {}, outside (0, 180); it is the image's full vertical field of view in degrees"
NO_ANGLES = "missing pose (frame has neither 'camera' nor 'yaw'/'pitch')"

#: GRAM FFHQ ``angle`` = [pitch, yaw, roll] (Deep3DFaceRecon): level, turned both ways, up and down, rolled
MAT_ANGLES = [(0.1, 0.0, 0.0), (0.0, 0.4, 0.0), (0.25, -0.6, 0.3), (-0.2, 0.15, -1.0), (math.pi, 0.0, 0.0)]


def test_gram_mat_angle_gives_the_camera_grams_loader_places(tmp_path):
    (tmp_path / "poses").mkdir()
    for i, angle in enumerate(MAT_ANGLES):
        _images(tmp_path, f"f{i}")
        savemat(tmp_path / "poses" / f"f{i}.mat", {"angle": np.array([angle])})
    cams = _cameras(tmp_path)
    for i, (pitch, yaw, _roll) in enumerate(MAT_ANGLES):
        phi, theta = -(pitch - 0.1) + math.pi / 2, yaw + math.pi / 2  # GRAM's read_pose
        assert np.allclose(cams[f"f{i}.png"], _gram_label(phi, theta), atol=1e-9), MAT_ANGLES[i]
    # angle[0] = 0.1 is GRAM's level camera: frontal, at +z, looking down -z, image down is world -y
    assert np.allclose(cams["f0.png"][:16].reshape(4, 4)[:3], [[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 1]], atol=1e-12)


def test_gram_mat_roll_is_dropped_and_only_the_first_row_of_angle_is_read(tmp_path):
    (tmp_path / "poses").mkdir()
    _images(tmp_path, "a", "b", "c")
    savemat(tmp_path / "poses" / "a.mat", {"angle": np.array([[0.3, -0.2, 0.0]])})
    savemat(tmp_path / "poses" / "b.mat", {"angle": np.array([[0.3, -0.2, 1.2]])})
    savemat(tmp_path / "poses" / "c.mat", {"angle": np.array([0.3, -0.2, -2.0]), "other": np.ones(5)})
    cams = _cameras(tmp_path)
    assert np.array_equal(cams["a.png"], cams["b.png"]) and np.array_equal(cams["a.png"], cams["c.png"])


#: GRAM cats ``_pose.npy`` = [pitch, yaw], pi/2-centred
NPY_POSES = [(math.pi / 2 - 0.14, math.pi / 2), (1.2, 2.0), (2.5, 0.9), (0.05, math.pi / 2 + 3.0)]


def test_gram_cats_pose_npy_gives_the_camera_grams_loader_places(tmp_path):
    (tmp_path / "poses").mkdir()
    for i, pose in enumerate(NPY_POSES):
        _images(tmp_path, f"c{i}")
        np.save(tmp_path / "poses" / f"c{i}_pose.npy", np.array(pose, dtype=np.float32))
    cams = _cameras(tmp_path)
    for i, pose in enumerate(NPY_POSES):
        phi, theta = float(np.float32(pose[0])) + 0.14, float(np.float32(pose[1]))  # GRAM's read_pose_npy
        assert np.allclose(cams[f"c{i}.png"], _gram_label(phi, theta), atol=1e-9), pose
    assert np.allclose(cams["c0.png"][:16].reshape(4, 4)[:3, 3], [0, 0, 1], atol=1e-7)  # frontal


def test_a_mat_file_wins_over_a_pose_npy_and_that_over_extrinsics(tmp_path):
    (tmp_path / "poses").mkdir()
    _images(tmp_path, "x", "y")
    savemat(tmp_path / "poses" / "x.mat", {"angle": np.array([[0.1, 0.3, 0.0]])})
    np.save(tmp_path / "poses" / "x_pose.npy", np.array([1.0, 1.0]))
    np.save(tmp_path / "poses" / "y_pose.npy", np.array([1.0, 1.0]))
    np.save(tmp_path / "poses" / "y_extrinsics.npy", np.eye(4))  # on the z axis: refused if it were read
    cams = _cameras(tmp_path)
    assert np.allclose(cams["x.png"], _gram_label(math.pi / 2, math.pi / 2 + 0.3), atol=1e-9)
    assert np.allclose(cams["y.png"], _gram_label(1.14, 1.0), atol=1e-9)


def test_pose_files_of_no_image_are_noted_with_the_first_of_them(tmp_path):
    """Poses named otherwise than their images (img_0001 for 0001.png) or left from removed ones: one note, beside each
    image's missing pose; a pose file that loses to another of its image's (a .mat beside a _pose.npy) is not one."""
    (tmp_path / "poses").mkdir()
    _images(tmp_path, "0001", "0002")
    for name in ("img_0001.mat", "img_0002.mat", "0002.mat"):
        savemat(tmp_path / "poses" / name, {"angle": np.array([[0.1, 0.0, 0.0]])})
    np.save(tmp_path / "poses" / "0002_pose.npy", np.array([1.5, 1.6]))
    np.save(tmp_path / "poses" / "gone_extrinsics.npy", np.eye(4))
    (tmp_path / "poses" / "README.txt").write_text("poses from Deep3DFaceRecon")
    listing = list_dataset(Source(tmp_path))
    assert listing.notes == ["3 pose file(s) in poses/ belong to no image and are not read (first: "
                             "poses/gone_extrinsics.npy): an image's pose is poses/<its stem>.mat, _pose.npy or "
                             "_extrinsics.npy"]
    assert {p.file: p.problem for p in listing.problems} == {
        "0001.png": "missing pose (no poses/0001.mat, poses/0001_pose.npy or poses/0001_extrinsics.npy)"}


def test_pose_files_without_any_image_are_not_noted_beside_no_images_found(tmp_path):
    """With no image at all every pose file belongs to none: the folder's 'no images found' says it, not a note."""
    (tmp_path / "poses").mkdir()
    savemat(tmp_path / "poses" / "0001.mat", {"angle": np.array([[0.1, 0.0, 0.0]])})
    listing = list_dataset(Source(tmp_path))
    assert (listing.format, listing.records, listing.notes) == ("gram", [], [])


def _eg3d_sampler_label(h: float, v: float, radius: float = 2.7, focal: float = 4.2647) -> np.ndarray:
    """EG3D's ``LookAtPoseSampler.sample(h, v, [0, 0, 0], radius=radius)`` with its FFHQ intrinsics."""
    phi = math.acos(1 - 2 * v / math.pi)
    origin = radius * np.array([math.sin(phi) * math.cos(math.pi - h), math.cos(phi), math.sin(phi) * math.sin(math.pi - h)])
    return _label(_eg3d_cam2world(origin), _intrinsics(focal))


def test_eg3d_labels_are_read_as_they_are(tmp_path):
    hv = [(math.pi / 2, math.pi / 2), (math.pi / 2 + 0.5, math.pi / 2 - 0.2), (1.0, 1.9)]
    labels = [[f"img{i:08d}.png", _eg3d_sampler_label(h, v).tolist()] for i, (h, v) in enumerate(hv)]
    for name, _ in labels:
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    cams = _cameras(tmp_path)
    for name, vec in labels:
        assert np.array_equal(cams[name], np.array(vec))
    # EG3D's frontal camera (pi/2, pi/2) sits on +z at 2.7 looking down -z: zoo3d's frontal camera
    assert np.allclose(cams["img00000000.png"][:12].reshape(3, 4), [[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 2.7]],
                       atol=1e-12)


def _zoo3d_angles_label(yaw: float, pitch: float, radius: float = 1.0, fov: float = 12.0) -> np.ndarray:
    """docs/data.md: eye = r (-cos(pitch) sin(yaw), sin(pitch), cos(pitch) cos(yaw)), looking at the origin."""
    eye = radius * np.array([-math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)])
    return _label(_eg3d_cam2world(eye), _fov_intrinsics(fov))


def test_zoo3d_angle_frames_default_to_radius_1_and_fov_12(tmp_path):
    frames = [{"file": "a.png", "yaw": 0.3, "pitch": -0.2},
              {"file": "b.png", "yaw": -1, "pitch": 0, "radius": 2.5, "fov": 30},
              {"file": "c.png", "yaw": math.pi, "pitch": 1.5, "fov": 179.0},
              {"file": "d.png", "yaw": 0.0, "pitch": -1.5, "radius": 1e-3, "fov": 0.5}]
    _images(tmp_path, "a", "b", "c", "d")
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    cams = _cameras(tmp_path)
    assert np.allclose(cams["a.png"], _zoo3d_angles_label(0.3, -0.2), atol=1e-9)
    assert np.allclose(cams["b.png"], _zoo3d_angles_label(-1.0, 0.0, 2.5, 30.0), atol=1e-9)
    assert np.allclose(cams["c.png"], _zoo3d_angles_label(math.pi, 1.5, 1.0, 179.0), atol=1e-9)
    assert np.allclose(cams["d.png"], _zoo3d_angles_label(0.0, -1.5, 1e-3, 0.5), atol=1e-9)


def _problems(folder) -> dict[str, str]:
    listing = list_dataset(Source(folder))
    assert all(r.camera is None for r in listing.records if r.name.startswith(("bad", "near")))
    return {p.file: p.problem for p in listing.problems}


@pytest.mark.parametrize("content, why", [
    ({"pose": np.zeros((1, 3))}, "missing pose ('angle' not in the .mat file)"),
    ({"angle": np.zeros((1, 2))}, "missing pose ('angle' must hold 3 numbers)"),
    ({"angle": np.array([[0.1, np.nan, 0.0]])}, NON_FINITE),
    ({"angle": np.array([[0.1, 0.0, -np.inf]])}, NON_FINITE),
    ({"angle": np.array([[0.1, math.pi + 1e-6, 0.0]])}, MAT_RANGE.format("0.1, 3.14159, 0", "0.001745, 0.05483, 0")),
    ({"angle": np.array([[0.1, 0.0, -math.pi - 1e-6]])}, MAT_RANGE.format("0.1, 0, -3.14159", "0.001745, 0, -0.05483")),
    ({"angle": np.array([[5.0, -25.0, 2.0]])}, MAT_RANGE.format("5, -25, 2", "0.08727, -0.4363, 0.03491")),
    ({"angle": np.array([[0.0, 200.0, 0.0]])},
     "pose out of range: angle components must be within [-pi, pi]: they are radians"),
    ({"angle": np.array([["a", "b", "c"]])}, "missing pose ('angle' must hold 3 numbers)"),
])
def test_a_bad_mat_file_is_a_problem_named_by_its_pose_file(tmp_path, content, why):
    (tmp_path / "poses").mkdir()
    _images(tmp_path, "good", "bad")
    savemat(tmp_path / "poses" / "good.mat", {"angle": np.array([[0.1, 0.0, 0.0]])})
    savemat(tmp_path / "poses" / "bad.mat", content)
    problems = _problems(tmp_path)
    assert problems == {"poses/bad.mat": why}


@pytest.mark.parametrize("pose, why", [
    ([1.0], NPY_COUNT),
    ([1.0, 1.0, 1.0], NPY_COUNT),
    ([np.nan, 1.0], NON_FINITE),
    ([1.0, np.inf], NON_FINITE),
    ([-0.14, 1.5], NPY_RANGE),  # phi = 0: on the axis
    ([math.pi - 0.14, 1.5], NPY_RANGE),  # phi = pi exactly
    ([1.0, math.pi / 2 + math.pi + 1e-6], NPY_RANGE),
    ([1.0, math.pi / 2 - math.pi - 1e-6], NPY_RANGE),
])
def test_a_bad_pose_npy_is_a_problem_named_by_its_pose_file(tmp_path, pose, why):
    (tmp_path / "poses").mkdir()
    _images(tmp_path, "good", "bad")
    np.save(tmp_path / "poses" / "good_pose.npy", np.array([1.0, 1.5]))
    np.save(tmp_path / "poses" / "bad_pose.npy", np.array(pose, dtype=np.float64))
    problems = _problems(tmp_path)
    assert problems == {"poses/bad_pose.npy": why}


def test_pose_npy_limits_themselves_are_read(tmp_path):
    (tmp_path / "poses").mkdir()
    # |theta - pi/2| = pi exactly (both sides) is read; phi = 0 or pi exactly is not (above)
    edges = {"left": [1.0, math.pi / 2 - math.pi], "right": [1.0, math.pi / 2 + math.pi]}
    for stem, pose in edges.items():
        _images(tmp_path, stem)
        np.save(tmp_path / "poses" / f"{stem}_pose.npy", np.array(pose))
    cams = _cameras(tmp_path)
    for stem, (p0, p1) in edges.items():
        assert np.allclose(cams[f"{stem}.png"], _gram_label(p0 + 0.14, p1), atol=1e-9), stem


def _load_error(load, path) -> str:
    try:
        load(path)
    except Exception as exc:  # noqa: BLE001 - the name of whatever the loader raises
        return type(exc).__name__
    raise AssertionError(f"{path} loaded")


def test_a_pose_file_that_is_not_numpy_or_matlab_is_a_problem_not_a_crash(tmp_path):
    from scipy.io import loadmat

    (tmp_path / "poses").mkdir()
    _images(tmp_path, "bad", "worse")
    (tmp_path / "poses" / "bad.mat").write_bytes(b"not a matlab file")
    (tmp_path / "poses" / "worse_pose.npy").write_bytes(b"not numpy")
    assert _problems(tmp_path) == {
        "poses/bad.mat": f"unreadable pose file: {_load_error(loadmat, tmp_path / 'poses' / 'bad.mat')}",
        "poses/worse_pose.npy": f"unreadable pose file: {_load_error(np.load, tmp_path / 'poses' / 'worse_pose.npy')}"}


@pytest.mark.parametrize("suffix", ["_pose.npy", "_extrinsics.npy"])
def test_a_pickled_pose_file_is_refused_not_unpickled(tmp_path, suffix):
    (tmp_path / "poses").mkdir()
    _images(tmp_path, "bad")
    value = np.eye(4) if suffix == "_extrinsics.npy" else np.array([1.0, 1.5])
    np.save(tmp_path / "poses" / f"bad{suffix}", value.astype(object), allow_pickle=True)
    assert _problems(tmp_path) == {f"poses/bad{suffix}": "unreadable pose file: ValueError"}


@pytest.mark.parametrize("frame, why", [
    ({"yaw": 0.1}, NO_ANGLES),
    ({"pitch": 0.1}, NO_ANGLES),
    ({"transform_matrix": np.eye(4).tolist()}, "missing pose (frame has neither 'camera' nor 'yaw'/'pitch'; its "
                                               "'transform_matrix' is NeRF's OpenGL cam2world: negate its second and "
                                               "third columns and give it as 'camera' with the normalised intrinsics, "
                                               "25 numbers)"),
    ({"yaw": True, "pitch": 0.0}, "missing pose ('yaw' is not a number)"),
    ({"yaw": 0.0, "pitch": "0"}, "missing pose ('pitch' is not a number)"),
    ({"yaw": 0.0, "pitch": 0.0, "radius": None}, "missing pose ('radius' is not a number)"),
    ({"yaw": 0.0, "pitch": 0.0, "fov": [12]}, "missing pose ('fov' is not a number)"),
    ({"yaw": math.pi + 1e-6, "pitch": 0.0}, YAW_RANGE.format(3.14159, 3.14159, 0.05483)),
    ({"yaw": -math.pi - 1e-6, "pitch": 0.0}, YAW_RANGE.format(-3.14159, -3.14159, -0.05483)),
    ({"yaw": 0.0, "pitch": math.pi / 2}, PITCH_RANGE.format(1.5708, 1.5708, 0.02742)),
    ({"yaw": 0.0, "pitch": -math.pi / 2}, PITCH_RANGE.format(-1.5708, -1.5708, -0.02742)),
    ({"yaw": 0.0, "pitch": 0.0, "radius": 0}, RADIUS.format(0)),
    ({"yaw": 0.0, "pitch": 0.0, "radius": -2.5}, RADIUS.format(-2.5)),
    ({"yaw": 0.0, "pitch": 0.0, "fov": 0}, FOV.format(0)),
    ({"yaw": 0.0, "pitch": 0.0, "fov": 180}, FOV.format(180)),
    ({"yaw": 0.0, "pitch": 0.0, "fov": -12}, FOV.format(-12)),
    ({"yaw": 0.0, "pitch": 0.0, "radius": float("inf")}, NON_FINITE),
    ({"yaw": float("nan"), "pitch": 0.0}, NON_FINITE),
    ({"camera": list(range(24))}, "missing pose ('camera' is not 25 numbers: it holds 24; a camera is the 4x4 OpenCV "
                                  "cam2world then the 3x3 intrinsics normalised by the image size)"),
    ({"camera": "stretched"}, "pose out of range: cam2world rotation is not orthonormal"),
])
def test_a_bad_angle_frame_is_a_problem_named_by_its_image(tmp_path, frame, why):
    _images(tmp_path, "good", "bad")
    if frame.get("camera") == "stretched":  # a rotation scaled by 2: the record must not keep it
        frame = {"camera": _with(_gram_label(1.4, 1.7), lambda m, k: m[:3, :3].__imul__(2)).tolist()}
    frames = [{"file": "good.png", "yaw": 0.0, "pitch": 0.0}, {"file": "bad.png", **frame}]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}, allow_nan=True))
    problems = _problems(tmp_path)
    assert problems == {"bad.png": why}


def test_angles_written_in_degrees_are_told_they_are_radians_with_the_value_in_radians(tmp_path):
    """A frame in degrees names its value and what it is in radians; one out of range in degrees too does not."""
    _images(tmp_path, "turned", "low", "over", "tilted")
    frames = [{"file": "turned.png", "yaw": 30, "pitch": 5}, {"file": "low.png", "yaw": 0.2, "pitch": -20},
              {"file": "over.png", "yaw": 200, "pitch": 95},
              {"file": "tilted.png", "yaw": 0.1, "pitch": 95}]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    assert _problems(tmp_path) == {
        "turned.png": YAW_RANGE.format(30, 30, 0.5236),
        "low.png": PITCH_RANGE.format(-20, -20, -0.3491),
        "over.png": "pose out of range: 'yaw' is 200, outside [-pi, pi]; yaw and pitch are radians",
        "tilted.png": "pose out of range: 'pitch' is 95, outside (-pi/2, pi/2); yaw and pitch are radians"}


def test_a_cam2world_without_its_intrinsics_is_told_what_it_holds_and_what_a_camera_is(tmp_path):
    """A 4x4 matrix (NeRF's transform_matrix turned OpenCV's, say) in poses.json and in dataset.json, and the 3x3
    intrinsics alone, are named as what they are, with the count of numbers they hold."""
    camera = _gram_label(1.4, 1.7)
    (tmp_path / "zoo").mkdir()
    (tmp_path / "eg3d").mkdir()
    _images(tmp_path / "zoo", "matrix", "flat", "k")
    frames = [{"file": "matrix.png", "camera": camera[:16].reshape(4, 4).tolist()},
              {"file": "flat.png", "camera": camera[:12].tolist()}, {"file": "k.png", "camera": camera[16:].tolist()}]
    (tmp_path / "zoo" / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    _images(tmp_path / "eg3d", "matrix")
    (tmp_path / "eg3d" / "dataset.json").write_text(json.dumps({"labels": [["matrix.png", camera[:16].tolist()]]}))
    end = "; a camera is the 4x4 OpenCV cam2world then the 3x3 intrinsics normalised by the image size)"
    assert _problems(tmp_path / "zoo") == {
        "matrix.png": f"missing pose ('camera' is not 25 numbers: it holds 16, a 4x4 cam2world without the "
                      f"intrinsics{end}",
        "flat.png": f"missing pose ('camera' is not 25 numbers: it holds 12, a 3x4 cam2world without the "
                    f"intrinsics{end}",
        "k.png": f"missing pose ('camera' is not 25 numbers: it holds 9, 3x3 intrinsics without the cam2world{end}"}
    assert _problems(tmp_path / "eg3d") == {
        "matrix.png": f"missing pose (label is not 25 numbers: it holds 16, a 4x4 cam2world without the "
                      f"intrinsics{end}"}


def _with(vec: np.ndarray, change) -> np.ndarray:
    """A copy of an EG3D 25-vector after ``change(cam2world 4x4, intrinsics 3x3)`` edits it in place."""
    out = np.array(vec, dtype=np.float64)
    m, k = out[:16].reshape(4, 4), out[16:].reshape(3, 3)
    change(m, k)
    return out


def _set(where, index, value):
    return lambda m, k: (m if where == "m" else k).__setitem__(index, value)


ROTATION = "pose out of range: cam2world rotation is not orthonormal"
INTRINSICS = "pose out of range: intrinsics need positive focal lengths and last row [0, 0, 1]"
PRINCIPAL = "pose out of range: principal point far outside the image (intrinsics must be normalised)"


@pytest.mark.parametrize("change, why", [
    (_set("m", (3, 2), 5e-5), None),  # last row within 1e-4 of [0, 0, 0, 1]
    (_set("m", (3, 2), 0.5), "pose out of range: last row of cam2world is not [0, 0, 0, 1]"),
    (lambda m, k: m[:3, :3].__imul__(1.3), ROTATION),
    (lambda m, k: m[:3, 0].__imul__(-1), ROTATION),  # a reflection
    (_set("k", (0, 0), 0.5), None),  # a wide lens: focal below 1 is fine
    (_set("k", (1, 1), 0.5), None),
    (_set("k", (0, 0), 0.0), INTRINSICS),
    (_set("k", (1, 1), 0.0), INTRINSICS),
    (_set("k", (2, 0), 5e-7), None),
    (_set("k", (2, 2), 1.5), INTRINSICS),
    (_set("k", (0, 1), 1e-6), None),
    (_set("k", (0, 1), 2e-6), "pose out of range: intrinsics have a skew (k[0][1] != 0), which zoo3d's cameras do not model"),
    (_set("k", (0, 2), -1.0), None),
    (_set("k", (0, 2), 2.0), None),
    (_set("k", (1, 2), -1.0), None),
    (_set("k", (1, 2), 2.0), None),
    (_set("k", (0, 2), -1.001), PRINCIPAL),
    (_set("k", (0, 2), 2.001), PRINCIPAL),
    (_set("k", (1, 2), -1.001), PRINCIPAL),
    (_set("k", (1, 2), 2.001), PRINCIPAL),
    (lambda m, k: m[:3, 3].__imul__(1e-6 / np.linalg.norm(m[:3, 3])), None),
    (lambda m, k: m[:3, 3].__imul__(0.0), "pose out of range: camera centre at the origin"),
])
def test_camera_problem_limits(change, why):
    from zoo3d.data.formats import camera_problem

    assert camera_problem(_with(_gram_label(1.4, 1.7), change)) == why


@pytest.mark.parametrize("doc, problems, posed", [
    ([1, 2], [("dataset.json", "must hold an object with a 'labels' list"),
              ("a.png", "missing pose (dataset.json has no labels)"), ("b.PNG", "missing pose (dataset.json has no labels)")],
     []),
    ({}, [("a.png", "missing pose (dataset.json has no labels)"), ("b.PNG", "missing pose (dataset.json has no labels)")],
     []),
    ({"labels": "a.png"}, [("dataset.json", "'labels' must be a list of [file, 25 numbers]")], None),
    ({"labels": {"a.png": 1}}, [("a.png", "missing pose (label is not 25 numbers: it is the one whole number 1, a "
                                          "class label as a class-conditional StyleGAN dataset holds; zoo3d needs each "
                                          "image's camera, the 4x4 OpenCV cam2world then the 3x3 intrinsics normalised "
                                          "by the image size)"),
                                ("b.PNG", "missing pose (the image is not listed in dataset.json)")], []),
    ({"labels": {"a.png": "V", "./b.PNG": "V"}}, [], ["a.png", "b.PNG"]),  # EG3D's loader reads dict(labels)
    ({"labels": {"a.png": True, "./b.PNG": "V"}}, [("a.png", "missing pose (label is not 25 numbers)")], ["b.PNG"]),
    ({"labels": [["a.png"], [5], ["../a.png", "V"], ["b.PNG", "V"]]},
     [("dataset.json#0", "label entry must be [file, 25 numbers]"),
      ("dataset.json#1", "label entry must be [file, 25 numbers]"),
      ("../a.png", "file name escapes the dataset folder ('..'); it must stay inside it (dataset.json#2)"),
      ("a.png", "missing pose (the image is not listed in dataset.json)")], ["b.PNG"]),
    ({"labels": [["/x/a.png", "V"], ["C:a.png", "V"], ["x\\a.png", "V"], ["./b.PNG", "V"]]},
     [("/x/a.png", "file name is an absolute path; it must be relative to the dataset folder (dataset.json#0)"),
      ("C:a.png", "file name is an absolute path; it must be relative to the dataset folder (dataset.json#1)"),
      ("x\\a.png", "file name uses '\\'; dataset file names are relative POSIX paths such as images/0001.png "
                   "(dataset.json#2)"),
      ("a.png", "missing pose (the image is not listed in dataset.json)")], ["b.PNG"]),
])
def test_a_malformed_dataset_json_is_refused_entry_by_entry(tmp_path, doc, problems, posed):
    _images(tmp_path, "a")
    Image.new("RGB", (8, 8)).save(tmp_path / "b.PNG")
    (tmp_path / "notes.txt").write_text("not an image")
    vec = _gram_label(1.4, 1.7).tolist()
    if isinstance(doc, dict) and isinstance(doc.get("labels"), list):
        (tmp_path / "mask").mkdir()
        Image.new("L", (8, 8)).save(tmp_path / "mask" / "a.png")  # an auxiliary image needs no pose
        doc = {"labels": [[e[0], vec] if e[1:] == ["V"] else e for e in doc["labels"]]}
    elif isinstance(doc, dict) and isinstance(doc.get("labels"), dict):
        doc = {"labels": {name: vec if label == "V" else label for name, label in doc["labels"].items()}}
    (tmp_path / "dataset.json").write_text(json.dumps(doc))
    listing = list_dataset(Source(tmp_path))
    assert [(p.file, p.problem) for p in listing.problems] == problems
    if posed is not None:
        assert sorted(r.name for r in listing.records if r.camera is not None) == posed
        assert sorted(r.name for r in listing.records) == sorted(["a.png", "b.PNG"])


def test_a_frame_naming_its_image_under_another_key_says_to_name_it_file(tmp_path):
    _images(tmp_path, "r_0")  # a frame copied from NeRF's transforms.json, its camera converted, its key not
    frame = {"file_path": "./r_0", "rotation": 0.01, "yaw": 0.1, "pitch": 0.0}
    (tmp_path / "poses.json").write_text(json.dumps({"frames": [frame, {"depth": 3}]}))
    assert [(p.file, p.problem) for p in list_dataset(Source(tmp_path)).problems] == [
        ("poses.json#0", "frame must be an object with a 'file' string (it has 'file_path', './r_0': name the frame's "
                         "image with the key 'file')"),
        ("poses.json#1", "frame must be an object with a 'file' string"),
        ("r_0.png", "missing pose (the image is not listed in poses.json)")]


def test_a_malformed_poses_json_is_refused_frame_by_frame(tmp_path):
    _images(tmp_path, "a", "b", "c", "e")
    (tmp_path / "extra").mkdir()
    for stem in ("a", "b"):  # images a frame names under another key (a normal map, say) need no pose
        Image.new("RGB", (8, 8)).save(tmp_path / "extra" / f"{stem}.png")
    frames = [{"file": "a.png", "yaw": 0.1, "pitch": 0.0, "normals": "extra/a.png"}, 7, {"file": ""},
              {"file": "../c.png", "yaw": 0.0, "pitch": 0.0}, {"file": "b.png", "yaw": 0.2, "pitch": 0.0,
                                                               "normals": "./extra//b.png"},
              {"file": "c.png", "yaw": 4.0, "pitch": 0.0}]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    listing = list_dataset(Source(tmp_path))
    assert [(p.file, p.problem) for p in listing.problems] == [
        ("poses.json#1", "frame must be an object with a 'file' string"),
        ("poses.json#2", "frame must be an object with a 'file' string"),
        ("../c.png", "file name escapes the dataset folder ('..'); it must stay inside it (poses.json#3)"),
        ("c.png", YAW_RANGE.format(4, 4, 0.06981)), ("e.png", "missing pose (the image is not listed in poses.json)")]
    assert [(r.name, r.camera is not None) for r in listing.records] == [
        ("a.png", True), ("b.png", True), ("c.png", False), ("e.png", False)]


@pytest.mark.parametrize("doc, why", [
    ("{not json", None),
    ("[1, 2]", "must hold an object with a 'frames' list"),
    ('{"frames": {"file": "a.png"}}', "must hold an object with a 'frames' list"),
])
def test_an_unusable_poses_json_is_one_problem_of_that_file(tmp_path, doc, why):
    _images(tmp_path, "a")
    (tmp_path / "poses.json").write_text(doc)
    listing = list_dataset(Source(tmp_path))
    assert [p.file for p in listing.problems] == ["poses.json"] and not listing.records
    problem = listing.problems[0].problem
    assert problem == why if why else problem.startswith("unreadable JSON: Expecting property name")


def test_gram_folder_lists_images_once_each_and_says_which_have_no_pose(tmp_path):
    (tmp_path / "poses").mkdir()
    for folder in ("train", "val", "mask"):
        (tmp_path / folder).mkdir()
    for name in ("a.png", "train/b.png", "val/b.png", "train/c.png", "mask/c.png", "poses/preview.png", "val/e.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    (tmp_path / "readme.txt").write_text("GRAM data")
    np.save(tmp_path / "poses" / "b_pose.npy", np.array([1.0, 1.5]))
    np.save(tmp_path / "poses" / "c_pose.npy", np.array([1.2, 1.3]))
    np.save(tmp_path / "poses" / "e_pose.npy", np.array([1.0, 1.0]))
    listing = list_dataset(Source(tmp_path))
    assert [(p.file, p.problem) for p in listing.problems] == [
        ("a.png", "missing pose (no poses/a.mat, poses/a_pose.npy or poses/a_extrinsics.npy)"),
        ("val/b.png", "duplicate name: 'train/b.png' has the same stem and pose file")]
    assert [(r.name, r.camera is not None) for r in listing.records] == [
        ("a.png", False), ("train/b.png", True), ("train/c.png", True), ("val/e.png", True)]
    assert np.allclose(listing.records[2].camera, _gram_label(1.34, 1.3), atol=1e-9)


def test_a_folder_of_images_without_poses_says_what_is_missing(tmp_path):
    _images(tmp_path, "a", "b")
    listing = list_dataset(Source(tmp_path))
    assert listing.format == "images" and [r.name for r in listing.records] == ["a.png", "b.png"]
    assert [(p.file, p.problem) for p in listing.problems] == [
        (n, "missing pose (no dataset.json, poses.json or poses/ folder)") for n in ("a.png", "b.png")]


def test_a_path_that_is_neither_a_folder_nor_a_zip_is_refused_by_name(tmp_path):
    path = tmp_path / "data.tar"
    path.write_bytes(b"not a zip")
    with pytest.raises(FileNotFoundError, match="data.tar"):
        Source(path)


def test_names_outside_the_dataset_are_neither_present_nor_read(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    source = Source(tmp_path / "data")
    assert not source.exists("../secret.png")
    with pytest.raises(FileNotFoundError, match=r"'\.\./secret.png' is outside the dataset"):
        source.read("../secret.png")


def test_writers_record_each_camera_and_the_frames_extras(tmp_path):
    from zoo3d.data.formats import write_eg3d_labels, write_zoo3d_poses

    cams = np.stack([_gram_label(1.4, 1.7), _gram_label(1.6, 1.2)])
    write_zoo3d_poses(tmp_path, ["a.png", "b.png"], cams, extra=[{"depth": "d/a.npy"}, {}], resolution=64)
    doc = json.loads((tmp_path / "poses.json").read_text())
    assert doc == {"version": 1, "camera": "opencv_cam2world_4x4+normalized_intrinsics_3x3 (EG3D 25-vector)",
                   "resolution": 64, "frames": [{"file": "a.png", "camera": cams[0].tolist(), "depth": "d/a.npy"},
                                                {"file": "b.png", "camera": cams[1].tolist()}]}
    write_eg3d_labels(tmp_path, ["a.png", "b.png"], cams.astype(np.float32))
    labels = json.loads((tmp_path / "dataset.json").read_text())["labels"]
    assert labels == [["a.png", cams[0].astype(np.float32).tolist()], ["b.png", cams[1].astype(np.float32).tolist()]]


def test_a_carla_centre_within_a_millionth_of_its_distance_from_the_z_axis_is_refused(tmp_path):
    (tmp_path / "poses").mkdir()
    _images(tmp_path, "near", "off")
    _images(tmp_path, "close")
    # GRAF's z is up: 10 above the ground, 9e-6 or 2e-5 off the axis; 0.5 above it and 9e-7 off
    for stem, x, z in (("near", 9e-6, 10.0), ("off", 2e-5, 10.0), ("close", 9e-7, 0.5)):
        m = np.eye(4)
        m[:3, 3] = [x, 0.0, z]
        np.save(tmp_path / "poses" / f"{stem}_extrinsics.npy", m)
    assert _problems(tmp_path) == {
        "poses/near_extrinsics.npy": "pose out of range: camera centre on the vertical (z) axis through the origin"}


@pytest.mark.parametrize("matrix, why", [
    (np.eye(3), "missing pose (the _extrinsics.npy file must hold a 4x4 or 3x4 cam2world matrix, got shape (3, 3))"),
    (np.full((3, 4), np.nan), NON_FINITE),
])
def test_a_bad_extrinsics_file_is_a_problem_named_by_its_pose_file(tmp_path, matrix, why):
    (tmp_path / "poses").mkdir()
    _images(tmp_path, "bad")
    np.save(tmp_path / "poses" / "bad_extrinsics.npy", matrix)
    assert _problems(tmp_path) == {"poses/bad_extrinsics.npy": why}


def test_a_compressed_zip_of_images_without_poses_says_so_and_where_pose_files_go(tmp_path):
    import zipfile

    _images(tmp_path, "a")
    with zipfile.ZipFile(tmp_path / "d.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(tmp_path / "a.png", "a.png")
    source = Source(tmp_path / "d.zip")
    listing = list_dataset(source)
    assert listing.notes == ["zip members are compressed: reading is slower than with an uncompressed zip (zip -0)"]
    assert [(p.file, p.problem) for p in listing.problems] == [
        ("a.png", "missing pose (no dataset.json, poses.json or poses/ folder at the zip's root or in its only folder)")]
    with pytest.raises(KeyError, match="There is no item named 'b.png' in the archive"):
        source.read("b.png")
