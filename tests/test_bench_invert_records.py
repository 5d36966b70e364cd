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
                        types.SimpleNamespace(run_dir=tmp_path / "run", step=123, status="done"))
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
        assert len(img) == 1 and len(cam) == 1
        inverted.append((img.clone(), cam))
        clock.now += 100.0 if len(inverted) == 1 else 1.0 + 2 * (len(inverted) - 2)
        return float(img.flatten()[0])  # the image's index stands for its inversion

    def render(result, cams, size):
        assert len(cams) == 1 and size == (4, 5)
        key = next(k for k, (c, _) in views.items() if torch.allclose(c.origins[:1], cams.origins))
        return types.SimpleNamespace(rgb=torch.full((1, 3, *size), result + (result + 1) * offsets[key]))

    rec = bench._evaluate("method", invert_one, render, views, 2, torch.device("cpu"))
    assert [float(img.flatten()[0]) for img, _ in inverted] == [0.0, 0.0, 1.0]  # warm-up on the first image
    assert all(torch.equal(cam.origins, views["input"][0].origins[:1]) for _, cam in inverted)
    mean_factor = (1 + 2) / 2
    novel = (2 + 4 + 8 + 16) / 4 * mean_factor
    assert rec == {"method": "method", "images": 2, "seconds_per_image": 2.0,
                   "psnr_input": pytest.approx(1.5), "ssim_input": pytest.approx(-1.5),
                   "psnr_novel": pytest.approx(novel), "ssim_novel": pytest.approx(-novel),
                   "psnr_yaw-0.5": pytest.approx(3.0), "psnr_yaw-0.3": pytest.approx(6.0),
                   "psnr_yaw+0.3": pytest.approx(12.0), "psnr_yaw+0.5": pytest.approx(24.0)}


class _Single:
    """The single-pass inverter stand-in: records what it inverts and encodes; its pose head's (yaw, pitch)."""

    def __init__(self, pose):
        self.pose, self.inverted, self.encoded = pose, [], []

    def to(self, dev):
        return self

    def eval(self):
        return self

    def invert(self, img, cam):
        self.inverted.append((img, cam, torch.is_grad_enabled()))
        return "single result"

    def render(self, result, cams, size):
        return None

    def encode(self, images):
        self.encoded.append(images)
        return None, self.pose


@pytest.mark.parametrize("shared_geometry", [False, True], ids=["no-shared-geometry", "shared-geometry"])
@pytest.mark.parametrize("kwargs, n, steps, pti_steps, quick, pose_known, perceptual, sha", [
    ({}, 8, 450, 350, False, True, "vgg16", "0123456789abcdef"),  # the defaults: the full suite's
    ({"images": 3, "steps": 40, "pti_steps": 1, "quick_train": True}, 3, 40, 1, True, True, "vgg16", None),
    ({"images": 3, "steps": 40, "pti_steps": 0}, 3, 40, 0, False, False, None, "0123456789abcdef"),
])
def test_a_comparison_records_the_single_pass_then_each_optimisation_against_it(
        kwargs, n, steps, pti_steps, quick, pose_known, perceptual, sha, shared_geometry, monkeypatch):
    """A generator with a shared geometry (``intersect``, as Efficient GRAM's) is also measured with PTI keeping it
    (``--keep-geometry``), after PTI of every weight."""
    import os

    import zoo3d.data.synthetic as synthetic
    import zoo3d.invert

    monkeypatch.setenv("ZOO3D_BENCH_INVERT_CKPT", "unchanged")
    yaws, pitches = torch.linspace(-0.4, 0.4, n), torch.linspace(0.1, -0.1, n)
    cams = Camera.from_angles(yaws, pitches, 1.0, 12.0)
    offsets = torch.zeros(n, 2)
    offsets[0] = torch.tensor([0.3, -0.1])
    single = _Single(torch.stack([yaws, pitches], -1) + offsets if pose_known else None)
    gen = types.SimpleNamespace(device=torch.device("cpu"), resolution=(32, 48))
    if shared_geometry:
        gen.intersect = lambda cameras, resolution: None
    config = types.SimpleNamespace(camera="the prior")
    built, trained = [], []
    plugin = types.SimpleNamespace(build_inverter=lambda cfg, modules: built.append((cfg, modules)) or single)
    loaded = types.SimpleNamespace(generator=gen, plugin=plugin, config=config, modules={"encoder": "e"}, step=4000,
                                   sha256=sha, spec=types.SimpleNamespace(name="gram_inverter"))

    def trained_model(device, quick_train, tmp, checkpoint=None):
        trained.append((device, quick_train, os.path.isdir(tmp)))
        return loaded, "given checkpoint"

    monkeypatch.setattr(bench, "_trained_model", trained_model)
    asked, viewed = [], []
    monkeypatch.setattr(synthetic, "instance_params_and_camera",
                        lambda seed, idx, prior: asked.append((seed, list(idx), prior)) or ("params", cams))
    views = {"input": (cams, torch.zeros(n, 3, 32, 32))}
    monkeypatch.setattr(bench, "_views", lambda params, c, res, dev: viewed.append((params, c, res, dev)) or views)
    times = {"gram_inverter_single_pass": (0.5, 20.0), "optimize_wplus": (30.0, 18.0),
             "optimize_wplus_pti": (60.0, 23.0), "optimize_wplus_pti_keep_geometry": (45.0, 22.0)}
    evaluated = []

    def evaluate(name, invert_one, render, given_views, count, dev):
        evaluated.append((name, invert_one, render, given_views, count, dev))
        return {"method": name, "seconds_per_image": times[name][0], "psnr_novel": times[name][1]}

    monkeypatch.setattr(bench, "_evaluate", evaluate)
    optimizers = []

    class Optimizer:
        def __init__(self, generator, settings):
            self.generator, self.settings = generator, settings
            self.perceptual = None if perceptual is None else types.SimpleNamespace(name=perceptual)
            optimizers.append(self)

        def invert(self, img, cam):
            pass

        def render(self, result, cams, size):
            pass

    monkeypatch.setattr(zoo3d.invert, "OptimizationInverter", Optimizer)
    records = bench.measure("cpu", **kwargs)

    assert trained == [("cpu", quick, True)]
    assert asked == [(9001, list(range(n)), "the prior")]
    assert built == [(config, {"encoder": "e", "generator": gen})]
    assert viewed == [("params", cams, 32, torch.device("cpu"))]
    assert single.encoded == [views["input"][1]]
    common = {"device": "cpu", "resolution": 32, "model": "given checkpoint", "train_step": 4000,
              "checkpoint_sha256": "0123456789ab" if sha else "", "pose": "true input camera given"}
    mae = (0.3 + 0.1) / (2 * n) if pose_known else None
    expected = [{**common, "method": "gram_inverter_single_pass", "seconds_per_image": 0.5, "psnr_novel": 20.0,
                 "pose_head_mae_rad": pytest.approx(mae, abs=1e-6) if pose_known else None},
                {**common, "method": "optimize_wplus", "seconds_per_image": 30.0, "psnr_novel": 18.0, "steps": steps,
                 "perceptual": perceptual, "slowdown_vs_single": 60.0, "novel_psnr_single_minus_this": 2.0}]
    if pti_steps:
        expected.append({**common, "method": "optimize_wplus_pti", "seconds_per_image": 60.0, "psnr_novel": 23.0,
                         "steps": steps + pti_steps, "perceptual": perceptual, "slowdown_vs_single": 120.0,
                         "novel_psnr_single_minus_this": -3.0})
    if pti_steps and shared_geometry:
        expected.append({**common, "method": "optimize_wplus_pti_keep_geometry", "seconds_per_image": 45.0,
                         "psnr_novel": 22.0, "steps": steps + pti_steps, "perceptual": perceptual,
                         "slowdown_vs_single": 90.0, "novel_psnr_single_minus_this": -2.0})
    assert records == expected
    assert [(o.generator, o.settings.steps, o.settings.tune_steps, o.settings.keep_geometry) for o in optimizers] == [
        (gen, steps, 0, False)] + ([(gen, steps, pti_steps, False)] if pti_steps else []) + (
        [(gen, steps, pti_steps, True)] if pti_steps and shared_geometry else [])

    # every evaluation: its own inverter and renderer, the views, the image count, the generator's device
    assert [e[0] for e in evaluated] == [r["method"] for r in expected]
    assert all(e[3] is views and e[4] == n and e[5] == torch.device("cpu") for e in evaluated)
    assert evaluated[0][2] == single.render
    assert evaluated[0][1]("an image", "a camera") == "single result"
    assert single.inverted == [("an image", "a camera", False)]  # without a graph
    for e, opt in zip(evaluated[1:], optimizers):
        assert e[1] == opt.invert and e[2] == opt.render
    assert os.environ["ZOO3D_BENCH_INVERT_CKPT"] == "unchanged"  # a checkpoint given leaves the variable alone


def test_a_checkpoint_argument_stands_for_the_variable_and_leaves_it_as_it_was(monkeypatch):
    """``zoo3d bench --json`` records the ZOO3D_* variables after the suites ran: one the suite set itself would be
    recorded as the user's setting."""
    import os

    from zoo3d import runs

    monkeypatch.setenv("ZOO3D_BENCH_INVERT_CKPT", "unchanged")
    loaded = []

    def load_model(ref, model, device):
        loaded.append(ref)
        raise RuntimeError("stop here")

    monkeypatch.setattr(runs, "load_model", load_model)
    with pytest.raises(RuntimeError, match="stop here"):
        bench.measure("cpu", checkpoint="/given.pt")
    with pytest.raises(RuntimeError, match="stop here"):
        bench.measure("cpu")
    assert loaded == ["/given.pt", "unchanged"] and os.environ["ZOO3D_BENCH_INVERT_CKPT"] == "unchanged"


def test_without_a_model_of_the_role_the_refusal_names_the_suite(monkeypatch, tmp_path):
    import zoo3d.plugins
    from zoo3d.errors import UserError

    monkeypatch.setattr(zoo3d.plugins, "models_with_role", lambda role: [])
    with pytest.raises(UserError, match=r"^zoo3d bench invert needs a model with the role 'bench:invert', and no "
                                        r"registered model declares it"):
        bench._trained_model("cpu", True, str(tmp_path))
