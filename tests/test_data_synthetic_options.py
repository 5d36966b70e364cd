"""``synthetic:heads`` as docs/data.md states it: each option, the limits, the keep-what-was-rendered cache, and the
data not depending on the run (the run's seed only mirrors; a model's camera prior never moves the poses)."""

import math

import pytest
import torch

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.config import DataConfig
from zoo3d.data.augment import mirror_flag
from zoo3d.data.synthetic import SyntheticHeads, build_synthetic_heads, instance_params_and_camera
from zoo3d.errors import UserError


def _build(query, cfg=None, **kw):
    return build_synthetic_heads(cfg or DataConfig(mirror=False), 8, query=query, **kw)


def _counting_renders(monkeypatch, ds):
    calls, render = [], ds.render
    monkeypatch.setattr(ds, "render", lambda indices: calls.append(list(indices)) or render(indices))
    return calls


def test_resolution_and_count_limits_are_the_documented_ones():
    for resolution in (8, 4096):
        assert SyntheticHeads(resolution, count=1).resolution == resolution
    for resolution in (7, 4097):
        with pytest.raises(UserError, match="between 8 and 4096"):
            SyntheticHeads(resolution)
    with pytest.raises(UserError, match="count must be at least 1, got 0"):
        SyntheticHeads(8, count=0)
    assert len(_build("count=3")) == 3 and len(_build("")) == 10_000  # the documented default


def test_an_index_outside_the_set_is_an_index_error_on_every_path():
    ds = SyntheticHeads(8, count=3, block=2)
    for bad in (-1, 3):
        with pytest.raises(IndexError):
            ds[bad]
        with pytest.raises(IndexError):
            ds.__getitems__([0, bad])
        with pytest.raises(IndexError):
            ds.prefetch([bad])
    assert ds[2]["index"] == 2 and ds.__getitems__([0])[0]["index"] == 0


def test_seed_option_draws_instance_i_from_a_generator_seeded_by_seed_and_i():
    """An item's head and camera depend on (seed, i) only: not on the order, the batch or the other items."""
    forward = instance_params_and_camera(4, [0, 1, 2])
    backward = instance_params_and_camera(4, [2, 1, 0])
    alone = instance_params_and_camera(4, [1])
    assert torch.equal(forward[0].geometry, backward[0].geometry.flip(0))
    assert torch.equal(forward[1].to_eg3d()[1], alone[1].to_eg3d()[0])
    assert torch.equal(forward[0].noise_freq[1], alone[0].noise_freq[0])
    other = instance_params_and_camera(5, [1])
    assert not torch.equal(other[0].geometry, alone[0].geometry) 
    assert not torch.equal(other[1].to_eg3d(), alone[1].to_eg3d())
    ds = _build("count=3&seed=4&cache=0")
    assert torch.equal(ds[1]["camera"], alone[1].to_eg3d()[0])


def test_pose_spread_options_set_the_prior_and_bad_ones_are_refused():
    frontal = _build("count=4&yaw_std=0&pitch_std=0")
    angles = Camera.from_eg3d(frontal.render(range(4))["camera"]).to_angles()
    assert torch.allclose(angles["yaw"], torch.zeros(4), atol=1e-6)
    assert torch.allclose(angles["pitch"], torch.zeros(4), atol=1e-6)
    assert torch.allclose(angles["radius"], torch.ones(4), atol=1e-6)
    assert torch.allclose(angles["fov"], torch.full((4,), 12.0), atol=1e-4)
    for query in ("yaw_std=-0.1", "pitch_std=nan", "yaw_std=inf"):
        with pytest.raises(UserError, match=rf"'{query}' for synthetic:heads must be a finite angle of 0 or more"):
            _build(query)


def test_poses_follow_the_stated_gaussian_prior_by_default_and_with_the_spread_options():
    """yaw ~ N(0, 0.3), pitch ~ N(0, 0.155), or the stds given: 500 seeded draws, within ~4 standard errors."""
    for query, yaw_std, pitch_std in (("", 0.3, 0.155), ("yaw_std=0.6&pitch_std=0.05", 0.6, 0.05)):
        _, cams = instance_params_and_camera(0, range(500), _build(query).camera_prior)
        a = cams.to_angles()
        for name, std in (("yaw", yaw_std), ("pitch", pitch_std)):
            assert abs(a[name].mean().item()) < 4 * std / 500 ** 0.5, (query, name)
            assert abs(a[name].std().item() - std) < 4 * std / 1000 ** 0.5, (query, name)
        assert bool((a["yaw"].abs() > 2.5 * yaw_std).any())  # Gaussian tails, not a clipped or uniform spread


def test_unknown_options_and_devices_are_refused_in_one_sentence():
    with pytest.raises(UserError, match="Unknown option 'colour' for synthetic:heads; valid options: count, seed"):
        _build("colour=red")
    with pytest.raises(UserError, match="'block=x' for synthetic:heads is not a valid int"):
        _build("block=x")
    with pytest.raises(UserError, match="'yaw_std=wide' for synthetic:heads is not a valid float"):
        _build("yaw_std=wide")
    with pytest.raises(UserError, match="Unknown device 'abacus'"):
        _build("device=abacus")
    assert _build("device=cpu").device == torch.device("cpu")


def test_cache_follows_the_data_config_unless_the_option_says_otherwise():
    assert _build("", DataConfig(cache=True)).cache is True
    assert _build("", DataConfig(cache=False)).cache is False
    assert _build("cache=off", DataConfig(cache=True)).cache is False
    assert _build("cache=on", DataConfig(cache=False)).cache is True


def test_the_run_seed_only_chooses_the_mirrored_items_and_the_model_prior_never_moves_the_poses():
    cfg = DataConfig(mirror=True)
    a = _build("count=40&seed=2&block=40", cfg, seed=0).__getitems__(range(40))
    b_ds = _build("count=40&seed=2&block=40", cfg, seed=1, camera_prior=CameraPrior(yaw_std=1.2, fov=30.0))
    b = b_ds.__getitems__(range(40))
    assert b_ds.camera_prior == CameraPrior()
    assert [item["mirrored"] for item in a] == [mirror_flag(0, i, 0) for i in range(40)]
    assert [item["mirrored"] for item in b] == [mirror_flag(1, i, 0) for i in range(40)]
    same = [i for i in range(40) if not mirror_flag(0, i, 0) and not mirror_flag(1, i, 0)]
    assert same
    for i in same:
        assert torch.equal(a[i]["image"], b[i]["image"]) and torch.equal(a[i]["camera"], b[i]["camera"])
    # without a run seed the dataset's own seed decides
    own = SyntheticHeads(8, count=40, seed=2, mirror=True, block=40)
    assert [item["mirrored"] for item in own.__getitems__(range(40))] == [mirror_flag(2, i, 0) for i in range(40)]
    own.set_epoch(3)
    assert [item["mirrored"] for item in own.__getitems__(range(40))] == [mirror_flag(2, i, 3) for i in range(40)]
    assert not _build("count=4", DataConfig(mirror=False)).mirror


def test_block_option_sets_the_single_read_render_and_the_prefetch_size(monkeypatch):
    ds = _build("count=10&block=4")
    assert ds.prefetch_items == 4
    calls = _counting_renders(monkeypatch, ds)
    ds[5]  # the rest of its block 4-7
    ds[9]  # the last, short block 8-9
    assert calls == [[4, 5, 6, 7], [8, 9]]
    ds.prefetch([0, 5, 1, 2, 3, 9])  # only what is not kept, in calls of at most 4
    assert calls[2:] == [[0, 1, 2, 3]]
    one = _build("count=4&block=0")  # a block of 0 is a block of 1
    calls = _counting_renders(monkeypatch, one)
    one[2]
    assert calls == [[2]] and one.prefetch_items == 1
    uncached = _build("count=4&cache=0")
    calls = _counting_renders(monkeypatch, uncached)
    uncached.prefetch([0, 1])  # nothing is kept, so nothing to render ahead
    assert calls == []


def test_the_cache_keeps_at_least_a_block_and_drops_the_least_recently_used():
    ds = _build("count=8&block=2&cache_mb=0")  # no room: one block's worth stays
    ds[0]
    assert list(ds._items) == [1, 0]  # the block, then the item read: the most recently used last
    ds.__getitems__([0])
    ds.__getitems__([4])
    assert list(ds._items) == [0, 4]
    roomy = _build("count=8&block=2&cache_mb=1")  # 1 MiB holds every 8-pixel item
    for i in range(8):
        roomy[i]
    assert sorted(roomy._items) == list(range(8))
    assert roomy.cache_bytes == 2 ** 20


def test_a_kept_item_is_the_rendered_image_on_8_bit_levels_with_its_depth_and_mask():
    ds = _build("count=2&seed=3")
    fresh = _build("count=2&seed=3&cache=0")
    kept, made = ds[1], fresh[1]
    levels = (kept["image"] + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    assert torch.allclose(kept["image"], made["image"], atol=1e-6)  # both on the same 8-bit levels
    assert torch.equal(kept["mask"], made["mask"]) and torch.equal(kept["depth"], made["depth"])
    assert kept["image"].dtype == kept["depth"].dtype == kept["mask"].dtype == torch.float32
    assert set(kept) == {"image", "camera", "depth", "mask", "index", "mirrored"}
    assert kept["index"] == 1 and kept["mirrored"] is False
    assert float(kept["image"].min()) >= -1 and float(kept["image"].max()) <= 1
    assert math.isfinite(float(kept["depth"].sum()))


def test_a_blank_option_is_refused_and_the_factory_defaults_are_the_documented_ones():
    """``count=`` is a count of nothing, not the default; called with its defaults the factory gives the documented
    set (10000 heads, cached, not mirrored without ``data.mirror``, mirrored by seed 0 with it)."""
    with pytest.raises(UserError, match="'count=' for synthetic:heads is not a valid int"):
        _build("count=")
    from types import SimpleNamespace

    bare = build_synthetic_heads(SimpleNamespace(spec="synthetic:heads"), 8)  # a config with neither field
    assert len(bare) == 10_000 and bare.cache is True and bare.mirror is False and bare.seed == 0
    mirrored = build_synthetic_heads(DataConfig(mirror=True), 8, query="count=40&block=40")
    assert [item["mirrored"] for item in mirrored.__getitems__(range(40))] == [mirror_flag(0, i, 0) for i in range(40)]


def test_cache_mb_bounds_the_bytes_of_the_kept_items_8_bit_images_and_float_depth(monkeypatch):
    """Each kept item costs 3 R^2 bytes of image and R^2 of mask (8 bits), 4 R^2 of float depth and 100 of camera:
    at R = 128 one MiB holds 7 of them (3 with float images; all ten read here if elements were counted as bytes)."""
    r = 128
    ds = _build("count=12&block=1&cache_mb=1")
    ds.resolution = r

    def stub(indices):  # the render's shapes and types, without rendering
        n = len(indices)
        return {"image": torch.zeros(n, 3, r, r), "depth": torch.ones(n, 1, r, r), "mask": torch.ones(n, 1, r, r),
                "camera": torch.zeros(n, 25)}

    monkeypatch.setattr(ds, "render", stub)
    for i in range(10):
        ds[i]
    per_item = 3 * r * r + r * r + 4 * r * r + 100
    assert list(ds._items) == [3, 4, 5, 6, 7, 8, 9] == list(range(10 - 2 ** 20 // per_item, 10))
    kept = ds._items[9]
    assert kept["image"].dtype == kept["mask"].dtype == torch.uint8 and kept["depth"].dtype == torch.float32
    with pytest.raises(IndexError, match="^12$"):
        ds[12]
