"""Mirror augmentation against answers made by hand: the flip draw is SplitMix64 (Vigna's reference outputs) chained
over (seed, index, epoch, tag), reproducible and mirrored at a rate of one half; a mirrored item is the image, depth
and mask flipped left-right with the pose reflected by diag(-1, 1, 1) and the principal point at 1 - cx; 8-bit
quantisation is the nearest of the 256 levels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo3d.data.augment import _splitmix64, mirror_flag, mirror_item, quantize_8bit, stable_hash

#: the first outputs of Vigna's splitmix64.c from the state 0 (each call adds the golden gamma to the state)
SPLITMIX64_FROM_ZERO = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC]
GAMMA = 0x9E3779B97F4A7C15


def _mix_by_hand(state: int) -> int:
    """One SplitMix64 output from ``state`` in NumPy's wrapping uint64 arithmetic."""
    with np.errstate(over="ignore"):
        z = np.uint64(state) + np.uint64(GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return int(z ^ (z >> np.uint64(31)))


def _hash_by_hand(*values: int) -> int:
    h = 0x2545F4914F6CDD1D
    for v in values:
        h = _mix_by_hand(h ^ (v % 2**64))     # a negative value as its two's complement
    return h >> 1


def test_splitmix64_gives_the_reference_sequence():
    state = 0
    for expected in SPLITMIX64_FROM_ZERO:
        assert _splitmix64(state) == expected == _mix_by_hand(state)
        state = (state + GAMMA) % 2**64
    for x in (1, 2**63, 2**64 - 1, 0x0123456789ABCDEF):
        assert _splitmix64(x) == _mix_by_hand(x)


def test_stable_hash_chains_splitmix64_over_the_values_and_keeps_63_bits():
    for values in [(0,), (7, 3), (0, 0, 0, 0x4D49), (123456, 98765, 4, 0x4D49), (-1, 5), (2**64 + 3, 1)]:
        h = stable_hash(*values)
        assert h == _hash_by_hand(*values) and 0 <= h < 2**63
    assert stable_hash() == 0x2545F4914F6CDD1D >> 1
    assert stable_hash(-1) == stable_hash(2**64 - 1) and stable_hash(5) != stable_hash(6)


def test_the_flip_is_the_lowest_bit_of_the_hash_of_seed_index_epoch_and_the_mirror_tag():
    for seed, index, epoch in [(0, 0, 0), (0, 1, 0), (1, 0, 0), (0, 0, 1), (42, 1000, 7), (-3, 5, 2)]:
        assert all(mirror_flag(seed, index + i, epoch) == bool(_hash_by_hand(seed, index + i, epoch, 0x4D49) & 1)
                   for i in range(64))


def test_the_flip_is_reproducible_and_mirrors_half_the_items_independently_per_epoch_and_seed():
    n = 4000
    a = np.array([mirror_flag(0, i, 0) for i in range(n)])
    assert np.array_equal(a, [mirror_flag(0, i, 0) for i in range(n)])  # the same draw every time it is asked
    b = np.array([mirror_flag(0, i, 1) for i in range(n)])
    c = np.array([mirror_flag(1, i, 0) for i in range(n)])
    # a fair coin: 4000 draws land within 0.5 +- 0.03 (four standard deviations), and so do the agreements
    for flips in (a, b, c):
        assert abs(flips.mean() - 0.5) < 0.03
    assert abs((a == b).mean() - 0.5) < 0.03 and abs((a == c).mean() - 0.5) < 0.03
    runs = np.count_nonzero(a[1:] != a[:-1])                  # no alternation or long streaks either
    assert abs(runs / (n - 1) - 0.5) < 0.03


def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _item(seed: int = 0) -> dict:
    cam2world = np.eye(4)
    cam2world[:3, :3] = _rotation(seed)
    cam2world[:3, 3] = [0.4, -0.3, 2.5]
    k = np.array([[2.1, 0.0, 0.46], [0.0, 2.3, 0.53], [0.0, 0.0, 1.0]])
    camera = torch.tensor(np.concatenate([cam2world.reshape(-1), k.reshape(-1)]))
    g = torch.Generator().manual_seed(seed)
    return {"image": torch.rand(3, 5, 7, generator=g), "depth": torch.rand(1, 5, 7, generator=g),
            "mask": (torch.rand(1, 5, 7, generator=g) > 0.5).float(), "camera": camera, "index": 11}


def _project(cam2world: np.ndarray, intrinsics: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Normalised (u, v) of a world point: into the OpenCV camera frame, through the intrinsics, divided by depth."""
    uvw = intrinsics @ (cam2world[:3, :3].T @ (point - cam2world[:3, 3]))
    return uvw[:2] / uvw[2]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_mirrored_item_is_the_image_depth_and_mask_flipped_with_the_pose_reflected_by_hand(seed):
    item = _item(seed)
    kept = {key: value.clone() if torch.is_tensor(value) else value for key, value in item.items()}
    mirrored = mirror_item(item)
    for key in ("image", "depth", "mask"):
        assert np.array_equal(mirrored[key].numpy(), item[key].numpy()[..., ::-1]), key
    assert mirrored["index"] == 11 and set(mirrored) == set(item)
    assert all(torch.equal(item[k], kept[k]) if torch.is_tensor(kept[k]) else item[k] == kept[k] for k in kept)
    bare = mirror_item({"image": item["image"], "camera": item["camera"], "depth": None, "mask": [1, 2]})
    assert bare["depth"] is None and bare["mask"] == [1, 2]  # only tensors are flipped
    # the pose: the world mirrored in x = 0 and the camera's x axis with it, F C F with F = diag(-1, 1, 1)
    out = mirrored["camera"].numpy()
    c = item["camera"].numpy()[:16].reshape(4, 4)
    k = item["camera"].numpy()[16:].reshape(3, 3)
    f = np.diag([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(out[:16].reshape(4, 4)[:3, :3], f @ c[:3, :3] @ f, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out[:16].reshape(4, 4)[:3, 3], f @ c[:3, 3], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out[:16].reshape(4, 4)[3], [0, 0, 0, 1], rtol=0, atol=0)
    k_mirrored = k.copy()
    k_mirrored[0, 2] = 1 - k[0, 2]
    np.testing.assert_allclose(out[16:].reshape(3, 3), k_mirrored, rtol=0, atol=1e-12)
    # a world point seen at (u, v) is seen mirrored, at (1 - u, v), by the mirrored camera
    point = c[:3, 3] + c[:3, :3] @ np.array([0.3, -0.2, 2.0])
    u, v = _project(c, k, point)
    u2, v2 = _project(out[:16].reshape(4, 4), out[16:].reshape(3, 3), f @ point)
    np.testing.assert_allclose([u2, v2], [1 - u, v], rtol=0, atol=1e-12)


def test_quantize_8bit_is_the_nearest_of_the_256_levels_of_the_clipped_image():
    x = torch.linspace(-1.3, 1.3, 2001, dtype=torch.float64)
    expected = np.rint((np.clip(x.numpy(), -1, 1) + 1) * 127.5) / 127.5 - 1
    got = quantize_8bit(x)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)
    levels = np.rint((got.numpy() + 1) * 127.5)
    assert np.allclose((got.numpy() + 1) * 127.5, levels, atol=1e-9) and len(np.unique(levels)) == 256
    assert got.min().item() == -1 and got.max().item() == 1
    on_level = torch.arange(256, dtype=torch.float32) / 127.5 - 1          # already 8-bit: unchanged
    np.testing.assert_allclose(quantize_8bit(on_level).numpy(), on_level.numpy(), rtol=0, atol=1e-6)
