"""``zoo3d bench invert``'s records (docs/testing.md: the single-pass inverter of the model with the role
``bench:invert`` against latent optimisation on held-out synthetic heads; PSNR/SSIM at the input and novel views,
time per image) with stand-in models, metrics and clock: the novel views are the input's at yaws -0.5, -0.3, 0.3, 0.5
and its pitch, the time per image excludes the warm-up, the novel scores are the means over those yaws, and the
ratios against the single pass (``slowdown_vs_single``, ``novel_psnr_single_minus_this``) are computed here by hand."""

from __future__ import annotations

import types

import pytest
import torch

from zoo3d.benchmarks import invert as bench
from zoo3d.cameras import Camera


def test_the_suite_measures_eight_heads_with_pti_and_quick_two_heads_without(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "measure", lambda device, **kw: calls.append((device, kw)) or ["records"])
    assert bench.run("cpu", quick=False) == ["records"]
    assert bench.run("cuda", quick=True) == ["records"]
    assert calls == [("cpu", {"images": 8, "steps": 450, "pti_steps": 350}),
                     ("cuda", {"images": 2, "steps": 30, "pti_steps": 0, "quick_train": True})]


@pytest.mark.parametrize("quick, steps", [(True, 6), (False, None)])
def test_without_a_checkpoint_the_tiny_preset_is_trained_first(quick, steps, monkeypatch, tmp_path):
    import zoo3d.launch
    import zoo3d.runs

    monkeypatch.delenv("ZOO3D_BENCH_INVERT_CKPT", raising=False)
    trained, loaded = [], []
    monkeypatch.setattr(zoo3d.launch, "train_model", lambda model, **kw: trained.append((model, kw)) or
                        types.SimpleNamespace(run_dir=tmp_path / "run", step=123))
    monkeypatch.setattr(zoo3d.runs, "load_model", lambda ref, **kw: loaded.append((ref, kw)) or "the model")
    assert bench._trained_model("cpu", quick, str(tmp_path)) == ("the model", "tiny preset, 123 steps")
    assert trained == [("gram_inverter", {"preset": "tiny", "out": str(tmp_path / "run"), "steps": steps,
                                          "device": "cpu", "overrides": ["train.sample_every=0"], "progress": False})]
    assert loaded == [(str(tmp_path / "run"), {"model": "gram_inverter", "device": "cpu"})]


def test_a_given_checkpoint_is_measured_as_it_is(monkeypatch, tmp_path):
    import zoo3d.launch
    import zoo3d.runs

    monkeypatch.setenv("ZOO3D_BENCH_INVERT_CKPT", "/runs/inv/checkpoint.pt")
    monkeypatch.setattr(zoo3d.launch, "train_model", lambda *a, **kw: pytest.fail("trained"))
    loaded = []
    monkeypatch.setattr(zoo3d.runs, "load_model", lambda ref, **kw: loaded.append((ref, kw)) or "the model")
    assert bench._trained_model("cuda", True, str(tmp_path)) == ("the model", "given checkpoint")
    assert loaded == [("/runs/inv/checkpoint.pt", {"model": "gram_inverter", "device": "cuda"})]


def test_the_novel_views_turn_the_input_camera_to_each_yaw_at_its_pitch(monkeypatch):
    import zoo3d.data.synthetic as synthetic

    def render_heads(params, cams, resolution):
        # an image that carries the camera it was rendered from: yaw, pitch, radius, fov
        a = cams.to_angles()
        values = torch.stack([a["yaw"], a["pitch"], a["radius"], torch.as_tensor(a["fov"]).expand(len(cams))], -1)
        return {"rgb": values[:, :, None, None].expand(len(cams), 4, resolution, resolution) + params}

    monkeypatch.setattr(synthetic, "render_heads", render_heads)
    cams = Camera.from_angles(torch.tensor([0.1, -0.2]), torch.tensor([0.05, -0.1]), 1.2, 14.0)
    views = bench._views(torch.tensor(0.0), cams, 3, "cpu")
    assert list(views) == ["input", -0.5, -0.3, 0.3, 0.5]
    for key, (view_cams, images) in views.items():
        yaw = torch.tensor([0.1, -0.2]) if key == "input" else torch.full((2,), key)
        torch.testing.assert_close(images[:, 0, 0, 0], yaw)
        torch.testing.assert_close(images[:, 1, 0, 0], torch.tensor([0.05, -0.1]))
        torch.testing.assert_close(images[:, 2, 0, 0], torch.tensor([1.2, 1.2]))
        torch.testing.assert_close(images[:, 3, 0, 0], torch.tensor([14.0, 14.0]))
        torch.testing.assert_close(view_cams.to_angles()["yaw"], yaw)
        assert images.shape[-2:] == (3, 3)
    torch.testing.assert_close(bench._full(3, 0.3), torch.tensor([0.3, 0.3, 0.3]))


def test_an_evaluation_averages_each_view_over_the_images_and_the_novel_views_over_the_yaws(monkeypatch):
    """Stand-in metrics: psnr = mean(pred - truth), ssim = -that; the render of image i at view k differs from the
    truth by (i + 1) x offset(k); the inversion of image i takes 1 + 2i clock seconds after a 100 s warm-up."""
    import zoo3d.eval.image_metrics as metrics

    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))
    monkeypatch.setattr(metrics, "psnr", lambda pred, truth: (pred - truth).mean(dim=(1, 2, 3)))
    monkeypatch.setattr(metrics, "ssim", lambda pred, truth: -(pred - truth).mean(dim=(1, 2, 3)))
    offsets = {"input": 1.0, -0.5: 2.0, -0.3: 4.0, 0.3: 8.0, 0.5: 16.0}
    views = {k: (Camera.from_angles(torch.zeros(2) + (0 if k == "input" else k), 0.0),
                 torch.arange(2.0)[:, None, None, None].expand(2, 3, 4, 5).clone()) for k in offsets}
    inverted = []

    def invert_one(img, cam):
        inverted.append((img.clone(), cam))
        clock.now += 100.0 if len(inverted) == 1 else 1.0 + 2 * (len(inverted) - 2)
        return float(img.flatten()[0])  # the image's index stands for its inversion

    def render(result, cams, size):
        key = next(k for k, (c, _) in views.items() if torch.allclose(c.origins[:1], cams.origins))
        return types.SimpleNamespace(rgb=torch.full((1, 3, *size), result + (result + 1) * offsets[key]))

    rec = bench._evaluate("method", invert_one, render, views, 2, torch.device("cpu"))
    assert [float(img.flatten()[0]) for img, _ in inverted] == [0.0, 0.0, 1.0]  # warm-up on the first image
    mean_factor = (1 + 2) / 2
    novel = (2 + 4 + 8 + 16) / 4 * mean_factor
    assert rec == {"method": "method", "images": 2, "seconds_per_image": 2.0,
                   "psnr_input": pytest.approx(1.5), "ssim_input": pytest.approx(-1.5),
                   "psnr_novel": pytest.approx(novel), "ssim_novel": pytest.approx(-novel),
                   "psnr_yaw-0.5": pytest.approx(3.0), "psnr_yaw-0.3": pytest.approx(6.0),
                   "psnr_yaw+0.3": pytest.approx(12.0), "psnr_yaw+0.5": pytest.approx(24.0)}


@pytest.mark.parametrize("pti_steps", [350, 0])
def test_a_comparison_records_the_single_pass_then_each_optimisation_against_it(pti_steps, monkeypatch):
    import zoo3d.data.synthetic as synthetic
    import zoo3d.invert

    monkeypatch.setenv("ZOO3D_BENCH_INVERT_CKPT", "unchanged")
    cams = Camera.from_angles(torch.tensor([0.1, -0.2, 0.3]), torch.tensor([0.0, 0.1, -0.1]), 1.0, 12.0)

    class Single:
        def to(self, dev):
            return self

        def eval(self):
            return self

        def invert(self, img, cam):
            return "single result"

        def render(self, result, cams, size):
            return None

        def encode(self, images):
            return None, torch.tensor([[0.2, 0.1], [-0.2, 0.1], [0.3, -0.4]])  # (yaw, pitch) per image

    gen = types.SimpleNamespace(device=torch.device("cpu"), resolution=(32, 32))
    built = []
    plugin = types.SimpleNamespace(build_inverter=lambda config, modules: built.append(modules) or Single())
    loaded = types.SimpleNamespace(generator=gen, plugin=plugin, config=types.SimpleNamespace(camera="the prior"),
                                   modules={"encoder": "e"}, step=4000, sha256="0123456789abcdef",
                                   spec=types.SimpleNamespace(name="gram_inverter"))
    monkeypatch.setattr(bench, "_trained_model", lambda device, quick, tmp: (loaded, "given checkpoint"))
    asked = []
    monkeypatch.setattr(synthetic, "instance_params_and_camera",
                        lambda seed, idx, prior: asked.append((seed, list(idx), prior)) or ("params", cams))
    monkeypatch.setattr(bench, "_views", lambda params, c, res, dev: {"input": (c, torch.zeros(3, 3, res, res))})
    times = {"gram_inverter_single_pass": (0.5, 20.0), "optimize_wplus": (30.0, 18.0), "optimize_wplus_pti": (60.0, 23.0)}
    evaluated = []

    def evaluate(name, invert_one, render, views, n, dev):
        evaluated.append((name, n))
        if name.endswith("single_pass"):
            assert invert_one(None, None) == "single result"
        return {"method": name, "seconds_per_image": times[name][0], "psnr_novel": times[name][1]}

    monkeypatch.setattr(bench, "_evaluate", evaluate)

    class Optimizer:
        def __init__(self, generator, settings):
            assert generator is gen
            self.settings, self.perceptual = settings, types.SimpleNamespace(name="vgg16")

        invert = render = None

    monkeypatch.setattr(zoo3d.invert, "OptimizationInverter", Optimizer)
    records = bench.measure("cpu", images=3, steps=40, pti_steps=pti_steps, checkpoint="/given.pt")
    assert asked == [(9001, [0, 1, 2], "the prior")] and built == [{"encoder": "e", "generator": gen}]
    common = {"device": "cpu", "resolution": 32, "model": "given checkpoint", "train_step": 4000,
              "checkpoint_sha256": "0123456789ab", "pose": "true input camera given"}
    mae = (0.1 + 0.1 + 0 + 0 + 0 + 0.3) / 6
    expected = [{**common, "method": "gram_inverter_single_pass", "seconds_per_image": 0.5, "psnr_novel": 20.0,
                 "pose_head_mae_rad": pytest.approx(mae, abs=1e-6)},
                {**common, "method": "optimize_wplus", "seconds_per_image": 30.0, "psnr_novel": 18.0, "steps": 40,
                 "perceptual": "vgg16", "slowdown_vs_single": 60.0, "novel_psnr_single_minus_this": 2.0}]
    if pti_steps:
        expected.append({**common, "method": "optimize_wplus_pti", "seconds_per_image": 60.0, "psnr_novel": 23.0,
                         "steps": 40 + 350, "perceptual": "vgg16", "slowdown_vs_single": 120.0,
                         "novel_psnr_single_minus_this": -3.0})
    assert records == expected
    assert [n for _, n in evaluated] == [3] * len(expected)
    import os

    assert os.environ["ZOO3D_BENCH_INVERT_CKPT"] == "/given.pt"  # the checkpoint argument stands for the variable
