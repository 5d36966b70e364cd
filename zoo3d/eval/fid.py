"""The ``fid`` and ``kid`` metrics (clean-fid) against the dataset, with custom reference features.

Reference features are computed here from the dataset (``--data``) instead of clean-fid's
``make_custom_stats``, which writes into site-packages. Features: the TorchScript Inception
``inception-2015-12-05.pt`` (clean-fid's "clean" mode: PIL bicubic resize to 299 on float
images in [0, 255]); its path comes from ``--inception PATH`` or ``$ZOO3D_INCEPTION``, never
from the network. Tests use :class:`StandInExtractor` (a fixed random conv net); its results
carry ``"comparable": false`` and must never be compared with published numbers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from zoo3d.errors import UserError
from zoo3d.eval.distribution import DistributionMetric
from zoo3d.eval.metric import EvalContext

INCEPTION_FILE = "inception-2015-12-05.pt"
INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"


class StandInExtractor(nn.Module):
    """A fixed, seeded random conv net: images (B, 3, H, W) in [0, 255] -> features (B, 64).

    Only for plumbing tests: its distances are not Inception distances.
    """

    backbone = "standin-random-convnet-seed0"

    def __init__(self, seed: int = 0, dim: int = 64):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        chans = [3, 16, 32, dim]
        self.convs = nn.ModuleList()
        for a, b in zip(chans[:-1], chans[1:]):
            conv = nn.Conv2d(a, b, 3, stride=2, padding=1)
            with torch.no_grad():
                draw = torch.randn(conv.weight.shape, generator=gen, dtype=torch.float32)
                conv.weight.copy_(draw * (2.0 / (a * 9)) ** 0.5)
                conv.bias.zero_()
            self.convs.append(conv)
        self.requires_grad_(False)

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        x = images.float() / 127.5 - 1
        x = nn.functional.interpolate(x, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
        for conv in self.convs:
            x = torch.relu(conv(x))
        return x.mean(dim=(2, 3))


def inception_path(explicit: str | Path | None = None) -> Path:
    """The Inception TorchScript file from ``explicit`` or ``$ZOO3D_INCEPTION``; UserError if absent."""
    candidate = explicit or os.environ.get("ZOO3D_INCEPTION")
    if candidate and Path(candidate).is_dir():
        candidate = Path(candidate) / INCEPTION_FILE
    if not candidate or not Path(candidate).is_file():
        where = f"'{candidate}' does not exist; " if candidate else ""
        raise UserError(
            f"FID/KID need the Inception weights: {where}download {INCEPTION_URL} and pass its path "
            f"with --inception PATH (zoo3d compare) or set ZOO3D_INCEPTION=PATH.")
    return Path(candidate)


def load_inception(path: str | Path) -> torch.jit.ScriptModule:
    """Load and check the TorchScript Inception; a file that is not it is refused in one sentence.

    Checked: it loads as TorchScript, has the ``layers`` pool-feature stack clean-fid calls, and
    maps one 299x299 image to 2048 features.
    """
    path = Path(path)
    how = f"download {INCEPTION_URL} and pass its path with --inception PATH (zoo3d compare) or ZOO3D_INCEPTION=PATH"
    try:
        base = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError/ValueError/... for non-TorchScript files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise UserError(f"Inception file '{path}' is not a TorchScript model ({first}); {how}.") from None
    try:
        with torch.no_grad():
            out = base.layers.forward(torch.zeros(1, 3, 299, 299))
        ok = out.numel() == 2048
    except Exception:  # noqa: BLE001 - another TorchScript model: no .layers, wrong shapes
        ok = False
    if not ok:
        raise UserError(f"Inception file '{path}' is a TorchScript model but not clean-fid's "
                        f"{INCEPTION_FILE} (it does not give 2048 pool features); {how}.")
    return base


def check_inception(explicit: str | Path | None = None) -> Path:
    """The Inception file's path after loading and checking it (what ``compare`` runs before any work)."""
    path = inception_path(explicit)
    load_inception(path)
    return path


class InceptionExtractor(nn.Module):
    """clean-fid's TorchScript Inception-v3 pool features (B, 2048) from images (B, 3, H, W) in [0, 255]."""

    backbone = "inception-2015-12-05 (clean-fid, clean mode)"

    def __init__(self, path: Path):
        super().__init__()
        from cleanfid.resize import make_resizer

        self.base = load_inception(path)
        self.resize = make_resizer("PIL", False, "bicubic", (299, 299))

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        device = next(self.base.parameters()).device
        arr = images.permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)
        resized = np.stack([self.resize(a) for a in arr])
        x = torch.from_numpy(resized).permute(0, 3, 1, 2).to(device)
        return self.base.layers.forward((x - 128) / 128).reshape(x.shape[0], 2048)


def features(extractor: Callable[[Tensor], Tensor], images: Tensor, batch: int = 32) -> np.ndarray:
    """Features (N, D) float64 of images (N, 3, H, W) in [-1, 1] (given to the extractor in [0, 255])."""
    out = []
    for s in range(0, images.shape[0], batch):
        x = ((images[s:s + batch].float() + 1) * 127.5).clamp(0, 255)
        out.append(extractor(x).double().cpu().numpy())
    return np.concatenate(out)


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of the Gaussians fitted to features a and b: |mu_a - mu_b|^2 + tr(S_a) + tr(S_b)
    - 2 tr((S_a S_b)^(1/2)).

    The trace of the square root is the sum of the square roots of the eigenvalues of S_a^(1/2) S_b S_a^(1/2),
    which is symmetric and positive semi-definite: no ``sqrtm`` of a non-symmetric product (whose imaginary
    round-off clean-fid has to check) and nothing that depends on SciPy's ``sqrtm`` signature. Round-off
    below zero in the eigenvalues is clipped to 0, as a singular covariance (fewer images than features)
    gives. Features that are not all finite (a model drawing NaN pixels) have no distance: NaN, which the report
    shows as "-", rather than the LinAlgError their covariance's eigen-decomposition raises."""
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    vals, vecs = np.linalg.eigh(cov_a)
    root_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def kid_from_features(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """clean-fid's unbiased KID (cubic polynomial kernel, 100 subsets); its numpy draws seeded here (numpy's
    legacy seed takes 32 bits: the protocol's 63-bit seed is folded into them)."""
    from cleanfid.fid import kernel_distance

    state = np.random.get_state()
    try:
        np.random.seed(seed % 2**32)
        return float(kernel_distance(a, b, num_subsets=100, max_subset_size=1000))
    finally:
        np.random.set_state(state)


def build_extractor(ctx: EvalContext):
    """The feature extractor for this run (cached in ``ctx.options``): stand-in, or Inception from a file."""
    if "extractor" not in ctx.options:
        if ctx.options.get("standin_features"):
            ctx.options["extractor"] = StandInExtractor()
        else:
            ctx.options["extractor"] = InceptionExtractor(inception_path(ctx.options.get("inception"))).to(ctx.device)
    return ctx.options["extractor"]


class _FeatureDistance(DistributionMetric):
    """A distance between the two image sets' features (Inception's, or the stand-in's)."""

    higher_is_better = False

    def score(self, fake: np.ndarray, real: np.ndarray, seed: int) -> float:
        raise NotImplementedError

    def check(self, protocol: Any, options: dict[str, Any]) -> None:
        if not options.get("standin_features"):
            check_inception(options.get("inception"))
        super().check(protocol, options)

    def score_sets(self, generated: Tensor, real: Tensor, ctx: EvalContext) -> dict[str, Any]:
        extractor = build_extractor(ctx)
        cache = ctx.options.setdefault("real_features", {})
        key = tuple(real.shape)  # the real set of one resolution, read once per comparison
        if key not in cache:
            cache[key] = features(extractor, real)
        fake = features(extractor, generated)
        comparable = not isinstance(extractor, StandInExtractor)
        return {self.name: [self.score(fake, cache[key], ctx.protocol.seed_start)],
                "_meta": {"comparable": comparable, "backbone": extractor.backbone}}

    def protocol_info(self, ctx: EvalContext) -> dict[str, Any]:
        ext = ctx.options.get("extractor")
        info = {"images": ctx.protocol.distribution_images, "data": ctx.options.get("data", "synthetic:heads"),
                "psi": ctx.protocol.psi_distribution, "backbone": getattr(ext, "backbone", None),
                "comparable": ext is not None and not isinstance(ext, StandInExtractor)}
        path = ctx.options.get("inception") or os.environ.get("ZOO3D_INCEPTION")
        if info["comparable"] and path:
            from zoo3d.runs import file_sha256

            info["weights_sha256"] = file_sha256(inception_path(path))
        return info


class FidMetric(_FeatureDistance):
    name = "fid"

    def score(self, fake, real, seed):
        return fid_from_features(fake, real)


class KidMetric(_FeatureDistance):
    name = "kid"

    def score(self, fake, real, seed):
        return kid_from_features(fake, real, seed)
