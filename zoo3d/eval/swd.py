"""The ``swd`` metric: sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018).

Each image (in [-1, 1]) is decomposed into a Laplacian pyramid (5-tap binomial filter) down to
16 px; from every level ``patches_per_image`` random 7x7 patches are taken (descriptors of
7*7*3 values). Per level and per image set, descriptors are normalised to zero mean and unit
standard deviation per channel. Both sets use the same patch positions (image i of each set
at the same corners), so a set against itself scores exactly 0. SWD per level: 4 repeats x 128 random unit directions; both
sets are projected, sorted and compared by mean absolute difference; the mean over directions
and repeats, x 1e3. The reported number is the average over levels (per-level values are kept).
Lower is better; no pretrained network is involved.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.eval.distribution import DistributionMetric
from zoo3d.eval.metric import EvalContext

PATCH = 7
REPEATS = 4
DIRECTIONS = 128
MIN_LEVEL_RES = 16


def _binomial_kernel(channels: int, device, dtype) -> Tensor:
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=device, dtype=dtype)
    k2 = torch.outer(k, k) / 256.0
    return k2.expand(channels, 1, 5, 5).contiguous()


def _blur(x: Tensor, kernel: Tensor) -> Tensor:
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel, groups=x.shape[1])


def laplacian_pyramid(images: Tensor, min_res: int = MIN_LEVEL_RES) -> list[Tensor]:
    """Levels (finest first) of (B, C, H, W) images: band-pass levels then the coarsest Gaussian level."""
    kernel = _binomial_kernel(images.shape[1], images.device, images.dtype)
    levels, current = [], images
    while current.shape[-1] // 2 >= min_res:
        down = _blur(current, kernel)[..., ::2, ::2]
        up = torch.zeros_like(current)
        up[..., ::2, ::2] = down
        up = _blur(up, kernel * 4)
        levels.append(current - up)
        current = down
    levels.append(current)
    return levels


def patch_positions(b: int, h: int, w: int, per_image: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Top-left corners (B, per_image) of random 7x7 patches."""
    ys = torch.randint(0, h - PATCH + 1, (b, per_image), generator=generator)
    xs = torch.randint(0, w - PATCH + 1, (b, per_image), generator=generator)
    return ys, xs


def patch_descriptors(level: Tensor, ys: Tensor, xs: Tensor) -> Tensor:
    """7x7 patches (B * P, C*49) of one pyramid level (B, C, H, W) at corners ys, xs (B, P)."""
    b, c, h, w = level.shape
    per_image = ys.shape[1]
    ys, xs = ys.to(level.device), xs.to(level.device)
    offs = torch.arange(PATCH, device=level.device)
    rows = (ys[..., None] + offs)[..., :, None].expand(b, per_image, PATCH, PATCH)
    cols = (xs[..., None] + offs)[..., None, :].expand(b, per_image, PATCH, PATCH)
    flat = (rows * w + cols).reshape(b, 1, -1).expand(b, c, -1)
    patches = level.reshape(b, c, h * w).gather(2, flat).reshape(b, c, per_image, PATCH * PATCH)
    return patches.permute(0, 2, 1, 3).reshape(b * per_image, c * PATCH * PATCH)


def normalise_descriptors(desc: Tensor, channels: int) -> Tensor:
    """Zero mean, unit std per colour channel over all descriptors of one set and level (the population std,
    numpy's, as Karras et al.'s ``finalize_descriptors``)."""
    d = desc.reshape(desc.shape[0], channels, -1)
    mean = d.mean(dim=(0, 2), keepdim=True)
    std = d.std(dim=(0, 2), keepdim=True, unbiased=False).clamp_min(1e-8)
    return ((d - mean) / std).reshape(desc.shape[0], -1)


def sliced_wasserstein(a: Tensor, b: Tensor, generator: torch.Generator) -> Tensor:
    """SWD between two equal-size descriptor sets (N, D): mean over REPEATS x DIRECTIONS projections."""
    results = []
    for _ in range(REPEATS):
        dirs = torch.randn(a.shape[1], DIRECTIONS, generator=generator, dtype=torch.float32).to(a.device, a.dtype)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        pa, _ = torch.sort(a @ dirs, dim=0)
        pb, _ = torch.sort(b @ dirs, dim=0)
        results.append((pa - pb).abs().mean())
    return torch.stack(results).mean()


def swd(images_a: Tensor, images_b: Tensor, patches_per_image: int = 128, seed: int = 0) -> dict[str, Any]:
    """SWD x 1e3 between two image sets (N, 3, R, R) in [-1, 1] of equal N and R: {"per_level": [...], "mean": x}."""
    n = min(images_a.shape[0], images_b.shape[0])
    images_a, images_b = images_a[:n].float(), images_b[:n].float()
    gen = torch.Generator().manual_seed(int(seed))
    per_level = []
    for la, lb in zip(laplacian_pyramid(images_a), laplacian_pyramid(images_b)):
        ys, xs = patch_positions(n, la.shape[-2], la.shape[-1], patches_per_image, gen)
        da = normalise_descriptors(patch_descriptors(la, ys, xs), la.shape[1])
        db = normalise_descriptors(patch_descriptors(lb, ys, xs), lb.shape[1])
        per_level.append(float(sliced_wasserstein(da, db, gen)) * 1e3)
    return {"per_level": per_level, "mean": sum(per_level) / len(per_level)}


class SwdMetric(DistributionMetric):
    name = "swd"
    higher_is_better = False

    def score_sets(self, generated: Tensor, real: Tensor, ctx: EvalContext) -> dict[str, Any]:
        out = swd(generated, real, ctx.protocol.swd_patches_per_image, ctx.protocol.seed_start)
        used = min(generated.shape[0], real.shape[0])
        if used < max(generated.shape[0], real.shape[0]):  # SWD's sample bias depends on the count: say it
            ctx.notes.append(f"swd compares equal sets: {used} generated and {used} real images were scored "
                             f"(of {generated.shape[0]} and {real.shape[0]}).")
        return {"swd": [out["mean"]], "_meta": {"per_level": out["per_level"], "scored_images": used}}

    def protocol_info(self, ctx: EvalContext) -> dict[str, Any]:
        p = ctx.protocol
        return {"images": p.distribution_images, "patches_per_image": p.swd_patches_per_image, "patch": PATCH,
                "repeats": REPEATS, "directions": DIRECTIONS, "min_level_res": MIN_LEVEL_RES, "scale": 1e3,
                "data": ctx.options.get("data", "synthetic:heads")}
