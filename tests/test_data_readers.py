"""Dataset readers: EG3D json (folder and zip), GRAM poses, the zoo3d format, image conversion, bad files."""

import json
import math
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from zoo3d.cameras import Camera
from zoo3d.config import DataConfig
from zoo3d.data import build_dataset
from zoo3d.data.folder import FolderDataset
from zoo3d.data.formats import Source, list_dataset, write_eg3d_labels
from zoo3d.data.synthetic import SyntheticHeads
from zoo3d.errors import UserError
from zoo3d.imageio import to_uint8


def _write_synthetic(folder, count=4, resolution=32, seed=0):
    ds = SyntheticHeads(resolution, count=count, seed=seed, cache=False)
    out = ds.render(range(count))
    files = []
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        name = f"img/{i:03d}.png"
        Image.fromarray(to_uint8(out["image"][i])).save(folder / name)
        files.append(name)
    return files, out


def test_synthetic_to_eg3d_json_and_back_gives_the_same_poses_and_pixels(tmp_path):
    files, out = _write_synthetic(tmp_path)
    write_eg3d_labels(tmp_path, files, out["camera"].double().numpy())
    ds = build_dataset(DataConfig(spec=str(tmp_path), mirror=False), 32)
    assert len(ds) == 4
    for i in range(4):
        item = ds[i]
        assert torch.allclose(item["camera"], out["camera"][i], atol=1e-6)
        assert torch.allclose(item["image"], out["image"][i], atol=1e-5)  # 8-bit levels survive the PNG round trip


def test_a_folder_whose_name_holds_a_question_mark_is_read_as_that_folder(tmp_path, monkeypatch):
    from zoo3d.data import check_spec

    folder = tmp_path / "shots?v=2"  # not the folder 'shots' with the option v=2
    files, out = _write_synthetic(folder, count=2)
    write_eg3d_labels(folder, files, out["camera"].double().numpy())
    check_spec(str(folder))
    ds = build_dataset(DataConfig(spec=str(folder), mirror=False), 32)
    assert len(ds) == 2
    assert torch.allclose(ds[1]["camera"].double(), out["camera"][1].double(), atol=1e-6)
    (tmp_path / "shots").mkdir()  # the part before '?' existing as well changes nothing
    assert len(build_dataset(DataConfig(spec=str(folder), mirror=False), 32)) == 2
    with pytest.raises(UserError, match="only for registered datasets"):  # options after a real path stay refused
        build_dataset(DataConfig(spec=f"{tmp_path / 'shots'}?v=3"), 32)
    monkeypatch.chdir(tmp_path)  # a registered name still wins over a folder of that name
    (tmp_path / "synthetic:heads?count=3").mkdir()
    ds = build_dataset(DataConfig(spec="synthetic:heads?count=3"), 16)
    assert isinstance(ds, SyntheticHeads) and len(ds) == 3


def test_uncompressed_and_compressed_zip_read_the_same(tmp_path):
    folder = tmp_path / "data"
    files, out = _write_synthetic(folder, count=3)
    write_eg3d_labels(folder, files, out["camera"].double().numpy())
    for kind, name in ((zipfile.ZIP_STORED, "stored.zip"), (zipfile.ZIP_DEFLATED, "deflated.zip")):
        with zipfile.ZipFile(tmp_path / name, "w", kind) as zf:
            for f in [*files, "dataset.json"]:
                zf.write(folder / f, f)
        ds = FolderDataset(tmp_path / name, 32)
        assert torch.allclose(ds[2]["image"], out["image"][2], atol=1e-5)
        assert torch.allclose(ds[2]["camera"], out["camera"][2], atol=1e-6)
    notes = list_dataset(Source(tmp_path / "deflated.zip")).notes
    assert any("compressed" in n for n in notes)
    assert not list_dataset(Source(tmp_path / "stored.zip")).notes


def test_gram_mat_and_npy_poses_round_trip_through_camera(tmp_path):
    from scipy.io import savemat

    (tmp_path / "poses").mkdir()
    yaw, pitch = torch.tensor([0.3, -0.45], dtype=torch.float64), torch.tensor([0.12, -0.05], dtype=torch.float64)
    cams = Camera.from_angles(yaw, pitch, dtype=torch.float64)
    Image.new("RGB", (16, 16)).save(tmp_path / "face.png")
    Image.new("RGB", (16, 16)).save(tmp_path / "cat.png")
    savemat(tmp_path / "poses" / "face.mat", {"angle": cams[0].to_gram_mat_angle().numpy()})
    np.save(tmp_path / "poses" / "cat_pose.npy", cams[1].to_gram_pose_npy()[0].numpy())
    listing = list_dataset(Source(tmp_path))
    assert listing.format == "gram" and not listing.problems
    by_name = {r.name: r.camera for r in listing.records}
    for name, i in (("face.png", 0), ("cat.png", 1)):
        back = Camera.from_eg3d(torch.tensor(by_name[name])[None]).to_angles()
        assert math.isclose(back["yaw"].item(), yaw[i].item(), abs_tol=1e-9)
        assert math.isclose(back["pitch"].item(), pitch[i].item(), abs_tol=1e-9)
        # and back to the GRAM file values
    cam = Camera.from_eg3d(torch.tensor(by_name["face.png"])[None])
    assert torch.allclose(cam.to_gram_mat_angle()[0, :2], cams[0].to_gram_mat_angle()[0, :2], atol=1e-9)


def test_zoo3d_format_reads_cameras_or_angles_and_grey_rgba_become_rgb(tmp_path):
    Image.new("L", (24, 16), 200).save(tmp_path / "grey.png")
    Image.new("RGBA", (16, 16), (10, 20, 30, 0)).save(tmp_path / "rgba.png")
    cam = Camera.from_angles(0.2, 0.1, dtype=torch.float64).to_eg3d()[0].tolist()
    frames = [{"file": "grey.png", "yaw": -0.2, "pitch": 0.1}, {"file": "rgba.png", "camera": cam}]
    (tmp_path / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    ds = FolderDataset(tmp_path, 16)
    grey, rgba = ds[0], ds[1]
    assert torch.allclose(grey["image"], torch.full((3, 16, 16), 200 / 127.5 - 1))
    assert torch.allclose(rgba["image"][:, 0, 0], torch.tensor([10, 20, 30]) / 127.5 - 1)
    assert math.isclose(Camera.from_eg3d(grey["camera"][None]).to_angles()["yaw"].item(), -0.2, abs_tol=1e-6)
    # the 24x16 grey image (square pixels, vertical fov 12) was centre-cropped to 16x16, its full height: the
    # principal point stays centred and the crop's focal length is the vertical one both ways
    k = grey["camera"][16:].reshape(3, 3)
    focal = 0.5 / math.tan(math.radians(6))
    assert math.isclose(k[0, 0].item(), focal, rel_tol=1e-6) and math.isclose(k[0, 2].item(), 0.5)
    assert math.isclose(k[1, 1].item(), focal, rel_tol=1e-6)


def test_mirror_augmentation_flips_the_pose_too(tmp_path):
    files, out = _write_synthetic(tmp_path, count=8)
    write_eg3d_labels(tmp_path, files, out["camera"].double().numpy())
    ds = build_dataset(DataConfig(spec=str(tmp_path), mirror=True), 32)
    items = [ds[i] for i in range(8)]
    flipped = [it for it in items if it["mirrored"]]
    assert 0 < len(flipped) < 8
    it = flipped[0]
    i = it["index"]
    assert torch.allclose(it["image"], out["image"][i].flip(-1), atol=1e-5)
    expected = Camera.from_eg3d(out["camera"][i][None]).mirror().to_eg3d()[0]
    assert torch.allclose(it["camera"], expected, atol=1e-6)


def test_file_that_goes_bad_mid_run_is_skipped_logged_and_counted(tmp_path, caplog):
    files, out = _write_synthetic(tmp_path, count=3)
    write_eg3d_labels(tmp_path, files, out["camera"].double().numpy())
    ds = FolderDataset(tmp_path, 32)
    (tmp_path / files[1]).write_bytes(b"not a png any more")
    item = ds[1]
    assert item["index"] == 2 and torch.allclose(item["image"], out["image"][2], atol=1e-5)
    assert list(ds.skipped) == [files[1]]
    assert any(files[1] in r.getMessage() for r in caplog.records)


def test_a_file_missing_at_start_up_is_left_out_not_replaced_by_its_neighbour(tmp_path):
    """A listed file already missing stayed a record: each read of it served the next item, twice an epoch."""
    files, out = _write_synthetic(tmp_path / "data", count=3)
    write_eg3d_labels(tmp_path / "data", files, out["camera"].double().numpy())
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in [files[0], files[2], "dataset.json"]:
            zf.write(tmp_path / "data" / f, f)
    (tmp_path / "data" / files[1]).unlink()
    for source in (tmp_path / "data", path):
        ds = FolderDataset(source, 32)
        assert [r.name for r in ds.records] == [files[0], files[2]]
        items = [ds[i] for i in range(len(ds))]
        assert [it["index"] for it in items] == [0, 1] and not ds.skipped
        assert torch.allclose(items[1]["image"], out["image"][2], atol=1e-5)
    for f in (files[0], files[2]):
        (tmp_path / "data" / f).unlink()
    with pytest.raises(UserError, match=f"none of its 3 image.s. with a valid pose exists .first: '{files[0]}'"):
        FolderDataset(tmp_path / "data", 32)


_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6), st.booleans(),
                    st.none(), st.text(max_size=3))
_value = st.recursive(_number, lambda inner: st.one_of(st.lists(inner, max_size=30),
                                                        st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                      max_leaves=40)
_frame = st.one_of(_value, st.fixed_dictionaries(
    {"file": st.one_of(st.just("a.png"), st.text(max_size=5), _number)},
    optional={"camera": st.one_of(st.lists(_number, min_size=25, max_size=25), _value),
              "yaw": _number, "pitch": _number, "radius": _number, "fov": _number}))
_doc = st.one_of(_value, st.fixed_dictionaries({"frames": st.one_of(st.lists(_frame, max_size=5), _value)},
                                               optional={"version": _number}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=_doc)
def test_fuzzed_poses_json_never_crashes_the_reader(tmp_path_factory, doc):
    folder = tmp_path_factory.mktemp("fuzz")
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    (folder / "poses.json").write_text(json.dumps(doc))
    listing = list_dataset(Source(folder))
    assert listing.format == "zoo3d"
    for r in listing.records:
        if r.camera is not None:
            assert r.camera.shape == (25,) and np.all(np.isfinite(r.camera))
    from zoo3d.data.check import check_dataset

    report = check_dataset(folder)
    assert report.ok == (not report.problems)
    json.dumps(report.to_json())


def test_unknown_spec_is_a_user_error():

    with pytest.raises(UserError, match="neither a registered dataset"):
        build_dataset(DataConfig(spec="/no/such/folder"), 32)
    with pytest.raises(UserError, match="Unknown option"):
        build_dataset(DataConfig(spec="synthetic:heads?colour=1"), 32)
    for option, message in (("pitch_std=-0.1", "Option 'pitch_std=-0.1' for synthetic:heads must be a finite angle"),
                            ("yaw_std=nan", "Option 'yaw_std=nan' for synthetic:heads must be a finite angle"),
                            ("device=foo", "Unknown device 'foo'")):
        with pytest.raises(UserError, match=message):
            build_dataset(DataConfig(spec=f"synthetic:heads?{option}"), 32)
