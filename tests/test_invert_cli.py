"""``zoo3d invert --method optimize`` on any generator (the engine's test stand-in, inverted in z)."""

from __future__ import annotations

import json

import pytest
import torch

from toy_model import REAL_COLOUR, one_thread, render_spheres, use_toy
from zoo3d.cameras import Camera
from zoo3d.cli.main import main
from zoo3d.imageio import save_image


@pytest.fixture
def toy_image(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    cam = Camera.from_angles(0.1, 0.0, 1.0, 12.0)
    image = render_spheres(torch.tensor([REAL_COLOUR]), torch.tensor([0.07]), cam, (16, 16)).rgb[0]
    path = tmp_path / "sphere.png"
    save_image(image, path)
    with one_thread():
        yield path


def _zoo3d(capsys, *args):
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_optimize_inverts_a_generic_generator_given_the_pose(toy_image, tmp_path, capsys):
    psnr = {}
    for steps in (0, 450):  # the command's default budget
        out = tmp_path / f"out{steps}"
        code, _, err = _zoo3d(capsys, "invert", str(toy_image), "--model", "toy_procedural", "--method", "optimize",
                              "--pose", "0.1,0", "--steps", str(steps), "--frames", "2", "--out", str(out))
        assert code == 0, err
        metrics = json.loads((out / "sphere" / "metrics.json").read_text())
        assert metrics["method"] == "optimize" and metrics["pose_source"] == "given"
        psnr[steps] = metrics["psnr"]
    assert psnr[450] > psnr[0] + 3, psnr  # the sphere's colour and size are found in z


@pytest.mark.parametrize("args, message", [([], "--pose yaw,pitch"), (["--method", "single"], "no single-pass")])
def test_generic_generator_refusals_are_one_clear_line(toy_image, tmp_path, capsys, args, message):
    code, out, err = _zoo3d(capsys, "invert", str(toy_image), "--model", "toy_procedural", *args,
                            "--out", str(tmp_path / "out"))
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("inputs, names", [
    (("a/photo.png", "photo-2.png", "b/photo.png"), ["photo", "photo-2", "photo-3"]),  # photo-2 is an input's own
    (("a/photo.png", "b/photo.png", "photo-2.png"), ["photo", "photo-3", "photo-2"]),  # ... also when it comes later
    (("a/x.png", "b/x.jpg", "c/x.webp", "x-3.png"), ["x", "x-2", "x-4", "x-3"]),
    (("Photo.png", "photo.jpg"), ["Photo", "photo-2"]),  # one folder on a case-insensitive file system
])
def test_every_input_gets_its_own_output_folder(tmp_path, inputs, names):
    from zoo3d.cli.invert import _out_dirs

    assert _out_dirs(inputs, tmp_path) == [tmp_path / n for n in names]
