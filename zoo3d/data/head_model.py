"""The procedural head family: latent -> shape/colour parameters -> SDF and baked radiance.

World frame as in :mod:`zoo3d.cameras`: y up, the face looks towards +z, units such that the
head fits inside GRAM's box [-0.12, 0.12]^3 (face surface near z = +0.10, back of the hair
above z = -0.11). The background plane sits at ``BACKGROUND_Z`` = -0.12.

A head is a smooth union of ellipsoids (skull, jaw, nose, ears, hair cap cut by a tilted
hairline plane) and a capped neck cylinder. Colour is an albedo painted as a function of the
3D surface point (skin tone with low-frequency noise, hair with a parting, eyes, brows, lips)
times a world-space light fixed per head, so radiance does not depend on the view direction.

Every parameter is a fixed function of a standard-normal latent of size ``HEAD_LATENT_DIM``
(``value = mean + spread * tanh(z)``), so the truncation trick (``z * psi``) pulls a head
towards the mean head and a latent always gives the same head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from zoo3d.cameras import batch_item

BACKGROUND_Z = -0.12
#: axis-aligned box (min, max) that contains every head of the family (the neck is cut at its bottom).
HEAD_BOUNDS = ((-0.105, -0.32, -0.115), (0.105, 0.125, 0.125))
#: two volumes that together contain every head of the family: an ellipsoid (centre, radii)
#: around skull, face and hair, and a box (lo, hi) around the neck. Rays that miss both see the background.
HEAD_BOUND_ELLIPSOID = ((0.0, 0.012, -0.004), (0.094, 0.12, 0.12))
NECK_BOUND_BOX = ((-0.058, -0.32, -0.088), (0.058, -0.02, 0.038))
N_NOISE = 4
#: (name, mean, spread) of the scalar shape/layout parameters, one latent dimension each.
_SCALARS = (
    ("head_w", 0.068, 0.005), ("head_h", 0.084, 0.005), ("head_d", 0.087, 0.004),
    ("jaw_w", 0.050, 0.005), ("jaw_h", 0.047, 0.004), ("jaw_z", 0.026, 0.004),
    ("nose_w", 0.0085, 0.0015), ("nose_h", 0.016, 0.002), ("nose_d", 0.013, 0.002),
    ("ear_size", 1.0, 0.15), ("hair_thick", 0.009, 0.004), ("hairline", 0.047, 0.012),
    ("hair_back", -0.035, 0.025), ("parting_x", 0.0, 0.025), ("neck_r", 0.040, 0.004),
    ("eye_sep", 0.027, 0.002), ("eye_y", 0.012, 0.003), ("gaze_x", 0.0, 0.0015),
    ("mouth_y", -0.041, 0.003), ("mouth_w", 0.015, 0.002), ("brow_tilt", 0.0, 0.25),
    ("light_x", 0.0, 0.45), ("skin_t", 0.0, 2.0), ("hair_t", 0.0, 2.0), ("eye_t", 0.0, 2.0), ("lip_t", 0.0, 1.0),
)
#: parameters whose sign flips under the mirror x -> -x
_ODD = {"parting_x", "gaze_x", "light_x"}
# latent layout: scalars, 3 background colour dims, N_NOISE * (3 frequency + 1 phase) noise dims.
HEAD_LATENT_DIM = len(_SCALARS) + 3 + 4 * N_NOISE

_SKIN = ((0.96, 0.80, 0.69), (0.87, 0.66, 0.52), (0.66, 0.46, 0.34), (0.40, 0.27, 0.19))
_HAIR = ((0.07, 0.05, 0.04), (0.30, 0.18, 0.10), (0.62, 0.45, 0.25), (0.85, 0.72, 0.48), (0.55, 0.22, 0.10),
         (0.62, 0.62, 0.64))
_EYES = ((0.30, 0.18, 0.08), (0.35, 0.45, 0.30), (0.28, 0.45, 0.62))
_LIPS = ((0.78, 0.42, 0.40), (0.62, 0.30, 0.30))
_LIGHT_YZ = (0.55, 0.8)  # towards the key light: above and in front; its x is the per-head ``light_x``


@dataclass
class HeadParams:
    """A batch of B heads. Every field is a tensor with leading dimension B.

    Attributes:
        geometry: (B, G) scalar shape/layout parameters in the order of ``_SCALARS``.
        skull_centre: (B, 3) skull centre in world units.
        parts: (B,) 1 for a full head, 0 for the skull alone (a plain ellipsoid or sphere).
        background: (B, 3) background plane albedo in [0, 1].
        noise_freq: (B, N_NOISE, 3) spatial frequencies (rad per world unit) of the skin noise.
        noise_phase: (B, N_NOISE) phases of the skin noise.
    """

    geometry: Tensor
    skull_centre: Tensor
    parts: Tensor
    background: Tensor
    noise_freq: Tensor
    noise_phase: Tensor

    def __len__(self) -> int:
        return self.geometry.shape[0]

    def __getitem__(self, idx) -> "HeadParams":
        idx = batch_item(idx, len(self), "head")
        return HeadParams(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def get(self, name: str) -> Tensor:
        """The scalar parameter ``name`` (B,)."""
        return self.geometry[:, _SCALAR_INDEX[name]]

    def to(self, device=None, dtype=None) -> "HeadParams":
        return HeadParams(**{f.name: getattr(self, f.name).to(device=device, dtype=dtype) for f in fields(self)})

    @staticmethod
    def cat(items) -> "HeadParams":
        items = list(items)
        return HeadParams(**{f.name: torch.cat([getattr(p, f.name) for p in items]) for f in fields(HeadParams)})

    def mirrored(self) -> "HeadParams":
        """The heads reflected in the plane x = 0: ``head_sdf(p.mirrored(), x) == head_sdf(p, x * (-1, 1, 1))``."""
        geometry = self.geometry.clone()
        for name in _ODD:
            geometry[:, _SCALAR_INDEX[name]] *= -1
        centre = self.skull_centre.clone()
        centre[:, 0] *= -1
        freq = self.noise_freq.clone()
        freq[..., 0] *= -1
        return replace(self, geometry=geometry, skull_centre=centre, noise_freq=freq)

    @classmethod
    def sphere(cls, radius, centre=(0.0, 0.0, 0.0), n: int = 1, device=None, dtype=None) -> "HeadParams":
        """Heads reduced to a plain sphere of ``radius`` at ``centre`` (for analytic checks)."""
        base = params_from_latent(torch.zeros(n, HEAD_LATENT_DIM, device=device, dtype=dtype))
        geometry = base.geometry.clone()
        for name in ("head_w", "head_h", "head_d"):
            geometry[:, _SCALAR_INDEX[name]] = radius
        centre_t = torch.as_tensor(centre, device=geometry.device, dtype=geometry.dtype).expand(n, 3).clone()
        return replace(base, geometry=geometry, skull_centre=centre_t, parts=torch.zeros_like(base.parts))


_SCALAR_INDEX = {name: i for i, (name, _, _) in enumerate(_SCALARS)}


def params_from_latent(z: Tensor) -> HeadParams:
    """Latents (B, HEAD_LATENT_DIM) standard normal -> heads. A fixed, smooth function of z."""
    if z.ndim != 2 or z.shape[1] < HEAD_LATENT_DIM:
        raise ValueError(f"head latents must be (B, >={HEAD_LATENT_DIM}), got {tuple(z.shape)}")
    n_s = len(_SCALARS)
    mean = z.new_tensor([m for _, m, _ in _SCALARS])
    spread = z.new_tensor([s for _, _, s in _SCALARS])
    geometry = mean + spread * torch.tanh(z[:, :n_s])
    background = 0.25 + 0.6 * torch.sigmoid(1.5 * z[:, n_s:n_s + 3])
    noise = z[:, n_s + 3:HEAD_LATENT_DIM].reshape(-1, N_NOISE, 4)
    noise_freq = 30.0 * noise[..., :3]
    noise_phase = math.pi * torch.tanh(noise[..., 3])
    b = z.shape[0]
    centre = z.new_tensor([0.0, 0.012, -0.006]).expand(b, 3).clone()
    return HeadParams(geometry, centre, z.new_ones(b), background, noise_freq, noise_phase)


def sample_head_params(n: int, seed: int | None = None, generator: torch.Generator | None = None,
                       device=None, dtype=None) -> HeadParams:
    """``n`` random heads, deterministic for a given ``seed`` (or drawn from ``generator``)."""
    if generator is None:
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(seed))
    z = torch.randn(n, HEAD_LATENT_DIM, generator=generator, dtype=dtype or torch.get_default_dtype())
    return params_from_latent(z).to(device=device)


# ------------------------------------------------------------------------------------ geometry

def _ellipsoid(x: Tensor, y: Tensor, z: Tensor, rx, ry, rz) -> Tensor:
    """Approximate signed distance to an axis-aligned ellipsoid at the origin (exact for a sphere)."""
    qx, qy, qz = x / rx, y / ry, z / rz
    # fused multiply-adds and one rsqrt: the sphere tracer's time goes with the number of ops
    k0 = torch.addcmul(torch.addcmul(qx * qx, qy, qy), qz, qz).sqrt()
    sx, sy, sz = qx / rx, qy / ry, qz / rz
    inv_k1 = torch.addcmul(torch.addcmul(sx * sx, sy, sy), sz, sz).clamp_min(1e-18).rsqrt()
    return (k0 - 1.0) * k0 * inv_k1


def _smin(a: Tensor, b: Tensor, k: float) -> Tensor:
    """Polynomial smooth minimum (blend width ``k``); equals min(a, b) when |a - b| >= k."""
    h = (k - (a - b).abs()).clamp_min(0.0)  # k times the usual blend weight
    return torch.minimum(a, b) - h * h * (0.25 / k)


def _columns(params_geo: Tensor) -> dict[str, Tensor]:
    return {name: params_geo[..., i] for name, i in _SCALAR_INDEX.items()}


N_PACKED = len(_SCALARS) + 4


def pack_rows(params: HeadParams, bidx: Tensor | None = None) -> Tensor:
    """Per-ray SDF parameters as rows (G + 4, M): geometry, skull centre x/y/z, parts.

    Rows keep each parameter contiguous across rays, which makes the elementwise SDF fast.
    """
    packed = torch.cat([params.geometry, params.skull_centre, params.parts[:, None]], dim=1)
    if bidx is not None:
        packed = packed[bidx]
    return packed.t().contiguous()


def head_parts_packed(rows: Tensor, points: Tensor) -> dict[str, Tensor]:
    """:func:`head_parts` with parameters as rows (G + 4, M) from :func:`pack_rows`, points (M, 3)."""
    n = len(_SCALARS)
    c = {name: rows[i] for name, i in _SCALAR_INDEX.items()}
    return head_parts(c, (rows[n], rows[n + 1], rows[n + 2]), rows[n + 3], points)


def head_parts(c: dict[str, Tensor], centre, parts: Tensor, points: Tensor) -> dict[str, Tensor]:
    """Signed distances of each part at ``points`` (..., 3); parameters broadcast against points[..., 0].

    ``c`` maps scalar parameter names to tensors, ``centre`` is the skull centre (x, y, z) and
    ``parts`` is 1 for a full head, 0 for the skull alone.
    Returns ``skull``, ``face`` (skull + jaw + nose + ears), ``hair``, ``neck`` and ``head`` (the union).
    """
    x = points[..., 0] - centre[0]
    y = points[..., 1] - centre[1]
    z = points[..., 2] - centre[2]
    removed = (1.0 - parts) * 10.0  # pushes every part but the skull out of the scene
    skull = _ellipsoid(x, y, z, c["head_w"], c["head_h"], c["head_d"])
    jaw = _ellipsoid(x, y + 0.047, z - c["jaw_z"], c["jaw_w"], c["jaw_h"], 0.058) + removed
    face = _smin(skull, jaw, 0.02)
    nose = _ellipsoid(x, y + 0.017, z - (c["head_d"] - 0.003), c["nose_w"], c["nose_h"], c["nose_d"]) + removed
    face = _smin(face, nose, 0.008)
    s = c["ear_size"]
    ear = _ellipsoid(x.abs() - c["head_w"] + 0.004, y + 0.012, z + 0.004, 0.011 * s, 0.021 * s, 0.013 * s) + removed
    face = _smin(face, ear, 0.006)
    t = c["hair_thick"]
    shell = _ellipsoid(x, y - 0.3 * t, z + 0.4 * t, c["head_w"] + t, c["head_h"] + t, c["head_d"] + 0.6 * t)
    # the hairline: a plane through (y = hairline at the front, y = hair_back at the back), hair above it
    slope = (c["hairline"] - c["hair_back"]) / 0.17
    line = (c["hairline"] - 0.085 * slope + slope * z - y) / torch.sqrt(1.0 + slope * slope)
    hair = -_smin(-shell, -line, 0.004) + removed  # a rounded hairline edge (no crease)
    neck_xz = torch.sqrt(x * x + (z + 0.02) ** 2) - c["neck_r"]
    neck = torch.maximum(neck_xz, torch.maximum(y + 0.03, -0.3 - y)) + removed
    head = _smin(torch.minimum(face, hair), neck, 0.025)
    return {"skull": skull, "face": face, "hair": hair, "neck": neck, "head": head}


def head_sdf(params: HeadParams, points: Tensor) -> Tensor:
    """Signed distance (B, P) of the heads at world points (B, P, 3); negative inside, world units.

    A lower bound on the true distance near the surface (the ellipsoid distance is approximate),
    exact for :meth:`HeadParams.sphere`.
    """
    c = {name: v[:, None] for name, v in _columns(params.geometry).items()}
    centre = params.skull_centre[:, :, None]
    return head_parts(c, (centre[:, 0], centre[:, 1], centre[:, 2]), params.parts[:, None], points)["head"]


# ------------------------------------------------------------------------------------ colour

def _palette(colours, t: Tensor) -> Tensor:
    """Piecewise-linear interpolation (B, 3) through ``colours`` for t (B,) in (-inf, inf) via a sigmoid."""
    pal = torch.tensor(colours, dtype=t.dtype, device=t.device)
    u = torch.sigmoid(t) * (len(colours) - 1)
    i0 = u.floor().clamp(0, len(colours) - 2).long()
    w = (u - i0.to(u.dtype))[:, None]
    return pal[i0] * (1 - w) + pal[i0 + 1] * w


def _smoothstep(e0: float, e1: float, x: Tensor) -> Tensor:
    t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def head_radiance(params: HeadParams, bidx: Tensor, points: Tensor, normals: Tensor) -> Tensor:
    """Baked radiance (M, 3) in [0, 1] at surface points (M, 3) with unit normals (M, 3) of heads ``bidx`` (M,).

    albedo(point) * (ambient + diffuse(normal . light)): a function of the point only, never of the view.
    """
    rows = pack_rows(params, bidx)
    n = len(_SCALARS)
    c = {name: rows[i] for name, i in _SCALAR_INDEX.items()}
    parts_d = head_parts_packed(rows, points)
    rel = points - rows[n:n + 3].t()
    x, y, z = rel.unbind(-1)
    dtype = points.dtype

    skin = _palette(_SKIN, c["skin_t"])
    hair_col = _palette(_HAIR, c["hair_t"])
    eye_col = _palette(_EYES, c["eye_t"])
    lip_col = _palette(_LIPS, c["lip_t"]) * skin / skin.amax(-1, keepdim=True).clamp_min(1e-3)

    freq = params.noise_freq[bidx]  # (M, K, 3)
    phase = params.noise_phase[bidx]
    noise = torch.sin((freq * points[:, None, :]).sum(-1) + phase).mean(-1)  # (M,) in [-1, 1]
    albedo = skin * (1.0 + 0.12 * noise)[:, None]

    front = _smoothstep(0.035, 0.06, z)  # only the front of the face carries eyes and mouth
    # lips: an ellipse below the nose with a darker line between them
    lips = _smoothstep(0.0, 0.25, 1.0 - (x / c["mouth_w"]) ** 2 - ((y - c["mouth_y"]) / 0.0055) ** 2) * front
    albedo = torch.lerp(albedo, lip_col, lips[:, None])
    line = torch.exp(-((y - c["mouth_y"]) / 0.0011) ** 2) * lips
    albedo = albedo * (1.0 - 0.6 * line)[:, None]
    # eyes: white, iris, pupil; signed centres so that a gaze offset mirrors correctly
    side = torch.where(x >= 0, 1.0, -1.0).to(dtype)
    ex = x - side * c["eye_sep"]
    ey = y - c["eye_y"]
    white = _smoothstep(0.0, 0.2, 1.0 - (ex / 0.0105) ** 2 - (ey / 0.0055) ** 2) * front
    r_iris = torch.sqrt((ex - c["gaze_x"]) ** 2 + ey ** 2)
    iris = (1.0 - _smoothstep(0.0042, 0.0055, r_iris)) * white
    pupil = (1.0 - _smoothstep(0.0016, 0.0024, r_iris)) * white
    eye = torch.lerp(albedo, albedo.new_tensor([0.93, 0.92, 0.90]).expand_as(albedo), white[:, None])
    eye = torch.lerp(eye, eye_col, iris[:, None])
    albedo = torch.lerp(eye, torch.full_like(eye, 0.03), pupil[:, None])
    # brows: a tilted bar above each eye, in the hair colour
    by = y - c["eye_y"] - 0.014 - c["brow_tilt"] * 0.01 * (ex * side / 0.012)
    brow = (_smoothstep(0.0, 0.3, 1.0 - (ex / 0.012) ** 2 - (by / 0.0028) ** 2)) * front
    albedo = torch.lerp(albedo, hair_col * 0.8, brow[:, None])
    # hair: where the hair cap is the surface; streaks around the skull and a parting on top
    on_hair = 1.0 - _smoothstep(-0.0015, 0.0015, parts_d["hair"] - parts_d["face"].minimum(parts_d["neck"]))
    u = (x - c["parting_x"]).abs()  # streaks combed away from the parting, symmetric under the mirror
    streak = 1.0 + 0.12 * torch.sin(900.0 * u + 40.0 * z) * torch.sin(170.0 * torch.atan2(u, z + 0.02))
    parting = torch.exp(-((x - c["parting_x"]) / 0.0022) ** 2) * _smoothstep(0.04, 0.07, y) * _smoothstep(-0.04, 0.0, z)
    hair_albedo = torch.lerp(hair_col * streak[:, None], skin * 0.8, parting[:, None])
    albedo = torch.lerp(albedo, hair_albedo, (on_hair * params.parts[bidx])[:, None])

    light = torch.stack([c["light_x"], torch.full_like(x, _LIGHT_YZ[0]), torch.full_like(x, _LIGHT_YZ[1])], -1)
    diffuse = (normals * torch.nn.functional.normalize(light, dim=-1)).sum(-1).clamp_min(0.0)
    sky = 0.5 + 0.5 * normals[:, 1]  # a soft fill from above
    shade = 0.28 + 0.62 * diffuse + 0.18 * sky
    return (albedo * shade[:, None]).clamp(0.0, 1.0)


def background_radiance(params: HeadParams, bidx: Tensor, points: Tensor) -> Tensor:
    """Radiance (M, 3) of the background plane at points (M, 3): its colour with a soft vertical gradient."""
    grad = 1.0 + 0.35 * points[:, 1:2].clamp(-0.3, 0.3)
    return (params.background[bidx] * grad).clamp(0.0, 1.0)
