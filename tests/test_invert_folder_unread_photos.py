"""A folder given to ``zoo3d invert`` that also holds photos in a format zoo3d does not invert (an iPhone's .heic,
.gif, camera raw: the formats a dataset folder notes as not read) says so in one note naming how many of each and the
first, where they were passed over without a word; a folder of only such photos is refused naming them."""

from __future__ import annotations

from PIL import Image

from conftest import run_in_process as zoo3d
from test_cli_invert_options import OPTIMISE, sphere  # noqa: F401 (a fixture)
from test_invert_cli import toy_image  # noqa: F401 (a fixture)


def test_photos_in_a_format_not_inverted_are_named_in_one_note(sphere, tmp_path, capsys):
    folder = tmp_path / "phone"
    folder.mkdir()
    Image.open(sphere).convert("RGB").save(folder / "b.png")
    for name in ("IMG_2.HEIC", "IMG_1.heic", "loop.gif", "notes.txt", ".IMG_0.heic"):
        (folder / name).write_bytes(b"not decoded")
    code, out, err = zoo3d(capsys, "invert", folder, *OPTIMISE, "--frames", "1")
    assert code == 0, err
    assert [line.split(":")[0] for line in out.splitlines() if " -> " in line] == [str(folder / "b.png")]
    assert f"note: Folder '{folder}' also holds 3 photos in a format zoo3d does not invert (.gif (1), .heic (2); " \
           f"first: IMG_1.heic), passed over: save them as PNG or JPEG to invert them." in err.splitlines()


def test_a_folder_of_only_such_photos_is_refused_naming_them(sphere, tmp_path, capsys):
    folder = tmp_path / "phone"
    folder.mkdir()
    (folder / "IMG_1.heic").write_bytes(b"not decoded")
    code, out, err = zoo3d(capsys, "invert", folder, *OPTIMISE)
    assert code == 2 and err.strip() == (
        f"Error: Folder '{folder}' holds no image to invert: no bmp, jfif, jpe, jpeg, jpg, png, tif, tiff, webp file "
        f"directly in it (its sub-folders are not searched); it holds 1 photo in a format zoo3d does not invert "
        f"(.heic (1); first: IMG_1.heic): save it as PNG or JPEG.")
    assert not (tmp_path / "o").exists()
