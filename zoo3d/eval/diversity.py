"""The ``diversity`` metric: how varied a model's samples are, relative to the dataset (1.0 = as varied).

Generated images (latents and cameras from the model's prior, truncation ``psi_distribution``)
and dataset images are mapped to three groups of network-free features; per group, the mean
pairwise Euclidean distance of the generated set is divided by that of the dataset set, and the
score is the mean of the three ratios:

- ``layout``: the image area-averaged to 8x8 (3 x 64 values): head silhouette, size and
  position, where skin, hair and background are.
- ``colour``: per-channel mean and standard deviation of the image and the means of its four
  quadrants (3 + 3 + 12 values): skin tone, hair and background colour.
- ``texture``: RMS of each band of a Laplacian pyramid per channel (3 bands x 3 channels at 64 px):
  sharpness, hair streaks, skin noise.

A second score, ``diversity_face``, is the ``colour`` group's ratio taken on the central crop
(half the side), where a centred head's face and hair are: backgrounds cover most of the frame and
vary freely, so a generator with varied noisy backgrounds around one face scores high on
``diversity`` and low on ``diversity_face``.

Images larger than 64 px are first reduced to 64 px (antialiased), so the features mean the same at
every protocol resolution. 0 = every sample identical; measured on 128 images at 64 px against 128
``synthetic:heads`` images: another 128 dataset images 1.02, the oracle at psi = 1 1.03, psi = 0.5
0.72, psi = 0 0.25, one latent in 128 prior poses 0.19, uniform noise 0.17.
These are stand-in features chosen to need no download: values compare zoo3d models under the same
protocol and data, not published LPIPS- or Inception-based diversity numbers. Higher is more varied;
diversity is not quality (read it with ``swd``/``fid``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.errors import UserError
from zoo3d.eval.distribution import DistributionMetric
from zoo3d.eval.metric import EvalContext
from zoo3d.eval.swd import laplacian_pyramid

FEATURE_RES = 64
LAYOUT_SIZE = 8
TEXTURE_MIN_RES = 8
GROUPS = ("layout", "colour", "texture")
#: Side of the central crop of ``diversity_face``, as a fraction of the image side.
FACE_FRACTION = 0.5
FEATURES = ("network-free stand-in: 8x8 colour thumbnail | channel mean/std + quadrant means | "
            "Laplacian band RMS per channel (images at <= 64 px)")


def _at_feature_res(images: Tensor) -> Tensor:
    """``images`` as float at <= ``FEATURE_RES`` px; images already there pass through unchanged."""
    x = images.float()
    if x.shape[-1] > FEATURE_RES:
        x = F.interpolate(x, size=(FEATURE_RES, FEATURE_RES), mode="bilinear", antialias=True, align_corners=False)
    return x


def _colour(x: Tensor) -> Tensor:
    return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3)), F.adaptive_avg_pool2d(x, 2).flatten(1)], dim=1)


def face_features(images: Tensor) -> Tensor:
    """The ``colour`` features of the central crop (side ``FACE_FRACTION``), (N, 18) float64."""
    x = _at_feature_res(images)
    h, w = x.shape[-2:]
    top, left = round(h * (1 - FACE_FRACTION) / 2), round(w * (1 - FACE_FRACTION) / 2)
    return _colour(x[..., top:h - top, left:w - left]).double()


def diversity_features(images: Tensor) -> dict[str, Tensor]:
    """Feature groups of images (N, 3, R, R) in [-1, 1]: ``{group: (N, D_group) float64}``."""
    x = _at_feature_res(images)
    layout = F.adaptive_avg_pool2d(x, LAYOUT_SIZE).flatten(1)
    colour = _colour(x)
    bands = laplacian_pyramid(x, min_res=TEXTURE_MIN_RES)[:-1]
    if not bands:
        raise ValueError(f"diversity's texture group needs images of at least {2 * TEXTURE_MIN_RES} px, got "
                         f"{x.shape[-1]}")
    texture = torch.cat([b.pow(2).mean(dim=(2, 3)).sqrt() for b in bands], dim=1)
    return {"layout": layout.double(), "colour": colour.double(), "texture": texture.double()}


#: distances computed at once (rows x N), which bounds the matrix to 256 MiB in float64 whatever N (the paper
#: protocol's 20 000 images would need 3.2 GB)
PAIR_BLOCK = 2**25


def mean_pairwise_distance(features: Tensor, block: int = PAIR_BLOCK) -> float:
    """Mean Euclidean distance over the N (N - 1) / 2 distinct pairs of rows of (N, D) features, a block of rows
    against all rows at a time."""
    n = features.shape[0]
    if n < 2:
        raise ValueError("mean pairwise distance needs at least two samples")
    rows = max(1, block // n)
    total = sum(torch.cdist(features[a:a + rows], features, compute_mode="donot_use_mm_for_euclid_dist").sum()
                for a in range(0, n, rows))  # (exact 0 for equal rows)
    return float(total / (n * (n - 1)))


def diversity(generated: Tensor, reference: Tensor) -> dict[str, Any]:
    """Diversity of ``generated`` images relative to ``reference`` images (both (N, 3, R, R) in [-1, 1]).

    Returns ``{"score": mean of the group ratios, "groups": {group: ratio}, "face": the central crop's
    colour ratio}``.
    """
    generated, reference = _at_feature_res(generated), _at_feature_res(reference)  # once for both feature sets
    fake, real = diversity_features(generated), diversity_features(reference)
    groups = {g: _ratio(fake[g], real[g]) for g in GROUPS}
    face = _ratio(face_features(generated), face_features(reference))
    return {"score": sum(groups.values()) / len(groups), "groups": groups, "face": face}


def _ratio(fake: Tensor, real: Tensor) -> float:
    ref = mean_pairwise_distance(real)
    return mean_pairwise_distance(fake) / ref if ref > 0 else float("nan")


class DiversityMetric(DistributionMetric):
    name = "diversity"
    keys = ("diversity", "diversity_face")
    higher_is_better = True

    def check(self, protocol: Any, options: dict[str, Any]) -> None:
        super().check(protocol, options)
        if protocol.resolution is not None and protocol.resolution < 2 * TEXTURE_MIN_RES:
            raise UserError(f"diversity needs images of at least {2 * TEXTURE_MIN_RES} px (its texture group's "
                            f"finest band); the protocol's resolution is {protocol.resolution}.")

    def score_sets(self, generated: Tensor, real: Tensor, ctx: EvalContext) -> dict[str, Any]:
        out = diversity(generated, real)
        return {"diversity": [out["score"]], "diversity_face": [out["face"]],
                "_meta": {"groups": out["groups"], "features": FEATURES}}

    def protocol_info(self, ctx: EvalContext) -> dict[str, Any]:
        p = ctx.protocol
        return {"images": p.distribution_images, "psi": p.psi_distribution, "features": FEATURES,
                "groups": list(GROUPS), "data": ctx.options.get("data", "synthetic:heads"),
                "score": "mean over groups of mean pairwise distance (generated) / (dataset); 1 = as varied",
                "face": f"the colour group's ratio on the central crop of side {FACE_FRACTION:g}"}
