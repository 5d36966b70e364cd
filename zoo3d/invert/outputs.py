"""What ``zoo3d invert`` writes per image: reconstruction.png, turntable.gif, depth.png, metrics.json and the
inversion itself, inversion.safetensors (:mod:`zoo3d.invert.saved`).

Everything is rendered from one :class:`zoo3d.core.InversionResult` (for single-pass inverters, one
forward pass of their networks); the turntable sweeps the yaw around the input pose at its pitch.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.core.inverter import InversionResult
from zoo3d.core.outputs import RenderOutput
from zoo3d.errors import UserError
from zoo3d.invert.saved import INVERSION_FILE, saves_state, write_inversion

__all__ = ["OUTPUT_FILES", "holds_inversion", "image_metrics", "load_lpips_or_reason", "parse_pose", "render_each",
           "write_inversion_outputs"]

#: every file :func:`write_inversion_outputs` may write into an image's folder (``depth.png`` only for a model that
#: renders depth, ``inversion.safetensors`` only for an inverter whose results are saved)
OUTPUT_FILES = ("reconstruction.png", "depth.png", "turntable.gif", "metrics.json", INVERSION_FILE)


def parse_pose(text: str | None) -> tuple[float, float] | None:
    """``"yaw,pitch"`` (radians) -> (yaw, pitch); None stays None."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        yaw, pitch = (float(p) for p in parts)
    except ValueError:
        raise UserError(f"Cannot read --pose '{text}': give yaw,pitch in radians, e.g. --pose 0.2,-0.05.") from None
    if not (math.isfinite(yaw) and math.isfinite(pitch)):
        raise UserError(f"Cannot read --pose '{text}': yaw and pitch must be finite numbers (radians).")
    if not (abs(yaw) <= math.pi and abs(pitch) <= math.pi / 2):
        raise UserError(f"--pose '{text}' is out of range: |yaw| <= pi and |pitch| <= pi/2 (radians).")
    return yaw, pitch


def load_lpips_or_reason(device) -> tuple[object | None, str | None]:
    """The LPIPS model, or None and the one-sentence reason it is unavailable (missing backbone weights)."""
    from zoo3d.eval.image_metrics import load_lpips

    try:
        return load_lpips(device), None
    except UserError as exc:
        return None, str(exc)


def image_metrics(pred: Tensor, target: Tensor, lpips_model=None, lpips_reason: str | None = None) -> dict:
    """PSNR (dB), SSIM and LPIPS of one reconstruction (1, 3, H, W) against its input, in [-1, 1].

    ``lpips`` is None when no LPIPS model is given; ``lpips_unavailable`` then says why.
    """
    from zoo3d.eval.image_metrics import lpips_distance, psnr, ssim

    pred, target = pred.float(), target.float().to(pred.device)
    out = {"psnr": float(psnr(pred, target).mean()), "ssim": float(ssim(pred, target).mean()), "lpips": None}
    if lpips_model is not None:
        with torch.no_grad():
            out["lpips"] = float(lpips_distance(lpips_model, pred, target).mean())
    else:
        out["lpips_unavailable"] = lpips_reason or "no LPIPS model was given"
    return out


def holds_inversion(folder: str | Path, record: dict, saved: bool = True) -> bool:
    """Whether ``folder`` holds a whole inversion whose metrics.json records every value of ``record`` as it is
    (the command's settings and the image: ``zoo3d invert --resume`` passes over such an image). ``saved``: the
    inverter's results are saved, so inversion.safetensors is one of the outputs (an earlier inversion without it
    is not whole)."""
    import json

    folder = Path(folder)
    optional = {"depth.png"} | (set() if saved else {INVERSION_FILE})
    if not all((folder / name).is_file() for name in OUTPUT_FILES if name not in optional):
        return False
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # unreadable or cut short: not a whole inversion
        return False
    return isinstance(metrics, dict) and all(k in metrics and metrics[k] == v for k, v in record.items())


def turntable_cameras(camera: Camera, frames: int, yaw_range: float) -> Camera:
    """``frames`` cameras sweeping yaw over input yaw +- yaw_range (there and back, from the input yaw) at the
    input pitch/radius/fov. Two frames are the sweep's two ends (from the input yaw they would both be at it)."""
    angles = camera.to_angles()
    phase = torch.linspace(0, 2 * math.pi, frames + 1, device=camera.device)[:-1]
    if frames == 2:
        phase = phase + math.pi / 2
    yaw = angles["yaw"][0] + yaw_range * torch.sin(phase)
    return Camera.from_angles(yaw, angles["pitch"][0].expand(frames), angles["radius"][0].expand(frames),
                              angles["fov"][0].expand(frames))


@torch.no_grad()
def render_each(inverter, result: InversionResult, cameras: Camera, resolution: tuple[int, int] | None = None,
                need_depth: bool = False) -> RenderOutput:
    """``result`` (one image's) drawn from each of ``cameras`` in turn, as the turntable is (memory bounded by one
    view; the same pixels for the same camera): rgb (F, 3, H, W) in [-1, 1] and, where the model renders depth,
    depth (F, 1, H, W), with ``need_depth`` also ``extras["picture_depth"]`` (:func:`zoo3d.imageio.picture_depth`);
    with ``need_depth``, a model that renders no depth is drawn no further than the first view (the caller refuses)."""
    from zoo3d.train.sampling import joined_renders

    cameras = cameras.to(device=result.cameras.device)
    return joined_renders((inverter.render(result, cameras[i], resolution) for i in range(len(cameras))), need_depth)


@torch.no_grad()
def write_inversion_outputs(inverter, result: InversionResult, image: Tensor, out_dir: str | Path, *,
                            frames: int = 30, yaw_range: float = 0.5, fps: int = 15, lpips_model=None,
                            lpips_reason: str | None = None, extra: dict | None = None,
                            inversion: dict | None = None) -> dict:
    """Render and write the outputs of one inverted image (1, 3, H, W); returns the metrics dict. With
    ``inversion`` (the header of :func:`zoo3d.invert.saved.write_inversion`: the model, checkpoint, method, ...)
    the inversion itself is saved too, where the inverter's results can be (:func:`zoo3d.invert.saved.saves_state`).

    They are written into a hidden staging folder and moved into ``out_dir`` together once all are written, so
    a failure (a full disk) leaves a new folder absent and an existing one with its earlier outputs. An existing
    folder then loses the earlier outputs this inversion did not write (a ``depth.png`` of a model that renders
    depth, where this one renders none), so that it holds one inversion; its other files stay."""
    from zoo3d.fileio import json_text, place, staging_folder, write_text_atomic
    from zoo3d.imageio import depth_to_image, picture_depth, save_animation, save_image

    out_dir = Path(out_dir)
    res = tuple(image.shape[-2:])
    recon = inverter.render(result, result.cameras, res)
    metrics = image_metrics(recon.rgb, image, lpips_model, lpips_reason)
    angles = result.cameras.to_angles()
    metrics["pose"] = {"yaw": float(angles["yaw"][0]), "pitch": float(angles["pitch"][0])}
    metrics.update(extra or {})
    with staging_folder(out_dir, "inversion outputs") as staging:
        save_image(recon.rgb[0], staging / "reconstruction.png")
        if recon.depth is not None:
            save_image(depth_to_image(picture_depth(recon))[0].expand(3, -1, -1), staging / "depth.png")
        views = render_each(inverter, result, turntable_cameras(result.cameras[0], frames, yaw_range), res).rgb
        save_animation(list(views), staging / "turntable.gif", fps=fps)
        write_text_atomic(staging / "metrics.json", json_text(metrics) + "\n", "metrics")
        if inversion is not None and saves_state(inverter):
            write_inversion(staging / INVERSION_FILE, inverter, result, inversion, folder=out_dir)
        written = sorted(p.name for p in staging.iterdir())
        if not out_dir.exists():
            os.replace(staging, out_dir)
        else:
            for name in written:
                place(staging / name, out_dir / name)  # through an output that is a link to a file
            for name in sorted(set(OUTPUT_FILES) - set(written)):  # an earlier inversion's: not this one's
                stale = out_dir / name
                if stale.is_file() or stale.is_symlink():
                    stale.unlink()
    return metrics

