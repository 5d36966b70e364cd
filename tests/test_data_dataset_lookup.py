"""``--data SPEC`` lookup (docs/data.md): a registered dataset gets the whole call with the text after '?', a folder
gets the config's crop, resize, mirror and the seed, and an unknown name lists the registered ones."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from PIL import Image

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.config import DataConfig
from zoo3d.data import build_dataset, check_spec
from zoo3d.errors import UserError
from zoo3d.plugins import get_host, reset_host

RECORDER = '''
from zoo3d import hookimpl
from zoo3d.specs import DatasetSpec

CALLS = []


def record(cfg, resolution, query="", camera_prior=None, seed=0):
    CALLS.append((cfg, resolution, query, camera_prior, seed))
    return ["built"]


@hookimpl
def zoo3d_register_datasets(register):
    register(DatasetSpec(name="recorder", factory="lookup_recorder:record"))
    register(DatasetSpec(name="another", factory="lookup_recorder:record"))
'''


@pytest.fixture
def recorder(tmp_path, monkeypatch):
    (tmp_path / "lookup_recorder.py").write_text(textwrap.dedent(RECORDER))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", "lookup_recorder")
    reset_host()
    import lookup_recorder

    lookup_recorder.CALLS.clear()
    return lookup_recorder.CALLS


def _camera():
    return Camera.from_angles(0.1, 0.05).to_eg3d()[0].double().tolist()


def test_a_registered_dataset_is_called_with_the_config_the_options_the_prior_and_the_seed(recorder):
    cfg, prior = DataConfig(spec="recorder?count=5&seed=2"), CameraPrior(yaw_std=0.2)
    assert build_dataset(cfg, 24, camera_prior=prior, seed=9) == ["built"]
    assert len(recorder) == 1
    got_cfg, resolution, query, got_prior, seed = recorder[0]
    assert got_cfg is cfg and resolution == 24 and query == "count=5&seed=2" and got_prior is prior and seed == 9
    build_dataset(cfg, 8)  # seed 0 and no camera prior unless given
    assert recorder[1][1:] == (8, "count=5&seed=2", None, 0)
    check_spec("recorder?count=5")  # a registered name is not a path to check
    assert len(recorder) == 2  # ... and is not built to be checked either


def test_an_unknown_spec_lists_the_registered_datasets_or_says_none(recorder, tmp_path, monkeypatch):
    spec = str(tmp_path / "no_such_folder")
    with pytest.raises(UserError) as err:
        build_dataset(DataConfig(spec=spec), 16)
    assert [s.name for s in get_host().datasets] == ["another", "recorder", "synthetic:heads"]
    assert str(err.value) == (f"Dataset '{spec}' is neither a registered dataset (another, recorder, synthetic:heads) "
                              "nor an existing folder or zip.")
    monkeypatch.delenv("ZOO3D_PLUGINS")
    monkeypatch.setenv("ZOO3D_DISABLE_PLUGINS", "datasets")  # the built-in synthetic:heads too
    reset_host()
    with pytest.raises(UserError) as err:
        check_spec(spec)
    assert str(err.value) == f"Dataset '{spec}' is neither a registered dataset (none) nor an existing folder or zip."


def test_check_spec_refuses_a_folder_without_a_usable_image_with_its_report(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [["a.png", [float("nan")] * 25]]}))
    with pytest.raises(UserError) as err:
        check_spec(str(tmp_path))
    assert str(err.value).startswith(f"Dataset '{tmp_path}' cannot be used: it holds no usable posed image.\n")
    assert "a.png: pose has NaN or infinite values" in str(err.value)
    (tmp_path / "b.png").write_bytes((tmp_path / "a.png").read_bytes())
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [["a.png", [float("nan")] * 25],
                                                                  ["b.png", _camera()]]}))
    assert check_spec(str(tmp_path)) is None  # one usable image is enough


def _blocks(pixels: np.ndarray, k: int) -> np.ndarray:
    """Area resize by an integer factor: the mean of each k x k block, as 8-bit levels in [-1, 1]."""
    h, w, c = pixels.shape
    mean = pixels.reshape(h // k, k, w // k, k, c).mean((1, 3))
    return np.floor(mean + 0.5) / 127.5 - 1


def test_a_folder_is_built_with_the_configs_crop_and_resize(tmp_path):
    rng = np.random.default_rng(0)
    wide = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)  # 24 wide, 16 high
    square = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(square).save(tmp_path / "square.png")
    Image.fromarray(wide).save(tmp_path / "wide.png")
    labels = [["square.png", _camera()], ["wide.png", _camera()]]
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))

    area = build_dataset(DataConfig(spec=str(tmp_path), resize="area", mirror=False), 8)
    centre = area[1]["image"].permute(1, 2, 0).numpy()
    assert np.abs(centre - _blocks(wide[:, 4:20].astype(float), 2)).max() < 1.5 / 127.5  # the centred square
    first = area[0]["image"].permute(1, 2, 0).numpy()
    assert np.abs(first - _blocks(square.astype(float), 2)).max() < 1.5 / 127.5
    lanczos = build_dataset(DataConfig(spec=str(tmp_path), mirror=False), 8)[0]["image"].permute(1, 2, 0).numpy()
    assert np.abs(lanczos - first).max() > 10 / 127.5  # the default filter is another one

    square_only = build_dataset(DataConfig(spec=str(tmp_path), crop="none", mirror=False), 8)
    assert square_only[1]["index"] == 0 and list(square_only.skipped) == ["wide.png"]  # training skips it


def test_a_folder_is_mirrored_by_the_given_seed(tmp_path):
    labels = []
    for i in range(16):
        Image.fromarray(np.full((8, 8, 3), 10 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
        labels.append([f"{i}.png", Camera.from_angles(0.02 * i, 0.0).to_eg3d()[0].double().tolist()])
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))

    def flags(seed, mirror=True):
        ds = build_dataset(DataConfig(spec=str(tmp_path), mirror=mirror), 8, seed=seed)
        return [bool(ds[i]["mirrored"]) for i in range(16)], ds

    seven, ds = flags(7)
    zero, _ = flags(0)
    assert seven != zero and 0 < sum(seven) < 16  # the seed decides which items are flipped
    assert flags(7)[0] == seven and flags(7, mirror=False)[0] == [False] * 16
    flipped = seven.index(True)  # a flipped item's camera has its yaw negated
    yaw = Camera.from_eg3d(ds[flipped]["camera"][None].double()).to_angles()["yaw"].item()
    assert yaw == pytest.approx(-0.02 * flipped, abs=1e-5)
