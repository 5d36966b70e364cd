"""Cameras against closed forms: where a pose puts the eye and its axes, what the intrinsics and rays are
for a known focal and principal point, the NeuS pixel matrices, the trajectories and prior draws written
out, and batches, dtypes and devices carried through (the meta device stands in for a GPU: a tensor left
on the CPU shows)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo3d.cameras import Camera, CameraPrior, batch_item, look_at, orbit, turned_to_view, yaw_sweep

F64 = torch.float64
EXACT = dict(atol=1e-13, rtol=0)


def _direction(yaw: float, pitch: float) -> list[float]:
    """The module doc's eye direction: r * (-cos p sin y, sin p, cos p cos y)."""
    return [-math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)]


def _intrinsics(fx: float, fy: float, cx: float, cy: float, dtype=F64) -> torch.Tensor:
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=dtype)


def _off_centre(yaw=0.3, pitch=-0.2, radius=1.5, resolution=None) -> Camera:
    """A posed camera whose principal point is off the image centre, differently in x and y."""
    pose = Camera.from_angles(yaw, pitch, radius, dtype=F64).cam2world
    return Camera(pose, _intrinsics(1.7, 2.1, 0.35, 0.6)[None], resolution)


# ---------------------------------------------------------------- look-at frames and angles

def test_look_at_gives_a_right_handed_rotation_whose_axes_point_at_the_target_for_each_eye():
    eyes = torch.tensor([[0.0, 0.0, 2.0], [1.0, 0.5, -0.3], [-0.2, -1.0, 0.4]], dtype=F64)
    target = torch.tensor([0.1, -0.2, 0.3], dtype=F64)
    c2w = look_at(eyes, target)
    R = c2w[:, :3, :3]
    torch.testing.assert_close(R.transpose(1, 2) @ R, torch.eye(3, dtype=F64).expand(3, 3, 3), **EXACT)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(3, dtype=F64), **EXACT)
    forward = (target - eyes) / (target - eyes).norm(dim=-1, keepdim=True)
    torch.testing.assert_close(R[:, :, 2], forward, **EXACT)
    torch.testing.assert_close(R[:, 1, 0], torch.zeros(3, dtype=F64), **EXACT)  # the right axis is level
    assert (R[:, 1, 1] < 0).all()  # image down is world down
    torch.testing.assert_close(c2w[:, :3, 3], eyes, **EXACT)
    torch.testing.assert_close(c2w[:, 3], torch.tensor([0.0, 0, 0, 1], dtype=F64).expand(3, 4), **EXACT)


def test_look_at_takes_its_target_in_the_eyes_dtype():
    """A float32 target for float64 eyes is read in float64 (0.1 is not a float32 number), and a float64
    target for float32 eyes gives a float32 frame."""
    eye = torch.tensor([[0.0, 0.0, 2.0]], dtype=F64)
    c2w = look_at(eye, [0.1, 0.0, 0.0])
    expected = torch.tensor([0.1, 0.0, -2.0], dtype=F64) / math.hypot(0.1, 2.0)
    torch.testing.assert_close(c2w[0, :3, 2], expected, atol=1e-15, rtol=0)
    single = look_at(eye.float(), torch.tensor([0.1, 0.0, 0.0], dtype=F64))
    assert single.dtype == torch.float32
    torch.testing.assert_close(single[0, :3, 2], expected.float())


def test_from_angles_puts_each_eye_on_its_sphere_about_its_own_target():
    yaw = torch.tensor([0.0, 0.7, -1.1], dtype=F64)
    pitch = torch.tensor([0.2, -0.4, 0.9], dtype=F64)
    radius = torch.tensor([1.0, 2.5, 0.8], dtype=F64)
    targets = torch.tensor([[0.0, 0.0, 0.0], [0.1, -0.2, 0.3], [-0.3, 0.2, 0.05]], dtype=F64)
    cams = Camera.from_angles(yaw, pitch, radius, fov=[10.0, 20.0, 30.0], target=targets)
    for i in range(3):
        eye = targets[i] + radius[i] * torch.tensor(_direction(yaw[i].item(), pitch[i].item()), dtype=F64)
        torch.testing.assert_close(cams.origins[i], eye, **EXACT)
        a = cams[i].to_angles(targets[i])
        assert (a["yaw"].item(), a["pitch"].item(), a["radius"].item()) == pytest.approx(
            (yaw[i].item(), pitch[i].item(), radius[i].item()), abs=1e-13)
    focal = 0.5 / torch.tan(torch.deg2rad(torch.tensor([10.0, 20.0, 30.0], dtype=F64)) / 2)
    torch.testing.assert_close(cams.intrinsics, torch.stack([_intrinsics(f, f, 0.5, 0.5) for f in focal.tolist()]),
                               **EXACT)
    # one target for the whole batch, given as a list of Python floats (read in the cameras' dtype)
    shared = Camera.from_angles(yaw, pitch, radius, target=[0.1, -0.2, 0.3])
    eye = torch.tensor([0.1, -0.2, 0.3], dtype=F64) + radius[1] * torch.tensor(_direction(0.7, -0.4), dtype=F64)
    torch.testing.assert_close(shared.origins[1], eye, atol=1e-15, rtol=0)


def test_from_angles_defaults_and_resolution():
    cam = Camera.from_angles(0.0, 0.0, dtype=F64)
    torch.testing.assert_close(cam.origins[0], torch.tensor([0.0, 0.0, 1.0], dtype=F64), **EXACT)  # radius 1
    assert cam.fov.item() == pytest.approx(12.0, abs=1e-12) and cam.resolution is None
    wide = Camera.from_angles(0.0, 0.0, 2.0, 20.0, resolution=(32, 48), dtype=F64)
    f = 0.5 / math.tan(math.radians(10.0))
    torch.testing.assert_close(wide.intrinsics[0], _intrinsics(f * 32 / 48, f, 0.5, 0.5), **EXACT)
    assert wide.resolution == (32, 48) and wide.rays()[1].shape == (1, 32 * 48, 3)


def test_angles_given_as_ints_or_numpy_arrays_become_default_float_tensors():
    """An int yaw does not make the batch integer (which would truncate the pitch to 0)."""
    cam = Camera.from_angles(0, 0.3)
    assert cam.dtype == torch.get_default_dtype()
    assert cam.to_angles()["pitch"].item() == pytest.approx(0.3, abs=1e-6)
    assert Camera.from_angles(np.array([0.2, 0.1]), 0.0).dtype == torch.get_default_dtype()


def test_to_angles_about_a_target_and_the_gram_pose_rows_per_camera():
    target = (0.2, -0.1, 0.3)
    cams = Camera.from_angles(torch.tensor([0.4, -0.6], dtype=F64), torch.tensor([0.1, -0.3], dtype=F64),
                              torch.tensor([1.2, 0.9], dtype=F64), target=target)
    a = cams.to_angles(target)
    torch.testing.assert_close(a["yaw"], torch.tensor([0.4, -0.6], dtype=F64), atol=1e-15, rtol=0)
    torch.testing.assert_close(a["pitch"], torch.tensor([0.1, -0.3], dtype=F64), atol=1e-15, rtol=0)
    torch.testing.assert_close(a["radius"], torch.tensor([1.2, 0.9], dtype=F64), atol=1e-15, rtol=0)
    pitch, yaw = torch.tensor([0.1, -0.3], dtype=F64), torch.tensor([0.4, -0.6], dtype=F64)
    origin_cams = Camera(cams.cam2world.clone(), cams.intrinsics)
    origin_cams.cam2world[:, :3, 3] -= torch.tensor(target, dtype=F64)
    phi, theta = origin_cams.to_gram()
    torch.testing.assert_close(phi, math.pi / 2 - pitch, **EXACT)
    torch.testing.assert_close(theta, math.pi / 2 + yaw, **EXACT)
    torch.testing.assert_close(origin_cams.to_gram_pose_npy(), torch.stack([phi - 0.14, theta], dim=1), **EXACT)
    torch.testing.assert_close(origin_cams.to_gram_mat_angle(),
                               torch.stack([pitch + 0.1, yaw, torch.zeros(2, dtype=F64)], dim=1), **EXACT)


# ---------------------------------------------------------------- construction, batches and formats

def test_a_camera_from_single_matrices_is_a_batch_of_one_and_one_intrinsics_serves_a_batch():
    k = _intrinsics(1.5, 1.5, 0.4, 0.6)
    single = Camera(torch.eye(4, dtype=F64), k)
    assert len(single) == 1
    torch.testing.assert_close(single.cam2world[0], torch.eye(4, dtype=F64), **EXACT)
    torch.testing.assert_close(single.intrinsics[0], k, **EXACT)
    poses = yaw_sweep(3, dtype=F64).cam2world
    for shared in (k, k[None]):
        cams = Camera(poses, shared)
        assert cams.intrinsics.shape[0] == 3
        for i in range(3):
            torch.testing.assert_close(cams.intrinsics[i], k, **EXACT)


@pytest.mark.parametrize("c2w, k", [(torch.eye(4)[:3][None], torch.eye(3)[None]),
                                    (torch.eye(4)[None], torch.eye(4)[None])])
def test_a_camera_with_a_wrong_matrix_shape_is_refused(c2w, k):
    with pytest.raises(ValueError, match=r"Camera needs cam2world of shape \(B, 4, 4\) and intrinsics"):
        Camera(c2w, k)


def test_eg3d_labels_of_a_batch_are_row_major_pose_then_intrinsics():
    cams = Camera.cat([_off_centre(0.2), _off_centre(-0.5, 0.3, 2.0)])
    labels = cams.to_eg3d()
    for i in range(2):
        torch.testing.assert_close(labels[i, :16], cams.cam2world[i].reshape(16), atol=0, rtol=0)
        torch.testing.assert_close(labels[i, 16:], cams.intrinsics[i].reshape(9), atol=0, rtol=0)
    back = Camera.from_eg3d(labels, resolution=(24, 32))
    assert len(back) == 2 and back.resolution == (24, 32)
    torch.testing.assert_close(back.cam2world, cams.cam2world, atol=0, rtol=0)
    torch.testing.assert_close(back.intrinsics, cams.intrinsics, atol=0, rtol=0)


def test_gram_conventions_read_python_numbers_in_the_asked_dtype_and_pass_the_rest_on():
    cam = Camera.from_gram(1.1, 1.3, dtype=F64, resolution=(8, 8))
    phi, theta = cam.to_gram()
    assert (phi.item(), theta.item()) == pytest.approx((1.1, 1.3), abs=1e-15)
    assert cam.dtype == F64 and cam.resolution == (8, 8) and cam.fov.item() == pytest.approx(12.0, abs=1e-12)
    angles = [[0.25, -0.4, 0.05], [-0.1, 0.7, 0.0]]  # [pitch, yaw, roll] per image
    mats = Camera.from_gram_mat_angle(angles, radius=2.0, fov=18.0, dtype=F64, resolution=(16, 16))
    a = mats.to_angles()
    torch.testing.assert_close(a["pitch"], torch.tensor([0.15, -0.2], dtype=F64), atol=1e-15, rtol=0)
    torch.testing.assert_close(a["yaw"], torch.tensor([-0.4, 0.7], dtype=F64), atol=1e-15, rtol=0)
    torch.testing.assert_close(a["fov"], torch.tensor([18.0, 18.0], dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(a["radius"], torch.tensor([2.0, 2.0], dtype=F64), **EXACT)
    assert mats.resolution == (16, 16)
    assert Camera.from_gram_mat_angle([0.0, 0.0, 0.0]).fov.item() == pytest.approx(12.0, abs=1e-4)
    poses = [[1.3, 1.6], [1.5, 1.2]]  # cats: [pitch, yaw] pi/2-centred, phi = pitch + 0.14
    npy = Camera.from_gram_pose_npy(poses, radius=1.5, fov=14.0, dtype=F64, resolution=(4, 4))
    phi, theta = npy.to_gram()
    torch.testing.assert_close(phi, torch.tensor([1.44, 1.64], dtype=F64), atol=1e-15, rtol=0)
    torch.testing.assert_close(theta, torch.tensor([1.6, 1.2], dtype=F64), atol=1e-15, rtol=0)
    torch.testing.assert_close(npy.fov, torch.tensor([14.0, 14.0], dtype=F64), atol=1e-12, rtol=0)
    assert npy.resolution == (4, 4) and Camera.from_gram_pose_npy([1.4, 1.5]).fov.item() == pytest.approx(12.0)
    carla = Camera.from_gram_carla_extrinsics([[[1, 0, 0, 0.1], [0, 1, 0, 0.2], [0, 0, 1, 0.3]]], dtype=F64,
                                              resolution=(8, 8))
    # the centre read in (y, z, x): zoo3d's (0.2, 0.3, 0.1), scaled to radius 1
    torch.testing.assert_close(carla.origins[0], torch.tensor([0.2, 0.3, 0.1], dtype=F64) / math.sqrt(0.14),
                               atol=1e-15, rtol=0)
    assert carla.resolution == (8, 8) and carla.fov.item() == pytest.approx(30.0, abs=1e-12)


# ---------------------------------------------------------------- NeuS matrices

H, W = 48, 40
FX, FY, CX, CY = 60.0, 50.0, 20.25, 30.5  # NeuS pixel intrinsics, pixel centres at integers


def _neus_world_mat(cam: Camera) -> torch.Tensor:
    kp = torch.eye(4, dtype=F64)
    kp[:3, :3] = _intrinsics(FX, FY, CX, CY)
    return kp @ torch.linalg.inv(cam.cam2world[0])


def test_from_neus_reads_pixel_intrinsics_with_the_half_pixel_and_the_pose():
    cam = Camera.from_angles(0.3, 0.2, 1.5, dtype=F64)
    world_mat = _neus_world_mat(cam)
    expected_k = _intrinsics(FX / W, FY / H, (CX + 0.5) / W, (CY + 0.5) / H)
    for scale in (1.0, 2.5, -1.5):  # P is defined up to scale, a negative one included
        back = Camera.from_neus(world_mat * scale, resolution=(H, W))
        assert len(back) == 1 and back.resolution == (H, W)
        assert back.cam2world.dtype == back.intrinsics.dtype == torch.get_default_dtype()
        torch.testing.assert_close(back.intrinsics[0].double(), expected_k, atol=1e-6, rtol=0)
        torch.testing.assert_close(back.cam2world[0].double(), cam.cam2world[0], atol=1e-6, rtol=0)
    # and back to NeuS: the same pixel matrix, and an identity scale_mat per camera
    again, scale_mat = Camera(cam.cam2world, expected_k[None], (H, W)).to_neus()
    torch.testing.assert_close(again[0], world_mat, atol=1e-12, rtol=0)
    torch.testing.assert_close(scale_mat, torch.eye(4, dtype=F64)[None], atol=0, rtol=0)


def test_from_neus_decomposes_in_double_precision_whatever_the_file_holds():
    cam = Camera.from_angles(0.3, 0.2, 1.5, dtype=F64)
    world_mat = _neus_world_mat(cam)
    default = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        exact = Camera.from_neus(world_mat, resolution=(H, W))
        single = Camera.from_neus(world_mat.float(), resolution=(H, W))
        double = Camera.from_neus(world_mat.float().double(), resolution=(H, W))
    finally:
        torch.set_default_dtype(default)
    torch.testing.assert_close(exact.cam2world, cam.cam2world, atol=1e-13, rtol=0)
    torch.testing.assert_close(exact.intrinsics[0], _intrinsics(FX / W, FY / H, (CX + 0.5) / W, (CY + 0.5) / H),
                               atol=1e-13, rtol=0)
    assert single.dtype == F64
    torch.testing.assert_close(single.cam2world, double.cam2world, atol=1e-13, rtol=0)
    torch.testing.assert_close(single.intrinsics, double.intrinsics, atol=1e-13, rtol=0)


def test_from_neus_keeps_the_world_frame_unless_asked_for_the_normalised_one_per_camera():
    cams = Camera.cat([Camera.from_angles(0.3, 0.2, 1.5, dtype=F64), Camera.from_angles(-0.4, 0.1, 2.0, dtype=F64)])
    world_mats = torch.stack([_neus_world_mat(cams[i]) for i in range(2)])
    scales = torch.stack([torch.diag(torch.tensor([s, s, s, 1.0], dtype=F64)) for s in (0.5, 0.25)])
    world = Camera.from_neus(world_mats, scales, (H, W))
    torch.testing.assert_close(world.origins.double(), cams.origins, atol=1e-6, rtol=0)
    norm = Camera.from_neus(world_mats, scales.tolist(), (H, W), normalized=True)
    torch.testing.assert_close(norm.origins.double(), cams.origins / torch.tensor([[0.5], [0.25]], dtype=F64),
                               atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"Camera.from_neus needs the image resolution \(H, W\)"):
        Camera.from_neus(world_mats)
    with pytest.raises(ValueError, match="normalized=True needs scale_mat"):
        Camera.from_neus(world_mats, resolution=(H, W), normalized=True)


def test_to_neus_writes_the_pixel_matrix_of_an_off_centre_camera_in_double_precision():
    cam = _off_centre(resolution=(H, W)).to(dtype=torch.float32)
    world_mat, scale_mat = cam.to_neus()
    kp = torch.eye(4, dtype=F64)
    k = cam.intrinsics[0].double()
    kp[:3, :3] = _intrinsics(k[0, 0].item() * W, k[1, 1].item() * H, k[0, 2].item() * W - 0.5,
                             k[1, 2].item() * H - 0.5)
    torch.testing.assert_close(world_mat[0], kp @ torch.linalg.inv(cam.cam2world[0].double()), atol=1e-13, rtol=0)
    assert world_mat.dtype == F64 and scale_mat.dtype == F64
    three, scales = Camera.cat([cam, cam, cam]).to_neus((H, W))
    torch.testing.assert_close(scales, torch.eye(4, dtype=F64).expand(3, 4, 4), atol=0, rtol=0)
    given = [[[0.5, 0, 0, 0.1], [0, 0.5, 0, 0], [0, 0, 0.5, 0], [0, 0, 0, 1]]] * 3
    _, scales = Camera.cat([cam, cam, cam]).to_neus((H, W), given)
    torch.testing.assert_close(scales, torch.tensor(given, dtype=F64), atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"Camera.to_neus needs a resolution \(H, W\)"):
        Camera(cam.cam2world, cam.intrinsics).to_neus()


# ---------------------------------------------------------------- pixels, rays and projection

def test_pixel_grids_with_and_without_aligned_corners():
    cam = Camera.from_angles(0.0, 0.0, dtype=F64)
    aligned = cam.pixel_grid(3, 5, align_corners=True)
    u, v = torch.meshgrid(torch.tensor([0.0, 0.5, 1.0], dtype=F64), torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0],
                                                                                 dtype=F64), indexing="ij")
    torch.testing.assert_close(aligned, torch.stack([v.reshape(-1), u.reshape(-1)], dim=-1), atol=0, rtol=0)
    torch.testing.assert_close(cam.pixel_grid(1, 2, align_corners=True),
                               torch.tensor([[0.0, 0.5], [1.0, 0.5]], dtype=F64), atol=0, rtol=0)
    torch.testing.assert_close(cam.pixel_grid(2, 1), torch.tensor([[0.5, 0.25], [0.5, 0.75]], dtype=F64),
                               atol=0, rtol=0)


def test_rays_are_unit_and_go_through_the_pixel_centres_of_an_off_centre_camera():
    cams = Camera.cat([_off_centre(), _off_centre(-0.6, 0.4, 2.0)])
    origins, dirs = cams.rays(3, 4)
    torch.testing.assert_close(dirs.norm(dim=-1), torch.ones(2, 12, dtype=F64), **EXACT)
    uv = cams.pixel_grid(3, 4)
    d_cam = torch.stack([(uv[:, 0] - 0.35) / 1.7, (uv[:, 1] - 0.6) / 2.1, torch.ones(12, dtype=F64)], dim=-1)
    for i in range(2):
        R = cams.cam2world[i, :3, :3]
        torch.testing.assert_close(dirs[i], (d_cam @ R.T) / d_cam.norm(dim=-1, keepdim=True), **EXACT)
        torch.testing.assert_close(origins[i], cams.origins[i].expand(12, 3), atol=0, rtol=0)
    projected, depth = cams.project(origins + 2.0 * dirs)
    torch.testing.assert_close(projected, uv.expand(2, 12, 2), **EXACT)
    torch.testing.assert_close(depth, 2.0 / d_cam.norm(dim=-1).expand(2, 12), **EXACT)


def test_rays_take_the_cameras_resolution_a_square_by_default_and_the_authors_grid_on_request():
    cam = Camera.from_angles(0.2, 0.1, fov=20.0, resolution=(3, 5), dtype=F64)
    torch.testing.assert_close(cam.rays()[1], cam.rays(3, 5)[1], atol=0, rtol=0)
    torch.testing.assert_close(cam.rays(4)[1], cam.rays(4, 4)[1], atol=0, rtol=0)
    # align_corners: the corner pixel centres sit on the image edge, at tan(fov / 2) (GRAM's grid)
    square = Camera.from_angles(0.2, 0.1, fov=20.0, dtype=F64)
    corner = square.rays(4, align_corners=True)[1][0, 0] @ square.cam2world[0, :3, :3]
    half = math.tan(math.radians(10.0))
    assert (corner[0] / corner[2]).item() == pytest.approx(-half, abs=1e-15)
    assert (corner[1] / corner[2]).item() == pytest.approx(-half, abs=1e-15)
    with pytest.raises(ValueError, match="Camera.rays needs a resolution: pass height/width or set Camera.resolution"):
        Camera.from_angles(0.0, 0.0).rays()


# ---------------------------------------------------------------- batch handling

def test_indexing_slicing_moving_and_joining_keep_the_resolution():
    cams = Camera.cat([_off_centre(0.1, resolution=(6, 8)), _off_centre(0.2, resolution=(6, 8)),
                       _off_centre(0.3, resolution=(6, 8))])
    assert cams.resolution == (6, 8) and len(cams) == 3
    part = cams[1:]
    torch.testing.assert_close(part.cam2world, cams.cam2world[1:], atol=0, rtol=0)
    assert part.resolution == (6, 8) and cams[0].resolution == (6, 8)
    moved = cams.to(dtype=torch.float32)
    assert moved.cam2world.dtype == moved.intrinsics.dtype == torch.float32 and moved.resolution == (6, 8)
    with pytest.raises(IndexError, match="camera 3 of a batch of 3"):
        cams[3]


def test_batch_item_turns_an_int_into_a_slice_and_leaves_other_indices_alone():
    assert batch_item(-1, 4) == slice(3, 4) and batch_item(2, 4) == slice(2, 3)
    s, mask = slice(0, 2), torch.tensor([True, False])
    assert batch_item(s, 2) is s and batch_item(mask, 2) is mask
    with pytest.raises(IndexError, match="^item 5 of a batch of 3$"):
        batch_item(5, 3)


def test_mirror_reflects_the_principal_point_and_keeps_the_resolution():
    cam = _off_centre(resolution=(6, 8))
    mirrored = cam.mirror()
    torch.testing.assert_close(mirrored.intrinsics[0], _intrinsics(1.7, 2.1, 0.65, 0.6), **EXACT)
    assert mirrored.resolution == (6, 8)
    point = torch.tensor([[[0.03, -0.02, 0.05]]], dtype=F64)
    uv, _ = cam.project(point)
    uv_m, _ = mirrored.project(point * torch.tensor([-1.0, 1.0, 1.0], dtype=F64))
    torch.testing.assert_close(uv_m, torch.stack([1 - uv[..., 0], uv[..., 1]], dim=-1), **EXACT)


def test_cameras_made_and_used_on_a_device_stay_on_it():
    meta = torch.device("meta")
    rig = Camera.from_angles([0.1, 0.2], 0.1, device=meta)
    made = {
        "from_angles": rig,
        "from_gram": Camera.from_gram(1.4, 1.7, device=meta),
        "yaw_sweep": yaw_sweep(3, device=meta),
        "orbit": orbit(3, device=meta),
        "sample": CameraPrior().sample(2, device=meta),
        "frontal": CameraPrior().frontal(device=meta),
        "mirror": rig.mirror(),
        "turned_to_view": turned_to_view(rig, 0.3, 0.1),
        "from_neus": Camera.from_neus(torch.eye(4, device=meta), torch.eye(4, device=meta), (4, 4),
                                      normalized=True),
        "to": Camera.from_angles(0.1, 0.0).to(device=meta),
    }
    for name, cam in made.items():
        assert cam.cam2world.device == meta and cam.intrinsics.device == meta, name
    used = {"rays": rig.rays(2, 3)[1], "pixel_grid": rig.pixel_grid(2, 3, align_corners=True),
            "pixel_grid 1": rig.pixel_grid(1, 1, align_corners=True), "to_angles": rig.to_angles((0.1, 0, 0))["yaw"],
            "look_at": look_at(torch.ones(2, 3, device=meta), [0.0, 0.0, 0.0]),
            "project": rig.project(torch.zeros(2, 1, 3, device=meta))[0]}
    used.update(zip(("to_neus world_mat", "to_neus scale_mat"), rig.to_neus((4, 4))))
    for name, t in used.items():
        assert t.device == meta, name


# ---------------------------------------------------------------- trajectories

def test_yaw_sweep_is_evenly_spaced_about_its_centre_at_the_given_pitch_radius_and_fov():
    sweep = yaw_sweep(5, 0.3, pitch=0.2, radius=2.0, fov=20.0, yaw_center=0.5, dtype=F64)
    expected = Camera.from_angles(torch.linspace(-0.3, 0.3, 5, dtype=F64) + 0.5, 0.2, 2.0, 20.0)
    torch.testing.assert_close(sweep.cam2world, expected.cam2world, atol=0, rtol=0)
    torch.testing.assert_close(sweep.intrinsics, expected.intrinsics, atol=0, rtol=0)
    default = yaw_sweep(3, dtype=F64)
    torch.testing.assert_close(default.cam2world, Camera.from_angles(torch.tensor([-0.4, 0.0, 0.4], dtype=F64),
                                                                     0.0, 1.0, 12.0).cam2world, **EXACT)
    torch.testing.assert_close(default.intrinsics, Camera.from_angles(0.0, 0.0, 1.0, 12.0, dtype=F64).intrinsics
                               .expand(3, 3, 3), atol=0, rtol=0)


def test_orbit_is_the_ellipse_written_out():
    ring = orbit(6, 0.3, 0.15, radius=2.0, fov=20.0, yaw_center=0.2, pitch_center=0.1, dtype=F64)
    phase = torch.arange(6, dtype=F64) * (2 * math.pi / 6)
    expected = Camera.from_angles(0.2 + 0.3 * torch.sin(phase), 0.1 + 0.15 * torch.cos(phase), 2.0, 20.0)
    torch.testing.assert_close(ring.cam2world, expected.cam2world, atol=0, rtol=0)
    torch.testing.assert_close(ring.intrinsics, expected.intrinsics, atol=0, rtol=0)
    default = orbit(4, dtype=F64).to_angles()
    torch.testing.assert_close(default["radius"], torch.ones(4, dtype=F64), **EXACT)
    torch.testing.assert_close(default["fov"], torch.full((4,), 12.0, dtype=F64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("yaw, pitch", [(0.3, 0.0), (0.0, 0.3), (1.0, 0.0), (0.0, 1.0), (0.4, -0.2)])
def test_turned_to_view_moves_the_front_camera_to_the_view_and_keeps_the_relative_poses(yaw, pitch):
    rig = yaw_sweep(3, 0.3, radius=2.0, fov=20.0, resolution=(6, 6), dtype=F64)
    turned = turned_to_view(rig, yaw, pitch)
    front = Camera.from_angles(yaw, pitch, 2.0, 20.0, dtype=F64)
    torch.testing.assert_close(turned.cam2world[1], front.cam2world[0], **EXACT)
    relative = torch.linalg.inv(turned.cam2world[1]) @ turned.cam2world
    torch.testing.assert_close(relative, torch.linalg.inv(rig.cam2world[1]) @ rig.cam2world, **EXACT)
    torch.testing.assert_close(turned.intrinsics, rig.intrinsics, atol=0, rtol=0)
    assert turned.resolution == (6, 6)
    single = turned_to_view(rig.to(dtype=torch.float32), yaw, pitch)
    assert single.dtype == torch.float32
    torch.testing.assert_close(single.cam2world, turned.cam2world.float())
    assert turned_to_view(rig, 0.0, 0.0) is rig


# ---------------------------------------------------------------- the camera prior

@pytest.mark.parametrize("distribution", ["gaussian", "uniform", "spherical_uniform"])
def test_prior_draws_are_the_seeded_numbers_written_out(distribution):
    prior = CameraPrior(distribution=distribution, yaw_mean=0.2, yaw_std=0.5, pitch_mean=0.3, pitch_std=0.4,
                        radius=2.5, fov=18.0)
    cams = prior.sample(16, generator=torch.Generator().manual_seed(7), dtype=F64)
    g = torch.Generator().manual_seed(7)  # drawn in float32 and cast, as the latents are: the same poses in any dtype
    if distribution == "gaussian":
        r = torch.randn(2, 16, generator=g, dtype=torch.float32).to(F64)
    else:
        r = (torch.rand(2, 16, generator=g, dtype=torch.float32) * 2 - 1).to(F64)
    yaw, pitch = 0.2 + 0.5 * r[0], 0.3 + 0.4 * r[1]
    if distribution == "spherical_uniform":
        pitch = math.pi / 2 - torch.arccos(1 - 2 * (math.pi / 2 - pitch) / math.pi)
    a = cams.to_angles()
    torch.testing.assert_close(a["yaw"], yaw, **EXACT)
    torch.testing.assert_close(a["pitch"], pitch, **EXACT)
    torch.testing.assert_close(a["radius"], torch.full((16,), 2.5, dtype=F64), **EXACT)
    torch.testing.assert_close(a["fov"], torch.full((16,), 18.0, dtype=F64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("distribution", ["gaussian", "uniform", "spherical_uniform"])
def test_a_seed_draws_the_same_poses_under_a_float64_default_dtype(distribution):
    """torch draws other numbers in float64 than in float32 from 16 on: a notebook that set float64 as torch's
    default drew other poses for the same seed than ``zoo3d sample`` does (all 16 of ``sample_cameras(8)``)."""
    prior = CameraPrior(distribution=distribution)
    single = prior.sample_angles(32, generator=torch.Generator().manual_seed(3))
    default = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        double = prior.sample_angles(32, generator=torch.Generator().manual_seed(3))
    finally:
        torch.set_default_dtype(default)
    for one, other in zip(single, double):
        assert other.dtype == F64
        torch.testing.assert_close(other, one.to(F64), atol=1e-6, rtol=0)  # float32's rounding of the same draws


def test_area_uniform_view_limits_are_the_mapped_range_and_stay_finite_past_the_poles():
    prior = CameraPrior(distribution="spherical_uniform", pitch_mean=0.8, pitch_std=0.3)
    lo, hi = prior.view_limits()["pitch"]
    mapped = [math.pi / 2 - math.acos(1 - 2 * (math.pi / 2 - p) / math.pi) for p in (0.5, 1.1)]
    assert (lo, hi) == pytest.approx(mapped, abs=1e-15)
    # a range reaching past both poles: the draw is clamped just inside them, the view to 0.01 inside
    wide = CameraPrior(distribution="spherical_uniform", pitch_mean=0.0, pitch_std=2.0).view_limits()["pitch"]
    assert wide == pytest.approx([-(math.pi / 2 - 0.01), math.pi / 2 - 0.01], abs=1e-15)
    drawn = CameraPrior(distribution="spherical_uniform", pitch_std=2.0).sample(
        200, generator=torch.Generator().manual_seed(0), dtype=F64).to_angles()["pitch"]
    edge = math.pi / 2 - math.acos(1 - 2e-5)  # v clamped to [1e-5, 1 - 1e-5]
    assert drawn.isfinite().all() and drawn.abs().max().item() == pytest.approx(edge, abs=1e-12)


def test_frontal_is_one_camera_at_the_prior_centre_by_default():
    prior = CameraPrior(yaw_mean=0.25, pitch_mean=-0.1, radius=2.5, fov=18.0)
    front = prior.frontal(dtype=F64)
    assert len(front) == 1 and front.dtype == F64
    a = front.to_angles()
    assert (a["yaw"].item(), a["pitch"].item(), a["radius"].item(), a["fov"].item()) == pytest.approx(
        (0.25, -0.1, 2.5, 18.0), abs=1e-12)


def test_cameras_of_different_resolutions_are_not_one_batch():
    """``Camera.cat`` kept the first camera's resolution whatever the others had; a batch has one."""
    a = Camera.from_angles(torch.tensor([0.1]), torch.tensor([0.0]), resolution=(32, 32))
    b = Camera.from_angles(torch.tensor([0.2]), torch.tensor([0.0]), resolution=(64, 48))
    assert Camera.cat([a, a]).resolution == (32, 32)
    with pytest.raises(ValueError, match=r"different resolutions \[\(32, 32\), \(64, 48\)\]"):
        Camera.cat([a, b])


def test_rays_refuse_a_width_without_a_height():
    """``rays(width=5)`` on a camera with a resolution drew the stored 64x48 grid and ignored the width."""
    cam = Camera.from_angles(torch.tensor([0.0]), torch.tensor([0.0]), resolution=(64, 48))
    assert cam.rays()[1].shape == (1, 64 * 48, 3) and cam.rays(4, 5)[1].shape == (1, 20, 3)
    with pytest.raises(ValueError, match="pass height with width"):
        cam.rays(width=5)


def test_from_angles_refuses_angles_of_more_than_one_dimension_in_one_sentence():
    """A (B, 1) yaw failed deep inside with a raw ``expand`` RuntimeError."""
    with pytest.raises(ValueError, match=r"one value per camera .* broadcast to shape \(3, 3\)"):  # (3, 1) with (3,)
        Camera.from_angles(torch.zeros(3, 1), torch.zeros(3))
    assert len(Camera.from_angles(torch.zeros(3), 0.1)) == 3


def test_a_frontal_cameras_yaw_reads_as_zero_not_minus_zero():
    """``to_angles`` of a yaw-0 camera gives +0.0, so what records it (an inversion's metrics.json pose) writes 0.0,
    not the -0.0 of atan2(-0.0, z)."""
    import json

    angles = Camera.from_angles(torch.tensor([0.0, 0.3]), torch.tensor([0.0, 0.0]), radius=1.0).to_angles()
    assert json.dumps([float(v) for v in angles["yaw"]]).startswith("[0.0, ")
    assert math.copysign(1.0, float(angles["yaw"][0])) == 1.0
    assert float(angles["yaw"][1]) == pytest.approx(0.3, abs=1e-6)
