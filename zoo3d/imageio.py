"""Writing images, grids and animations (PNG, GIF, APNG, WebP, MP4 when an encoder is installed, frame folders)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from zoo3d.errors import UserError

ANIMATION_SUFFIXES = {".gif", ".png", ".apng", ".webp", ".mp4"}


def to_uint8(image: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """(C, H, W) or (H, W) tensor in ``value_range`` -> (H, W, 3) uint8 array (1 channel is repeated)."""
    lo, hi = value_range
    x = image.detach().float().cpu()
    if x.ndim == 2:
        x = x[None]
    x = ((x - lo) / (hi - lo)).clamp(0, 1)
    if x.shape[0] == 1:
        x = x.expand(3, *x.shape[1:])
    return (x[:3].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def depth_to_image(depth: Tensor, near: float | None = None, far: float | None = None) -> Tensor:
    """(B, 1, H, W) depth -> (B, 1, H, W) in [-1, 1], near bright and far dark (per-batch range when not given)."""
    d = depth.detach().float()
    lo = d.amin() if near is None else torch.tensor(near)
    hi = d.amax() if far is None else torch.tensor(far)
    return (1 - 2 * ((d - lo) / (hi - lo).clamp_min(1e-8))).clamp(-1, 1)


def make_grid(images: Tensor, nrow: int | None = None, pad: int = 2, pad_value: float = 1.0) -> Tensor:
    """(B, C, H, W) -> one (C, H', W') image with ``nrow`` images per row."""
    b, c, h, w = images.shape
    nrow = nrow or int(math.ceil(math.sqrt(b)))
    rows = int(math.ceil(b / nrow))
    grid = images.new_full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value)
    for i in range(b):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, y:y + h, x:x + w] = images[i]
    return grid


def save_image(image: Tensor, path: str | Path, value_range: tuple[float, float] = (-1.0, 1.0)) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(image, value_range)).save(path)
    return path


def save_grid(images: Tensor, path: str | Path, nrow: int | None = None,
              value_range: tuple[float, float] = (-1.0, 1.0)) -> Path:
    return save_image(make_grid(images, nrow, pad_value=value_range[1]), path, value_range)


def save_animation(frames: Sequence[Tensor] | Tensor, path: str | Path, fps: int = 24,
                   value_range: tuple[float, float] = (-1.0, 1.0)) -> Path:
    """Frames (each (C, H, W)) -> GIF, APNG (.png/.apng), WebP, MP4, or a folder of PNGs (a path without suffix)."""
    path = Path(path)
    arrays = [to_uint8(f, value_range) for f in frames]
    suffix = path.suffix.lower()
    if suffix == "":
        path.mkdir(parents=True, exist_ok=True)
        for i, a in enumerate(arrays):
            Image.fromarray(a).save(path / f"frame_{i:04d}.png")
        return path
    if suffix not in ANIMATION_SUFFIXES:
        raise UserError(f"Cannot write an animation to '{path}': use .gif, .png/.apng, .webp, .mp4 or a folder.")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".mp4":
        try:
            import imageio.v3 as iio  # optional: needs imageio and imageio-ffmpeg
        except ImportError:
            raise UserError("Writing MP4 needs an encoder: pip install imageio imageio-ffmpeg "
                            "(or write .gif, .webp, .png or a frames folder).") from None
        iio.imwrite(path, np.stack(arrays), fps=fps, codec="libx264")
        return path
    images = [Image.fromarray(a) for a in arrays]
    duration = max(1, int(round(1000 / fps)))
    kwargs = {"save_all": True, "append_images": images[1:], "duration": duration, "loop": 0}
    if suffix == ".webp":
        kwargs["lossless"] = True
    images[0].save(path, format={".gif": "GIF", ".webp": "WEBP"}.get(suffix, "PNG"), **kwargs)
    return path
