"""Deterministic mirror augmentation: flip the image and the pose together, reproducibly per (seed, index, epoch)."""

from __future__ import annotations

import torch
from torch import Tensor

from zoo3d.cameras import Camera

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def stable_hash(*values: int) -> int:
    """A 63-bit hash of integers that is the same on every machine and Python run."""
    h = 0x2545F4914F6CDD1D
    for v in values:
        h = _splitmix64(h ^ (int(v) & _MASK64))
    return h >> 1


def mirror_flag(seed: int, index: int, epoch: int) -> bool:
    """Whether item ``index`` is mirrored in ``epoch`` (probability 1/2, deterministic)."""
    return bool(stable_hash(seed, index, epoch, 0x4D49) & 1)


def mirror_item(item: dict) -> dict:
    """Flip ``image`` (and ``depth``/``mask`` when present) left-right and mirror the EG3D ``camera`` (25,)."""
    out = dict(item)
    for key in ("image", "depth", "mask"):
        if key in out and isinstance(out[key], Tensor):
            out[key] = out[key].flip(-1)
    cam = Camera.from_eg3d(out["camera"][None]).mirror()
    out["camera"] = cam.to_eg3d()[0]
    return out


def quantize_8bit(image: Tensor) -> Tensor:
    """Round an image in [-1, 1] to the 256 levels an 8-bit file holds (so on-the-fly and on-disk data agree)."""
    return torch.round((image.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1
