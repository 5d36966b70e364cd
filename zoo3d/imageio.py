"""Writing images, grids and animations (PNG, GIF, APNG, WebP, MP4 when an encoder is installed, frame folders)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from zoo3d.errors import UserError, shown_name
from zoo3d.fileio import check_can_create

ANIMATION_SUFFIXES = {".gif", ".png", ".apng", ".webp", ".mp4"}
#: GIF delays are whole hundredths of a second, and browsers stretch delays under 20 ms.
MAX_GIF_FPS = 50


def to_uint8(image: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """(C, H, W) or (H, W) tensor in ``value_range`` -> (H, W, 3) uint8 array (1 channel is repeated)."""
    lo, hi = value_range
    x = image.detach().float().cpu()
    if x.ndim == 2:
        x = x[None]
    x = ((x - lo) / (hi - lo)).clamp(0, 1).nan_to_num(0.0)  # a diverged model's NaN pixels drawn black, not cast
    if x.shape[0] == 1:
        x = x.expand(3, *x.shape[1:])
    return (x[:3].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def depth_to_image(depth: Tensor, near: float | None = None, far: float | None = None) -> Tensor:
    """(B, 1, H, W) depth -> (B, 1, H, W) in [-1, 1], near bright and far dark (one range for the whole batch,
    so frames do not flicker; the hit pixels' range when not given). A depth of 0 or less is a ray that hit
    nothing (the renderers' depth fades to 0 there without a background): drawn as far as the farthest hit,
    and black (far) when no ray hit anything. :func:`picture_depth` gives the depth a render's picture draws."""
    d = depth.detach().float()
    hit = d > 0
    if not bool(hit.any()):
        return torch.full_like(d, -1.0)
    lo = d[hit].amin() if near is None else torch.tensor(near)
    hi = d[hit].amax() if far is None else torch.tensor(far)
    d = torch.where(hit, d, hi)
    return (1 - 2 * ((d - lo) / (hi - lo).clamp_min(1e-8))).clamp(-1, 1)


#: The foreground's opacity from which a depth picture draws the surface's distance: the depth metric's foreground.
SURFACE_ALPHA = 0.5


def picture_depth(out) -> Tensor | None:
    """The depth a picture of render ``out`` (a :class:`~zoo3d.core.outputs.RenderOutput`) draws, (B, 1, H, W).

    An image whose ``depth`` also sums a background layer (it differs from ``extras["foreground_depth"]``:
    GRAM's manifold plane, the oracle's plane) keeps its ``depth``: every ray ends on what it shows, and so does
    a render without an ``alpha``. Otherwise ``depth`` is ``sum w t`` over a foreground that may be part empty,
    which fades to 0 (nearest) where little is hit; the picture draws the surface's distance instead,
    ``sum w t / alpha`` over the foreground (as the depth metric takes it) where ``alpha >= SURFACE_ALPHA``, and
    0 (a ray that hit nothing, drawn far) elsewhere. Without ``foreground_depth``, weight a render gave a ray
    beyond its opacity (a last sample filled to make every ray opaque, a volume's background plane), read from
    ``weights`` and ``extras["t"]`` when it returns them, is taken out of the sum first."""
    depth, alpha = out.depth, out.alpha
    if depth is None or alpha is None:
        return depth
    given = (getattr(out, "extras", None) or {}).get("foreground_depth")
    foreground = out.foreground_depth_sum().detach().float()
    depth, alpha = depth.detach().float(), alpha.detach().float()
    behind = torch.zeros(depth.shape[0], dtype=torch.bool, device=depth.device)
    if given is not None:
        behind = (depth != foreground).flatten(1).any(1)
    surface = foreground / alpha.clamp_min(1e-6)
    surface = torch.where(alpha >= SURFACE_ALPHA, surface, torch.zeros_like(surface))
    return torch.where(behind[:, None, None, None], depth, surface)


def grid_size(count: int, height: int, width: int, nrow: int | None = None, pad: int = 2) -> tuple[int, int]:
    """(height, width) of :func:`make_grid`'s image of ``count`` images of height x width."""
    nrow = nrow or int(math.ceil(math.sqrt(count)))
    rows = int(math.ceil(count / nrow))
    return rows * (height + pad) + pad, nrow * (width + pad) + pad


def make_grid(images: Tensor, nrow: int | None = None, pad: int = 2, pad_value: float = 1.0) -> Tensor:
    """(B, C, H, W) -> one (C, H', W') image with ``nrow`` images per row."""
    b, c, h, w = images.shape
    nrow = nrow or int(math.ceil(math.sqrt(b)))
    grid = images.new_full((c, *grid_size(b, h, w, nrow, pad)), pad_value)
    for i in range(b):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, y:y + h, x:x + w] = images[i]
    return grid


def _pil_format(suffix: str) -> str | None:
    """The PIL format that writes files with ``suffix`` (e.g. '.png' -> 'PNG'), or None."""
    Image.init()
    fmt = Image.registered_extensions().get(suffix.lower())
    return fmt if fmt in Image.SAVE else None


def check_image_target(path: str | Path) -> Path:
    """Refuse an image output path PIL cannot write (before any work is done)."""
    path = Path(path)
    shown = shown_name(str(path))  # a '\r' printed raw moves the cursor back over the sentence
    if path.is_dir():
        raise UserError(f"Cannot write an image to '{shown}': it is a folder.")
    if _suffix_alone(path) and _pil_format(path.name) is not None:
        raise UserError(f"Cannot write an image to '{shown}': the file name is the suffix alone; name it, e.g. "
                        f"'grid{path.name}'.")
    fmt = _format_of(path)
    if fmt is None:
        raise UserError(f"Cannot write an image to '{shown}': use .png, .jpg, .webp or another image suffix.")
    if fmt in ICON_FORMATS:
        raise UserError(f"Cannot write an image to '{shown}': {fmt} holds square icons, into which the image would be "
                        "resized; use .png, .jpg, .webp or another image suffix.")
    if not _writes_colour(fmt):
        raise UserError(f"Cannot write an image to '{shown}': Pillow cannot write a colour image as {fmt} here; "
                        "use .png, .jpg, .webp or another image suffix.")
    check_can_create(path, "image")  # a folder on its way that is a file: said now, not after the rendering
    return path


#: formats PIL writes only as square icons of set sizes: an image of another size is resized (stretched) into them
ICON_FORMATS = {"ICO", "ICNS"}


#: formats known to write RGB images, which need no trial
COLOUR_FORMATS = {"PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP"}


def _writes_colour(fmt: str) -> bool:
    """Whether PIL writes a small RGB image as ``fmt`` (some formats it registers for saving take only other modes,
    XBM and MSP one bit; others, HDF5, GRIB, BUFR and WMF, have no writer installed): tried in memory, except for the
    common formats."""
    import io

    if fmt in COLOUR_FORMATS:
        return True
    try:
        Image.new("RGB", (3, 2)).save(io.BytesIO(), format=fmt)
    except Exception:  # noqa: BLE001 - whatever the plugin raises, the format cannot hold the image
        return False
    return True


#: the largest side each format can store (PIL raises only after the whole image was rendered): JPEG 65500, libjpeg's
#: JPEG_MAX_DIMENSION (so MPO and PDF, which hold the image as a JPEG); PCX's bytes per line must fit 16 bits
MAX_SIDE = {"WEBP": 16383, "JPEG": 65500, "MPO": 65500, "PDF": 65500, "PCX": 65534, "GIF": 65535, "TGA": 65535,
            "SGI": 65535, "AVIF": 65536}


def check_image_size(path: str | Path, height: int, width: int) -> None:
    """Refuse, before any work, an image larger than its file format can hold."""
    fmt = _format_of(Path(path))
    limit = MAX_SIDE.get(fmt or "")
    if limit is not None and max(height, width) > limit:
        raise UserError(f"'{shown_name(str(path))}' would be {width}x{height} pixels, and {fmt} holds at most {limit} "
                        f"on a side; write a .png, or fewer images per row.")


def _suffix_alone(path: Path) -> bool:
    """Whether the file name is one suffix and nothing else ('.gif', as an empty shell variable leaves '$name.gif'):
    Python reads such a name as a hidden file without a suffix."""
    return path.name.startswith(".") and path.name.count(".") == 1 and len(path.name) > 1


def _format_of(path: Path) -> str | None:
    return _pil_format(path.suffix) if path.suffix else None


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported here, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def mp4_encoder_problem() -> str | None:
    """Why MP4 cannot be written here (no imageio, or no ffmpeg/PyAV plugin for it), or None."""
    if not _installed("imageio"):
        return ("Writing MP4 needs an encoder: pip install imageio imageio-ffmpeg (or write .gif, .webp, .png or a "
                "frames folder).")
    if not (_installed("imageio_ffmpeg") or _installed("av")):
        return ("Writing MP4 needs an encoder: imageio is installed but has no video plugin; pip install imageio-ffmpeg "
                "(or av), or write .gif, .webp, .png or a frames folder.")
    return None


def check_animation_target(path: str | Path, fps: float | None = None) -> Path:
    """Refuse an animation output that cannot be written (suffix, missing MP4 encoder, a GIF faster than it can
    play) before any work is done."""
    text, path = os.fspath(path), Path(path)
    shown = shown_name(str(path))  # a '\r' printed raw moves the cursor back over the sentence
    if text.endswith(("/", os.sep)) and path.suffix.lower() in ANIMATION_SUFFIXES:  # Path('t.gif/') is 't.gif'
        raise UserError(f"Cannot write an animation to '{shown_name(text)}': the slash at its end names a folder, but "
                        f"'{path.suffix}' names an animation file; drop the slash for the file, or name a frames "
                        f"folder without a suffix, e.g. '{shown_name(path.stem)}/'.")
    if _suffix_alone(path) and path.name.lower() in ANIMATION_SUFFIXES:
        raise UserError(f"Cannot write an animation to '{shown}': the file name is the suffix alone (it would be a "
                        f"hidden folder of frames); name it, e.g. 'turntable{path.name}'.")
    suffix = path.suffix.lower()
    if suffix == ".gif" and fps is not None and fps > MAX_GIF_FPS:
        raise UserError(f"A GIF cannot play at {fps:g} fps: browsers hold frames shorter than 20 ms for 100 ms; "
                        f"use --fps {MAX_GIF_FPS} or less, or write .webp, .png or .mp4.")
    if suffix == "":
        if path.exists() and not path.is_dir():
            raise UserError(f"Cannot write frames to '{shown}': it is a file, not a folder.")
        check_can_create(path, "frames", folder=True)
        return path
    if suffix not in ANIMATION_SUFFIXES:
        raise UserError(f"Cannot write an animation to '{shown}': use .gif, .png/.apng, .webp, .mp4 or a folder.")
    if path.is_dir():
        raise UserError(f"Cannot write an animation to '{shown}': it is a folder.")
    if suffix == ".mp4" and (problem := mp4_encoder_problem()) is not None:
        raise UserError(problem)
    check_can_create(path, "animation")
    return path


def save_image(image: Tensor, path: str | Path, value_range: tuple[float, float] = (-1.0, 1.0)) -> Path:
    """Write one image atomically (nothing half-written is left if the write fails)."""
    from zoo3d.fileio import atomic_path

    path = check_image_target(path)
    array = to_uint8(image, value_range)
    with atomic_path(path, "image") as tmp:
        Image.fromarray(array).save(tmp, format=_pil_format(path.suffix))
    return path


def save_grid(images: Tensor, path: str | Path, nrow: int | None = None,
              value_range: tuple[float, float] = (-1.0, 1.0)) -> Path:
    return save_image(make_grid(images, nrow, pad_value=value_range[1]), path, value_range)


def save_animation(frames: Sequence[Tensor] | Tensor, path: str | Path, fps: int = 24,
                   value_range: tuple[float, float] = (-1.0, 1.0)) -> Path:
    """Frames (each (C, H, W)) -> GIF, APNG (.png/.apng), WebP, MP4, or a folder of PNGs (a path without suffix).

    Files are written atomically; a frames folder that did not exist is filled under a temporary
    name and renamed when complete, so a failed write leaves no partial output.
    """
    from zoo3d.fileio import atomic_path

    path = check_animation_target(path, fps)
    arrays = [to_uint8(f, value_range) for f in frames]
    suffix = path.suffix.lower()
    if suffix == "":
        return _save_frames_folder(arrays, path)
    if suffix == ".mp4":
        return _save_mp4(arrays, path, fps)
    images = [Image.fromarray(a) for a in arrays]
    kwargs = {"save_all": True, "append_images": images[1:], "duration": frame_durations(len(images), fps, suffix),
              "loop": 0}
    if suffix == ".webp":
        kwargs["lossless"] = True
    with atomic_path(path, "animation") as tmp:
        images[0].save(tmp, format={".gif": "GIF", ".webp": "WEBP"}.get(suffix, "PNG"), **kwargs)
    return path


def frame_durations(frames: int, fps: float, suffix: str = ".png") -> list[int]:
    """Milliseconds each frame shows so that frame ``i`` starts at ``i / fps`` as nearly as the format stores:
    GIF in steps of 10 ms, APNG and WebP of 1 ms (a 24 fps GIF alternates 40 and 50 ms instead of running at
    25 fps)."""
    step = 10 if suffix == ".gif" else 1
    starts = [round(i * 1000 / fps / step) * step for i in range(frames + 1)]
    return [max(step, b - a) for a, b in zip(starts, starts[1:])]


def even_frames(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, C) frames with an odd height or width given one more row or column, a copy of the last: H.264's
    4:2:0 colour needs even sizes. Nothing is scaled, so every pixel stays where the render put it."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if not (pad_h or pad_w):
        return frames
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def _mp4_writer() -> dict:
    """The imageio plugin that writes MP4 at the frames' own size: PyAV when installed, else imageio-ffmpeg told
    not to scale (by default it rescales every frame to a multiple of 16 pixels, stretching the picture)."""
    if _installed("av"):
        return {"plugin": "pyav"}
    return {"plugin": "FFMPEG", "macro_block_size": 1}


def _save_mp4(arrays: list[np.ndarray], path: Path, fps: float) -> Path:
    """MP4 (H.264) through imageio: encoded under the file's own name in a hidden staging folder, since the
    encoders choose the container by the suffix, then moved into place."""
    import imageio.v3 as iio

    from zoo3d.fileio import WriteError, place, staging_folder, write_error, write_target

    target = write_target(path)  # a link to an existing file: staged beside that file, which is replaced
    try:
        with staging_folder(target, "animation") as staging:
            iio.imwrite(staging / path.name, even_frames(np.stack(arrays)), fps=fps, codec="libx264", **_mp4_writer())
            place(staging / path.name, target)
    except WriteError as exc:  # named as the user named it, not by the file the link leads to
        raise write_error(path, exc, "animation") from None
    return path


def _save_frames_folder(arrays: list[np.ndarray], path: Path) -> Path:
    """``frame_0000.png`` ... into ``path``: a new folder appears complete or not at all; in an existing
    folder each frame is replaced atomically and the frames of a failed call are removed."""
    from zoo3d.fileio import atomic_path, staging_folder

    if not path.exists():
        with staging_folder(path, "frames") as staging:
            for i, a in enumerate(arrays):
                Image.fromarray(a).save(staging / f"frame_{i:04d}.png", format="PNG")
            os.replace(staging, path)
        return path
    from zoo3d.fileio import clean_stale_temps

    clean_stale_temps(path)
    written = []
    try:
        for i, a in enumerate(arrays):
            target = path / f"frame_{i:04d}.png"
            with atomic_path(target, "frame", clean=False) as tmp:
                Image.fromarray(a).save(tmp, format="PNG")
            written.append(target)
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    for old in path.glob("frame_*.png"):  # a longer earlier animation's tail is not this one's
        if old not in written and old.stem[6:].isdigit():
            old.unlink(missing_ok=True)
    return path
