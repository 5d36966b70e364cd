"""End to end: a micro GRAMInverter trains through all three stages, then `zoo3d invert` writes its outputs, whose saved
inversion `zoo3d render`, `zoo3d export` and `zoo3d view` take again (`--inversion`)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from test_gram_inverter_model import micro_config


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from zoo3d.train.engine import Trainer

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plugin, cfg = micro_config("data.resize=area")  # not the default filter: invert must read it from the run
        run = tmp_path_factory.mktemp("gram_inverter_run")
        result = Trainer(plugin, cfg, run, model_name="gram_inverter", device="cpu", max_steps=3,
                         progress=False).run()
    finally:
        torch.set_num_threads(previous)
    assert result.status == "done"
    return run


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    from zoo3d.data.synthetic import SyntheticHeads
    from zoo3d.imageio import save_image

    path = tmp_path_factory.mktemp("inputs") / "held_out.png"
    save_image(SyntheticHeads(16, count=1, seed=777)[0]["image"], path)
    return path


def test_tiny_training_passes_every_stage(trained_run):
    stages = [json.loads(line)["stage"] for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert stages == ["gram_inverter.efficient_gram", "gram_inverter.encoder", "gram_inverter.detail"]


@pytest.mark.parametrize("extra", [[], ["--pose", "0.1,-0.05"]], ids=["estimated-pose", "given-pose"])
def test_invert_writes_reconstruction_turntable_depth_and_the_metrics_of_what_it_wrote(trained_run, portrait, tmp_path,
                                                                                       extra):
    from zoo3d.cli.main import cli

    torch.set_num_threads(1)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["invert", str(portrait), "--model", "gram_inverter", "--ckpt", str(trained_run),
                                   "--out", str(out), "--frames", "3", "--device", "cpu", *extra])
    assert res.exit_code == 0, res.output
    folder = out / "held_out"
    for name in ("reconstruction.png", "turntable.gif", "depth.png", "metrics.json"):
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    metrics = json.loads((folder / "metrics.json").read_text())
    # the numbers are those of the written reconstruction against the input (up to its 8-bit rounding)
    from PIL import Image

    from zoo3d.eval.image_metrics import psnr, ssim

    def load(path):
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        return torch.from_numpy(pixels).permute(2, 0, 1)[None] / 127.5 - 1

    rec, src = load(folder / "reconstruction.png"), load(portrait)
    assert rec.shape == src.shape
    assert metrics["psnr"] == pytest.approx(psnr(rec, src).item(), abs=0.1)
    assert metrics["ssim"] == pytest.approx(ssim(rec, src).item(), abs=0.01)
    with Image.open(folder / "turntable.gif") as gif:
        assert gif.n_frames == 3
    assert metrics["lpips"] is None and metrics["lpips_unavailable"] or math.isfinite(metrics["lpips"])
    assert metrics["method"] == "single"
    if extra:
        assert metrics["pose_source"] == "given"
        assert metrics["pose"]["yaw"] == pytest.approx(0.1, abs=1e-4)
        assert metrics["pose"]["pitch"] == pytest.approx(-0.05, abs=1e-4)
    else:
        assert metrics["pose_source"] == "estimated"


def test_the_saved_single_pass_inversion_draws_its_reconstruction_and_renders_at_other_views(trained_run, portrait,
                                                                                             tmp_path, single_thread):
    """Its W+, the image its detail manifolds are drawn from and its estimated pose come back from
    inversion.safetensors: reconstruction.png's pixels at the input view; ``zoo3d render --inversion`` draws it (with
    depth) at a resolution of its own, the sweep's centre frame being the input view."""
    from PIL import Image

    from zoo3d.cli.main import cli
    from zoo3d.imageio import to_uint8
    from zoo3d.invert import load_inversion

    res = CliRunner().invoke(cli, ["invert", str(portrait), "--model", "gram_inverter", "--ckpt", str(trained_run),
                                   "--out", str(tmp_path / "out"), "--frames", "2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    folder = tmp_path / "out" / "held_out"
    inverter, result = load_inversion(folder, "cpu")
    assert result.extras["header"]["method"] == "single" and result.extras["pose"] is not None
    detail = result.extras["detail"]
    assert detail is not None and bool(detail.foreground.abs().sum() > 0)  # one step of the detail stage trained it
    recon = np.asarray(Image.open(folder / "reconstruction.png").convert("RGB"))
    assert np.array_equal(to_uint8(inverter.render(result, result.cameras).rgb[0]), recon)
    res = CliRunner().invoke(cli, ["render", "--inversion", str(folder), "--trajectory", "yaw-sweep", "--frames", "3",
                                   "--resolution", "24", "--depth", "side", "--out", str(tmp_path / "sweep"),
                                   "--device", "cpu"])
    assert res.exit_code == 0, res.output
    frames = [np.asarray(Image.open(f).convert("RGB")) for f in sorted((tmp_path / "sweep").iterdir())]
    assert [f.shape for f in frames] == [(24, 48, 3)] * 3  # colour, then depth beside it
    centre = inverter.render(result, result.cameras, (24, 24))
    assert np.array_equal(frames[1][:, :24], to_uint8(centre.rgb[0]))
    assert len(np.unique(frames[1][:, 24:])) > 1  # a depth picture, not a flat one
    assert not np.array_equal(frames[0][:, :24], frames[1][:, :24])  # the sweep's ends are other views


def test_an_optimised_inversion_in_z_comes_back_in_z(trained_run, portrait, tmp_path, single_thread):
    """The header's space (z, where W+ is the model's default) says how the saved latent is drawn."""
    from PIL import Image

    from zoo3d.cli.main import cli
    from zoo3d.imageio import to_uint8
    from zoo3d.invert import load_inversion

    res = CliRunner().invoke(cli, ["invert", str(portrait), "--model", "gram_inverter", "--ckpt", str(trained_run),
                                   "--method", "optimize", "--space", "z", "--steps", "2", "--pose",
                                   "0.1,0", "--out", str(tmp_path / "out"), "--frames", "1", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    folder = tmp_path / "out" / "held_out"
    inverter, result = load_inversion(folder, "cpu")
    assert result.extras["header"]["space"] == result.extras["space"] == "z"
    assert result.latent.shape == (1, inverter.generator.z_dim)
    recon = np.asarray(Image.open(folder / "reconstruction.png").convert("RGB"))
    assert np.array_equal(to_uint8(inverter.render(result, result.cameras).rgb[0]), recon)


def test_invert_by_optimisation_uses_the_pose_head_and_writes_the_same_outputs(trained_run, portrait, tmp_path):
    from zoo3d.cli.main import cli

    torch.set_num_threads(1)
    res = CliRunner().invoke(cli, ["invert", str(portrait), "--model", "graminverter", "--ckpt", str(trained_run),
                                   "--method", "optimize", "--steps", "3", "--out", str(tmp_path), "--frames", "2",
                                   "--device", "cpu"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "held_out" / "metrics.json").read_text())
    assert metrics["method"] == "optimize" and metrics["pose_source"] == "estimated"
    assert math.isfinite(metrics["psnr"])
    assert (tmp_path / "held_out" / "turntable.gif").is_file()


def test_invert_rejects_a_malformed_pose(trained_run, portrait, tmp_path):
    from zoo3d.cli.main import cli

    res = CliRunner().invoke(cli, ["invert", str(portrait), "--model", "gram_inverter", "--ckpt", str(trained_run),
                                   "--out", str(tmp_path), "--pose", "left"])
    from zoo3d.errors import UserError

    assert isinstance(res.exception, UserError)  # the console entry point prints it as one line, exit 2
    assert "yaw,pitch" in str(res.exception)
    assert not (tmp_path / "held_out").exists()  # refused before anything was loaded or written


def test_invert_reads_photos_as_the_run_read_its_data_and_scores_them_with_lpips_at_16_px(trained_run, portrait,
                                                                                        tmp_path, monkeypatch):
    """The encoder learnt from images resized with the run's filter; LPIPS (its backbone present, here a random
    stand-in AlexNet) scores the 16 px micro model's reconstruction, where AlexNet alone would fail."""
    import torchvision

    import zoo3d.data.images as images
    from zoo3d.cli.main import cli
    from zoo3d.eval.image_metrics import ALEXNET_FILE

    torch.set_num_threads(1)
    torch.manual_seed(0)
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), hub / ALEXNET_FILE)  # stand-in weights
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    filters = []
    real = images.decode_image
    monkeypatch.setattr(images, "decode_image", lambda *a, **kw: filters.append(kw.get("resize")) or real(*a, **kw))
    res = CliRunner().invoke(cli, ["invert", str(portrait), "--model", "gram_inverter", "--ckpt", str(trained_run),
                                   "--out", str(tmp_path / "out"), "--frames", "2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert filters == ["area", "area"]  # read once to check it before any work, once to invert it
    metrics = json.loads((tmp_path / "out" / "held_out" / "metrics.json").read_text())
    assert math.isfinite(metrics["lpips"]) and metrics["lpips"] > 0 and "lpips_unavailable" not in metrics


@pytest.mark.parametrize("args, message", [
    (["--steps", "9"], "--steps set the latent optimisation; add --method optimize"),
    (["--space", "z", "--tune-steps", "5"], "--tune-steps, --space set the latent optimisation"),
])
def test_options_of_the_optimisation_are_refused_for_the_single_pass_inverter(trained_run, portrait, tmp_path, args,
                                                                               message):
    from zoo3d.cli.main import cli
    from zoo3d.errors import UserError

    res = CliRunner().invoke(cli, ["invert", str(portrait), "--model", "gram_inverter", "--ckpt", str(trained_run),
                                   "--out", str(tmp_path), *args])
    assert isinstance(res.exception, UserError) and message in str(res.exception)


def test_an_image_pil_cannot_decode_is_one_sentence(trained_run, portrait, tmp_path):
    from zoo3d.cli.main import cli
    from zoo3d.errors import UserError

    data = bytearray(portrait.read_bytes())
    data[36] ^= 0x5A  # the next chunk's name: PIL raises SyntaxError ("broken PNG file"), not OSError
    bad = tmp_path / "bad.png"
    bad.write_bytes(bytes(data))
    res = CliRunner().invoke(cli, ["invert", str(bad), "--model", "gram_inverter", "--ckpt", str(trained_run),
                                   "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert isinstance(res.exception, UserError), res.output
    assert str(res.exception).startswith(f"Cannot read image '{bad}'")


def _invert_to(trained_run, portrait, out, *args) -> "Path":  # noqa: F821
    from zoo3d.cli.main import cli

    res = CliRunner().invoke(cli, ["invert", str(portrait), "--model", "gram_inverter", "--ckpt", str(trained_run),
                                   "--out", str(out), "--frames", "1", "--device", "cpu", *args])
    assert res.exit_code == 0, res.output
    return out / "held_out"


def _glb_of(cache, meta: dict) -> bytes:
    """``cache`` written as GLB with the zoo3d metadata ``meta`` (a file's own, so that the bytes compare its meshes
    and textures)."""
    from zoo3d.freeview.gltf import glb_bytes

    cache.meta = dict(meta)
    return glb_bytes(cache)


@pytest.mark.parametrize("method", [[], ["--method", "optimize", "--steps", "1", "--tune-steps", "1"]],
                         ids=["single-pass", "pti"])
def test_export_of_a_saved_inversion_is_the_cache_of_its_representation(trained_run, portrait, tmp_path,
                                                                        single_thread, method):
    """``zoo3d export --inversion`` writes the textured layers of the inverted scene, drawn by the generator that
    draws it (PTI's tuned copy), as Python builds them from load_inversion; not the coarse scene, nor the run's
    untuned generator's."""
    from zoo3d.cli.main import cli
    from zoo3d.freeview.cache import build_cache, cache_summary
    from zoo3d.freeview.gltf import read_glb_json
    from zoo3d.invert import load_inversion

    folder = _invert_to(trained_run, portrait, tmp_path / "inv", *method)
    res = CliRunner().invoke(cli, ["export", "--inversion", str(folder), "--out", str(tmp_path / "head.glb"),
                                   "--device", "cpu"])
    assert res.exit_code == 0, res.output
    data = (tmp_path / "head.glb").read_bytes()
    meta = read_glb_json(data)["asset"]["extras"]["zoo3d"]
    assert (meta["model"], meta["image"], "seed" in meta) == ("gram_inverter", portrait.name, False)
    inverter, result = load_inversion(folder, "cpu")
    drawn_by = result.generator if method else inverter.generator
    assert (result.generator is not None) == bool(method)
    with torch.no_grad():
        want = build_cache(drawn_by.textured_layers(result.representation, result.cameras[:1]))
        assert data == _glb_of(want, meta)
        assert res.output == f"Wrote {cache_summary(want)} (inversion '{folder}') to {tmp_path / 'head.glb'}.\n"
        if method:  # the run's own generator decodes the tuned features otherwise
            other = inverter.generator.textured_layers(result.representation, result.cameras[:1])
        else:  # the detail manifolds are part of it
            other = inverter.generator.textured_layers(result.extras["coarse"], result.cameras[:1])
        assert data != _glb_of(build_cache(other), meta)


def test_a_ply_of_a_saved_inversion_is_refused_as_a_seeds_is(trained_run, portrait, tmp_path, single_thread):
    from zoo3d.cli.main import cli
    from zoo3d.errors import UserError

    folder = _invert_to(trained_run, portrait, tmp_path / "inv")
    res = CliRunner().invoke(cli, ["export", "--inversion", str(folder), "--resolution", "8", "--out",
                                   str(tmp_path / "head.ply"), "--device", "cpu"])
    assert isinstance(res.exception, UserError) and str(res.exception) == (
        "Model 'gram_inverter' cannot be meshed by marching cubes: its representation (FeatureManifolds) is neither an "
        "SDF nor a density field and offers no mesh_field(points); export its textured manifold layers with "
        "--out NAME.glb (or .gltf).")
    assert not (tmp_path / "head.ply").exists()


def test_render_cached_of_a_saved_inversion_rasterizes_its_cache_around_the_input_view(trained_run, portrait, tmp_path,
                                                                                      single_thread):
    """``zoo3d render --inversion --cached`` draws the frames of the inversion's cache (as export writes it), along
    the sweep around its input view, at the resolution it was inverted at."""
    from PIL import Image

    from zoo3d.cameras import yaw_sweep
    from zoo3d.cli.main import cli
    from zoo3d.freeview.cache import build_cache, cache_summary
    from zoo3d.freeview.render import CachedRenderer
    from zoo3d.imageio import to_uint8
    from zoo3d.invert import load_inversion

    folder = _invert_to(trained_run, portrait, tmp_path / "inv")
    res = CliRunner().invoke(cli, ["render", "--inversion", str(folder), "--cached", "--rasterizer", "torch",
                                   "--trajectory", "yaw-sweep", "--frames", "3", "--yaw-range", "0.3", "--out",
                                   str(tmp_path / "sweep"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    frames = [np.asarray(Image.open(f).convert("RGB")) for f in sorted((tmp_path / "sweep").iterdir())]
    inverter, result = load_inversion(folder, "cpu")
    angles = {k: float(v[0]) for k, v in result.cameras.to_angles().items()}
    cams = yaw_sweep(3, yaw_range=0.3, pitch=angles["pitch"], radius=angles["radius"], fov=angles["fov"],
                     yaw_center=angles["yaw"])
    with torch.no_grad():
        cache = build_cache(inverter.generator.textured_layers(result.representation, result.cameras[:1]))
        want = CachedRenderer(cache, "torch").render(cams, (16, 16)).rgb
    assert [f.shape for f in frames] == [(16, 16, 3)] * 3
    assert all(np.array_equal(got, to_uint8(w)) for got, w in zip(frames, want))
    assert not np.array_equal(frames[0], frames[2])  # the sweep's ends are other views
    assert res.output.startswith(f"Wrote 3 frames of inversion '{folder}' (yaw-sweep around its input view) to "
                                 f"{tmp_path / 'sweep'}. (cached: {cache_summary(cache)}; torch rasterizer, ")


def test_the_viewer_of_a_saved_inversion_serves_what_export_writes_opening_at_its_input_view(trained_run, portrait,
                                                                                           tmp_path, single_thread):
    """``zoo3d view --inversion``'s one scene is the file ``zoo3d export --inversion`` writes, byte for byte; the page
    opens at the input view, within the run's camera prior, and has no other seed to make."""
    from zoo3d.cli.main import cli
    from zoo3d.freeview.commands import inversion_source
    from zoo3d.freeview.server import SceneError, view_info
    from zoo3d.runs import load_model

    folder = _invert_to(trained_run, portrait, tmp_path / "inv", "--pose", "0.2,-0.05")
    res = CliRunner().invoke(cli, ["export", "--inversion", str(folder), "--out", str(tmp_path / "head.glb"),
                                   "--device", "cpu"])
    assert res.exit_code == 0, res.output
    source = inversion_source(str(folder), "cpu")
    assert source.glb(None) == (tmp_path / "head.glb").read_bytes()
    info = source.info()
    assert info["centre_view"] == pytest.approx({"yaw": 0.2, "pitch": -0.05}, abs=1e-6)
    prior = view_info(load_model(str(trained_run), device="cpu").generator.camera_prior)
    assert (info["camera_prior"], info["view_limits"]) == (prior["camera_prior"], prior["view_limits"])
    assert (info["seed"], info["can_generate"], info["source"]) == (None, False, f"inversion {folder}")
    refusal = f"This viewer shows inversion '{folder}'; it cannot make other seeds."
    with pytest.raises(SceneError, match=re.escape(refusal)):
        source.glb(3)


def test_an_exported_inversion_holds_its_input_view_where_a_viewer_of_the_file_opens_and_its_camera_stands(
        trained_run, portrait, tmp_path, single_thread):
    from zoo3d.cameras import Camera
    from zoo3d.cli.main import cli
    from zoo3d.freeview.gltf import read_glb_json
    from zoo3d.freeview.server import FileSource

    folder = _invert_to(trained_run, portrait, tmp_path / "inv", "--pose", "-0.25,0.1")
    res = CliRunner().invoke(cli, ["export", "--inversion", str(folder), "--out", str(tmp_path / "head.glb"),
                                   "--device", "cpu"])
    assert res.exit_code == 0, res.output
    doc = read_glb_json((tmp_path / "head.glb").read_bytes())
    view = doc["asset"]["extras"]["zoo3d"]["input_view"]
    prior = doc["asset"]["extras"]["zoo3d"]["camera_prior"]
    assert view == pytest.approx({"yaw": -0.25, "pitch": 0.1, "radius": prior["radius"], "fov": prior["fov"]},
                                 abs=1e-6)
    node, (camera,) = doc["nodes"][-1], doc["cameras"]
    assert (node["name"], camera["name"]) == ("camera_input_view", "input_view")
    want = Camera.from_angles(-0.25, 0.1, prior["radius"], prior["fov"]).cam2world[0, :3, 3].double().numpy()
    assert np.allclose(node["translation"], want, rtol=0, atol=1e-6)
    assert FileSource(tmp_path / "head.glb").info()["centre_view"] == pytest.approx({"yaw": -0.25, "pitch": 0.1},
                                                                                   abs=1e-6)
