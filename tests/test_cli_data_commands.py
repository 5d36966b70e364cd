"""``zoo3d data synth`` and ``zoo3d data check`` as a user runs them: synth's defaults and each option's effect on
the files it writes (against ``SyntheticHeads`` rendered independently), the free-space bound as its closed form,
the refusals word for word with exit status 2, and check's lines, JSON and exit status on a folder broken by hand."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import run_in_process as zoo3d


def _free(monkeypatch, free: int, seen: list | None = None):
    def usage(path):
        if seen is not None:
            seen.append(path)
        return shutil._ntuple_diskusage(2**40, 2**40 - free, free)

    monkeypatch.setattr(shutil, "disk_usage", usage)


def test_synth_defaults_are_1000_heads_at_64_px_seed_0_in_zoo3d_format_with_depth_32_at_a_time(tmp_path,
                                                                                               monkeypatch, capsys):
    import zoo3d.cli.data as data_cli

    calls = []

    def synth_into(out, *args):  # records what the command asked for and writes one file in its place
        calls.append(args)
        out.mkdir(parents=True)
        (out / "marker").write_text("x")

    monkeypatch.setattr(data_cli, "_synth_into", synth_into)
    out = tmp_path / "heads"
    code, stdout, err = zoo3d(capsys, "data", "synth", "--out", out)
    assert code == 0, err
    assert calls == [("heads", 1000, 64, 0, "zoo3d", True, 32)]
    assert [p.name for p in tmp_path.iterdir()] == ["heads"] and (out / "marker").is_file()  # renamed, not copied
    assert stdout == f"wrote 1000 synthetic heads at 64x64 to {out} (zoo3d format)\n"


def _heads(count: int, resolution: int, seed: int):
    from zoo3d.data.synthetic import SyntheticHeads

    rendered = SyntheticHeads(resolution, count=count, seed=seed, cache=False).render(list(range(count)))
    images = ((rendered["image"].permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
    return rendered, images


def test_synth_writes_the_heads_cameras_depth_and_masks_of_its_seed(tmp_path, capsys):
    out = tmp_path / "d"
    code, stdout, err = zoo3d(capsys, "data", "synth", "--out", out, "--count", "3", "--resolution", "32",
                              "--seed", "5", "--batch", "2")
    assert code == 0, err
    assert stdout.splitlines()[-1] == f"wrote 3 synthetic heads at 32x32 to {out} (zoo3d format)"  # under the bar
    rendered, images = _heads(3, 32, 5)
    doc = json.loads((out / "poses.json").read_text())
    assert doc["resolution"] == 32 and [f["file"] for f in doc["frames"]] == [f"images/{i:06d}.png" for i in range(3)]
    for i, frame in enumerate(doc["frames"]):
        assert np.abs(np.asarray(Image.open(out / frame["file"]), dtype=int) - images[i]).max() <= 1
        assert np.allclose(frame["camera"], rendered["camera"][i].double().numpy())
        assert (frame["depth"], frame["mask"], frame["seed"], frame["index"]) == (
            f"depth/{i:06d}.npy", f"mask/{i:06d}.png", 5, i)
        depth = np.load(out / frame["depth"])
        assert depth.dtype == np.float32 and np.array_equal(depth, rendered["depth"][i, 0].numpy())
        mask = np.asarray(Image.open(out / frame["mask"]))
        assert np.array_equal(mask, (rendered["mask"][i, 0].numpy() * 255).astype(np.uint8))
    other, _ = _heads(1, 32, 6)
    assert not np.allclose(doc["frames"][0]["camera"], other["camera"][0].double().numpy())  # the seed matters


def test_synth_eg3d_format_without_depth_writes_dataset_json_and_images_only(tmp_path, capsys):
    out = tmp_path / "d"
    code, stdout, err = zoo3d(capsys, "data", "synth", "--out", out, "--count", "2", "--resolution", "32",
                              "--format", "eg3d", "--no-depth")
    assert code == 0, err
    assert stdout.endswith("(eg3d format)\n")
    assert sorted(p.name for p in out.iterdir()) == ["dataset.json", "images"]
    rendered, images = _heads(2, 32, 0)
    labels = json.loads((out / "dataset.json").read_text())["labels"]
    assert [name for name, _ in labels] == ["images/000000.png", "images/000001.png"]
    for i, (name, camera) in enumerate(labels):
        assert np.allclose(camera, rendered["camera"][i].double().numpy())
        assert np.abs(np.asarray(Image.open(out / name), dtype=int) - images[i]).max() <= 1


@pytest.mark.parametrize("depth, bytes_per_pixel, needed, free", [([], 4.5, "51.0 KiB", "51.0 KiB"),
                                                                   (["--no-depth"], 0.5, "7.2 KiB", "7.2 KiB")])
def test_synth_needs_count_times_pixels_times_bytes_plus_256_a_head_free_on_the_nearest_existing_folder(
        tmp_path, monkeypatch, capsys, depth, bytes_per_pixel, needed, free):
    import zoo3d.cli.data as data_cli

    monkeypatch.setattr(data_cli, "_synth_into", lambda out, *a: out.mkdir(parents=True))
    need = 7 * (40 * 40 * bytes_per_pixel + 256)
    out = tmp_path / "a" / "b" / "c"
    seen = []
    _free(monkeypatch, int(need) - 1, seen)
    code, _, err = zoo3d(capsys, "data", "synth", "--out", out, "--count", "7", "--resolution", "40", *depth)
    assert code == 2 and seen == [tmp_path]
    assert err.strip() == f"Error: --count 7 at 40x40 needs at least {needed} in '{out}', but only {free} are free."
    assert not (tmp_path / "a").exists()
    assert need == int(need)
    _free(monkeypatch, int(need))  # exactly what it needs is enough
    code, _, err = zoo3d(capsys, "data", "synth", "--out", out, "--count", "7", "--resolution", "40", *depth)
    assert code == 0, err


def test_synth_goes_ahead_when_the_free_space_cannot_be_read(tmp_path, monkeypatch, capsys):
    import zoo3d.cli.data as data_cli

    monkeypatch.setattr(data_cli, "_synth_into", lambda out, *a: out.mkdir(parents=True))

    def unreadable(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(shutil, "disk_usage", unreadable)
    code, _, err = zoo3d(capsys, "data", "synth", "--out", tmp_path / "d", "--count", "2")
    assert code == 0 and (tmp_path / "d").is_dir(), err


def test_synth_refuses_a_folder_that_holds_files_or_a_file_and_takes_an_empty_one(tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    code, _, err = zoo3d(capsys, "data", "synth", "--out", full, "--count", "1", "--resolution", "32")
    assert code == 2 and err.strip() == f"Error: Output folder '{full}' is not empty; choose a new folder."
    code, _, err = zoo3d(capsys, "data", "synth", "--out", a_file, "--count", "1", "--resolution", "32")
    assert code == 2 and f"'{a_file}' is a file" in err  # click's own refusal of a file for a folder option
    assert (full / "keep.txt").read_text() == "mine" and a_file.read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = zoo3d(capsys, "data", "synth", "--out", empty, "--count", "1", "--resolution", "32", "--no-depth")
    assert code == 0, err
    assert [p.name for p in (empty / "images").iterdir()] == ["000000.png"]


def test_an_interrupted_synth_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    import zoo3d.cli.data as data_cli

    def interrupted(out, *args):
        (out / "images").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(data_cli, "_synth_into", interrupted)
    code, _, _ = zoo3d(capsys, "data", "synth", "--out", tmp_path / "d", "--count", "2")
    assert code == 130 and list(tmp_path.iterdir()) == []


def test_a_full_disk_while_writing_poses_json_is_told_as_the_dataset_and_leaves_nothing_behind(tmp_path, monkeypatch,
                                                                                             capsys):
    import errno

    from zoo3d import fileio

    flush = fileio._fsync

    def full_at_poses(path):
        if "poses.json" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        flush(path)

    monkeypatch.setattr(fileio, "_fsync", full_at_poses)
    out = tmp_path / "d"
    code, _, err = zoo3d(capsys, "data", "synth", "--out", out, "--count", "2", "--resolution", "32", "--no-depth")
    assert code == 2
    assert err.strip() == f"Error: Cannot write dataset '{out}': the disk is full; nothing was left behind."
    assert list(tmp_path.iterdir()) == []


def test_a_batch_larger_than_one_output_holds_is_refused_in_the_limits_sentence(tmp_path, capsys):
    from zoo3d.limits import MAX_IMAGES

    batch = MAX_IMAGES + 1
    code, _, err = zoo3d(capsys, "data", "synth", "--out", tmp_path / "d", "--batch", str(batch))
    assert code == 2 and err.strip() == (f"Error: --batch asks for {batch:,}; at most {MAX_IMAGES:,} images fit in one "
                                         "output (split the work over several commands).")
    assert list(tmp_path.iterdir()) == []


def test_an_out_inside_a_file_is_refused_naming_the_dataset_and_the_file(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    out = blocker / "heads"
    code, _, err = zoo3d(capsys, "data", "synth", "--out", out, "--count", "2")
    assert code == 2 and err.strip() == f"Error: Cannot write dataset '{out}': '{blocker}' is a file, not a folder."
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.fixture
def dataset(tmp_path):
    """A zoo3d-format folder of three 32 px heads (the synth command's own output)."""
    out = tmp_path / "d"
    from zoo3d.cli.main import cli

    cli.main(["data", "synth", "--out", str(out), "--count", "3", "--resolution", "32", "--no-depth"],
             standalone_mode=False)
    return out


def test_check_prints_the_summary_and_exits_0_on_a_sound_dataset(dataset, capsys):
    code, stdout, _ = zoo3d(capsys, "data", "check", dataset)
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == f"{dataset}: zoo3d format, 3 images (3 usable)"
    assert lines[1] == "  resolutions: 32x32 (3)" and lines[-1] == "  no problems"


def test_check_reports_a_truncated_image_fully_decoded_but_not_with_fast(dataset, capsys):
    image = dataset / "images" / "000001.png"
    image.write_bytes(image.read_bytes()[:-200])
    code, stdout, _ = zoo3d(capsys, "data", "check", dataset)
    assert code == 1
    lines = stdout.splitlines()
    assert lines[0] == f"{dataset}: zoo3d format, 3 images (2 usable)"
    assert "  1 problem(s):" in lines
    assert [line for line in lines if line.startswith("    ")][0].startswith("    images/000001.png: truncated")
    code, stdout, _ = zoo3d(capsys, "data", "check", dataset, "--json")
    assert code == 1
    doc = json.loads(stdout)
    assert (doc["count"], doc["usable"], doc["format"], doc["resolution"]) == (3, 2, "zoo3d", [32, 32])
    assert [p["file"] for p in doc["problems"]] == ["images/000001.png"]
    code, stdout, _ = zoo3d(capsys, "data", "check", dataset, "--fast")  # headers only: what training reads
    assert code == 0 and stdout.splitlines()[-1] == "  no problems"


def test_check_of_images_of_mixed_sizes_notes_them_and_exits_0_as_training_uses_them(dataset, capsys):
    """Training crops and resizes every image to its resolution: an image of another size had been a problem, and
    data check exited 1 of a dataset training used whole."""
    Image.new("RGB", (48, 48)).save(dataset / "images" / "000001.png")
    code, stdout, _ = zoo3d(capsys, "data", "check", dataset)
    assert code == 0, stdout
    assert stdout.splitlines()[1:] == [
        "  resolutions: 32x32 (2), 48x48 (1)", *stdout.splitlines()[2:4],
        "  note: 1 image(s) differ in size from most (32x32): training crops and resizes every image to its "
        "resolution, the camera with it, so they are used as the rest are (first: images/000001.png, 48x48)",
        "  no problems"]


def test_check_crop_none_makes_a_non_square_image_a_problem(dataset, capsys):
    Image.new("RGB", (48, 32)).save(dataset / "images" / "000002.png")
    code, stdout, _ = zoo3d(capsys, "data", "check", dataset, "--json")  # the default, --crop center
    assert code == 0  # cropped and resized as the rest are: its size and shape are notes
    default = json.loads(stdout)
    assert default["problems"] == [] and len(default["notes"]) == 2
    code, stdout, _ = zoo3d(capsys, "data", "check", dataset, "--json", "--crop", "none")
    assert code == 1
    problems = [p for p in json.loads(stdout)["problems"] if "not square" in p["problem"]]
    assert [p["file"] for p in problems] == ["images/000002.png"]


def test_check_refuses_a_missing_path_and_a_registered_dataset_in_one_sentence(tmp_path, capsys):
    from zoo3d.plugins import get_host

    plugin = get_host().datasets.get("synthetic:heads").plugin
    code, stdout, err = zoo3d(capsys, "data", "check", tmp_path / "nowhere")
    assert code == 2 and err.strip() == f"Error: Dataset path '{tmp_path / 'nowhere'}' does not exist."
    code, stdout, err = zoo3d(capsys, "data", "check", "synthetic:heads?count=4")
    assert code == 2 and err.strip() == (
        f"Error: 'synthetic:heads?count=4' is a registered dataset (plugin '{plugin}'), not a folder or zip: "
        "data check reads dataset files, and a registered dataset makes its own images.")
