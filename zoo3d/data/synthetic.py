"""``synthetic:heads``: procedural heads with ground-truth camera, depth and mask, rendered on the fly.

:func:`render_heads` sphere-traces a batch of heads (:mod:`zoo3d.data.head_model`) at any
cameras and resolution. :class:`SyntheticHeads` is the finite dataset: instance ``i`` uses a
head and a camera drawn from the FFHQ-like prior with a generator seeded by ``(seed, i)``,
so an item is the same on every machine and in every order. With ``cache`` every rendered item is
kept (8-bit colour, float depth). A batched read (the training loader's) renders the batch's new items
together; a single read renders the rest of its block of ``block`` instances with it.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from contextlib import contextmanager
from urllib.parse import parse_qsl

import torch
from torch import Tensor
from torch.utils.data import Dataset

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.data.augment import mirror_flag, mirror_item, quantize_8bit, stable_hash
from zoo3d.data.head_model import (BACKGROUND_Z, HEAD_BOUND_ELLIPSOID, HEAD_LATENT_DIM, NECK_BOUND_BOX, HeadParams, background_radiance,
                                   head_parts_packed, head_radiance, pack_rows, head_sdf, params_from_latent, sample_head_params)
from zoo3d.data.sphere_trace import newton_refine, ray_box, ray_ellipsoid, sphere_trace
from zoo3d.errors import UserError

__all__ = ["render_heads", "sample_head_params", "head_sdf", "HeadParams", "SyntheticHeads", "build_synthetic_heads",
           "instance_params_and_camera", "HEAD_LATENT_DIM"]

#: rays traced together. Each sphere-tracing step costs ~150 small elementwise ops whatever the
#: chunk size, so larger chunks pay that per-op overhead less often: at 64² on a 2-core CPU,
#: 65536-131072 rays ran ~25 % faster than 32768 in alternating runs (the working set stays ~20 MB).
RAYS_PER_CHUNK = 131072


@contextmanager
def _single_threaded(device: torch.device):
    """On the CPU, run the tracer's many small ops on one thread.

    Intra-op threads gain nothing on chunks this small, and on a loaded machine their
    synchronisation makes every op many times slower; parallelism comes from DataLoader
    workers instead. The previous thread count is restored afterwards.
    """
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _packed_sdf(points: Tensor, rows: Tensor) -> Tensor:
    return head_parts_packed(rows, points)["head"]


def render_heads(params: HeadParams, cameras: Camera, resolution: int | tuple[int, int],
                 steps: int = 64, refine: int = 2) -> dict[str, Tensor]:
    """Render B heads, one per camera.

    Args:
        params: B heads; cameras: B cameras (any radius and fov); resolution: R or (H, W).
    Returns:
        ``rgb`` (B, 3, H, W) in [-1, 1]; ``depth`` (B, 1, H, W) distance along the unit ray to the
        head or the background plane (world units); ``mask`` (B, 1, H, W) 1 on the head, 0 elsewhere.
    """
    with torch.no_grad(), _single_threaded(cameras.device):
        return _render_heads(params, cameras, resolution, steps, refine)


def _render_heads(params: HeadParams, cameras: Camera, resolution, steps: int, refine: int) -> dict[str, Tensor]:
    h, w = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
    b = len(cameras)
    if len(params) != b:
        raise ValueError(f"render_heads got {len(params)} heads for {b} cameras")
    params = params.to(device=cameras.device, dtype=cameras.dtype)
    origins, dirs = cameras.rays(h, w)
    origins, dirs = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    bidx = torch.arange(b, device=cameras.device).repeat_interleave(h * w)
    # a cone of half a pixel is enough for the hit test; refinement then makes depth exact
    pixel = 2 * math.tan(math.radians(float(cameras.fov.max())) / 2) / h
    eps = min(0.5 * pixel, 1e-3)
    sdf = _packed_sdf

    rgb = torch.empty_like(origins)
    depth = torch.empty_like(origins[:, 0])
    mask = torch.zeros_like(origins[:, 0])
    for start in range(0, origins.shape[0], RAYS_PER_CHUNK):
        sl = slice(start, start + RAYS_PER_CHUNK)
        o, d, bi = origins[sl], dirs[sl], bidx[sl]
        dz = d[:, 2]
        t_bg = torch.where(dz < -1e-6, (o[:, 2] - BACKGROUND_Z) / (-dz).clamp_min(1e-6), torch.full_like(dz, 1e3))
        near, far = _bounds(o, d)
        t, hit = sphere_trace(sdf, o, d, pack_rows(params, bi), near, torch.minimum(far, t_bg), eps, steps=steps)
        idx = torch.nonzero(hit).squeeze(-1)
        normals = None
        if idx.numel():
            t_hit, normals = newton_refine(sdf, o[idx], d[idx], pack_rows(params, bi[idx]), t[idx], iters=refine)
            t = t.index_put((idx,), t_hit)
        t = torch.where(hit, t, t_bg)
        depth[sl] = t
        mask[sl] = hit.to(mask.dtype)
        points = torch.addcmul(o, d, t[:, None])
        colour = torch.empty_like(o)
        if normals is not None:
            colour[idx] = head_radiance(params, bi[idx], points[idx], normals)
        miss = torch.nonzero(~hit).squeeze(-1)
        if miss.numel():
            colour[miss] = background_radiance(params, bi[miss], points[miss])
        rgb[sl] = colour
    return {
        "rgb": (rgb.reshape(b, h, w, 3).permute(0, 3, 1, 2) * 2 - 1).contiguous(),
        "depth": depth.reshape(b, 1, h, w),
        "mask": mask.reshape(b, 1, h, w),
    }


def _bounds(o: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
    """The ray interval (N,) that can contain a head: the hull of the head ellipsoid and neck box intervals."""
    near_e, far_e = ray_ellipsoid(o, d, *HEAD_BOUND_ELLIPSOID)
    near_b, far_b = ray_box(o, d, *NECK_BOUND_BOX)
    hit_e, hit_b = near_e < far_e, near_b < far_b
    big = torch.full_like(near_e, 1e3)
    near = torch.minimum(torch.where(hit_e, near_e, big), torch.where(hit_b, near_b, big))
    far = torch.maximum(torch.where(hit_e, far_e, -big), torch.where(hit_b, far_b, -big))
    return near, far


def _instance_draws(seed: int, indices, prior: CameraPrior) -> tuple[Tensor, Camera]:
    """The head latents (B, HEAD_LATENT_DIM) and cameras of instances ``indices``: each drawn from a generator
    seeded by ``(seed, index)``, its latent first, then its camera from ``prior``. The latents are drawn in float32
    and cast to torch's default dtype, as the prior draws its angles, so a seed is the same head under any default."""
    latents, yaws, pitches = [], [], []
    for i in indices:
        g = torch.Generator().manual_seed(stable_hash(seed, int(i)))
        latents.append(torch.randn(1, HEAD_LATENT_DIM, generator=g, dtype=torch.float32).to(torch.get_default_dtype()))
        yaw, pitch = prior.sample_angles(1, generator=g)
        yaws.append(yaw)
        pitches.append(pitch)
    if not latents:
        return torch.zeros(0, HEAD_LATENT_DIM), Camera.from_angles(torch.zeros(0), torch.zeros(0))
    cams = Camera.from_angles(torch.cat(yaws), torch.cat(pitches), prior.radius, prior.fov)
    return torch.cat(latents), cams


def instance_params_and_camera(seed: int, indices, prior: CameraPrior | None = None) -> tuple[HeadParams, Camera]:
    """The head and camera of dataset instances ``indices`` (deterministic in ``(seed, index)``)."""
    latents, cams = _instance_draws(seed, indices, prior or CameraPrior())
    return params_from_latent(latents), cams


class SyntheticHeads(Dataset):
    """A finite, seeded set of synthetic heads; items are dicts (see :func:`zoo3d.data.build_dataset`).

    Item keys: ``image`` (3, R, R) in [-1, 1] (8-bit levels), ``camera`` (25,) EG3D vector,
    ``depth`` (1, R, R) distance along the ray, ``mask`` (1, R, R), ``index``, ``mirrored``.
    """

    def __init__(self, resolution: int, count: int = 10_000, seed: int = 0, mirror: bool = False,
                 camera_prior: CameraPrior | None = None, cache: bool = True, block: int = 32,
                 device: str | torch.device = "cpu", cache_mb: int = 1024, mirror_seed: int | None = None):
        if not 8 <= resolution <= 4096:
            raise UserError(f"Synthetic heads resolution must be between 8 and 4096, got {resolution}.")
        if count < 1:
            raise UserError(f"Synthetic heads count must be at least 1, got {count}.")
        self.resolution, self.count, self.seed, self.mirror = int(resolution), int(count), int(seed), bool(mirror)
        self.camera_prior = camera_prior or CameraPrior()
        self.cache, self.block, self.device = cache, max(1, int(block)), torch.device(device)
        self.mirror_seed = self.seed if mirror_seed is None else int(mirror_seed)
        self.epoch = 0
        self.cache_bytes = int(cache_mb) * 2**20
        self._items: OrderedDict[int, dict[str, Tensor]] = OrderedDict()

    def __len__(self) -> int:
        return self.count

    def set_epoch(self, epoch: int) -> None:
        """Choose which items are mirrored (reproducible per (seed, index, epoch))."""
        self.epoch = int(epoch)

    def cameras(self) -> Camera:
        """Every instance's camera, in index order, as its item carries it unmirrored (``Camera.from_eg3d(
        ds[i]["camera"])``): drawn as the items draw them, nothing rendered (10,000 in under a second)."""
        return _instance_draws(self.seed, range(self.count), self.camera_prior)[1]

    def render(self, indices) -> dict[str, Tensor]:
        """Render instances ``indices`` in one batch: rgb (quantised to 8 bits), depth, mask, camera (B, 25)."""
        params, cams = instance_params_and_camera(self.seed, indices, self.camera_prior)
        cams = cams.to(device=self.device)
        out = render_heads(params.to(device=self.device), cams, self.resolution)
        return {"image": quantize_8bit(out["rgb"]).cpu(), "depth": out["depth"].cpu(), "mask": out["mask"].cpu(),
                "camera": cams.to_eg3d().cpu()}

    def _stored(self, indices: list[int]) -> list[dict[str, Tensor]]:
        """The kept renders of ``indices`` (8-bit image and mask, float depth, camera): those not kept yet are
        rendered together, in calls of at most ``block`` instances, then kept; past ``cache_mb`` the least
        recently used leave (one block's worth always stays)."""
        if not indices:
            return []
        missing = [i for i in dict.fromkeys(indices) if i not in self._items]
        for start in range(0, len(missing), self.block):
            chunk = missing[start:start + self.block]
            out = self.render(chunk)
            images = ((out["image"] + 1) * 127.5).round().to(torch.uint8)
            masks = out["mask"].to(torch.uint8)
            for j, i in enumerate(chunk):
                self._items[i] = {"image": images[j].clone(), "depth": out["depth"][j].clone(),
                                  "mask": masks[j].clone(), "camera": out["camera"][j].clone()}
        found = []
        for i in indices:
            self._items.move_to_end(i)
            found.append(self._items[i])
        per_item = sum(v.numel() * v.element_size() for v in found[0].values())
        while len(self._items) > max(self.block, self.cache_bytes // per_item):
            self._items.popitem(last=False)
        return found

    @property
    def prefetch_items(self) -> int:
        """How many items one :meth:`prefetch` call should name: one render call's worth."""
        return self.block

    def prefetch(self, indices) -> None:
        """Render the items ``indices`` that are not kept yet, together (a training stream names its next
        batches here): one call of ``block`` heads costs about what two calls of 4 cost."""
        if self.cache:
            self._stored([self._check_index(i) for i in indices])

    def _check_index(self, index) -> int:
        index = int(index)
        if not 0 <= index < self.count:
            raise IndexError(index)
        return index

    def _item(self, index: int, rendered: dict[str, Tensor], stored: bool) -> dict:
        """One item from its render (a kept 8-bit one when ``stored``), mirrored when this epoch says so."""
        if stored:
            item = {"image": rendered["image"].float() / 127.5 - 1, "depth": rendered["depth"].float(),
                    "mask": rendered["mask"].float(), "camera": rendered["camera"].clone()}
        else:
            item = dict(rendered)
        item["index"] = index
        item["mirrored"] = False
        if self.mirror and mirror_flag(self.mirror_seed, index, self.epoch):
            item = mirror_item(item)
            item["mirrored"] = True
        return item

    def __getitem__(self, index: int) -> dict:
        """One item. With ``cache``, an item not kept yet is rendered with the rest of its block of ``block``
        instances, so a reader going through the set in order pays one render call per block."""
        index = self._check_index(index)
        if not self.cache:
            out = self.render([index])
            return self._item(index, {key: v[0] for key, v in out.items()}, stored=False)
        if index not in self._items:
            k = index // self.block
            block = list(range(k * self.block, min(self.count, (k + 1) * self.block)))
            self._stored(block)
        return self._item(index, self._stored([index])[0], stored=True)

    def __getitems__(self, indices) -> list[dict]:
        """A batch of items (the DataLoader's batched read): only the batch's items that are not kept yet are
        rendered, together in one call. A shuffled training stream thus renders each head it uses once,
        where reading item by item would render the whole block around every item of its first epoch."""
        indices = [self._check_index(i) for i in indices]
        if not self.cache:
            out = self.render(indices)
            return [self._item(i, {key: v[j] for key, v in out.items()}, stored=False) for j, i in enumerate(indices)]
        return [self._item(i, rendered, stored=True) for i, rendered in zip(indices, self._stored(indices))]


def _switch(value: str) -> bool:
    """An on/off option's text: 1/true/yes/on or 0/false/no/off, in any case; anything else is refused."""
    word = str(value).strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def parse_options(options: dict[str, str]) -> dict:
    """``synthetic:heads?count=1000&seed=3&cache=0`` options -> typed keyword arguments."""
    typed = {"count": int, "seed": int, "block": int, "cache_mb": int, "yaw_std": float, "pitch_std": float,
             "cache": _switch, "device": str}
    out = {}
    for key, value in options.items():
        if key not in typed:
            raise UserError(f"Unknown option '{key}' for synthetic:heads; valid options: {', '.join(typed)}.")
        try:
            out[key] = typed[key](value)
        except ValueError:
            kind = "switch (1/true/yes/on or 0/false/no/off)" if typed[key] is _switch else typed[key].__name__
            raise UserError(f"Option '{key}={value}' for synthetic:heads is not a valid {kind}.") from None
    return out


def build_synthetic_heads(cfg, resolution: int, query: str = "", camera_prior: CameraPrior | None = None,
                          seed: int = 0) -> SyntheticHeads:
    """The ``synthetic:heads`` dataset factory: ``cfg`` is a DataConfig, ``query`` the part after '?'.

    The data is the same whatever the run: instance seeds come from ``?seed=`` (default 0) and
    poses from the FFHQ-like prior (``?yaw_std=&pitch_std=`` change it), not from the model's
    ``camera_prior``. The run's ``seed`` only decides which items are mirrored.
    """
    options = parse_options(dict(parse_qsl(query, keep_blank_values=True)))
    spread = {k: options.pop(k) for k in ("yaw_std", "pitch_std") if k in options}
    bad = [f"{k}={v}" for k, v in spread.items() if not (math.isfinite(v) and v >= 0)]
    if bad:
        raise UserError(f"Option '{bad[0]}' for synthetic:heads must be a finite angle of 0 or more (radians).")
    prior = CameraPrior(**spread)
    if "device" in options:
        from zoo3d.devices import resolve_device

        options["device"] = resolve_device(options["device"])  # a name torch does not know: one sentence
    options.setdefault("cache", getattr(cfg, "cache", True))
    return SyntheticHeads(resolution, mirror=getattr(cfg, "mirror", False), camera_prior=prior, mirror_seed=seed,
                          **options)
