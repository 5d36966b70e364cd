"""Images that carry an ICC colour profile other than sRGB are converted to sRGB through it, as image viewers show
them (their stored values had been read as sRGB); sRGB-tagged images and those without a profile are read as stored.

The profile here is linear light with sRGB's primaries, made by hand from littlecms's sRGB profile with its tone
curves replaced by gamma 1: a stored value v is then shown as sRGB's encoding of v / 255, a closed form."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from PIL import Image

from zoo3d.data.check import check_dataset
from zoo3d.data.folder import FolderDataset
from zoo3d.data.images import decode_image

ImageCms = pytest.importorskip("PIL.ImageCms")


def _mluc(text: str) -> bytes:
    """An ICC v4 multiLocalizedUnicode tag holding ``text`` in English."""
    utf16 = text.encode("utf-16-be")
    return b"mluc" + bytes(4) + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(utf16), 28) + utf16


def _linear_profile() -> bytes:
    """littlecms's sRGB profile with rTRC, gTRC and bTRC a gamma-1 curve and its own description."""
    srgb = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    srgb[84:100] = bytes(16)                                     # no profile ID: the bytes change
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, 0x0100) + bytes(2)    # one entry: gamma 1.0 (u8Fixed8)
    desc = _mluc("Linear RGB (test)")
    desc += bytes(-len(desc) % 4)
    curve_at, desc_at = len(srgb), len(srgb) + len(curve)
    for i in range(struct.unpack(">I", srgb[128:132])[0]):
        at = 132 + 12 * i
        signature = bytes(srgb[at:at + 4])
        if signature in (b"rTRC", b"gTRC", b"bTRC"):
            srgb[at + 4:at + 12] = struct.pack(">II", curve_at, len(curve))
        elif signature == b"desc":
            srgb[at + 4:at + 12] = struct.pack(">II", desc_at, len(desc))
    profile = srgb + curve + desc
    profile[0:4] = struct.pack(">I", len(profile))
    return bytes(profile)


def _shown(stored: np.ndarray) -> np.ndarray:
    """sRGB's encoding of linear light ``stored / 255`` (IEC 61966-2-1), in 8-bit levels."""
    x = stored / 255.0
    return 255 * np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def _ramp() -> np.ndarray:
    """16x16 RGB: every level in steps of 1 over the red, green and blue channels, each channel different."""
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    return np.stack([levels, levels.T, 255 - levels], axis=-1)


def _levels(image) -> np.ndarray:
    return (image.permute(1, 2, 0).numpy() + 1) * 127.5


def test_an_image_with_a_linear_light_profile_is_read_as_a_viewer_shows_it(tmp_path):
    stored = _ramp()
    Image.fromarray(stored).save(tmp_path / "linear.png", icc_profile=_linear_profile())
    image, size, _ = decode_image(tmp_path / "linear.png", 16)
    assert size == (16, 16)
    assert np.abs(_levels(image) - _shown(stored.astype(np.float64))).max() <= 1.5  # littlecms's 8-bit rounding
    assert np.abs(_levels(image) - stored).max() > 50   # as stored it would be far darker: the test can tell


def test_an_rgba_image_with_such_a_profile_is_converted_too_and_srgb_or_damaged_ones_are_read_as_stored(tmp_path):
    stored = _ramp()
    rgba = np.concatenate([stored, np.full((16, 16, 1), 7, np.uint8)], axis=-1)  # alpha dropped, as without profile
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png", icc_profile=_linear_profile())
    image, _, _ = decode_image(tmp_path / "rgba.png", 16)
    assert np.abs(_levels(image) - _shown(stored.astype(np.float64))).max() <= 1.5
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(stored).save(tmp_path / "srgb.png", icc_profile=srgb)
    image, _, _ = decode_image(tmp_path / "srgb.png", 16)
    assert np.array_equal(np.rint(_levels(image)), stored)
    Image.fromarray(stored).save(tmp_path / "damaged.png", icc_profile=b"not a profile")   # as viewers: ignored
    image, _, _ = decode_image(tmp_path / "damaged.png", 16)
    assert np.array_equal(np.rint(_levels(image)), stored)


def test_a_dataset_serves_the_converted_colours_and_data_check_notes_them(tmp_path):
    stored = _ramp()
    Image.fromarray(stored).save(tmp_path / "a.png", icc_profile=_linear_profile())
    Image.fromarray(stored).save(tmp_path / "b.png")
    frames = [{"file": n, "yaw": 0.0, "pitch": 0.0} for n in ("a.png", "b.png")]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    dataset = FolderDataset(tmp_path, 16)
    assert np.abs(_levels(dataset[0]["image"]) - _shown(stored.astype(np.float64))).max() <= 1.5
    assert np.array_equal(np.rint(_levels(dataset[1]["image"])), stored)
    report = check_dataset(tmp_path)
    assert report.ok and report.notes == ["1 image(s) carry a colour profile other than sRGB: their colours are "
                                          "converted to sRGB, as viewers show them (first: a.png, Linear RGB (test))"]


def test_a_palette_image_with_such_a_profile_has_its_palette_colours_converted(tmp_path):
    stored = _ramp()[::4, ::4]                                  # 16 colours: a palette holds them exactly
    palette = Image.fromarray(np.ascontiguousarray(stored)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    assert np.array_equal(np.asarray(palette.convert("RGB")), stored)
    palette.save(tmp_path / "palette.png", icc_profile=_linear_profile())
    image, _, _ = decode_image(tmp_path / "palette.png", 4)
    assert np.abs(_levels(image) - _shown(stored.astype(np.float64))).max() <= 1.5
