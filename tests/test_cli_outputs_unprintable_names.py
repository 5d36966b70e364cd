"""An image, animation or mesh output named with a character a terminal does not print (a '\\r' left by a script saved
with Windows line endings, an ESC) is shown in the refusal with Python's escapes, as the other refusals show a path:
printed raw, the '\\r' moved the cursor back and the rest of the sentence overwrote its start."""

from __future__ import annotations

import pytest

from conftest import one_line_error, run_in_process

REFUSALS = [
    (("sample", "oracle", "--seeds", "0", "--out", "a\rb.xyz"),
     "Cannot write an image to 'a\\rb.xyz': use .png, .jpg, .webp or another image suffix."),
    (("render", "oracle", "--frames", "2", "--out", "t\x1b[2J.avi"),
     "Cannot write an animation to 't\\x1b[2J.avi': use .gif, .png/.apng, .webp, .mp4 or a folder."),
    (("render", "oracle", "--frames", "2", "--out", "t\rx.gif/"),
     "Cannot write an animation to 't\\rx.gif/': the slash at its end names a folder, but '.gif' names an animation "
     "file; drop the slash for the file, or name a frames folder without a suffix, e.g. 't\\rx/'."),
    (("export", "oracle", "--format", "obj", "--out", "m\rx.ply"),
     "--format obj disagrees with the suffix of 'm\\rx.ply'; name the file 'm\\rx.obj' or give --format ply."),
    (("export", "oracle", "--format", "obj", "--out", "m\rx"),
     "--format obj needs an --out file named *.obj, not 'm\\rx'."),
    (("export", "oracle", "--out", "m\rx.stl"),
     "Cannot tell the mesh format of 'm\\rx.stl': give --format ply, obj, glb or gltf, or a file name with one of "
     "those suffixes."),
]


@pytest.mark.parametrize("args, said", REFUSALS, ids=["image", "animation", "slash", "export-suffix", "export-none",
                                                      "export-unknown"])
def test_an_output_with_an_unprintable_character_is_named_with_escapes(in_tmp, capsys, args, said):
    code, stdout, err = run_in_process(capsys, *args)
    assert code == 2, stdout + err
    assert one_line_error(err) == f"Error: {said}"

