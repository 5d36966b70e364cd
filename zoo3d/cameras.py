"""Batched pinhole cameras and the conversions between the conventions zoo3d reads.

Canonical record (the EG3D 25-vector): an OpenCV ``cam2world`` 4x4 matrix (columns are
the camera's right, down and forward axes and its centre, in world units) and a 3x3
intrinsics matrix normalised by the image size (``fx``/``cx`` divided by the width,
``fy``/``cy`` by the height; a pixel centre sits at ``(j + 0.5) / W``).

World frame: ``y`` up, the subject at the origin facing ``+z``, so the frontal camera sits
at ``+z`` and looks down ``-z``.

Angles (the user-facing convention, radians unless stated):

* ``yaw`` 0 is frontal; positive means the subject turns to its own left, which puts the
  camera on the world's ``-x`` side: ``eye = r * (-cos(pitch) sin(yaw), sin(pitch),
  cos(pitch) cos(yaw))``.
* ``pitch`` 0 is level; positive raises the camera above the subject.
* ``radius`` is the distance from the look-at target; ``fov`` is the full vertical field
  of view in degrees, measured to the image edges.

Intrinsics are normalised by the image size (EG3D's labels), so they carry the image's aspect:
``from_angles(..., resolution=(H, W))`` makes square pixels at that shape (the horizontal field of
view is the wider one), and without a resolution it assumes a square image.

GRAM and pi-GAN use ``(phi, theta)`` = ``(pi/2 - pitch, pi/2 + yaw)``; their ray grid puts the
edge *pixel centres* at ``tan(fov/2)`` (``linspace(-1, 1, W)``), half a pixel off zoo3d's. zoo3d's
own models use pixel centres; ``rays(..., align_corners=True)`` gives the authors' grid, which
models imported from their releases use to render what the authors' code renders.

``from_angles`` and the GRAM constructors (``from_gram``, ``from_gram_mat_angle``, ``from_gram_pose_npy``,
``from_gram_carla_extrinsics``) keep a float tensor's dtype (``dtype=`` overrides it); numbers, lists and
arrays take torch's default dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

__all__ = ["Camera", "CameraPrior", "EG3D_LABEL_DIM", "look_at", "yaw_sweep", "turned_to_view", "orbit"]

#: length of :meth:`Camera.to_eg3d`'s label: the flattened cam2world 4x4 and normalised intrinsics 3x3
EG3D_LABEL_DIM = 25

_FLIP_X = (-1.0, 1.0, 1.0, 1.0)


def _as_batch(x, device=None, dtype=None) -> Tensor:
    """x as a float tensor with at least one batch dimension: ``dtype``, else a float tensor's own, else the
    default dtype."""
    if dtype is None:
        floating = isinstance(x, Tensor) and x.is_floating_point()
        dtype = x.dtype if floating else torch.get_default_dtype()
    t = torch.as_tensor(x, device=device, dtype=dtype)
    return t.reshape(-1) if t.ndim <= 1 else t


def batch_item(idx, size: int, what: str = "item"):
    """``idx`` of a batch as an index that keeps the batch dimension: an int (negative ones count from the end)
    becomes a one-item slice; anything else is returned as it is."""
    if not isinstance(idx, int):
        return idx
    if not -size <= idx < size:
        raise IndexError(f"{what} {idx} of a batch of {size}")
    return slice(idx % size, idx % size + 1)


def look_at(eye: Tensor, target: Tensor, up: Sequence[float] = (0.0, 1.0, 0.0)) -> Tensor:
    """OpenCV cam2world matrices (B, 4, 4) for cameras at ``eye`` (B, 3) looking at ``target``."""
    eye = torch.as_tensor(eye)
    target = torch.as_tensor(target, dtype=eye.dtype, device=eye.device).expand_as(eye)
    up_v = torch.tensor(up, dtype=eye.dtype, device=eye.device).expand_as(eye)
    forward = torch.nn.functional.normalize(target - eye, dim=-1)
    # Looking along ``up`` (pitch +-pi/2) leaves only rounding residue in the cross product; normalise that
    # rather than clamp it (F.normalize's eps of 1e-12 shrank float64's ~1e-17 residue into a non-unit axis),
    # and take -x where nothing is left, the limit of a camera at yaw 0 tilted onto the axis.
    across = torch.linalg.cross(forward, up_v, dim=-1)
    norm = torch.linalg.vector_norm(across, dim=-1, keepdim=True)
    fallback = torch.tensor((-1.0, 0.0, 0.0), dtype=eye.dtype, device=eye.device).expand_as(across)
    right = torch.where(norm > 0, across / norm.clamp_min(torch.finfo(eye.dtype).tiny), fallback)
    down = torch.linalg.cross(forward, right, dim=-1)
    c2w = torch.zeros(eye.shape[0], 4, 4, dtype=eye.dtype, device=eye.device)
    c2w[:, :3, 0] = right
    c2w[:, :3, 1] = down
    c2w[:, :3, 2] = forward
    c2w[:, :3, 3] = eye
    c2w[:, 3, 3] = 1.0
    return c2w


def _normalised_intrinsics(fov_deg: Tensor, resolution: tuple[int, int] | None = None,
                           cx: float = 0.5, cy: float = 0.5) -> Tensor:
    """Intrinsics normalised by the image size for a vertical field of view; square pixels at ``resolution``
    (H, W): the horizontal focal is scaled by H / W, since x is normalised by W and y by H."""
    focal = 0.5 / torch.tan(torch.deg2rad(fov_deg) / 2)
    aspect = 1.0 if resolution is None else resolution[0] / resolution[1]
    k = torch.zeros(fov_deg.shape[0], 3, 3, dtype=fov_deg.dtype, device=fov_deg.device)
    k[:, 0, 0] = focal * aspect
    k[:, 1, 1] = focal
    k[:, 0, 2] = cx
    k[:, 1, 2] = cy
    k[:, 2, 2] = 1.0
    return k


@dataclass
class Camera:
    """A batch of pinhole cameras.

    Attributes:
        cam2world: (B, 4, 4) OpenCV camera-to-world transforms, world units.
        intrinsics: (B, 3, 3) intrinsics normalised by image size (``cx = 0.5`` is centred).
        resolution: optional default image size ``(H, W)`` in pixels for :meth:`rays`.
    """

    cam2world: Tensor
    intrinsics: Tensor
    resolution: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.cam2world.ndim == 2:
            self.cam2world = self.cam2world[None]
        if self.intrinsics.ndim == 2:
            self.intrinsics = self.intrinsics[None]
        if self.cam2world.shape[-2:] != (4, 4) or self.intrinsics.shape[-2:] != (3, 3):
            raise ValueError("Camera needs cam2world of shape (B, 4, 4) and intrinsics of shape (B, 3, 3)")
        if self.intrinsics.shape[0] != self.cam2world.shape[0]:
            self.intrinsics = self.intrinsics.expand(self.cam2world.shape[0], 3, 3)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_angles(
        cls,
        yaw,
        pitch,
        radius=1.0,
        fov: float | Tensor = 12.0,
        target: Sequence[float] | Tensor = (0.0, 0.0, 0.0),
        resolution: tuple[int, int] | None = None,
        device=None,
        dtype=None,
    ) -> "Camera":
        """Look-at cameras on a sphere around ``target``: a :class:`Camera` of B poses, B the length of ``yaw`` (a
        number, list or tensor; ``pitch``, ``radius`` and ``fov`` are one value or B). ``yaw`` and ``pitch`` in radians
        (yaw 0 frontal, positive the subject turning to its left; pitch 0 level, positive from above: the module doc),
        ``radius`` in world units, ``fov`` the full vertical field of view in degrees."""
        yaw = _as_batch(yaw, device, dtype)
        pitch = _as_batch(pitch, device=yaw.device, dtype=yaw.dtype)
        radius = _as_batch(radius, device=yaw.device, dtype=yaw.dtype)
        fov_t = _as_batch(fov, device=yaw.device, dtype=yaw.dtype)
        yaw, pitch, radius, fov_t = torch.broadcast_tensors(yaw, pitch, radius, fov_t)
        if yaw.ndim != 1:
            raise ValueError(f"Camera.from_angles takes one value per camera (numbers or 1-D tensors); the angles, "
                             f"radius and fov broadcast to shape {tuple(yaw.shape)}")
        tgt = torch.as_tensor(target, device=yaw.device, dtype=yaw.dtype).reshape(-1, 3).expand(yaw.shape[0], 3)
        direction = torch.stack(
            [-torch.cos(pitch) * torch.sin(yaw), torch.sin(pitch), torch.cos(pitch) * torch.cos(yaw)], dim=-1
        )
        eye = tgt + radius[:, None] * direction
        return cls(look_at(eye, tgt), _normalised_intrinsics(fov_t, resolution), resolution)

    @classmethod
    def from_eg3d(cls, vec: Tensor, resolution: tuple[int, int] | None = None) -> "Camera":
        """From EG3D labels (B, 25): row-major OpenCV cam2world 4x4 then normalised 3x3 intrinsics."""
        vec = torch.as_tensor(vec)
        vec = vec.reshape(-1, EG3D_LABEL_DIM)
        return cls(vec[:, :16].reshape(-1, 4, 4).clone(), vec[:, 16:].reshape(-1, 3, 3).clone(), resolution)

    @classmethod
    def from_gram(cls, phi, theta, radius=1.0, fov=12.0, **kw) -> "Camera":
        """From GRAM/pi-GAN ``(phi, theta)``: phi is the polar angle from +y, theta the azimuth; frontal is (pi/2, pi/2)."""
        phi = _as_batch(phi, kw.get("device"), kw.get("dtype"))
        theta = _as_batch(theta, phi.device, phi.dtype)
        return cls.from_angles(theta - math.pi / 2, math.pi / 2 - phi, radius, fov, **kw)

    @classmethod
    def from_gram_mat_angle(cls, angle, radius=1.0, fov=12.0, **kw) -> "Camera":
        """From a GRAM FFHQ ``poses/<name>.mat`` ``angle`` = [pitch, yaw, roll] (Deep3DFaceRecon, radians).

        GRAM's loader maps it to ``phi = pi/2 - (angle[0] - 0.1)`` and ``theta = pi/2 + angle[1]``; roll is dropped.
        """
        angle = _as_batch(angle, dtype=kw.get("dtype")).reshape(-1, 3)
        return cls.from_angles(angle[:, 1], angle[:, 0] - 0.1, radius, fov, **kw)

    @classmethod
    def from_gram_pose_npy(cls, pose, radius=1.0, fov=12.0, **kw) -> "Camera":
        """From a GRAM cats ``poses/<name>_pose.npy`` = [pitch, yaw] (pi/2-centred); the loader uses ``phi = pitch + 0.14``."""
        pose = _as_batch(pose, dtype=kw.get("dtype")).reshape(-1, 2)
        return cls.from_gram(pose[:, 0] + 0.14, pose[:, 1], radius, fov, **kw)

    @classmethod
    def from_gram_carla_extrinsics(cls, cam2world, radius=1.0, fov=30.0, **kw) -> "Camera":
        """From a GRAM CARLA ``poses/<name>_extrinsics.npy``: GRAF's z-up cam2world (B, 4, 4) or (B, 3, 4).

        GRAM's loader keeps only the direction of the camera centre ``p``, read in the axis order
        (y, z, x) (zoo3d's x, y, z): ``theta = atan2(-p_y, p_x) + pi/2`` and ``phi = pi/2 - atan(p_z /
        |(p_x, p_y)|)``; the rotation and the distance are dropped. GRAF's CARLA renders have a 30 degree fov.
        """
        m = _as_batch(cam2world, dtype=kw.get("dtype"))
        centre = m.reshape(-1, *m.shape[-2:])[:, :3, 3]
        p = centre[:, [1, 2, 0]]
        theta = torch.atan2(-p[:, 0], p[:, 2]) + math.pi / 2
        phi = math.pi / 2 - torch.atan2(p[:, 1], torch.hypot(p[:, 0], p[:, 2]))
        return cls.from_gram(phi, theta, radius, fov, **kw)

    @classmethod
    def from_neus(
        cls, world_mat: Tensor, scale_mat: Tensor | None = None, resolution: tuple[int, int] | None = None,
        normalized: bool = False,
    ) -> "Camera":
        """From NeuS ``world_mat_i`` (= K_pixels @ world2cam, 4x4) and ``scale_mat_i``.

        ``resolution`` (H, W) is required to normalise the pixel intrinsics. NeuS puts pixel
        centres at integer coordinates, zoo3d at ``j + 0.5``; the half pixel is accounted for.
        With ``normalized=True`` the camera is returned in NeuS's unit-sphere frame
        (``P = world_mat @ scale_mat``), otherwise in the world frame.
        """
        if resolution is None:
            raise ValueError("Camera.from_neus needs the image resolution (H, W) to normalise the intrinsics")
        world_mat = torch.as_tensor(world_mat).reshape(-1, 4, 4).to(torch.float64)
        P = world_mat
        if normalized:
            if scale_mat is None:
                raise ValueError("normalized=True needs scale_mat")
            P = world_mat @ torch.as_tensor(scale_mat, dtype=torch.float64).reshape(-1, 4, 4)
        K, R, centre = _decompose_projection(P[:, :3, :4])
        H, W = resolution
        Kn = K.clone()
        Kn[:, 0, :] /= W
        Kn[:, 1, :] /= H
        Kn[:, 0, 2] = (K[:, 0, 2] + 0.5) / W
        Kn[:, 1, 2] = (K[:, 1, 2] + 0.5) / H
        c2w = torch.eye(4, dtype=torch.float64, device=P.device).repeat(P.shape[0], 1, 1)
        c2w[:, :3, :3] = R.transpose(1, 2)
        c2w[:, :3, 3] = centre
        dtype = torch.get_default_dtype()
        return cls(c2w.to(dtype), Kn.to(dtype), resolution)

    # ------------------------------------------------------------------ export
    def to_eg3d(self) -> Tensor:
        """EG3D label vectors (B, 25)."""
        return torch.cat([self.cam2world.reshape(-1, 16), self.intrinsics.reshape(-1, 9)], dim=1)

    def to_angles(self, target: Sequence[float] | Tensor = (0.0, 0.0, 0.0)) -> dict[str, Tensor]:
        """``yaw``, ``pitch``, ``radius`` of the camera centres about ``target`` and the vertical ``fov`` (deg)."""
        tgt = torch.as_tensor(target, dtype=self.dtype, device=self.device)
        d = self.origins - tgt
        radius = d.norm(dim=-1)
        pitch = torch.asin((d[:, 1] / radius).clamp(-1.0, 1.0))
        yaw = torch.atan2(-d[:, 0], d[:, 2]) + 0.0  # + 0.0: a frontal camera's -0.0 (atan2 of -0.0) read as 0.0
        return {"yaw": yaw, "pitch": pitch, "radius": radius, "fov": self.fov}

    def to_gram(self) -> tuple[Tensor, Tensor]:
        """GRAM/pi-GAN ``(phi, theta)``."""
        a = self.to_angles()
        return math.pi / 2 - a["pitch"], math.pi / 2 + a["yaw"]

    def to_gram_mat_angle(self) -> Tensor:
        """GRAM FFHQ ``angle`` (B, 3) = [pitch, yaw, 0] that :meth:`from_gram_mat_angle` reads back."""
        a = self.to_angles()
        return torch.stack([a["pitch"] + 0.1, a["yaw"], torch.zeros_like(a["yaw"])], dim=-1)

    def to_gram_pose_npy(self) -> Tensor:
        """GRAM cats ``[pitch, yaw]`` (B, 2) that :meth:`from_gram_pose_npy` reads back."""
        phi, theta = self.to_gram()
        return torch.stack([phi - 0.14, theta], dim=-1)

    def to_neus(self, resolution: tuple[int, int] | None = None, scale_mat: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """NeuS ``(world_mat, scale_mat)`` (B, 4, 4) each; ``scale_mat`` defaults to identity."""
        H, W = resolution or self.resolution or (None, None)
        if H is None:
            raise ValueError("Camera.to_neus needs a resolution (H, W)")
        K = self.intrinsics.to(torch.float64)
        Kp = torch.eye(4, dtype=torch.float64, device=K.device).repeat(len(self), 1, 1)
        Kp[:, 0, :3] = K[:, 0] * W
        Kp[:, 1, :3] = K[:, 1] * H
        Kp[:, 0, 2] = K[:, 0, 2] * W - 0.5
        Kp[:, 1, 2] = K[:, 1, 2] * H - 0.5
        world_mat = Kp @ torch.linalg.inv(self.cam2world.to(torch.float64))
        if scale_mat is None:
            scale_mat = torch.eye(4, dtype=torch.float64, device=K.device).repeat(len(self), 1, 1)
        return world_mat, torch.as_tensor(scale_mat, dtype=torch.float64).reshape(-1, 4, 4)

    # ------------------------------------------------------------------ geometry
    @property
    def device(self) -> torch.device:
        return self.cam2world.device

    @property
    def dtype(self) -> torch.dtype:
        return self.cam2world.dtype

    @property
    def origins(self) -> Tensor:
        """Camera centres (B, 3)."""
        return self.cam2world[:, :3, 3]

    @property
    def fov(self) -> Tensor:
        """Full vertical field of view in degrees (B,)."""
        return torch.rad2deg(2 * torch.atan(0.5 / self.intrinsics[:, 1, 1]))

    def __len__(self) -> int:
        return self.cam2world.shape[0]

    def __getitem__(self, idx) -> "Camera":
        idx = batch_item(idx, len(self), "camera")
        return Camera(self.cam2world[idx], self.intrinsics[idx], self.resolution)

    def to(self, device=None, dtype=None) -> "Camera":
        """The same cameras on ``device`` and in ``dtype`` (each left as it is when None)."""
        return Camera(self.cam2world.to(device=device, dtype=dtype), self.intrinsics.to(device=device, dtype=dtype),
                      self.resolution)

    @staticmethod
    def cat(cameras: Iterable["Camera"]) -> "Camera":
        """One batch of ``cameras``, which must share one resolution (or all have none): a batch has one."""
        cams = list(cameras)
        sizes = list(dict.fromkeys(c.resolution for c in cams))
        if len(sizes) > 1:
            raise ValueError(f"Camera.cat: the cameras have different resolutions {sizes}; a batch has one")
        return Camera(torch.cat([c.cam2world for c in cams]), torch.cat([c.intrinsics for c in cams]),
                      cams[0].resolution)

    def mirror(self) -> "Camera":
        """The camera that sees the horizontally flipped image of the world mirrored in x = 0 (yaw -> -yaw)."""
        f = torch.tensor(_FLIP_X, dtype=self.dtype, device=self.device).diag()
        k = self.intrinsics.clone()
        k[:, 0, 2] = 1.0 - k[:, 0, 2]
        return Camera(f @ self.cam2world @ f, k, self.resolution)

    def pixel_grid(self, height: int, width: int, align_corners: bool = False) -> Tensor:
        """Normalised pixel-centre coordinates (H*W, 2) as (u, v) in [0, 1], row-major from the top left.

        ``align_corners`` puts the first and last pixel centres on the image borders (``j / (W - 1)``),
        the grid of GRAM and pi-GAN (``linspace(-1, 1, W)`` in their NDC); otherwise ``(j + 0.5) / W``.
        """
        v = _grid_axis(height, align_corners, self.device, self.dtype)
        u = _grid_axis(width, align_corners, self.device, self.dtype)
        vv, uu = torch.meshgrid(v, u, indexing="ij")
        return torch.stack([uu.reshape(-1), vv.reshape(-1)], dim=-1)

    def rays(self, height: int | None = None, width: int | None = None,
             align_corners: bool = False) -> tuple[Tensor, Tensor]:
        """World-space rays through pixel centres: origins and unit directions, each (B, H*W, 3), row-major.

        ``align_corners``: the GRAM/pi-GAN pixel grid (see :meth:`pixel_grid`).
        """
        if height is None:
            if width is not None:
                raise ValueError("Camera.rays: pass height with width (a width alone would be ignored)")
            if self.resolution is None:
                raise ValueError("Camera.rays needs a resolution: pass height/width or set Camera.resolution")
            height, width = self.resolution
        width = width if width is not None else height
        uv = self.pixel_grid(height, width, align_corners)
        k = self.intrinsics
        x = (uv[None, :, 0] - k[:, None, 0, 2]) / k[:, None, 0, 0]
        y = (uv[None, :, 1] - k[:, None, 1, 2]) / k[:, None, 1, 1]
        d_cam = torch.stack([x, y, torch.ones_like(x)], dim=-1)
        dirs = torch.nn.functional.normalize(d_cam @ self.cam2world[:, :3, :3].transpose(1, 2), dim=-1)
        origins = self.origins[:, None, :].expand_as(dirs)
        return origins, dirs

    def project(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Project world points (B, P, 3): normalised image coords (B, P, 2) in [0, 1] and camera-space depth (B, P)."""
        w2c = torch.linalg.inv(self.cam2world)
        p = points @ w2c[:, :3, :3].transpose(1, 2) + w2c[:, None, :3, 3]
        z = p[..., 2]
        k = self.intrinsics
        u = k[:, None, 0, 0] * p[..., 0] / z + k[:, None, 0, 2]
        v = k[:, None, 1, 1] * p[..., 1] / z + k[:, None, 1, 2]
        return torch.stack([u, v], dim=-1), z


def _grid_axis(n: int, align_corners: bool, device, dtype) -> Tensor:
    """Pixel-centre positions along one image axis in [0, 1] (see :meth:`Camera.pixel_grid`)."""
    if align_corners:
        if n == 1:
            return torch.full((1,), 0.5, device=device, dtype=dtype)
        return torch.linspace(0.0, 1.0, n, device=device, dtype=dtype)
    return (torch.arange(n, device=device, dtype=dtype) + 0.5) / n


def _decompose_projection(P: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Split P (B, 3, 4) = K [R | t] into upper-triangular K (K[2,2] = 1), rotation R and camera centre."""
    M = P[:, :, :3]
    # RQ decomposition of M through a QR decomposition of its row-reversed transpose.
    flip = torch.eye(3, dtype=M.dtype, device=M.device).flip(0)
    q, r = torch.linalg.qr((flip @ M).transpose(1, 2))
    K = flip @ r.transpose(1, 2) @ flip
    R = flip @ q.transpose(1, 2)
    signs = torch.sign(torch.diagonal(K, dim1=1, dim2=2))
    signs[signs == 0] = 1
    S = torch.diag_embed(signs)
    K = K @ S
    R = S @ R
    centre = -torch.linalg.solve(M, P[:, :, 3:]).squeeze(-1)
    det = torch.linalg.det(R)
    R = R * det.sign()[:, None, None]  # P is defined up to scale; a negative scale flips R
    K = K / K[:, 2:3, 2:3]
    return K, R, centre


def yaw_sweep(n: int, yaw_range: float = 0.4, pitch: float = 0.0, radius: float = 1.0, fov: float = 12.0,
              yaw_center: float = 0.0, **kw) -> Camera:
    """``n`` cameras with yaw evenly spaced in ``yaw_center`` +- ``yaw_range`` (the NeuS-consistency protocol); one
    camera is the centre view, not the sweep's first end."""
    dtype = kw.get("dtype") or torch.get_default_dtype()
    offsets = torch.linspace(-yaw_range, yaw_range, n, dtype=dtype) if n != 1 else torch.zeros(1, dtype=dtype)
    yaw = offsets + yaw_center
    return Camera.from_angles(yaw, pitch, radius, fov, **kw)


def turned_to_view(rig: Camera, yaw: float, pitch: float) -> Camera:
    """``rig`` turned rigidly about the origin so that its front view (yaw 0, pitch 0) becomes the view
    (``yaw``, ``pitch``): the cameras keep their relative poses and so share the up axis a yaw sweep at
    pitch 0 has, which keeps an image row on one epipolar plane through the sweep (a sweep at a raised
    pitch about the world's vertical would also roll the image)."""
    if yaw == 0 and pitch == 0:
        return rig
    c2w = rig.cam2world
    front = Camera.from_angles(0.0, 0.0, dtype=torch.float64).cam2world[0]
    centre = Camera.from_angles(yaw, pitch, dtype=torch.float64).cam2world[0]
    turn = torch.eye(4, dtype=torch.float64)
    turn[:3, :3] = centre[:3, :3] @ front[:3, :3].T
    return Camera((turn.to(device=c2w.device, dtype=c2w.dtype) @ c2w), rig.intrinsics, rig.resolution)


def orbit(n: int, yaw_amplitude: float = 0.3, pitch_amplitude: float = 0.15, radius: float = 1.0,
          fov: float = 12.0, yaw_center: float = 0.0, pitch_center: float = 0.0, **kw) -> Camera:
    """``n`` cameras on a closed elliptical path around the view (``yaw_center``, ``pitch_center``) (a turntable
    around a prior's mean view: the front of a face, CARLA's cars seen from above); one camera is that centre view,
    not the path's top, as one camera of :func:`yaw_sweep` is."""
    phase = torch.arange(n, dtype=kw.get("dtype") or torch.get_default_dtype()) * (2 * math.pi / n)
    on_path = float(n != 1)
    return Camera.from_angles(yaw_center + on_path * yaw_amplitude * torch.sin(phase),
                              pitch_center + on_path * pitch_amplitude * torch.cos(phase), radius, fov, **kw)


def _area_uniform_pitch(pitch: Tensor) -> Tensor:
    """``spherical_uniform``'s pitch: with ``v = (pi/2 - pitch) / pi`` (clamped to [1e-5, 1 - 1e-5]), the pitch
    whose height on the sphere is linear in ``v``, ``pi/2 - arccos(1 - 2 v)``: uniform draws of ``pitch`` fall
    uniformly over the sphere's area."""
    v = ((math.pi / 2 - pitch) / math.pi).clamp(1e-5, 1 - 1e-5)
    return math.pi / 2 - torch.arccos(1 - 2 * v)


class CameraPrior(BaseModel):
    """The distribution cameras are drawn from when a generator samples images (its pose prior).

    Defaults are the FFHQ-like prior of GRAM: yaw ~ N(0, 0.3), pitch ~ N(0, 0.155), fov 12 deg, radius 1.
    ``uniform`` draws yaw and pitch uniformly in ``mean +- std``. ``spherical_uniform`` (GRAM's and
    pi-GAN's CARLA prior) draws yaw uniformly in ``yaw_mean +- yaw_std`` and the camera uniformly over
    the sphere's area between the pitches ``pitch_mean -+ pitch_std``: with ``v = (pi/2 - pitch) / pi``,
    v uniform over that range and ``pitch = pi/2 - arccos(1 - 2 v)`` (v clamped to [1e-5, 1 - 1e-5]).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    distribution: Literal["gaussian", "uniform", "spherical_uniform"] = "gaussian"
    yaw_mean: float = 0.0
    yaw_std: float = Field(0.3, ge=0)
    pitch_mean: float = 0.0
    pitch_std: float = Field(0.155, ge=0)
    radius: float = Field(1.0, gt=0)
    fov: float = Field(12.0, gt=0, lt=180)

    def sample(self, n: int, generator: torch.Generator | None = None, device=None, dtype=None) -> Camera:
        """A :class:`Camera` of ``n`` poses drawn from this prior (angles from :meth:`sample_angles`, at this
        ``radius`` and ``fov``), in ``dtype`` (default: torch's default dtype) on ``device``."""
        dtype = dtype or torch.get_default_dtype()
        yaw, pitch = self.sample_angles(n, generator, dtype)
        return Camera.from_angles(yaw, pitch, self.radius, self.fov, dtype=dtype).to(device=device)

    def sample_angles(self, n: int, generator: torch.Generator | None = None, dtype=None) -> tuple[Tensor, Tensor]:
        """The (yaw, pitch) (n,) each in radians that :meth:`sample` draws, drawn as it draws them (the same numbers
        from the same ``generator``); ``Camera.from_angles(yaw, pitch, radius, fov)`` makes its cameras. The random
        numbers are drawn in float32 and then cast to ``dtype`` (default: torch's default dtype), as
        :meth:`zoo3d.core.generator.Generator.sample_z` draws latents, so a seed gives the same poses in every dtype:
        torch draws other numbers in float64 from 16 on (``randn(2, n)`` from ``n = 8``)."""
        dtype = dtype or torch.get_default_dtype()
        if self.distribution == "gaussian":
            r = torch.randn(2, n, generator=generator, dtype=torch.float32).to(dtype)
        else:
            r = (torch.rand(2, n, generator=generator, dtype=torch.float32) * 2 - 1).to(dtype)
        yaw = self.yaw_mean + self.yaw_std * r[0]
        pitch = self.pitch_mean + self.pitch_std * r[1]
        if self.distribution == "spherical_uniform":
            pitch = _area_uniform_pitch(pitch)
        return yaw, pitch

    def view_limits(self, spread: float = 2.0, include: dict | None = None) -> dict[str, list[float]]:
        """The yaw and pitch ranges an interactive view keeps to: a Gaussian prior's mean +- ``spread`` std, a
        uniform prior's support (for ``spherical_uniform`` the pitches its area-uniform draw reaches), widened to
        take in the view ``include`` (its ``yaw`` and ``pitch``: an inversion's input view, which may lie outside
        the prior). Pitch stays 0.01 inside +-pi/2, where a look-at camera with y up would turn over the pole."""
        k = spread if self.distribution == "gaussian" else 1.0
        lo, hi = self.pitch_mean - k * self.pitch_std, self.pitch_mean + k * self.pitch_std
        if self.distribution == "spherical_uniform":
            lo, hi = _area_uniform_pitch(torch.tensor([lo, hi], dtype=torch.float64)).tolist()
        limits = {"yaw": [self.yaw_mean - k * self.yaw_std, self.yaw_mean + k * self.yaw_std], "pitch": [lo, hi]}
        if include is not None:
            for key, (low, high) in limits.items():
                limits[key] = [min(low, float(include[key])), max(high, float(include[key]))]
        edge = math.pi / 2 - 0.01
        limits["pitch"] = [max(limits["pitch"][0], -edge), min(limits["pitch"][1], edge)]
        return limits

    @property
    def centre_pitch(self) -> float:
        """The pitch of the prior's centre view: ``pitch_mean``, but for ``spherical_uniform``, whose
        ``pitch_mean`` is a setting of the area-uniform draw (upstream's ``v_mean``), the pitch it maps to (the
        view the authors' CARLA render scripts use, drawn with ``v_stddev`` 0)."""
        if self.distribution == "spherical_uniform":
            return float(_area_uniform_pitch(torch.tensor(self.pitch_mean, dtype=torch.float64)))
        return self.pitch_mean

    def frontal(self, n: int = 1, device=None, dtype=None) -> Camera:
        """``n`` cameras at the prior's centre view (``yaw_mean``, :attr:`centre_pitch`)."""
        return Camera.from_angles([self.yaw_mean] * n, self.centre_pitch, self.radius, self.fov,
                                  device=device, dtype=dtype)
