"""Cameras looking straight down or up (pitch +-pi/2): the rotation stays a rotation in every dtype.

``look_at`` takes the camera's right axis from forward x up, which at the poles holds only rounding residue;
the axis must still come out a unit vector, continuous with the cameras just short of the pole."""

import math

import pytest
import torch

from zoo3d.cameras import Camera, look_at


@pytest.mark.parametrize("pitch", [math.pi / 2, -math.pi / 2])
@pytest.mark.parametrize("yaw", [0.0, 0.3, -2.0])
def test_float64_cameras_at_the_poles_are_rotations_continuous_with_their_neighbours(yaw, pitch):
    at = Camera.from_angles(torch.tensor([yaw], dtype=torch.float64), torch.tensor([pitch], dtype=torch.float64),
                            2.7, 12.0, dtype=torch.float64).cam2world[0]
    rot = at[:3, :3]
    assert torch.allclose(rot.T @ rot, torch.eye(3, dtype=torch.float64), atol=1e-12)
    assert torch.linalg.det(rot).item() == pytest.approx(1.0, abs=1e-12)
    near = Camera.from_angles(torch.tensor([yaw], dtype=torch.float64),
                              torch.tensor([pitch - math.copysign(1e-7, pitch)], dtype=torch.float64),
                              2.7, 12.0, dtype=torch.float64).cam2world[0]
    assert torch.allclose(at, near, atol=1e-6)
    # the camera looks at the origin from straight above (below)
    assert torch.allclose(at[:3, 2], torch.tensor([0.0, -math.copysign(1.0, pitch), 0.0], dtype=torch.float64),
                          atol=1e-12)


def test_an_eye_exactly_on_the_up_axis_gets_an_orthonormal_frame():
    c2w = look_at(torch.tensor([[0.0, 2.0, 0.0]]), torch.zeros(3))[0]
    rot = c2w[:3, :3]
    assert torch.allclose(rot.T @ rot, torch.eye(3), atol=1e-6)
    assert torch.linalg.det(rot).item() == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(c2w[:3, 2], torch.tensor([0.0, -1.0, 0.0]))  # forward: down onto the origin
