"""The ``epi`` metric: how smoothly image rows move in a yaw sweep (GRAM-HD Fig. 5 as a number).

For a sweep of F frames with yaw evenly in [-r, r] around the model's centre view (``protocol_cameras``:
its cameras share one up axis), one image row stacked over the frames gives an epipolar-plane image
(EPI) (F, W, 3): for a 3D-consistent model every point traces a smooth line. Score (lower = more
consistent): each EPI row is predicted from the previous one shifted by the best sub-pixel offset
(searched in [-max_shift, max_shift] px, steps of 1/8 px, linear interpolation, edge pixels
excluded). The mean squared error of that prediction is divided by the EPI's horizontal detail
energy (mean squared difference of neighbouring pixels), so blurring an image does not make it look
consistent; the ratio is reported in percent, averaged over frame pairs and three rows (40 %, 50 %,
60 % of the height).

The protocol's ``epi_frames`` is the frame count at :data:`REFERENCE_RESOLUTION`; an image of R px gets R / 64
times as many frames, so a point moves as many pixels per frame at every resolution. At a fixed count the
motion per frame grows with R, one shift per row follows it ever worse, and a consistent model scored
worse the sharper it rendered (the oracle 9 at 64 px, 32 at 256 px over 60 frames).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.errors import UserError
from zoo3d.eval.metric import (EvalContext, EvalModel, Metric, instance_latent, model_resolution, note_upsampler,
                               render_instance)

ROW_FRACTIONS = (0.4, 0.5, 0.6)
#: The resolution at which the protocol's ``epi_frames`` frames are rendered; others scale the count with it.
REFERENCE_RESOLUTION = 64
#: A sweep whose first and last frames differ by less than this share of the image's horizontal detail is
#: "still": the consistent oracle's differ by 4.4 times it. A still image traces straight EPI lines and scores
#: near 0 whether or not it is consistent.
STILL_CHANGE = 0.1
#: The shift search's reach (px): a row prediction leaves ``int(MAX_SHIFT) + 1`` px at either edge unscored.
MAX_SHIFT = 3.0


def scored_margin(max_shift: float = MAX_SHIFT) -> int:
    """Pixels at each end of an EPI row that the shifted prediction cannot reach and the score leaves out."""
    return int(max_shift) + 1


#: The narrowest image whose rows keep a scored pixel between the two margins (9 px).
MIN_RESOLUTION = 2 * scored_margin() + 1


def sweep_change(frames: Tensor) -> float:
    """Mean |last frame - first frame| of (F, 3, H, W) over the first frame's mean |horizontal difference|."""
    first = frames[0].float()
    detail = (first[..., 1:] - first[..., :-1]).abs().mean().clamp_min(1e-8)
    return float((frames[-1].float() - first).abs().mean() / detail)


def frame_count(epi_frames: int, resolution: int) -> int:
    """Frames of a sweep at ``resolution``: ``epi_frames`` at 64 px, as many more as the image is wider (never
    fewer)."""
    return max(epi_frames, math.ceil(epi_frames * resolution / REFERENCE_RESOLUTION))


def epi_image(frames: Tensor, row: int) -> Tensor:
    """(F, 3, H, W) frames -> (3, F, W) EPI of image row ``row`` (time runs downwards)."""
    return frames[:, :, row, :].permute(1, 0, 2)


def shift_rows(rows: Tensor, shifts: Tensor) -> Tensor:
    """Shift each row of (N, C, W) by each of S sub-pixel offsets (px, positive = right): (S, N, C, W)."""
    n, c, w = rows.shape
    x = torch.arange(w, device=rows.device, dtype=rows.dtype)
    src = x[None, :] - shifts[:, None]                                      # (S, W) source coordinates
    grid_x = (2 * src + 1) / w - 1                                          # align_corners=False
    grid = torch.stack([grid_x, torch.zeros_like(grid_x)], dim=-1)         # (S, W, 2)
    grid = grid[:, None].expand(-1, n, -1, -1).reshape(-1, 1, w, 2)
    img = rows[None].expand(len(shifts), -1, -1, -1).reshape(-1, c, 1, w)
    out = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.reshape(len(shifts), n, c, w)


def epi_roughness(epi: Tensor, max_shift: float = MAX_SHIFT, step: float = 0.125) -> Tensor:
    """Best-shift row-prediction MSE of an EPI (C, F, W) in [-1, 1] over its detail energy, in percent."""
    rows = ((epi.float() + 1) / 2).clamp(0, 1).permute(1, 0, 2)            # (F, C, W)
    shifts = torch.arange(-max_shift, max_shift + step / 2, step, device=rows.device, dtype=rows.dtype)
    predicted = shift_rows(rows[:-1], shifts)                               # (S, F-1, C, W)
    margin = scored_margin(max_shift)
    err = (predicted - rows[None, 1:]).pow(2)[..., margin:-margin].mean(dim=(2, 3))   # (S, F-1)
    detail = (rows[..., 1:] - rows[..., :-1]).pow(2).mean().clamp_min(1e-8)
    return err.min(dim=0).values.mean() / detail * 100


class EpiMetric(Metric):
    name = "epi"
    higher_is_better = False
    requires = ("images",)

    def check(self, protocol: Any, options: dict[str, Any]) -> None:
        if protocol.resolution is not None and protocol.resolution < MIN_RESOLUTION:  # every row scored nothing: NaN
            raise UserError(f"epi needs images of at least {MIN_RESOLUTION} px (its shift search leaves "
                            f"{scored_margin()} px at either edge of a row unscored); the protocol's resolution is "
                            f"{protocol.resolution}.")

    def evaluate(self, model: EvalModel, ctx: EvalContext) -> dict[str, list[float]]:
        from zoo3d.eval.metric import protocol_cameras
        from zoo3d.imageio import save_image

        gen, proto = model.generator, ctx.protocol
        res = model_resolution(gen, proto.resolution)
        count = frame_count(proto.epi_frames, res)
        cameras = protocol_cameras(gen, proto, count, proto.epi_yaw_range).to(device=ctx.device)
        values, still = [], []
        for i, seed in enumerate(ctx.seeds):
            frames = render_instance(gen, instance_latent(gen, seed, ctx.device), cameras, res,
                                     psi=proto.psi_consistency)["rgb"]
            if sweep_change(frames) < STILL_CHANGE:
                still.append(seed)
            rows = [min(res - 1, int(f * res)) for f in ROW_FRACTIONS]
            values.append(float(torch.stack([epi_roughness(epi_image(frames, r)) for r in rows]).mean()))
            path = ctx.evidence_path(model.name, "epi", f"seed{seed}_epi.png") if i < 2 else None
            if path is not None:
                save_image(epi_image(frames, rows[1]).cpu(), path)
            ctx.advance(1)
        note_upsampler(model, ctx, "epi scores its final rgb")
        if still:
            ctx.notes.append(f"epi of {model.name}: the views of seed(s) {', '.join(map(str, still))} barely change "
                             f"across the yaw sweep, and an image that ignores the camera scores as consistent on "
                             f"epi; read it with depth and neus.")
        if res < REFERENCE_RESOLUTION:
            ctx.notes.append(f"epi of {model.name} at {res} px: below {REFERENCE_RESOLUTION} px its scores fall with "
                             f"the resolution (the consistent oracle: 3.4 at 16 px, 5.1 at 32, 8.8 at 64); compare "
                             f"epi at one resolution.")
        return {"epi": values, "_meta": {"frames": count}}

    def protocol_info(self, ctx: EvalContext) -> dict[str, Any]:
        p = ctx.protocol
        return {"frames": p.epi_frames, "frames_scale": f"x resolution / {REFERENCE_RESOLUTION} (at least 1)",
                "yaw_range": p.epi_yaw_range, "rows": list(ROW_FRACTIONS),
                "score": "best-shift row-prediction MSE / horizontal detail energy, percent (lower is better)"}
