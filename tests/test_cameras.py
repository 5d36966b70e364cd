"""Camera conventions and round trips between every format zoo3d reads."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo3d.cameras import Camera, CameraPrior, orbit, yaw_sweep

angles = st.floats(-1.2, 1.2)
pitches = st.floats(-1.0, 1.0)
radii = st.floats(0.5, 3.0)
fovs = st.floats(5.0, 60.0)
SETTINGS = settings(max_examples=40, deadline=None)


def _cam(yaw, pitch, radius=1.0, fov=12.0):
    return Camera.from_angles(torch.tensor([yaw], dtype=torch.float64), pitch, radius, fov, dtype=torch.float64)


@SETTINGS
@given(angles, pitches, radii, fovs)
def test_angles_to_eg3d_vector_and_back(yaw, pitch, radius, fov):
    cam = Camera.from_eg3d(_cam(yaw, pitch, radius, fov).to_eg3d())
    a = cam.to_angles()
    assert a["yaw"].item() == pytest.approx(yaw, abs=1e-9)
    assert a["pitch"].item() == pytest.approx(pitch, abs=1e-9)
    assert a["radius"].item() == pytest.approx(radius, abs=1e-9)
    assert a["fov"].item() == pytest.approx(fov, abs=1e-9)


@SETTINGS
@given(st.floats(0.6, 2.5), st.floats(0.4, 2.7))
def test_gram_angles_round_trip_through_cam2world(phi, theta):
    cam = Camera.from_gram(torch.tensor([phi], dtype=torch.float64), theta, dtype=torch.float64)
    phi2, theta2 = cam.to_gram()
    assert phi2.item() == pytest.approx(phi, abs=1e-9) and theta2.item() == pytest.approx(theta, abs=1e-9)
    # GRAM's own formula for the camera origin: r (sin phi cos theta, cos phi, sin phi sin theta).
    expected = torch.tensor([math.sin(phi) * math.cos(theta), math.cos(phi), math.sin(phi) * math.sin(theta)],
                            dtype=torch.float64)
    assert torch.allclose(cam.origins[0], expected, atol=1e-12)


def test_frontal_camera_matches_the_documented_frame():
    cam = Camera.from_gram(math.pi / 2, math.pi / 2, dtype=torch.float64)
    expected = torch.tensor([[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 1], [0, 0, 0, 1]], dtype=torch.float64)
    assert torch.allclose(cam.cam2world[0], expected, atol=1e-12)
    # Positive yaw puts the camera on world -x: the subject has turned to its own left.
    assert _cam(0.3, 0.0).origins[0, 0] < 0
    assert _cam(0.0, 0.3).origins[0, 1] > 0


@SETTINGS
@given(angles, pitches)
def test_gram_pose_files_round_trip(yaw, pitch):
    cam = _cam(yaw, pitch)
    again = Camera.from_gram_mat_angle(cam.to_gram_mat_angle(), dtype=torch.float64)
    assert torch.allclose(again.cam2world, cam.cam2world, atol=1e-9)
    again = Camera.from_gram_pose_npy(cam.to_gram_pose_npy(), dtype=torch.float64)
    assert torch.allclose(again.cam2world, cam.cam2world, atol=1e-9)
    # GRAM's FFHQ loader: phi = -(angle0 - 0.1) + pi/2, theta = angle1 + pi/2.
    angle = cam.to_gram_mat_angle()[0]
    phi, theta = cam.to_gram()
    assert phi.item() == pytest.approx(-(angle[0].item() - 0.1) + math.pi / 2, abs=1e-9)
    assert theta.item() == pytest.approx(angle[1].item() + math.pi / 2, abs=1e-9)


@SETTINGS
@given(angles, pitches, radii, st.sampled_from([(32, 32), (48, 64), (256, 256)]))
def test_neus_world_and_scale_mats_round_trip(yaw, pitch, radius, res):
    cam = _cam(yaw, pitch, radius)
    world_mat, scale_mat = cam.to_neus(res)
    back = Camera.from_neus(world_mat, scale_mat, res)
    assert torch.allclose(back.cam2world.double(), cam.cam2world, atol=1e-6)
    assert torch.allclose(back.intrinsics.double(), cam.intrinsics, atol=1e-6)
    # In NeuS's unit-sphere frame (x_world = S x_norm) the camera centre is S^-1 times the world one.
    S = torch.diag(torch.tensor([0.2, 0.2, 0.2, 1.0], dtype=torch.float64))[None]
    w, s = cam.to_neus(res, S)
    norm = Camera.from_neus(w, s, res, normalized=True)
    assert torch.allclose(norm.origins.double(), cam.origins / 0.2, atol=1e-5)


@SETTINGS
@given(angles, pitches, fovs)
def test_mirror_twice_is_identity_and_flips_yaw(yaw, pitch, fov):
    cam = _cam(yaw, pitch, 1.0, fov)
    assert torch.allclose(cam.mirror().mirror().cam2world, cam.cam2world, atol=1e-12)
    a = cam.mirror().to_angles()
    assert a["yaw"].item() == pytest.approx(-yaw, abs=1e-9) and a["pitch"].item() == pytest.approx(pitch, abs=1e-9)


def test_mirror_flips_projected_image_horizontally():
    cam = _cam(0.25, 0.1)
    points = torch.tensor([[[0.03, 0.02, 0.05], [-0.04, -0.01, 0.0]]], dtype=torch.float64)
    uv, _ = cam.project(points)
    mirrored_points = points * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    uv_m, _ = cam.mirror().project(mirrored_points)
    assert torch.allclose(uv_m[..., 0], 1 - uv[..., 0], atol=1e-12)
    assert torch.allclose(uv_m[..., 1], uv[..., 1], atol=1e-12)


@SETTINGS
@given(angles, pitches, radii, st.tuples(st.floats(-0.2, 0.2), st.floats(-0.2, 0.2), st.floats(-0.2, 0.2)))
def test_central_ray_of_look_at_camera_passes_through_target(yaw, pitch, radius, target):
    cam = Camera.from_angles(torch.tensor([yaw], dtype=torch.float64), pitch, radius, 12.0, target=target,
                             dtype=torch.float64)
    origins, dirs = cam.rays(1, 1)
    t = torch.tensor(target, dtype=torch.float64)
    closest = origins[0, 0] + ((t - origins[0, 0]) @ dirs[0, 0]) * dirs[0, 0]
    assert torch.allclose(closest, t, atol=1e-9)


def test_rays_reproject_to_their_pixel_centres():
    cam = Camera.cat([_cam(0.2, -0.1, 1.3, 20.0), _cam(-0.4, 0.3, 0.9, 8.0)])
    origins, dirs = cam.rays(6, 8)
    uv, z = cam.project(origins + 0.7 * dirs)
    assert torch.allclose(uv, cam.pixel_grid(6, 8).expand_as(uv), atol=1e-9)
    assert (z > 0).all()
    # The corner ray sits half a pixel inside the image edge of a fov-degree frustum.
    half = math.tan(math.radians(20.0) / 2)
    corner = dirs[0, 0] @ cam.cam2world[0, :3, :3]
    assert (corner[1] / corner[2]).item() == pytest.approx(-half * (1 - 1 / 6), abs=1e-9)


def test_prior_and_trajectories():
    prior = CameraPrior()
    cams = prior.sample(4000, generator=torch.Generator().manual_seed(0))
    a = cams.to_angles()
    assert a["yaw"].std().item() == pytest.approx(0.3, rel=0.06)
    assert a["pitch"].std().item() == pytest.approx(0.155, rel=0.06)
    assert a["yaw"].mean().abs().item() < 0.02 and torch.allclose(a["radius"], torch.ones(4000), atol=1e-5)
    sweep = yaw_sweep(30, 0.4).to_angles()["yaw"]
    assert torch.allclose(sweep, torch.linspace(-0.4, 0.4, 30), atol=1e-6)
    ring = orbit(16).to_angles()
    assert ring["yaw"].abs().max().item() == pytest.approx(0.3, abs=1e-3)
    assert ring["pitch"].max().item() == pytest.approx(0.15, abs=1e-3)


def test_view_limits_keep_to_the_prior_and_away_from_the_poles():
    gaussian = CameraPrior(yaw_std=0.3, pitch_mean=0.1, pitch_std=0.155).view_limits()
    assert gaussian["yaw"] == pytest.approx([-0.6, 0.6]) and gaussian["pitch"] == pytest.approx([-0.21, 0.41])
    uniform = CameraPrior(distribution="uniform", yaw_mean=0.2, yaw_std=0.5, pitch_std=0.2).view_limits()
    assert uniform["yaw"] == pytest.approx([-0.3, 0.7]) and uniform["pitch"] == pytest.approx([-0.2, 0.2])
    # GRAM's CARLA prior: what 100 000 draws reach, within a hair, and never over the pole
    carla = CameraPrior(distribution="spherical_uniform", yaw_mean=0.0, yaw_std=math.pi, pitch_mean=math.pi / 4,
                        pitch_std=math.pi / 4, radius=1.0, fov=30.0)
    limits = carla.view_limits()
    drawn = carla.sample(100_000, generator=torch.Generator().manual_seed(0)).to_angles()
    assert limits["yaw"] == pytest.approx([-math.pi, math.pi])
    assert limits["pitch"][0] == pytest.approx(float(drawn["pitch"].min()), abs=0.01)
    assert limits["pitch"][1] == pytest.approx(math.pi / 2 - 0.01) and float(drawn["pitch"].max()) > limits["pitch"][1]


def test_the_centre_view_of_an_area_uniform_prior_is_the_pitch_its_setting_maps_to():
    # pi-GAN's CARLA prior: v = (pi/2 - pitch) / pi uniform in v_mean +- v_stddev, v_mean = pi/4 * 85/90. The
    # authors' render scripts draw with v_stddev 0: phi = arccos(1 - 2 v_mean / pi), pitch = pi/2 - phi (0.556),
    # where the raw setting pitch_mean = pi/2 - v_mean (0.829) looked 15 degrees further down
    v_mean = math.pi / 4 * 85 / 90
    carla = CameraPrior(distribution="spherical_uniform", yaw_std=math.pi, pitch_mean=math.pi / 2 - v_mean,
                        pitch_std=v_mean, fov=30.0)
    upstream = math.pi / 2 - math.acos(1 - 2 * v_mean / math.pi)
    assert carla.centre_pitch == pytest.approx(upstream, abs=1e-12) and upstream == pytest.approx(0.5560, abs=1e-4)
    assert carla.frontal(2).to_angles()["pitch"] == pytest.approx([upstream] * 2, abs=1e-5)
    # and it is the median of the prior's draws (the map from the setting to the pitch is monotonic)
    drawn = carla.sample(40_000, generator=torch.Generator().manual_seed(0)).to_angles()["pitch"]
    assert float(drawn.median()) == pytest.approx(upstream, abs=0.01)
    # a Gaussian or uniform prior's centre is its mean
    for prior in (CameraPrior(pitch_mean=0.2), CameraPrior(distribution="uniform", pitch_mean=0.2)):
        assert prior.centre_pitch == 0.2
        assert float(prior.frontal(1).to_angles()["pitch"]) == pytest.approx(0.2, abs=1e-6)


def test_a_sample_grid_of_a_prior_all_round_its_subject_shows_three_views():
    from zoo3d.train.sampling import yaw_rows

    # yaw_std pi: rows at -pi and +pi were the same back view
    carla = CameraPrior(distribution="spherical_uniform", yaw_std=math.pi, pitch_mean=0.83, pitch_std=0.74)
    assert yaw_rows(carla) == pytest.approx([-math.pi / 2, 0.0, math.pi / 2])
    assert yaw_rows(CameraPrior(yaw_mean=0.1, yaw_std=0.3)) == pytest.approx([-0.2, 0.1, 0.4])
    assert yaw_rows(CameraPrior(yaw_std=0.0)) == pytest.approx([-0.3, 0.0, 0.3])
    assert yaw_rows(carla, yaw=3.0) == pytest.approx([-3.0, 0.0, 3.0])  # an asked-for yaw is kept


def test_a_non_square_image_from_angles_has_square_pixels():
    """A point offset by the same distance in x and y lands the same number of pixels from the centre, and
    the vertical field of view is the one asked for."""
    H, W = 64, 128
    cam = Camera.from_angles(0.0, 0.0, 1.0, 12.0, resolution=(H, W), dtype=torch.float64)
    uv, _ = cam.project(torch.tensor([[[0.05, 0.0, 0.0], [0.0, 0.05, 0.0]]], dtype=torch.float64))
    px = (uv[0] - 0.5) * torch.tensor([W, H], dtype=torch.float64)
    assert abs(px[0, 0].item()) == pytest.approx(abs(px[1, 1].item()), rel=1e-12) and abs(px[0, 0].item()) > 1
    assert cam.fov.item() == pytest.approx(12.0)
    square = Camera.from_angles(0.0, 0.0, 1.0, 12.0, dtype=torch.float64)
    assert torch.equal(square.intrinsics, Camera.from_angles(0.0, 0.0, 1.0, 12.0, resolution=(H, H),
                                                             dtype=torch.float64).intrinsics)


def test_indexing_a_batch_with_a_negative_int_gives_that_camera():
    cams = yaw_sweep(3, dtype=torch.float64)
    assert torch.equal(cams[-1].cam2world, cams.cam2world[2:3]) and torch.equal(cams[-3].cam2world, cams.cam2world[:1])
    with pytest.raises(IndexError):
        cams[3]
    with pytest.raises(IndexError):
        cams[-4]


def test_cameras_keep_the_dtype_of_their_inputs():
    yaw = torch.tensor([0.3], dtype=torch.float64)
    assert Camera.from_angles(yaw, 0.1).dtype == torch.float64
    assert Camera.from_angles(0.3, 0.1).dtype == torch.get_default_dtype()
    assert Camera.from_angles(yaw, 0.1, dtype=torch.float32).dtype == torch.float32
    assert CameraPrior().sample(2, dtype=torch.float64).dtype == torch.float64
