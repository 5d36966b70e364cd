"""The camera-label scene check of a camera-conditioned discriminator (zoo3d.train.gan.check_label_scene) runs over
the whole dataset's cameras before a new run's folder exists: a refused command leaves nothing behind, so the same
command is refused again for its data (not as a folder that "already holds a run"), and the data is judged by the
mean of all its cameras, not by its first batch's 2-8."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eg3d_posed import refused_before_a_checkpoint
from test_gram_inverter_discriminator import SG2
from test_gram_inverter_model import MICRO as GI_MICRO, micro_config
from test_triplane_label_scene import MICRO as TP_MICRO, PRESETS, _first_step

from zoo3d.cameras import Camera
from zoo3d.config import DataConfig, load_run_config
from zoo3d.core.model import RealBatch
from zoo3d.data import build_dataset
from zoo3d.data.synthetic import SyntheticHeads
from zoo3d.errors import UserError
from zoo3d.train.data import CAMERA_PROBES, dataset_cameras
from zoo3d_triplane.config import TriplaneConfig
from zoo3d_triplane.model import TriplaneModel, real_dual_sample, render_fakes

pytestmark = pytest.mark.usefixtures("single_thread")


def write_posed_folder(root: Path, radii: list[float], fov: float = 12.0, sizes=None) -> Path:
    """One PNG per radius (16x16 unless ``sizes`` gives (width, height)) and a poses.json placing each camera
    ``radius`` from the origin with a ``fov`` deg vertical field of view."""
    root.mkdir(parents=True)
    frames = []
    for i, radius in enumerate(radii):
        width, height = sizes[i] if sizes else (16, 16)
        Image.fromarray(np.full((height, width, 3), 30 * i % 255, np.uint8)).save(root / f"{i}.png")
        frames.append({"file": f"{i}.png", "yaw": 0.1 * (i % 3 - 1), "pitch": 0.05, "radius": radius, "fov": fov})
    (root / "poses.json").write_text(json.dumps({"frames": frames}))
    return root


def _triplane_check(data: Path) -> None:
    plugin = TriplaneModel()
    cfg = load_run_config(TriplaneConfig, "triplane", PRESETS, "tiny", overrides=[*TP_MICRO, f"data.spec={data}"])
    plugin.check_new_run(cfg, plugin.build(cfg))


def _gram_inverter_check(data: Path) -> None:
    plugin, cfg = micro_config(*SG2, f"data.spec={data}")
    plugin.check_new_run(cfg, plugin.build(cfg))


CHECKS = pytest.mark.parametrize("check", [_triplane_check, _gram_inverter_check], ids=["triplane", "gram_inverter"])


@pytest.mark.parametrize("model, micro", [("triplane", TP_MICRO), ("gram_inverter", [*GI_MICRO[1:], *SG2])],
                         ids=["triplane", "gram_inverter"])
def test_the_same_command_after_a_refusal_is_refused_for_its_data_not_for_a_run_folder(tmp_path, capsys, model,
                                                                                         micro):
    data = write_posed_folder(tmp_path / "far", [2.7] * 4)
    run = tmp_path / "run"
    args = ["train", model, "--preset", "tiny", "--data", str(data), "--steps", "1", "--out", str(run), "--quiet",
            "--device", "cpu"]
    for s in micro:
        args += ["--set", s]
    for attempt in range(2):
        err = refused_before_a_checkpoint(capsys, args, run)
        assert "the data's cameras sit at radius 2.7 with a 12 deg field of view" in err, (attempt, err)
        assert "already holds a run" not in err
        assert not run.exists()


@CHECKS
def test_the_data_is_judged_by_the_mean_distance_of_all_its_cameras(tmp_path, check):
    """Two of three cameras at 0.8 and one at 1.5: every batch of two lies a tenth or more off radius 1 (0.8 or
    1.15), the whole data does not (1.033); one at 0.8 and two at 1.5 lie 1.267 away on average."""
    check(write_posed_folder(tmp_path / "near", [0.8, 0.8, 1.5]))
    with pytest.raises(UserError) as err:
        check(write_posed_folder(tmp_path / "far", [0.8, 1.5, 1.5]))
    assert f"sit at radius {(0.8 + 1.5 + 1.5) / 3:.4g} with a 12 deg field of view" in str(err.value)


def test_a_first_batch_off_the_scene_is_not_refused_at_the_stages_first_step():
    """The run's data passed as a whole before the run began; its first batch, two of its cameras at 0.8, is
    trained on, by both of the tri-plane model's phases."""
    cams = Camera.from_angles(torch.tensor([0.1, -0.1]), torch.tensor([0.0, 0.05]), 0.8, 12.0)
    ctx = _first_step(RealBatch(images=torch.zeros(2, 3, 16, 16), cameras=cams))
    sample = real_dual_sample(ctx, False, loss=ctx.config.loss, fade=None)
    assert torch.equal(sample.inputs["c"], cams.to_eg3d())
    assert len(render_fakes(ctx, 2, loss=ctx.config.loss, fade=None).cameras) == 2


def test_a_folders_cameras_are_its_items_without_decoding_them_cropped_and_turned_as_served(tmp_path):
    """A 16x24 portrait, a 24x16 JPEG stored sideways (EXIF orientation 6: served 16x24) and a square image, their
    cameras made from a 12 deg vertical field of view: the centred 16x16 crop of a 24-high image sees
    2 atan(tan 6 deg x 16 / 24) vertically."""
    root = write_posed_folder(tmp_path / "d", [1.0, 1.0, 1.3], sizes=[(16, 24), (16, 16), (16, 16)])
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(root / "1.jpg", exif=exif)
    poses = json.loads((root / "poses.json").read_text())
    poses["frames"][1]["file"] = "1.jpg"
    (root / "poses.json").write_text(json.dumps(poses))
    ds = build_dataset(DataConfig(spec=str(root)), 16)
    cams = ds.cameras()
    items = Camera.from_eg3d(torch.stack([ds[i]["camera"] for i in range(len(ds))]))
    assert torch.allclose(cams.cam2world, items.cam2world) and torch.allclose(cams.intrinsics, items.intrinsics)
    cropped = math.degrees(2 * math.atan(math.tan(math.radians(6)) * 16 / 24))
    assert cams.fov.tolist() == pytest.approx([cropped, cropped, 12.0], abs=1e-4)
    assert cams.origins.norm(dim=-1).tolist() == pytest.approx([1.0, 1.0, 1.3], abs=1e-5)


def test_synthetic_heads_cameras_are_those_their_items_carry():
    ds = SyntheticHeads(8, count=3, cache=False)
    items = Camera.from_eg3d(torch.stack([ds[i]["camera"] for i in range(3)]))
    cams = ds.cameras()
    assert torch.equal(cams.cam2world, items.cam2world) and torch.equal(cams.intrinsics, items.intrinsics)


class _Listed(torch.utils.data.Dataset):
    """A plugin's dataset without ``cameras()``: item i's camera sits at radius 1 + i / 1000."""

    def __init__(self, n: int):
        self.n, self.read = n, []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        self.read.append(i)
        cam = Camera.from_angles(0.0, 0.0, 1 + i / 1000, 12.0)
        return {"image": torch.zeros(3, 8, 8), "camera": cam.to_eg3d()[0]}


def test_a_dataset_without_cameras_is_read_at_items_spread_over_all_of_it():
    ds = _Listed(1000)
    cams = dataset_cameras(ds)
    assert len(ds.read) == CAMERA_PROBES and ds.read[0] == 0 and ds.read[-1] == 999
    assert float(cams.origins.norm(dim=-1).mean()) == pytest.approx(1 + 999 / 2000, abs=2e-3)
    small = _Listed(3)
    assert dataset_cameras(small) is not None and small.read == [0, 1, 2]
    small.cameras = ["a plugin's own attribute, not the method"]
    assert float(dataset_cameras(small).origins.norm(dim=-1).mean()) == pytest.approx(1.001, abs=1e-5)
