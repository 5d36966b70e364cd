"""A dataset or output folder named with a character a terminal does not print (a '\\r' left by a script saved with
Windows line endings) is shown with Python's escapes in the data commands' refusals and reports, and a command they
print to run is quoted for the shell (``unzip -t 'my faces.zip'``, bash's ``$'faces\\r'`` for a '\\r'): printed
raw, the '\\r' moved the cursor back and the rest of the line overwrote its start, and a path with a space split into
two words."""

from __future__ import annotations

import pytest

from conftest import one_line_error, run_in_process
from zoo3d.data.check import check_dataset
from zoo3d.errors import UserError


@pytest.fixture
def cut_zip(in_tmp):
    """A zip cut short (by a download) after its first bytes."""
    def make(name):
        (in_tmp / name).write_bytes(b"PK\x03\x04" + b"\0" * 40)
        return name
    return make


@pytest.mark.parametrize("name, shown, word", [("cut\rx.zip", "cut\\rx.zip", "$'cut\\rx.zip'"),
                                               ("my faces.zip", "my faces.zip", "'my faces.zip'")])
def test_a_damaged_zip_is_named_with_escapes_and_its_test_command_quoted(cut_zip, capsys, name, shown, word):
    code, stdout, err = run_in_process(capsys, "data", "check", cut_zip(name))
    assert code == 2, stdout + err
    assert one_line_error(err) == (f"Error: Dataset '{shown}' cannot be read as a zip file (File is not a zip file): "
                                   f"it is damaged or was cut short; `unzip -t {word}` tests it.")


def test_a_report_names_its_folder_with_escapes(in_tmp):
    (in_tmp / "faces\r").mkdir()
    report = check_dataset(in_tmp / "faces\r")
    assert report.summary().splitlines()[0] == f"{in_tmp}/faces\\r: images format, 0 images (0 usable)"


def test_synth_into_a_full_folder_is_named_with_escapes(in_tmp, capsys):
    (in_tmp / "out\rx").mkdir()
    (in_tmp / "out\rx" / "a.txt").write_text("mine")
    code, stdout, err = run_in_process(capsys, "data", "synth", "--out", "out\rx", "--count", "1")
    assert code == 2, stdout + err
    assert one_line_error(err) == "Error: Output folder 'out\\rx' is not empty; choose a new folder."


def test_synth_names_the_folder_it_wrote_with_escapes(in_tmp, capsys):
    code, stdout, err = run_in_process(capsys, "data", "synth", "--out", "out\rx", "--count", "1", "--resolution",
                                       "32", "--no-depth")
    assert code == 0, stdout + err
    assert stdout.splitlines()[-1] == "wrote 1 synthetic head at 32x32 to out\\rx (zoo3d format)"
    assert (in_tmp / "out\rx" / "poses.json").is_file()


def test_training_start_up_names_a_dataset_without_usable_images_with_escapes(in_tmp):
    from zoo3d.data.check import ensure_usable

    (in_tmp / "faces\r").mkdir()
    with pytest.raises(UserError) as err:
        ensure_usable(in_tmp / "faces\r")
    assert str(err.value).splitlines()[0] == (f"Dataset '{in_tmp}/faces\\r' cannot be used: it holds no usable posed "
                                              f"image.")


def test_a_note_naming_a_file_shows_it_with_escapes(in_tmp):
    from PIL import Image

    (in_tmp / "d" / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(in_tmp / "d" / "images" / "a.png")
    Image.new("RGB", (8, 8)).save(in_tmp / "d" / "images" / ".b\r.png")
    (in_tmp / "d" / "poses.json").write_text('{"frames": [{"file": "images/a.png", "yaw": 0, "pitch": 0}]}')
    report = check_dataset(in_tmp / "d")
    assert report.notes == ["1 hidden image file(s) (a name or folder starting with '.') are not read: poses.json "
                            "does not list them (first: images/.b\r.png)"]  # as JSON carries it
    assert "  note: 1 hidden image file(s) (a name or folder starting with '.') are not read: poses.json does not " \
           "list them (first: images/.b\\r.png)" in report.summary().splitlines()


def test_a_folder_dataset_names_its_folder_and_first_image_with_escapes(in_tmp):
    """Training's refusals of a dataset: no posed image that exists, then no image that decodes; the data check
    command each gives is quoted as the shell takes it."""
    from zoo3d.data.folder import FolderDataset, UnreadableDataError

    folder = in_tmp / "faces\r"
    folder.mkdir()
    (folder / "poses.json").write_text('{"frames": [{"file": "a\\r.png", "yaw": 0, "pitch": 0}]}')
    with pytest.raises(UserError) as err:
        FolderDataset(folder, 8)
    assert str(err.value) == (f"Dataset '{in_tmp}/faces\\r' (zoo3d format) cannot be used: none of its 1 image(s) "
                              f"with a valid pose exists (first: 'a\\r.png'); run `zoo3d data check "
                              f"$'{in_tmp}/faces\\r'` for the list of problems.")
    (folder / "a\r.png").write_bytes(b"not a png")
    with pytest.raises(UnreadableDataError) as err:
        FolderDataset(folder, 8).check_readable()
    assert str(err.value).startswith(f"Dataset '{in_tmp}/faces\\r' cannot be used: none of the 1 images tried could "
                                     f"be decoded (first: 'a\\r.png', ")
    assert str(err.value).endswith(f"run `zoo3d data check $'{in_tmp}/faces\\r'`, which decodes every image, for the "
                                   f"list.")


def test_a_new_runs_start_up_check_names_the_folder_with_escapes(in_tmp):
    from zoo3d.config import DataConfig
    from zoo3d.train.data import check_folder_dataset

    (in_tmp / "faces\r").mkdir()
    with pytest.raises(UserError) as err:
        check_folder_dataset(DataConfig(spec=str(in_tmp / "faces\r")))
    assert str(err.value) == (f"Dataset '{in_tmp}/faces\\r' has no usable posed image: {in_tmp}/faces\\r: no images "
                              f"found (images format); run `zoo3d data check $'{in_tmp}/faces\\r'` for the full "
                              f"report.")


def test_a_new_runs_count_of_more_dataset_problems_quotes_the_folder_with_escapes(monkeypatch, capsys):
    from types import SimpleNamespace

    import zoo3d.train.data
    from zoo3d.launch import SHOWN_DATASET_PROBLEMS, _check_dataset

    monkeypatch.setattr(zoo3d.train.data, "check_folder_dataset",
                        lambda data, resolution: ["a problem"] * (SHOWN_DATASET_PROBLEMS + 1))
    plan = SimpleNamespace(plugin=SimpleNamespace(stages=lambda config: []))
    _check_dataset(plan, SimpleNamespace(data=SimpleNamespace(spec="my faces\r")))
    assert capsys.readouterr().err.splitlines()[-1] == ("warning: 1 more dataset problem; `zoo3d data check $'my "
                                                        "faces\\r'` lists them all")
