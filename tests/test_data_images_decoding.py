"""Dataset image decoding against answers made by hand: the upright pixels of every EXIF orientation, grey, palette
and alpha images as RGB, the centre crop's box and the principal point it implies (pixel intrinsics shifted by the
crop and normalised again), no resampling at the training size, and the 8-bit levels mapped to [-1, 1]."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from zoo3d.data.images import crop_box, crop_camera, decode_image, square_pixels, to_rgb


def _levels(image: torch.Tensor) -> np.ndarray:
    """(3, R, R) in [-1, 1] -> (R, R, 3) 8-bit levels."""
    return np.rint((image.permute(1, 2, 0).numpy().astype(np.float64) + 1.0) * 127.5).astype(np.int64)


def _pattern(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.uint8)


# ------------------------------------------------------------------------------------------------ [-1, 1] range


def test_every_8_bit_level_decodes_to_level_over_127_5_minus_1_unresampled_at_the_training_size(tmp_path):
    levels = np.arange(256).reshape(16, 16)
    arr = np.stack([levels, levels.T, 255 - levels], -1).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "all.png")
    image, size, box = decode_image(tmp_path / "all.png", 16, crop="none")
    assert size == (16, 16) and box == (0, 0, 16, 16) and image.dtype == torch.float32
    expected = (arr.astype(np.float64) / 127.5 - 1.0).transpose(2, 0, 1)
    np.testing.assert_allclose(image.double().numpy(), expected, rtol=0, atol=1e-7)
    assert image.min().item() == -1.0 and image.max().item() == 1.0
    for resize in ("lanczos", "bicubic", "bilinear", "area"):  # at the training size no filter touches a pixel
        assert np.array_equal(_levels(decode_image(tmp_path / "all.png", 16, crop="none", resize=resize)[0]), arr)


# ------------------------------------------------------------------------------------------------------- crop


@pytest.mark.parametrize("width, height, box", [(30, 20, (5, 0, 25, 20)), (31, 20, (5, 0, 25, 20)),
                                                (20, 33, (0, 6, 20, 26)), (7, 7, (0, 0, 7, 7))])
def test_the_centre_crop_is_the_middle_square_rounded_towards_the_top_left(width, height, box):
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2   # 11 spare columns: 5 cut on the left, 6 on the right
    assert crop_box(width, height, "center") == (left, top, left + side, top + side) == box


def test_crop_none_keeps_a_square_whole_and_refuses_any_other_shape(tmp_path):
    assert crop_box(9, 9, "none") == (0, 0, 9, 9)
    with pytest.raises(ValueError, match=r"^image is 10x9; crop 'none' needs square images \(use crop 'center'\)$"):
        crop_box(10, 9, "none")
    Image.fromarray(_pattern(8, 12)).save(tmp_path / "wide.png")
    with pytest.raises(ValueError, match="image is 12x8"):
        decode_image(tmp_path / "wide.png", 8, crop="none")


@pytest.mark.parametrize("width, height", [(24, 16), (16, 24), (25, 16)])
def test_a_decoded_non_square_image_is_its_centre_square(tmp_path, width, height):
    arr = _pattern(height, width, seed=width)
    Image.fromarray(arr).save(tmp_path / "a.png")
    image, size, box = decode_image(tmp_path / "a.png", 16)
    left, top = (width - 16) // 2, (height - 16) // 2
    assert size == (width, height) and box == (left, top, left + 16, top + 16)
    assert np.array_equal(_levels(image), arr[top:top + 16, left:left + 16])


def _camera(fx, skew, cx, fy, cy) -> np.ndarray:
    cam2world = np.eye(4)
    cam2world[:3, 3] = [0.3, -0.2, 2.7]
    return np.concatenate([cam2world.reshape(-1), [fx, skew, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]])


@pytest.mark.parametrize("width, height, box", [(30, 20, (5, 0, 25, 20)), (20, 33, (0, 6, 20, 26)),
                                                (40, 40, (4, 6, 24, 26)), (16, 16, (0, 0, 16, 16))])
def test_the_cropped_camera_is_the_pixel_intrinsics_shifted_by_the_crop_and_normalised_again(width, height, box):
    cam = _camera(1.9, 0.05, 0.47, 2.3, 0.55)
    left, top, right, bottom = box
    k = cam[16:].reshape(3, 3)
    pixels = np.diag([width, height, 1.0]) @ k                # normalised -> pixels of the whole image
    shift = np.array([[1.0, 0, -left], [0, 1.0, -top], [0, 0, 1.0]])
    expected = np.diag([1 / (right - left), 1 / (bottom - top), 1.0]) @ shift @ pixels
    before = cam.copy()
    out = crop_camera(cam, width, height, box)
    np.testing.assert_allclose(out[16:].reshape(3, 3), expected, rtol=0, atol=1e-12)
    assert np.array_equal(out[:16], cam[:16]) and np.array_equal(cam, before)  # the pose kept, the input untouched
    # a point the whole image shows at pixel (u W, v H) shows in the crop at (u W - left, v H - top)
    point = np.array([0.2, -0.1, 1.0])
    u, v, w = k @ point
    u2, v2, w2 = out[16:].reshape(3, 3) @ point
    assert np.allclose([u2 / w2 * (right - left), v2 / w2 * (bottom - top)],
                       [u / w * width - left, v / w * height - top], atol=1e-12)


def test_a_float32_camera_is_cropped_in_float64():
    cam = _camera(1.9, 0.05, 0.47, 2.3, 0.55).astype(np.float32)
    out = crop_camera(cam, 30, 20, (5, 0, 25, 20))
    k = cam[16:].astype(np.float64).reshape(3, 3)
    assert out.dtype == np.float64
    assert out[16 + 2] == (k[0, 2] * 30 - 5) / 20 and out[16] == k[0, 0] * 30 / 20  # no float32 rounding


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_square_pixels_is_fy_times_height_over_width_in_float64_and_leaves_its_camera_alone(dtype):
    # fx / W = fy / H in pixels; a float64 camera is not changed in place (a record's camera is fitted on every read)
    cam = _camera(1.9, 0.05, 0.47, 2.3, 0.55).astype(dtype)
    before = cam.copy()
    out = square_pixels(cam, 30, 20)
    assert np.array_equal(cam, before)
    assert out.dtype == np.float64 and out[16] == np.float64(cam[20]) * 20 / 30  # no float32 rounding
    assert np.array_equal(np.delete(out, 16), np.delete(cam, 16).astype(np.float64))


# ------------------------------------------------------------------------------------------------------- EXIF


#: EXIF orientation -> the upright image from the stored one (the EXIF 2.3 table: how the stored rows display)
UPRIGHT = {
    1: lambda s: s,
    2: lambda s: s[:, ::-1],                 # mirrored left-right
    3: lambda s: s[::-1, ::-1],              # rotated 180
    4: lambda s: s[::-1],                    # mirrored top-bottom
    5: lambda s: s.transpose(1, 0, 2),       # transposed
    6: lambda s: np.rot90(s, k=-1),          # rotated 90 clockwise to display
    7: lambda s: s[::-1, ::-1].transpose(1, 0, 2),
    8: lambda s: np.rot90(s, k=1),           # rotated 90 counter-clockwise to display
}


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_every_exif_orientation_decodes_to_the_upright_pixels(tmp_path, orientation):
    stored = _pattern(6, 10, seed=orientation)              # stored 10 wide, 6 tall
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "photo.png", exif=exif)
    upright = UPRIGHT[orientation](stored)
    h, w = upright.shape[:2]
    image, size, box = decode_image(tmp_path / "photo.png", 6)
    side = min(h, w)
    left, top = (w - side) // 2, (h - side) // 2
    assert size == (w, h) and box == (left, top, left + side, top + side)
    assert np.array_equal(_levels(image), upright[top:top + side, left:left + side])


# --------------------------------------------------------------------------------------------- modes -> RGB


def _palette_image() -> tuple[Image.Image, np.ndarray]:
    palette = np.array([[255, 0, 0], [0, 128, 255], [17, 200, 3], [250, 250, 250]], dtype=np.uint8)
    index = np.random.default_rng(3).integers(0, 4, (6, 6)).astype(np.uint8)
    img = Image.fromarray(index, mode="P")
    img.putpalette(palette.reshape(-1).tolist() + [0] * (768 - 12))
    return img, palette[index]


def test_grey_palette_and_alpha_images_decode_to_rgb_and_an_rgb_image_is_kept_as_it_is(tmp_path):
    rgb = _pattern(6, 6, seed=5)
    alpha = np.zeros((6, 6), dtype=np.uint8)                # fully transparent: the colours must stay as stored
    alpha[0, 0] = 255
    grey = np.repeat(rgb[..., :1], 3, -1)
    palette, palette_rgb = _palette_image()
    cases = {"L": (Image.fromarray(rgb[..., 0], mode="L"), grey),               # grey repeated
             "P": (palette, palette_rgb),                                        # the palette's colours
             "RGBA": (Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA"), rgb),  # alpha dropped, not composited
             "LA": (Image.fromarray(np.dstack([rgb[..., 0], alpha]), mode="LA"), grey)}
    for mode, (img, expected) in cases.items():
        img.save(tmp_path / f"{mode}.png")
        with Image.open(tmp_path / f"{mode}.png") as back:
            assert back.mode == mode
        assert np.array_equal(_levels(decode_image(tmp_path / f"{mode}.png", 6)[0]), expected), mode
    img = Image.fromarray(rgb)
    assert to_rgb(img) is img


def test_32_bit_grey_is_read_as_16_bit_levels_scaled_by_257_and_clipped():
    values = np.array([[0, 128, 129, 385], [65535, 70000, -300, 25700]], dtype=np.int32)
    rgb = to_rgb(Image.fromarray(values, mode="I"))
    expected = np.clip(np.floor(values / 257 + 0.5), 0, 255)  # 128/257 < 0.5 -> 0, 129/257 > 0.5 -> 1, 385 -> 1.498
    assert rgb.mode == "RGB" and np.array_equal(np.asarray(rgb)[..., 1], expected)
    assert np.asarray(rgb)[0, :, 0].tolist() == [0, 0, 1, 1] and np.asarray(rgb)[1, :, 2].tolist() == [255, 255, 0, 100]
