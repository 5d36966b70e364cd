"""A dataset path that is a file but no zip is refused naming what it is and what to give instead: a dataset's index
file (``--data faces/dataset.json``, where the folder is the dataset), a tar archive, an image. Each had been
'neither a folder nor a zip file', which leaves the user to find the fix."""

from __future__ import annotations

import pytest

from conftest import one_line_error, run_in_process
from zoo3d.data.folder import FolderDataset
from zoo3d.errors import UserError


@pytest.mark.parametrize("name, said", [
    ("faces/dataset.json", "Dataset path 'faces/dataset.json' is the dataset's index file, not the dataset; give the "
                           "folder that holds it, 'faces'."),
    ("faces/Poses.json", "Dataset path 'faces/Poses.json' is the dataset's index file, not the dataset; give the "
                         "folder that holds it, 'faces'."),
    ("my faces.tar.gz", "Dataset path 'my faces.tar.gz' is a tar archive, which zoo3d does not read; unpack it "
                        "(`tar xf 'my faces.tar.gz'`) and give the folder, or a zip of it (`zip -0 -r data.zip "
                        "FOLDER`)."),
    ("faces.7z", "Dataset path 'faces.7z' is a 7-Zip archive, which zoo3d does not read; unpack it and give the "
                 "folder, or a zip of it (`zip -0 -r data.zip FOLDER`)."),
    ("faces/0001.PNG", "Dataset path 'faces/0001.PNG' is an image, not a dataset; give the folder (or zip) that holds "
                       "the images and their poses."),
    ("faces/notes.txt", "Dataset path 'faces/notes.txt' is neither a folder nor a zip file."),
])
def test_data_check_of_a_file_that_is_no_dataset_names_the_fix(in_tmp, capsys, name, said):
    (in_tmp / "faces").mkdir()
    (in_tmp / name).write_bytes(b"{}")
    code, stdout, err = run_in_process(capsys, "data", "check", name)
    assert code == 2, stdout + err
    assert one_line_error(err) == f"Error: {said}"


def test_training_on_an_index_file_names_its_folder(in_tmp):
    (in_tmp / "faces").mkdir()
    (in_tmp / "faces" / "poses.json").write_text("{}")
    with pytest.raises(UserError) as err:
        FolderDataset(in_tmp / "faces" / "poses.json", 32)
    assert str(err.value) == (f"Dataset path '{in_tmp}/faces/poses.json' is the dataset's index file, not the "
                              f"dataset; give the folder that holds it, '{in_tmp}/faces'.")


@pytest.mark.parametrize("names, said", [
    (["ffhq.zip"], "no images found (images format); it holds the zip 'ffhq.zip': give that zip as the dataset"),
    (["a.zip", "b.zip", "notes.txt"], "no images found (images format); it holds the zip 'a.zip' (and 1 more zip): "
                                      "give that zip as the dataset"),
    (["dl/ffhq.tar.gz"], "no images found (images format); it holds 'dl/ffhq.tar.gz', a tar archive: unpack it and "
                         "give its folder"),
])
def test_a_folder_without_images_that_holds_an_archive_names_it(tmp_path, names, said):
    from zoo3d.data.check import check_dataset

    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"PK\x05\x06" + b"\0" * 18)
    assert [(p.file, p.problem) for p in check_dataset(tmp_path).problems] == [(str(tmp_path), said)]
