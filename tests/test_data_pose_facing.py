"""A cam2world in OpenGL's or Blender's convention (columns right, up, backward) is a problem, not a camera
that silently looks away from the subject; the same pose written the OpenCV way is read as it is.

The matrices are built here from the look-at construction written out: the camera at
``r (-cos p sin y, sin p, cos p cos y)`` (docs/data.md), forward towards the origin, right = forward x up.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from conftest import run_in_process as zoo3d
from zoo3d.data.formats import Source, list_dataset

FACING_AWAY = ("pose out of range: the camera faces away from the origin (cam2world must be OpenCV's, columns right, "
               "down, forward; OpenGL's and Blender's have up and backward)")
K = [[4.2647, 0, 0.5], [0, 4.2647, 0.5], [0, 0, 1.0]]


def _opencv(yaw: float, pitch: float, radius: float = 2.7) -> np.ndarray:
    eye = radius * np.array([-math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)])
    forward = -eye / np.linalg.norm(eye)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, np.cross(forward, right), forward, eye
    return m


def _opengl(yaw: float, pitch: float) -> np.ndarray:
    m = _opencv(yaw, pitch)
    m[:3, 1:3] *= -1  # up and backward instead of down and forward: still a rotation (det +1)
    return m


def _label(m: np.ndarray) -> list[float]:
    return m.reshape(-1).tolist() + np.array(K).reshape(-1).tolist()


def _eg3d_folder(folder, matrices: dict[str, np.ndarray]):
    for name in matrices:
        Image.new("RGB", (8, 8)).save(folder / name)
    (folder / "dataset.json").write_text(json.dumps({"labels": [[n, _label(m)] for n, m in matrices.items()]}))


@pytest.mark.parametrize("yaw, pitch", [(0.0, 0.0), (0.3, 0.2), (-1.2, -0.4), (3.0, 0.1)])
def test_an_opengl_cam2world_is_a_problem_and_the_same_pose_in_opencv_is_read_as_it_is(tmp_path, yaw, pitch):
    assert np.isclose(np.linalg.det(_opengl(yaw, pitch)[:3, :3]), 1.0)  # a rigid pose: only where it looks is wrong
    _eg3d_folder(tmp_path, {"gl.png": _opengl(yaw, pitch), "cv.png": _opencv(yaw, pitch)})
    listing = list_dataset(Source(tmp_path))
    assert [(p.file, p.problem) for p in listing.problems] == [("gl.png", FACING_AWAY)]
    cameras = {r.name: r.camera for r in listing.records}
    assert cameras["gl.png"] is None
    np.testing.assert_array_equal(cameras["cv.png"], _label(_opencv(yaw, pitch)))


def test_a_poses_json_camera_facing_away_is_the_same_problem(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    frames = [{"file": "a.png", "camera": _label(_opengl(0.1, 0.05))}]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    assert [(p.file, p.problem) for p in list_dataset(Source(tmp_path)).problems] == [("a.png", FACING_AWAY)]


def test_a_camera_that_sees_the_origin_off_centre_is_still_a_camera(tmp_path):
    # turned 80 degrees away from the origin: the origin is far off to the side, yet in front of the camera
    m = _opencv(0.2, 0.1)
    turn = math.radians(80)
    about_y = np.array([[math.cos(turn), 0, math.sin(turn)], [0, 1, 0], [-math.sin(turn), 0, math.cos(turn)]])
    m[:3, :3] = about_y @ m[:3, :3]
    assert m[:3, 2] @ -m[:3, 3] > 0
    _eg3d_folder(tmp_path, {"side.png": m})
    assert not list_dataset(Source(tmp_path)).problems


def test_data_check_lists_it_and_exits_1(tmp_path, capsys):
    _eg3d_folder(tmp_path, {"gl.png": _opengl(0.3, 0.2)})
    code, out, err = zoo3d(capsys, "data", "check", tmp_path, "--json")
    assert code == 1, err
    assert json.loads(out)["problems"] == [{"file": "gl.png", "problem": FACING_AWAY}]


def test_a_camera_looking_past_the_origin_at_a_right_angle_is_the_same_problem(tmp_path):
    # centre (2.7, 0, 0), forward (0, 0, 1): the origin lies at 90 degrees, on no ray of the camera, so its images do
    # not show the subject; exact integers, so the forward . centre product is exactly 0
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = [-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0], [2.7, 0, 0]
    assert np.linalg.det(m[:3, :3]) == 1.0
    _eg3d_folder(tmp_path, {"side.png": m})
    listing = list_dataset(Source(tmp_path))
    assert [(p.file, p.problem) for p in listing.problems] == [("side.png", FACING_AWAY)]
    assert listing.records[0].camera is None
