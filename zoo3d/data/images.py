"""Decoding dataset images into float CHW tensors in [-1, 1] with an explicit crop and resize policy.

``crop="center"`` takes the centred square of a non-square image (and moves the principal
point of its camera accordingly); ``crop="none"`` keeps the whole image and needs it square.
``resize`` then resamples to the training resolution (``area`` is PIL's box filter).
Grey and palette images become RGB; an alpha channel is dropped (``data check`` notes both).
An EXIF orientation (phone photos) is applied first, so crop and camera see the upright image.
An embedded colour profile other than sRGB (Adobe RGB, Display P3, a CMYK print profile) converts the colours to
sRGB, as image viewers show them (:func:`to_srgb`).
"""

from __future__ import annotations

import functools
import io

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

_ORIENTATION = 0x0112  # the EXIF orientation tag
_RESAMPLE = {"lanczos": Image.LANCZOS, "bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "area": Image.BOX}


def crop_box(width: int, height: int, crop: str) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the region kept by the crop policy."""
    if crop == "none":
        if width != height:
            raise ValueError(f"image is {width}x{height}; crop 'none' needs square images (use crop 'center')")
        return 0, 0, width, height
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def square_pixels(camera: np.ndarray, width: int, height: int) -> np.ndarray:
    """The EG3D 25-vector with the horizontal focal length that gives a ``width`` x ``height`` image square pixels
    at the camera's vertical one (``fx / W = (fy / H) H / W``), as ``Camera.from_angles(..., resolution=(H, W))``
    makes them: for cameras made from angles and a vertical field of view, whose intrinsics assume a square image."""
    out = np.array(camera, dtype=np.float64, copy=True)
    out[16] = out[20] * height / width
    return out


def crop_camera(camera: np.ndarray, width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """The EG3D 25-vector of the cropped image: normalised intrinsics re-expressed in the crop's frame."""
    out = np.array(camera, dtype=np.float64, copy=True)
    left, top, right, bottom = box
    cw, ch = right - left, bottom - top
    k = out[16:].reshape(3, 3)
    k[0, 0] *= width / cw
    k[0, 1] *= width / cw
    k[0, 2] = (k[0, 2] * width - left) / cw
    k[1, 1] *= height / ch
    k[1, 2] = (k[1, 2] * height - top) / ch
    out[16:] = k.reshape(-1)
    return out


#: why an image of 32-bit float pixels (a float TIFF) is not read: converted as colours it came out black.
FLOAT_PIXELS = ("32-bit floating-point pixels (mode F), whose range zoo3d cannot know (0-1, 0-255, linear light); "
                "save the image as 8- or 16-bit PNG")


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode but float -> RGB (grey repeated, alpha dropped, 16-bit scaled to 8-bit); float pixels are a
    ValueError (:data:`FLOAT_PIXELS`).

    16-bit grey (``I;16*``, and ``I``, which older Pillow gave 16-bit PNGs) is scaled by its bit
    depth, 65535 -> 255, never by its content: a dark image stays dark.
    """
    if img.mode == "F":
        raise ValueError(FLOAT_PIXELS)
    if img.mode.startswith("I;16") or img.mode == "I":
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8))
    return img if img.mode == "RGB" else img.convert("RGB")


#: the modes whose pixels a profile of each ICC colour space converts, and the mode each is converted to first (an
#: alpha dropped, a palette's colours looked up)
_PROFILE_MODES = {"RGB ": ("RGB", "RGBA", "RGBX", "P", "PA"), "CMYK": ("CMYK",), "GRAY": ("L", "LA", "1")}
_PROFILE_BASE = {"RGBA": "RGB", "RGBX": "RGB", "P": "RGB", "PA": "RGB", "LA": "L", "1": "L"}


def colour_profile(img: Image.Image):
    """The ICC profile an image carries that changes its colours when shown (``ImageCms.ImageCmsProfile``), or None:
    none embedded, an sRGB one (images are read as sRGB anyway), one for another colour space than the pixels', one
    that cannot be parsed (viewers ignore it too), or no colour management in this Pillow."""
    icc = img.info.get("icc_profile")
    if not icc:
        return None
    try:
        return _parsed_profile(bytes(icc), img.mode)
    except Exception:  # noqa: BLE001 - a damaged profile (or no littlecms) leaves the pixels as stored
        return None


@functools.lru_cache(maxsize=8)
def _parsed_profile(icc: bytes, mode: str):
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    if mode not in _PROFILE_MODES.get(profile.profile.xcolor_space, ()):
        return None
    if "sRGB" in ImageCms.getProfileDescription(profile):
        return None
    return profile


@functools.lru_cache(maxsize=8)
def _to_srgb_transform(icc: bytes, mode: str):
    from PIL import ImageCms

    return ImageCms.buildTransform(_parsed_profile(icc, mode), ImageCms.createProfile("sRGB"), mode, "RGB")


def to_srgb(img: Image.Image) -> Image.Image:
    """:func:`to_rgb`, with the colours converted to sRGB through the image's embedded ICC profile where it has one
    other than sRGB (:func:`colour_profile`): an Adobe RGB or Display P3 photo's stored values read as sRGB are
    dull, a CMYK print file's read by PIL's plain formula are off, where viewers show them as the profile says."""
    if colour_profile(img) is None:
        return to_rgb(img)
    mode = _PROFILE_BASE.get(img.mode, img.mode)  # the alpha is dropped, as to_rgb drops it
    source = img.convert(mode) if mode != img.mode else img
    from PIL import ImageCms

    try:
        return ImageCms.applyTransform(source, _to_srgb_transform(bytes(img.info["icc_profile"]), mode))
    except ImageCms.PyCMSError:  # a profile littlecms parses but cannot convert from: read as stored, as viewers do
        return to_rgb(img)


def _orientation(img: Image.Image) -> int:
    """The image's EXIF orientation, 1 (as stored) without one or where its EXIF block cannot be parsed: viewers show
    such an image as stored, and Pillow's parse error had made the whole image unreadable (a PNG or WebP whose EXIF
    chunk is damaged), which ``data check``, decoding the pixels alone, did not report."""
    try:
        return int(img.getexif().get(_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - SyntaxError, struct.error, ValueError...: a damaged EXIF block
        return 1


#: the EXIF orientations whose upright image is the stored one turned a quarter (``ImageOps.exif_transpose``)
_QUARTER_TURNS = (5, 6, 7, 8)


def stored_size(img: Image.Image) -> tuple[int, int]:
    """The (width, height) of an opened image's pixels as its file stores them, before any EXIF orientation: Pillow
    gives a TIFF's size turned upright already (from 11.1, which also turns its pixels as it loads them), every other
    format's as stored."""
    tags = getattr(img, "tag_v2", None)  # a TIFF's own tags: ImageWidth, ImageLength
    if tags is not None and 256 in tags and 257 in tags:
        return int(tags[256]), int(tags[257])
    return img.size


def header_size(fp) -> tuple[int, int]:
    """The stored (width, height) of an image file from its header, whatever its size: Pillow's decompression-bomb
    guard, which refuses to open an image past twice ``Image.MAX_IMAGE_PIXELS`` (179 million pixels by default: a
    200-megapixel phone photo), is lifted for this read, which decodes nothing, and set back."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(fp) as img:
            return stored_size(img)
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def too_many_pixels(fp) -> str:
    """The words for an image past Pillow's decompression-bomb limit (:func:`header_size`), after "its": its size, its
    count of pixels and the limit, where PIL's own sentence calls the photo a possible attack and gives no way on."""
    width, height = header_size(fp)
    return f"{width}x{height} pixels ({width * height}) are more than the {2 * Image.MAX_IMAGE_PIXELS} Pillow decodes"


def served_size(fp) -> tuple[int, int]:
    """The (width, height) :func:`decode_image` gives for the image file, read from its header (its EXIF orientation
    applied to its stored size, :func:`stored_size`: a TIFF stored sideways had its size turned twice); a ValueError
    for the pixels it refuses (:data:`FLOAT_PIXELS`). A square image is not asked for its orientation, which a PNG may
    keep after its pixels: a quarter turn leaves its size as it is."""
    with Image.open(fp) as img:
        if img.mode == "F":
            raise ValueError(FLOAT_PIXELS)
        width, height = stored_size(img)
        return (height, width) if width != height and _orientation(img) in _QUARTER_TURNS else (width, height)


def decode_image(fp, resolution: int, crop: str = "center", resize: str = "lanczos") -> tuple[Tensor, tuple, tuple]:
    """Image file -> (3, R, R) float in [-1, 1], the original (width, height) and the crop box used."""
    with Image.open(fp) as img:
        img.load()
        if _orientation(img) != 1:  # a phone photo's pixels are stored sideways
            img = ImageOps.exif_transpose(img)
        width, height = img.size
        box = crop_box(width, height, crop)
        rgb = to_srgb(img)
    if box != (0, 0, width, height):
        rgb = rgb.crop(box)
    if rgb.size != (resolution, resolution):
        rgb = rgb.resize((resolution, resolution), _RESAMPLE[resize])
    arr = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)
    return arr.float() / 127.5 - 1.0, (width, height), box
