"""``zoo3d invert``'s options and sentences on the checkpoint-free sphere stand-in: the defaults and each option
where it lands (the optimisation's settings, the loader, the turntable), the printed line per image against its
metrics.json formatted by hand, and the single-pass path with a recording stand-in inverter (chosen by default,
run without gradients, its pose head used or refused for) with each refusal word for word and exit status 2."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from torch import nn

import toy_model
from conftest import run_in_process as zoo3d
from test_invert_cli import toy_image  # noqa: F401 (a fixture)
from zoo3d.cameras import Camera
from zoo3d.core.inverter import InversionResult


@pytest.fixture
def sphere(toy_image, monkeypatch, tmp_path):
    """test_invert_cli's sphere image and toy plugin, run from the folder that holds the image."""
    monkeypatch.chdir(tmp_path)
    return toy_image


@pytest.fixture
def no_lpips(monkeypatch):
    """LPIPS left out (its import alone takes seconds), for tests whose scores are not what they test."""
    from zoo3d.errors import UserError
    from zoo3d.eval import image_metrics

    def absent(device):
        raise UserError("LPIPS is left out here.")

    monkeypatch.setattr(image_metrics, "load_lpips", absent)


@pytest.fixture
def recorded(monkeypatch):
    """Every OptimizationInverter the command builds, every load_model call's keywords, every outputs call's."""
    import zoo3d.invert as invert
    import zoo3d.invert.outputs as outputs
    import zoo3d.runs as runs

    seen = {"inverters": [], "loads": [], "outputs": []}

    class Recording(invert.OptimizationInverter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen["inverters"].append(self)

    real_load, real_write = runs.load_model, outputs.write_inversion_outputs

    def load_model(*args, **kwargs):
        seen["loads"].append((args, kwargs))
        return real_load(*args, **kwargs)

    def write(inverter, result, image, out_dir, **kwargs):
        seen["outputs"].append(kwargs)
        return real_write(inverter, result, image, out_dir, **{**kwargs, "frames": 2})  # the real turntable: 2 frames

    monkeypatch.setattr(invert, "OptimizationInverter", Recording)
    monkeypatch.setattr(runs, "load_model", load_model)
    monkeypatch.setattr(outputs, "write_inversion_outputs", write)
    return seen


def _line(path, metrics: dict, folder) -> str:
    lp = "n/a" if metrics["lpips"] is None else f"{metrics['lpips']:.3f}"
    return (f"{path}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f}, LPIPS {lp} "
            f"({metrics['method']}, {metrics['invert_seconds']:.2f}s) -> {folder}")


def test_the_defaults_are_450_latent_steps_no_tuning_auto_space_30_frames_half_a_radian_and_the_ema(
        sphere, recorded, monkeypatch, capsys):
    import zoo3d.invert as invert

    monkeypatch.setattr(invert.OptimizationInverter, "invert", lambda self, x, cams: InversionResult(
        self.generator.represent(torch.zeros(1, self.generator.z_dim)), cams))  # the settings are what is checked
    code, out, err = zoo3d(capsys, "invert", sphere, "--model", "toy_procedural", "--pose", "0.1,0", "--out", "o")
    assert code == 0, err
    (inverter,) = recorded["inverters"]
    s = inverter.settings
    assert (s.steps, s.tune_steps, s.space) == (450, 0, "auto") and inverter.pose_estimator is None
    assert recorded["loads"] == [((None,), {"model": "toy_procedural", "device": "auto", "ema": True})]
    (kwargs,) = recorded["outputs"]
    assert (kwargs["frames"], kwargs["yaw_range"]) == (30, 0.5)
    assert json.loads((sphere.parent / "o" / "sphere" / "metrics.json").read_text())["method"] == "optimize"


def test_each_optimisation_option_reaches_the_inverter_and_the_outputs(sphere, recorded, capsys):
    code, out, err = zoo3d(capsys, "invert", sphere, "--model", "toy_procedural", "--method", "optimize",
                           "--pose", "0.1,0", "--steps", "2", "--tune-steps", "1", "--space", "z", "--frames", "3",
                           "--yaw-range", "0.25", "--no-ema", "--device", "cpu", "--out", "o")
    assert code == 0, err
    (inverter,) = recorded["inverters"]
    assert (inverter.settings.steps, inverter.settings.tune_steps, inverter.settings.space) == (2, 1, "z")
    assert recorded["loads"] == [((None,), {"model": "toy_procedural", "device": "cpu", "ema": False})]
    (kwargs,) = recorded["outputs"]
    assert (kwargs["frames"], kwargs["yaw_range"]) == (3, 0.25)


def test_each_image_gets_its_line_from_its_metrics_json_and_the_lpips_reason_once(sphere, tmp_path, capsys):
    other = tmp_path / "b" / "sphere.png"
    other.parent.mkdir()
    Image.open(sphere).resize((32, 32)).save(other)  # read at the model's 16 px
    code, out, err = zoo3d(capsys, "invert", sphere, other, "--model", "toy_procedural", "--method", "optimize",
                           "--pose", "-0.2,0.1", "--steps", "0", "--frames", "2", "--out", "o")
    assert code == 0, err
    folders = [tmp_path / "o" / "sphere", tmp_path / "o" / "sphere-2"]
    metrics = [json.loads((f / "metrics.json").read_text()) for f in folders]
    for m, path in zip(metrics, (sphere, other)):
        assert (m["method"], m["model"], m["pose_source"], m["image"]) == ("optimize", "toy_procedural", "given",
                                                                          str(path))
        assert m["pose"]["yaw"] == pytest.approx(-0.2, abs=1e-5) and m["pose"]["pitch"] == pytest.approx(0.1, abs=1e-5)
        assert m["checkpoint"] is None  # a checkpoint-free model: null, as compare records it
    assert Image.open(folders[1] / "reconstruction.png").size == (16, 16)
    lines = out.splitlines()
    expected = [_line(p, m, f"o/{f.name}") for p, m, f in zip((sphere, other), metrics, folders)]  # as --out gave it
    if metrics[0]["lpips"] is None:
        expected.append(f"LPIPS not computed: {metrics[0]['lpips_unavailable']}")
    assert lines == expected


class StandInInverter(nn.Module):
    """A single-pass inverter: returns the generator's z = 0 sphere, at the given cameras or at yaw 0.3 (its
    "pose head"); records the cameras it was given and whether gradients were on."""

    def __init__(self, generator, has_pose_head: bool):
        super().__init__()
        self.generator, self.has_pose_head, self.calls = generator, has_pose_head, []
        self.scale = nn.Parameter(torch.ones(()))

    def estimate_cameras(self, images):
        return Camera.from_angles(0.3, 0.0, 1.0, 12.0, device=images.device)

    def invert(self, images, cameras=None):
        self.calls.append((cameras, torch.is_grad_enabled()))
        cameras = cameras if cameras is not None else self.estimate_cameras(images)
        return InversionResult(self.generator.represent(torch.zeros(1, self.generator.z_dim)), cameras)

    def render(self, result, cameras, resolution=None):
        return self.generator.render(result.representation, cameras, resolution)


@pytest.fixture
def single_pass(sphere, monkeypatch):
    made = []

    def build_inverter(self, config, modules, pose_head=True):
        made.append(StandInInverter(modules["generator"], made_pose_head[0]))
        return made[-1]

    made_pose_head = [True]
    monkeypatch.setattr(toy_model.ProceduralToy, "build_inverter", build_inverter)
    return made, made_pose_head


def test_a_model_with_a_single_pass_inverter_uses_it_by_default_without_gradients_and_its_pose_head(
        single_pass, recorded, tmp_path, capsys):
    made, _ = single_pass
    code, out, err = zoo3d(capsys, "invert", "sphere.png", "--model", "toy_procedural", "--frames", "2", "--out", "o")
    assert code == 0, err
    assert recorded["inverters"] == [] and made[0].calls == [(None, False)]
    metrics = json.loads((tmp_path / "o" / "sphere" / "metrics.json").read_text())
    assert (metrics["method"], metrics["pose_source"]) == ("single", "estimated")
    assert not {"space", "steps", "tune_steps", "perceptual"} & set(metrics)  # the optimisation's: not this one's
    assert metrics["pose"]["yaw"] == pytest.approx(0.3, abs=1e-5)
    assert out.splitlines()[0] == _line("sphere.png", metrics, tmp_path / "o" / "sphere").replace(
        str(tmp_path / "o"), "o")
    code, out, err = zoo3d(capsys, "invert", "sphere.png", "--model", "toy_procedural", "--pose", "-0.1,0",
                           "--frames", "2", "--out", "given")
    assert code == 0, err
    cams, grad = made[1].calls[0]
    assert not grad and cams.to_angles()["yaw"][0].item() == pytest.approx(-0.1, abs=1e-5)
    assert json.loads((tmp_path / "given" / "sphere" / "metrics.json").read_text())["pose_source"] == "given"


def test_optimisation_takes_its_pose_from_the_single_pass_inverters_pose_head(single_pass, recorded, tmp_path,
                                                                             capsys):
    made, _ = single_pass
    code, out, err = zoo3d(capsys, "invert", "sphere.png", "--model", "toy_procedural", "--method", "optimize",
                           "--steps", "0", "--frames", "2", "--out", "o")
    assert code == 0, err
    (inverter,) = recorded["inverters"]
    assert inverter.pose_estimator == made[0].estimate_cameras and made[0].calls == []
    metrics = json.loads((tmp_path / "o" / "sphere" / "metrics.json").read_text())
    assert (metrics["method"], metrics["pose_source"]) == ("optimize", "estimated")
    assert metrics["pose"]["yaw"] == pytest.approx(0.3, abs=1e-5)


@pytest.mark.parametrize("pose_head, args, sentence", [
    (True, ["--steps", "5", "--space", "w", "--recipe", "pigan"], "--steps, --space, --recipe set the latent "
                                                                  "optimisation; add --method optimize (the "
                                                                  "single-pass inverter has no steps)."),
    (True, ["--method", "single", "--tune-steps", "0"], "--tune-steps set the latent optimisation; add --method "
                                                        "optimize (the single-pass inverter has no steps)."),
    (False, [], "Model 'toy_procedural' has no pose head, so the input pose must be given (--pose yaw,pitch)."),
    (False, ["--method", "optimize"], "Model 'toy_procedural' has no pose estimator, so the input pose must be given "
                                      "(--pose yaw,pitch)."),
])
def test_single_pass_refusals_are_one_sentence_before_anything_is_written(single_pass, tmp_path, capsys, pose_head,
                                                                          args, sentence):
    made, made_pose_head = single_pass
    made_pose_head[0] = pose_head
    code, out, err = zoo3d(capsys, "invert", "sphere.png", "--model", "toy_procedural", *args, "--out", "o")
    assert code == 2 and err.strip() == f"Error: {sentence}"
    assert not (tmp_path / "o").exists() and all(m.calls == [] for m in made)


def test_an_inverter_that_does_not_say_it_has_a_pose_head_is_given_the_pose_or_asks_for_it(sphere, no_lpips,
                                                                                            monkeypatch, tmp_path,
                                                                                            capsys):
    from zoo3d.core import Inverter

    class PoseNeeded(Inverter):  # says nothing of a pose head, as a plugin's inverter written from the interface
        def __init__(self, generator):
            super().__init__()
            self.generator, self.given = generator, []

        def invert(self, images, cameras=None):
            self.given.append(cameras)
            return InversionResult(self.generator.represent(torch.zeros(1, self.generator.z_dim)), cameras)

        def render(self, result, cameras, resolution=None):
            return self.generator.render(result.representation, cameras, resolution)

    made = []
    monkeypatch.setattr(toy_model.ProceduralToy, "build_inverter",
                        lambda self, config, modules: made.append(PoseNeeded(modules["generator"])) or made[-1])
    code, _, err = zoo3d(capsys, "invert", "sphere.png", "--model", "toy_procedural", "--out", "o")
    assert code == 2 and err.strip() == ("Error: Model 'toy_procedural' has no pose head, so the input pose must be "
                                         "given (--pose yaw,pitch).")
    assert not (tmp_path / "o").exists() and made[0].given == []
    code, _, err = zoo3d(capsys, "invert", "sphere.png", "--model", "toy_procedural", "--pose", "-0.1,0", "--frames",
                         "2", "--out", "o")
    assert code == 0, err
    assert made[1].given[0].to_angles()["yaw"][0].item() == pytest.approx(-0.1, abs=1e-5)


def test_an_image_that_cannot_be_read_is_named_with_the_first_line_of_the_reason(sphere, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    code, _, err = zoo3d(capsys, "invert", sphere, bad, "--model", "toy_procedural", "--pose", "0,0", "--out", "o")
    assert code == 2
    try:  # PIL's own reason, first line
        Image.open(bad)
    except Exception as exc:  # noqa: BLE001
        reason = str(exc).splitlines()[0]
    assert err.strip() == f"Error: Cannot read image '{bad}' ({reason})."
    assert not (tmp_path / "o").exists()


def test_ckpt_is_the_run_the_model_is_loaded_from(sphere, recorded, capsys):
    code, _, err = zoo3d(capsys, "invert", sphere, "--model", "toy_procedural", "--ckpt", "runs/elsewhere",
                         "--pose", "0,0", "--out", "o")
    assert code == 2 and "runs/elsewhere" in err  # no such run: the loader was asked for that one
    assert [args for args, _ in recorded["loads"]] == [("runs/elsewhere",)]


def test_more_frames_than_one_output_holds_are_refused_naming_the_option_and_the_frames(sphere, capsys):
    from zoo3d.limits import MAX_IMAGES

    frames = MAX_IMAGES + 1
    code, _, err = zoo3d(capsys, "invert", sphere, "--model", "toy_procedural", "--pose", "0,0", "--frames",
                         str(frames), "--out", "o")
    assert code == 2 and err.strip() == (f"Error: --frames {frames} asks for {frames:,}; at most {MAX_IMAGES:,} frames "
                                         "fit in one output (split the work over several commands).")
    assert not (sphere.parent / "o").exists()


def test_the_inversion_time_recorded_is_the_time_the_inversion_took(sphere, capsys):
    import time

    start = time.perf_counter()
    code, out, err = zoo3d(capsys, "invert", sphere, "--model", "toy_procedural", "--method", "optimize", "--pose",
                           "0,0", "--steps", "3", "--frames", "2", "--out", "o")
    took = time.perf_counter() - start
    assert code == 0, err
    seconds = json.loads((sphere.parent / "o" / "sphere" / "metrics.json").read_text())["invert_seconds"]
    assert 0 < seconds < took


def test_a_given_pose_is_a_camera_at_the_models_prior_radius_and_field_of_view(single_pass, monkeypatch, capsys):
    import zoo3d.runs as runs
    from zoo3d.cameras import CameraPrior

    made, _ = single_pass
    real_load = runs.load_model

    def load_model(*args, **kwargs):  # a model whose camera prior is not the default one
        loaded = real_load(*args, **kwargs)
        loaded.generator.camera_prior = CameraPrior(radius=1.3, fov=17.0)
        return loaded

    monkeypatch.setattr(runs, "load_model", load_model)
    code, _, err = zoo3d(capsys, "invert", "sphere.png", "--model", "toy_procedural", "--pose", "0.2,-0.1",
                         "--frames", "2", "--out", "o")
    assert code == 0, err
    cams, _ = made[0].calls[0]
    assert cams.fov.item() == pytest.approx(17.0) and cams.origins.norm().item() == pytest.approx(1.3)
    angles = cams.to_angles()
    assert (angles["yaw"].item(), angles["pitch"].item()) == (pytest.approx(0.2, abs=1e-6), pytest.approx(-0.1, abs=1e-6))


def test_an_optimised_inversions_metrics_json_names_its_space_and_steps(sphere, capsys):
    """The space --space auto resolved to (z: the toy has no mapping network) and the latent and PTI steps, beside the
    PSNR they reached; a single-pass inversion has none of them."""
    code, out, err = zoo3d(capsys, "invert", sphere, "--model", "toy_procedural", "--method", "optimize",
                           "--pose", "0.1,0", "--steps", "2", "--tune-steps", "1", "--frames", "1", "--out", "o")
    assert code == 0, err
    metrics = json.loads((sphere.parent / "o" / "sphere" / "metrics.json").read_text())
    assert (metrics["method"], metrics["space"], metrics["steps"], metrics["tune_steps"]) == ("optimize", "z", 2, 1)
    # the perceptual term it fitted with: LPIPS where its weights are present, else the marked substitute
    assert metrics["perceptual"] == ("lpips-alex" if metrics["lpips"] is not None else "ms-ssim-substitute")


def _two_spheres(sphere, tmp_path):
    other = tmp_path / "b" / "sphere.png"
    other.parent.mkdir()
    Image.open(sphere).save(other)
    return [sphere, other]


OPTIMISE = ["--model", "toy_procedural", "--method", "optimize", "--pose", "0.1,0", "--steps", "0", "--out", "o"]


def test_resume_passes_over_the_images_this_same_command_inverted_and_no_others(sphere, tmp_path, capsys):
    """An image's folder holding its whole inversion by the same settings is passed over; one missing an output, or
    inverted with other settings (--frames), is inverted again."""
    photos = _two_spheres(sphere, tmp_path)
    code, out, err = zoo3d(capsys, "invert", *photos, *OPTIMISE, "--frames", "1")
    assert code == 0, err
    first = (tmp_path / "o" / "sphere" / "metrics.json").read_text()
    (tmp_path / "o" / "sphere-2" / "turntable.gif").unlink()  # stopped before its outputs were all in place
    code, out, err = zoo3d(capsys, "invert", *photos, *OPTIMISE, "--frames", "1", "--resume")
    assert code == 0, err
    assert "--resume: 1 of the 2 images already inverted by this command, passed over." in err.splitlines()
    assert [line.split(":")[0] for line in out.splitlines() if " -> " in line] == [str(photos[1])]
    assert (tmp_path / "o" / "sphere" / "metrics.json").read_text() == first  # not written again
    assert (tmp_path / "o" / "sphere-2" / "turntable.gif").is_file()
    code, out, err = zoo3d(capsys, "invert", *photos, *OPTIMISE, "--frames", "2", "--resume")
    assert code == 0 and "--resume:" not in err, err
    assert len([line for line in out.splitlines() if " -> " in line]) == 2
    metrics = json.loads((tmp_path / "o" / "sphere" / "metrics.json").read_text())
    assert (metrics["frames"], metrics["yaw_range"], metrics["ema"], metrics["pose_given"]) == (2, 0.5, True, [0.1, 0])
    assert (metrics["steps"], metrics["tune_steps"], metrics["perceptual"]) == (0, 0, None)  # no step fitted a loss


def test_a_stop_names_the_image_and_how_many_were_done(sphere, tmp_path, capsys, monkeypatch):
    import zoo3d.invert.outputs as outputs

    real_write, written = outputs.write_inversion_outputs, []

    def write(*args, **kwargs):
        if written:
            raise KeyboardInterrupt  # Ctrl-C during the second image
        written.append(real_write(*args, **kwargs))
        return written[-1]

    monkeypatch.setattr(outputs, "write_inversion_outputs", write)
    photos = _two_spheres(sphere, tmp_path)
    code, out, err = zoo3d(capsys, "invert", *photos, *OPTIMISE, "--frames", "1")
    assert code == 130
    assert err.splitlines()[0] == (f"Stopped while inverting '{photos[1]}', with 1 of the 2 images to invert done; the "
                                   f"same command with --resume inverts the rest.")


def test_a_folder_stands_for_the_images_directly_in_it_in_name_order(sphere, tmp_path, capsys):
    """Hidden files, other files and sub-folders (one named as an image is) are passed over; a folder with no image
    is refused. The images are written in an order that is neither name order nor its reverse, so a listing in the
    folder's own order fails."""
    folder = tmp_path / "photos"
    (folder / "deeper").mkdir(parents=True)
    (folder / "album.png").mkdir()
    for name in ("b.png", "d.png", "a.jpg", "c.png", ".hidden.png", "deeper/e.png"):
        Image.open(sphere).convert("RGB").save(folder / name)
    (folder / "notes.txt").write_text("not a photo")
    code, out, err = zoo3d(capsys, "invert", folder, sphere, *OPTIMISE, "--frames", "1")
    assert code == 0, err
    assert [line.split(":")[0] for line in out.splitlines() if " -> " in line] == [
        *(str(folder / name) for name in ("a.jpg", "b.png", "c.png", "d.png")), str(sphere)]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a", "b", "c", "d", "sphere"]
    (tmp_path / "empty").mkdir()
    code, out, err = zoo3d(capsys, "invert", tmp_path / "empty", *OPTIMISE)
    assert code == 2 and err.strip().splitlines() == [
        f"Error: Folder '{tmp_path / 'empty'}' holds no image to invert: no bmp, jfif, jpe, jpeg, jpg, png, tif, tiff, "
        f"webp file directly in it (its sub-folders are not searched)."]
