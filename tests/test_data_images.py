"""Image decoding policy: 16-bit depth, EXIF orientation, the resize filter, the crop of tall images."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from zoo3d.cameras import Camera
from zoo3d.data.folder import FolderDataset
from zoo3d.data.images import crop_camera, decode_image


def _levels(image: torch.Tensor) -> np.ndarray:
    """(3, R, R) in [-1, 1] -> (R, R, 3) 8-bit levels."""
    return np.rint((image.permute(1, 2, 0).numpy() + 1.0) * 127.5).astype(np.int64)


def _structured(width, height, seed=0) -> np.ndarray:
    """Edges, a gradient and noise: resampling filters give clearly different results on it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([((x // 3 + y // 5) % 2) * 255, x * 255 // max(1, width - 1),
                    rng.integers(0, 256, (height, width))], -1)
    return arr.astype(np.uint8)


@pytest.mark.parametrize("value", [200, 25700, 65535])
def test_16_bit_grey_is_scaled_by_its_bit_depth_not_its_content(tmp_path, value):
    path = tmp_path / "grey16.png"
    Image.fromarray(np.full((8, 8), value, dtype=np.uint16)).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I")  # really a 16-bit file
    image, _, _ = decode_image(path, 8)
    assert np.all(_levels(image) == round(value / 257))  # 200 -> level 1 (dark), not level 200


def test_exif_orientation_is_applied_before_the_crop(tmp_path):
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotates it 90 degrees clockwise
    Image.fromarray(_structured(24, 16)).save(path, exif=exif, quality=95)
    with Image.open(path) as img:
        stored = np.asarray(img.convert("RGB"), dtype=np.int64)  # (16, 24, 3) as stored
    upright = np.rot90(stored, k=-1)  # (24, 16, 3): 16 wide, 24 tall
    image, size, box = decode_image(path, 16)
    assert size == (16, 24) and box == (0, 4, 16, 20)
    assert np.array_equal(_levels(image), upright[4:20])


@pytest.mark.parametrize("name, flt", [("lanczos", Image.LANCZOS), ("bicubic", Image.BICUBIC),
                                       ("bilinear", Image.BILINEAR), ("area", Image.BOX)])
def test_images_at_another_size_are_resized_with_the_documented_filter(tmp_path, name, flt):
    arr = _structured(40, 40)
    path = tmp_path / "big.png"
    Image.fromarray(arr).save(path)
    expected = np.asarray(Image.fromarray(arr).resize((16, 16), flt), dtype=np.int64)
    nearest = np.asarray(Image.fromarray(arr).resize((16, 16), Image.NEAREST), dtype=np.int64)
    assert np.abs(nearest - expected).max() > 20  # the image tells the filters apart
    got = _levels(decode_image(path, 16, resize=name)[0])
    assert np.array_equal(got, expected)
    if name == "lanczos":  # the default (docs/data.md: GRAM's choice)
        assert np.array_equal(_levels(decode_image(path, 16)[0]), expected)


def test_tall_image_crop_scales_fy_and_keeps_cy_centred(tmp_path):
    # the mirror of the wide case in test_data_readers: a 16x24 (w x h) grey image cropped to 16x16
    Image.new("L", (16, 24), 200).save(tmp_path / "tall.png")
    frames = [{"file": "tall.png", "yaw": 0.2, "pitch": 0.1}]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    item = FolderDataset(tmp_path, 16)[0]
    assert torch.allclose(item["image"], torch.full((3, 16, 16), 200 / 127.5 - 1))
    k = item["camera"][16:].reshape(3, 3)
    focal = 0.5 / math.tan(math.radians(6))
    assert math.isclose(k[1, 1].item(), focal * 24 / 16, rel_tol=1e-6) and math.isclose(k[1, 2].item(), 0.5)
    # square pixels: the crop keeps the full width of an image whose vertical fov is 12 degrees
    assert math.isclose(k[0, 0].item(), focal * 24 / 16, rel_tol=1e-6) and math.isclose(k[0, 2].item(), 0.5)
    # an off-centre principal point moves by the rows cut off the top: (0.3 * 24 - 4) / 16
    cam = Camera.from_angles(0.0, 0.0, dtype=torch.float64).to_eg3d()[0].numpy()
    cam[16 + 5] = 0.3
    out = crop_camera(cam, 16, 24, (0, 4, 16, 20)).reshape(-1)[16:].reshape(3, 3)
    assert math.isclose(out[1, 2], (0.3 * 24 - 4) / 16) and math.isclose(out[0, 2], cam[16 + 2])
