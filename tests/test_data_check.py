"""``zoo3d data check``: every kind of broken file gets its own problem line; the CLI's JSON and exit status."""

import json

import numpy as np
import pytest
from PIL import Image

from zoo3d.cameras import Camera
from zoo3d.cli.main import cli
from zoo3d.data.check import check_dataset, ensure_usable
from zoo3d.errors import UserError


def _good_camera(yaw=0.1):
    return Camera.from_angles(yaw, 0.05).to_eg3d()[0].double().tolist()


@pytest.fixture
def broken(tmp_path):
    """An EG3D folder with one file of each broken kind and two good ones."""
    for name in ("good0.png", "good1.png", "nan.png", "range.png", "dup.png", "nopose.png"):
        Image.new("RGB", (32, 32), (90, 120, 150)).save(tmp_path / name)
    Image.new("RGB", (48, 32)).save(tmp_path / "size.png")
    (tmp_path / "unreadable.png").write_bytes(b"\x89PNG garbage")
    full = tmp_path / "full.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(full)
    (tmp_path / "truncated.png").write_bytes(full.read_bytes()[:-600])
    full.unlink()
    bad_rot = _good_camera()
    bad_rot[0] = 3.0
    labels = [["good0.png", _good_camera(0.2)], ["good1.png", _good_camera(-0.2)],
              ["nan.png", [float("nan")] * 25], ["range.png", bad_rot], ["dup.png", _good_camera()],
              ["dup.png", _good_camera()], ["nopose.png", [1.0, 2.0]], ["size.png", _good_camera()],
              ["unreadable.png", _good_camera()], ["truncated.png", _good_camera()], ["missing.png", _good_camera()]]
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    return tmp_path


def test_each_broken_file_gets_its_own_problem(broken):
    report = check_dataset(broken, full=True)
    by_file = {}
    for p in report.problems:
        by_file.setdefault(p.file, []).append(p.problem)
    expected = {"nan.png": "NaN", "range.png": "out of range", "dup.png": "duplicate name",
                "nopose.png": "missing pose", "unreadable.png": "unreadable image",
                "truncated.png": "truncated image", "missing.png": "missing image file"}
    for file, words in expected.items():
        assert len(by_file.get(file, [])) == 1 and words in by_file[file][0], (file, by_file.get(file))
    assert not any(f.startswith("good") for f in by_file)
    assert set(by_file) == set(expected)
    assert not report.ok and report.usable and report.count == 11
    assert report.resolution == [32, 32] and "(first: size.png, 48x32)" in report.notes[0]  # used as the rest are


def test_headers_only_check_is_what_training_runs(broken):
    fast = check_dataset(broken, full=False)
    assert "truncated.png" not in {p.file for p in fast.problems}  # needs decoding to notice
    assert ensure_usable(broken).usable


def test_unusable_dataset_is_refused_with_the_report(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [["a.png", [float("nan")] * 25]]}))
    with pytest.raises(UserError, match="a.png: pose has NaN"):
        ensure_usable(tmp_path)


def test_grey_palette_and_alpha_conversions_are_noted_and_grey_with_alpha_is_both(tmp_path):
    """A grey image with alpha (LA) was counted as grey only: its dropped alpha went unmentioned; palette
    images, converted to RGB too, were not counted at all."""
    labels = []
    for name, mode in (("rgb.png", "RGB"), ("grey.png", "L"), ("rgba.png", "RGBA"), ("la.png", "LA"),
                       ("palette.png", "P"), ("palette_alpha.png", "P")):
        Image.new(mode, (8, 8)).save(tmp_path / name, **({"transparency": 0} if "alpha" in name else {}))
        labels.append([name, Camera.from_angles(0.1, 0.0).to_eg3d()[0].double().tolist()])
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    notes = check_dataset(tmp_path).notes
    assert "4 grey or palette image(s) are converted to RGB (first: grey.png)" in notes
    assert "3 image(s) with an alpha channel: alpha is dropped (first: rgba.png)" in notes


def test_pose_statistics_are_in_radians_in_the_design_convention(tmp_path):
    yaws = [0.3, -0.1, 0.1]
    labels = []
    for i, y in enumerate(yaws):
        Image.new("RGB", (8, 8)).save(tmp_path / f"{i}.png")
        labels.append([f"{i}.png", Camera.from_angles(y, 0.2).to_eg3d()[0].double().tolist()])
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    report = check_dataset(tmp_path).to_json()
    assert report["yaw"]["mean"] == pytest.approx(np.mean(yaws), abs=1e-6)
    assert report["yaw"]["std"] == pytest.approx(np.std(yaws), abs=1e-6)
    assert report["pitch"]["mean"] == pytest.approx(0.2, abs=1e-6)


def test_cli_synth_then_check_json_and_exit_status(tmp_path, broken):
    out = tmp_path / "synth"
    res = cli.main(["data", "synth", "--out", str(out), "--count", "3", "--resolution", "32"],
                   standalone_mode=False)
    assert res is None and len(list((out / "images").glob("*.png"))) == 3 and len(list((out / "depth").iterdir())) == 3
    with pytest.raises(SystemExit) as ok_exit:
        cli.main(["data", "check", str(out), "--json"], standalone_mode=False)
    assert ok_exit.value.code == 0
    with pytest.raises(SystemExit) as bad_exit:
        cli.main(["data", "check", str(broken)], standalone_mode=False)
    assert bad_exit.value.code == 1


def test_checking_a_registered_dataset_says_what_it_is(tmp_path):
    with pytest.raises(UserError, match="'synthetic:heads\\?count=4' is a registered dataset .* not a folder or zip"):
        cli.main(["data", "check", "synthetic:heads?count=4"], standalone_mode=False)
    with pytest.raises(UserError, match="Dataset path '.*nowhere' does not exist"):
        cli.main(["data", "check", str(tmp_path / "nowhere")], standalone_mode=False)


def test_cli_check_json_schema(broken, capsys):
    with pytest.raises(SystemExit):
        cli.main(["data", "check", str(broken), "--json"], standalone_mode=False)
    doc = json.loads(capsys.readouterr().out)
    assert {"count", "format", "resolution", "yaw", "pitch", "problems"} <= set(doc)
    assert doc["format"] == "eg3d" and set(doc["yaw"]) == {"mean", "std"}
    assert all(set(p) == {"file", "problem"} for p in doc["problems"])


def test_the_usable_count_is_what_training_serves(broken):
    """A file listed twice is served once; an image of another size is resized like the rest: both still usable."""
    from zoo3d.data.folder import FolderDataset

    report = check_dataset(broken, full=True)
    served = FolderDataset(broken, 32).records
    assert [r.name for r in served].count("dup.png") == 1 and "size.png" in {r.name for r in served}
    # the check decodes every file; training skips the ones that fail when it reads them
    readable = [r for r in served if r.name not in ("unreadable.png", "truncated.png", "missing.png")]
    assert report.usable_count == len(readable) == 4


def test_a_bad_pose_in_a_later_listing_leaves_the_first_listing_served(tmp_path):
    """A file listed twice, the second time with a bad pose, was dropped with its valid first listing."""
    from zoo3d.data.folder import FolderDataset

    bad = _good_camera()
    bad[16] = -1.0  # negative focal length
    for name in ("x.png", "y.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    labels = [["x.png", _good_camera(0.3)], ["y.png", _good_camera()], ["x.png", bad], ["y.png", [1.0]]]
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    report = check_dataset(tmp_path)
    served = FolderDataset(tmp_path, 8).records
    assert [r.name for r in served] == ["x.png", "y.png"] and report.usable_count == 2
    assert np.allclose(served[0].camera, _good_camera(0.3))
    assert report.yaw["mean"] == pytest.approx(0.2, abs=1e-6)
    kinds = sorted(p.problem.split(":")[0].split(" (")[0] for p in report.problems)
    assert kinds == ["duplicate name", "duplicate name", "missing pose", "pose out of range"]


def test_with_crop_none_a_non_square_image_is_a_problem_as_training_skips_it(tmp_path):
    """The check said non-square images are centre-cropped, while data.crop = none makes training skip them."""
    from zoo3d.config import DataConfig
    from zoo3d.data.folder import FolderDataset
    from zoo3d.train.data import check_folder_dataset

    Image.new("RGB", (16, 16), (255, 255, 255)).save(tmp_path / "square.png")
    Image.new("RGB", (24, 16)).save(tmp_path / "wide.png")
    labels = [["square.png", _good_camera()], ["wide.png", _good_camera()]]
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    expected = "wide.png: not square (24x16): data.crop = none needs square images (data.crop = center takes " \
               "their centred square)"
    assert expected in check_folder_dataset(DataConfig(spec=str(tmp_path), crop="none"))  # training's start-up
    assert check_folder_dataset(DataConfig(spec=str(tmp_path), crop="center")) == []  # its other size is a note
    centre = check_dataset(tmp_path, crop="center")
    assert centre.usable_count == 2 and "non-square images are centre-cropped to a square (data.crop = center)" in \
        centre.notes
    square_only = check_dataset(tmp_path, crop="none")
    assert square_only.usable_count == 1 and not any("centre-cropped" in n for n in square_only.notes)
    dataset = FolderDataset(tmp_path, 16, crop="none")  # what training then does with it
    assert dataset[1]["index"] == 0 and list(dataset.skipped) == ["wide.png"]
    with pytest.raises(SystemExit) as code:
        cli.main(["data", "check", str(tmp_path), "--crop", "none"], standalone_mode=False)
    assert code.value.code == 1
