"""A poses.json frame given as angles describes a pinhole camera with square pixels whatever the image's shape.

The expected intrinsics are worked out here in pixels: the vertical field of view gives the focal length
``(H / 2) / tan(fov / 2)`` of the whole image, the same both ways (square pixels); the centred square crop
keeps it and centres the principal point; normalising by the crop's side gives the served camera.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from zoo3d.data.folder import FolderDataset


def _served_intrinsics(tmp_path, width, height, frame) -> np.ndarray:
    Image.new("RGB", (width, height), (90, 60, 30)).save(tmp_path / "photo.png")
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": [{"file": "photo.png", **frame}]}))
    return FolderDataset(tmp_path, 16)[0]["camera"][16:].reshape(3, 3).double().numpy()


@pytest.mark.parametrize("width, height", [(24, 16), (16, 24), (40, 30), (20, 20)])
@pytest.mark.parametrize("fov", [12.0, 30.0])
def test_an_angle_frame_of_a_non_square_image_has_square_pixels_and_the_vertical_fov(tmp_path, width, height, fov):
    k = _served_intrinsics(tmp_path, width, height, {"yaw": 0.1, "pitch": -0.05, "fov": fov})
    focal_px = (height / 2) / math.tan(math.radians(fov) / 2)  # of the whole image, both ways
    side = min(width, height)  # the centred square crop: its corner half the excess in from each side
    left, top = (width - side) / 2, (height - side) / 2
    expected = np.array([[focal_px / side, 0, (width / 2 - left) / side],
                         [0, focal_px / side, (height / 2 - top) / side], [0, 0, 1]])
    np.testing.assert_allclose(k, expected, rtol=1e-6, atol=1e-7)


def test_a_point_at_the_vertical_fov_edge_of_a_wide_image_lands_on_the_edge_of_the_crop(tmp_path):
    # a 24x16 image at fov 12: a point 6 degrees above the axis sits on the top edge, and a point at the same
    # angle to the side sits 8 pixels (half the height) right of the centre, the crop's right edge
    k = _served_intrinsics(tmp_path, 24, 16, {"yaw": 0.0, "pitch": 0.0, "fov": 12.0})
    t = math.tan(math.radians(6))
    u, v, w = k @ np.array([t, -t, 1.0])  # camera frame: x right, y down, z forward
    assert math.isclose(u / w, 1.0, abs_tol=1e-6) and math.isclose(v / w, 0.0, abs_tol=1e-6)


def test_a_frame_with_its_own_intrinsics_keeps_them(tmp_path):
    # a 'camera' frame says what its pixels are: only the crop moves them (here anisotropic on purpose, and not
    # the square pixels of this 24x16 image either: those have fx = 4.5 * 16 / 24 = 3.0)
    k_in = np.array([[2.5, 0, 0.5], [0, 4.5, 0.5], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, :3] = np.diag([1.0, -1.0, -1.0])
    pose[2, 3] = 1.0
    camera = np.concatenate([pose.reshape(-1), k_in.reshape(-1)]).tolist()
    k = _served_intrinsics(tmp_path, 24, 16, {"camera": camera})
    np.testing.assert_allclose(k, [[2.5 * 24 / 16, 0, 0.5], [0, 4.5, 0.5], [0, 0, 1]], rtol=1e-6)
