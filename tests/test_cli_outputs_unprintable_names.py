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
    (("export", "oracle", "--out", "s\r/.ply"),
     "Cannot write a mesh to 's\\r/.ply': the file name is the suffix alone; name it, e.g. 'head.ply'."),
]


@pytest.mark.parametrize("args, said", REFUSALS, ids=["image", "animation", "slash", "export-suffix", "export-none",
                                                      "export-unknown", "export-alone"])
def test_an_output_with_an_unprintable_character_is_named_with_escapes(in_tmp, capsys, args, said):
    code, stdout, err = run_in_process(capsys, *args)
    assert code == 2, stdout + err
    assert one_line_error(err) == f"Error: {said}"


def test_the_other_output_refusals_name_the_path_with_escapes(tmp_path, monkeypatch):
    """Each of imageio's refusals of an output, not only the ones a command above reaches first."""
    from zoo3d.errors import UserError
    from zoo3d.imageio import check_animation_target, check_image_size, check_image_target

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d\r.png").mkdir()
    (tmp_path / "d\r.gif").mkdir()
    (tmp_path / "f\rames").write_text("a file")
    checks = [
        (lambda: check_image_target("d\r.png"), "Cannot write an image to 'd\\r.png': it is a folder."),
        (lambda: check_image_target("s\r/.png"),
         "Cannot write an image to 's\\r/.png': the file name is the suffix alone; name it, e.g. 'grid.png'."),
        (lambda: check_image_target("i\rcon.ico"),
         "Cannot write an image to 'i\\rcon.ico': ICO holds square icons, into which the image would be resized; use "
         ".png, .jpg, .webp or another image suffix."),
        (lambda: check_image_size("w\r.webp", 8, 20000),
         "'w\\r.webp' would be 20000x8 pixels, and WEBP holds at most 16383 on a side; write a .png, or fewer images "
         "per row."),
        (lambda: check_animation_target("s\r/.gif"),
         "Cannot write an animation to 's\\r/.gif': the file name is the suffix alone (it would be a hidden folder of "
         "frames); name it, e.g. 'turntable.gif'."),
        (lambda: check_animation_target("f\rames"), "Cannot write frames to 'f\\rames': it is a file, not a folder."),
        (lambda: check_animation_target("d\r.gif"), "Cannot write an animation to 'd\\r.gif': it is a folder."),
    ]
    for check, said in checks:
        with pytest.raises(UserError) as refused:
            check()
        assert str(refused.value) == said


def test_an_exported_mesh_is_named_with_escapes(in_tmp, capsys):
    code, stdout, err = run_in_process(capsys, "export", "oracle", "--resolution", "16", "--out", "m\rx.ply")
    assert code == 0, stdout + err
    assert (in_tmp / "m\rx.ply").is_file()
    assert stdout.endswith(" (ply) to m\\rx.ply.\n") and "\r" not in stdout, stdout
