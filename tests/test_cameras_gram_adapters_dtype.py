"""GRAM's pose adapters keep a float64 tensor's dtype, as from_angles and from_gram do (a float64 parity check
of GRAM poses must not be rounded to float32 on the way in)."""

import math

import torch

from zoo3d.cameras import Camera

F64 = torch.float64


def _eye(cam):
    return cam.cam2world[:, :3, 3]


def _expected_eye(yaw, pitch, radius=1.0):
    return torch.tensor([[-math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)]],
                        dtype=F64) * radius


def test_a_float64_mat_angle_gives_a_float64_camera_at_the_closed_form_pose():
    # [pitch, yaw, roll]: GRAM's loader puts the camera at yaw = angle[1], pitch = angle[0] - 0.1
    cam = Camera.from_gram_mat_angle(torch.tensor([[0.3, 0.2, 0.05]], dtype=F64))
    assert cam.dtype == F64
    torch.testing.assert_close(_eye(cam), _expected_eye(0.2, 0.2), rtol=0, atol=1e-15)


def test_a_float64_pose_npy_gives_a_float64_camera_at_the_closed_form_pose():
    # [pitch, yaw] pi/2-centred: phi = pitch + 0.14, theta = yaw, so yaw = theta - pi/2, pitch = pi/2 - phi
    cam = Camera.from_gram_pose_npy(torch.tensor([[1.3, 1.8]], dtype=F64))
    assert cam.dtype == F64
    torch.testing.assert_close(_eye(cam), _expected_eye(1.8 - math.pi / 2, math.pi / 2 - 1.44), rtol=0, atol=1e-15)


def test_float64_carla_extrinsics_give_a_float64_camera_on_the_centres_direction():
    m = torch.eye(4, dtype=F64)[None].clone()
    m[0, :3, 3] = torch.tensor([0.3, -0.4, 1.2], dtype=F64)  # GRAF z-up (x, y, z) -> zoo3d (y, z, x) order
    cam = Camera.from_gram_carla_extrinsics(m, radius=2.0)
    assert cam.dtype == F64
    p = torch.tensor([-0.4, 1.2, 0.3], dtype=F64)
    torch.testing.assert_close(_eye(cam)[0], 2.0 * p / p.norm(), rtol=0, atol=1e-15)


def test_numbers_and_float32_tensors_still_give_the_default_dtype():
    assert Camera.from_gram_mat_angle([[0.3, 0.2, 0.0]]).dtype == torch.get_default_dtype()
    assert Camera.from_gram_pose_npy(torch.tensor([[1.3, 1.8]])).dtype == torch.float32
    assert Camera.from_gram_mat_angle(torch.tensor([[0.3, 0.2, 0.0]], dtype=F64), dtype=torch.float32).dtype == torch.float32
