"""``zoo3d export --inversion DIR/<image name>``: what chooses the weights or the instance, which the inversion brings
(RUN, --model, --no-ema, --seed, --psi), is refused in one sentence naming what was typed, before anything loads or is
written; neither a run nor an inversion is one sentence that names both (also for render and view). The exported layers
themselves are checked against Python's on a trained GRAMInverter run in test_gram_inverter_train_invert.py."""

from __future__ import annotations

import pytest

from cli_toy import zoo3d
from conftest import one_line_error

WHICH = ("exports the inverted image with the weights it was inverted with (the run and EMA its header names, its "
         "own latent)")


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    (tmp_path / "inv" / "face").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize("args, said", [
    (["--seed", "3"], "--seed does not apply to --inversion, which " + WHICH + "; leave it out."),
    (["--psi", "0.5"], "--psi does not apply to --inversion, which " + WHICH + "; leave it out."),
    (["runs/gram", "--no-ema"], "RUN, --no-ema do not apply to --inversion, which " + WHICH + "; leave them out."),
    (["--model", "gram", "--seed", "0", "--psi", "1"],
     "--model, --seed, --psi do not apply to --inversion, which " + WHICH + "; leave them out."),
], ids=["seed", "psi", "run-no-ema", "model-seed-psi"])
@pytest.mark.parametrize("out", ["head.glb", "head.ply"])
def test_what_chooses_another_instance_is_refused_beside_an_inversion(here, capsys, args, said, out):
    assert zoo3d("export", "--inversion", "inv/face", *args, "--out", out) == 2
    assert one_line_error(capsys.readouterr().err) == "Error: " + said
    assert sorted(p.name for p in here.iterdir()) == ["inv"]


@pytest.mark.parametrize("command", [["export", "--out", "head.glb"], ["render", "--out", "turn.gif"], ["view"]])
def test_neither_a_run_nor_an_inversion_is_one_sentence_naming_both(here, capsys, command):
    assert zoo3d(*command) == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: Give a run folder, a checkpoint file or a model name (or --model NAME), or an image's folder that "
        "zoo3d invert wrote (--inversion DIR/<image name>).")


def test_an_exported_inversion_names_its_photo_by_file_name_and_holds_no_local_path(here, monkeypatch, capsys):
    """The .glb is a file to share: its metadata names the photo as ``face.png``, where it held the path given to
    zoo3d invert (absolute: where the photo, and so the user's folders, lay), and holds no other path of this machine
    (the checkpoint, the run, the inversion's folder); what ``zoo3d view face.glb`` reads (the camera prior, the input
    view) is there."""
    from types import SimpleNamespace

    from test_freeview_cache_closed_form import StandIn
    from zoo3d.cameras import Camera
    from zoo3d.core.inverter import InversionResult
    from zoo3d.freeview.gltf import read_glb_json
    from zoo3d.freeview.server import FileSource

    photo, run = here / "photos" / "face.png", here / "runs" / "gram"
    header = {"model": "gram", "checkpoint": str(run / "checkpoints" / "step_000000002.safetensors"),
              "checkpoint_from_here": "../../runs/gram/checkpoints/step_000000002.safetensors", "image": str(photo)}
    result = InversionResult("inverted rep", Camera.from_angles(0.9, -0.1, 1.0, 12.0), extras={"header": header})
    monkeypatch.setattr("zoo3d.invert.saved.load_inversion",
                        lambda folder, device: (SimpleNamespace(generator=StandIn()), result))
    assert zoo3d("export", "--inversion", str(here / "inv" / "face"), "--out", "face.glb") == 0
    text = (here / "face.glb").read_bytes()
    meta = read_glb_json(text)["asset"]["extras"]["zoo3d"]
    assert meta["image"] == "face.png" and meta["model"] == "gram"
    assert str(here).encode() not in text and b"runs/gram" not in text and b"checkpoint" not in text
    assert FileSource(here / "face.glb").info()["centre_view"] == pytest.approx({"yaw": 0.9, "pitch": -0.1})
    header["image"] = "C:\\Users\\me\\photos\\face.png"  # inverted on Windows, exported here
    assert zoo3d("export", "--inversion", str(here / "inv" / "face"), "--out", "face.glb") == 0
    assert read_glb_json((here / "face.glb").read_bytes())["asset"]["extras"]["zoo3d"]["image"] == "face.png"
    capsys.readouterr()
