"""Reconstruction losses for inversion: a pixel term plus a perceptual term.

The perceptual term is LPIPS (AlexNet, v0.1) when the torchvision AlexNet weights are in the torch
cache (zoo3d never downloads). Without them it falls back to a documented substitute that needs no
pretrained network: multi-scale structural dissimilarity, ``mean_s (1 - SSIM(pred_s, target_s))`` over
an image pyramid (full size and ``scales - 1`` successive 2x area down-samplings). Like LPIPS it
compares local structure and contrast rather than raw intensities, but it is not LPIPS: numbers
trained or reported with it are marked with ``PerceptualLoss.name`` = ``"ms-ssim-substitute"``.
The pixel term and the substitute are computed in at least float32: a float64 generator's renders stay
float64 (LPIPS runs in its network's float32).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo3d.devices import at_least_float32
from zoo3d.errors import UserError

__all__ = ["PerceptualLoss", "pixel_loss", "reconstruction_loss", "perceptual_for"]


def _ssim_map_mean(pred: Tensor, target: Tensor) -> Tensor:
    from zoo3d.eval.image_metrics import ssim

    return ssim(pred, target)


class PerceptualLoss(nn.Module):
    """Perceptual distance per image (B,) between images (B, 3, H, W) in [-1, 1] (0 = identical).

    Args:
        kind: ``"auto"`` (LPIPS if its weights are present, else the substitute), ``"lpips"``
            (UserError without the weights) or ``"ms-ssim"`` (always the substitute).
        scales: pyramid levels of the substitute (levels smaller than 8 px are skipped).
    Attributes:
        name: ``"lpips-alex"`` or ``"ms-ssim-substitute"``; reason: why LPIPS is not used (or None).
    """

    def __init__(self, kind: str = "auto", scales: int = 3, device=None):
        super().__init__()
        self.scales, self.reason = scales, None
        self.lpips = None
        if kind not in ("auto", "lpips", "ms-ssim"):
            raise ValueError(f"unknown perceptual loss '{kind}'")
        if kind != "ms-ssim":
            from zoo3d.eval.image_metrics import load_lpips

            try:
                self.lpips = load_lpips(device)
            except UserError as exc:
                if kind == "lpips":
                    raise
                self.reason = str(exc)
        self.name = "lpips-alex" if self.lpips is not None else "ms-ssim-substitute"

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        if self.lpips is not None:
            from zoo3d.eval.image_metrics import lpips_distance

            return lpips_distance(self.lpips, pred, target)
        total, n = pred.new_zeros(pred.shape[0]), 0
        p, t = at_least_float32(pred), at_least_float32(target)
        for s in range(self.scales):
            if min(p.shape[-2:]) < 8 and s > 0:
                break
            total = total + (1 - _ssim_map_mean(p, t))
            n += 1
            p, t = F.avg_pool2d(p, 2), F.avg_pool2d(t, 2)
        return total / n


_CACHE: dict[tuple[str, str], PerceptualLoss] = {}


def perceptual_for(device: torch.device | str, kind: str = "auto") -> PerceptualLoss:
    """One shared :class:`PerceptualLoss` per (device, kind) (loading LPIPS once per process)."""
    key = (str(device), kind)
    if key not in _CACHE:
        _CACHE[key] = PerceptualLoss(kind, device=device).to(device)
    return _CACHE[key]


def pixel_loss(pred: Tensor, target: Tensor, kind: str = "l1") -> Tensor:
    """Per-image (B,) mean absolute (``l1``) or squared (``l2``) error; another kind is refused, not squared."""
    if kind not in ("l1", "l2"):
        raise ValueError(f"unknown pixel loss '{kind}' (l1 or l2)")
    diff = at_least_float32(pred) - at_least_float32(target)
    err = diff.abs() if kind == "l1" else diff.square()
    return err.flatten(1).mean(1)


def reconstruction_loss(pred: Tensor, target: Tensor, perceptual: PerceptualLoss | None,
                        perceptual_weight: float = 1.0, pixel: str = "l1") -> Tensor:
    """Per-image (B,) ``pixel + perceptual_weight * perceptual`` (perceptual skipped when None or weight 0)."""
    loss = pixel_loss(pred, target, pixel)
    if perceptual is not None and perceptual_weight > 0:
        loss = loss + perceptual_weight * perceptual(pred, target)
    return loss
