"""The NeuS records of ``zoo3d bench peers``: both sides' set-up, watching and results, with stand-ins.

zoo3d's side runs a stand-in ``fit_neus`` that calls its callback as the real fit does; the authors' side runs a
stand-in checkout of Totoro97/NeuS (``exp_runner.Runner`` whose ``train`` is their loop reduced to what the record
touches: ``gen_random_rays_at`` on their image permutation, ``near_far_from_sphere``, the renderer, ``iter_step``,
``validate_image`` every ``val_freq`` steps) configured by a stand-in of ``pyhocon`` reading ``confs/womask.conf``
written as JSON with their values. The answers: the module docstring's rules (zoo3d first, its last PSNR the
target; the authors' loop stopped at the first watched step at or above it, or at the step or time cap; the time
to the target interpolated), their conf's keys narrowed to the ``small`` protocol's sizes, the PSNRs in closed form.
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
import types

import pytest
import torch

from zoo3d.benchmarks.peers import neus
from zoo3d.benchmarks.peers.records import by_name
from zoo3d.eval.protocol import make_protocol

V, R = 2, 3


#: the scene's cameras: passed through untouched to the fit
CAMERAS = object()


def _scene(eval_pixels=5, r=R):
    """Two 3² views of known colours, rays along -z from z = 2 (origins spread in x, y), the first pixels watched."""
    g = torch.Generator().manual_seed(3)
    views = torch.rand(V, 3, r, r, generator=g) * 2 - 1
    colours = ((views + 1) / 2).permute(0, 2, 3, 1).reshape(-1, 3)
    n = V * r * r
    origins = torch.stack([torch.linspace(-0.5, 0.5, n), torch.linspace(0.3, -0.3, n), torch.full((n,), 2.0)], -1)
    dirs = torch.tensor([0.0, 0.0, -1.0]).expand(n, 3).clone()
    return neus.Scene(views, CAMERAS, origins, dirs, colours, torch.arange(eval_pixels))


def _psnr(pred, target):
    return -10 * math.log10(float(((pred - target) ** 2).mean()))


def _mean_view_psnr(colour, views):
    """The metric's neus_psnr of a constant colour (3,) in [0, 1]: per-view PSNR on [0, 1], averaged."""
    target = (views + 1) / 2
    return sum(_psnr(colour[:, None, None], target[v]) for v in range(views.shape[0])) / views.shape[0]


class _Made(list):
    """The scenes asked for; ``r``: the side of the next one."""


@pytest.fixture
def scenes(monkeypatch):
    made = _Made()
    monkeypatch.setattr(neus, "scene", lambda resolution, eval_pixels, device: made.append(
        (resolution, eval_pixels, device)) or _scene(r=made.r))
    made.r = R
    for name in ("ZOO3D_PEERS_NEUS_ITERATIONS", "ZOO3D_PEERS_NEUS_MAX_ITERS", "ZOO3D_PEERS_NEUS_MAX_S",
                 "ZOO3D_PEERS_NEUS_TARGET_DB"):
        monkeypatch.delenv(name, raising=False)
    return made


# ------------------------------------------------------------------------------------------------ the pieces


def test_pooled_psnr_pools_every_pixel_and_channel_and_caps_a_perfect_match():
    target = torch.zeros(4, 3)
    pred = torch.zeros(4, 3)
    pred[0, 0] = 1.0  # one squared error of 1 among 12
    assert neus.pooled_psnr(pred, target) == pytest.approx(10 * math.log10(12), abs=1e-6)
    assert neus.pooled_psnr(target, target) == pytest.approx(100.0)  # the MSE floor 1e-10


def test_full_psnr_is_the_mean_of_the_per_view_psnrs_of_pixels_in_view_row_column_order():
    g = torch.Generator().manual_seed(0)
    views = torch.rand(2, 3, 4, 4, generator=g) * 0.8 - 0.9  # [0.05, 0.45] on [0, 1]: the errors below stay in range
    exact = ((views + 1) / 2).permute(0, 2, 3, 1).reshape(-1, 3)  # index (v * R + y) * R + x
    colours = exact.clone()
    colours[:16] += 0.1  # view 0: 20 dB
    colours[16 + 5, 1] += 0.4  # view 1: one channel of one pixel off by 0.4: 10 log10(48 / 0.16)
    expected = (20.0 + 10 * math.log10(48 / 0.16)) / 2
    assert neus.full_psnr(colours, views) == pytest.approx(expected, abs=1e-3)


def test_a_scene_pools_the_views_colours_and_watches_a_seeded_draw_of_its_pixels():
    sc = neus.scene(4, 7, torch.device("cpu"))
    proto = make_protocol("small")
    assert sc.views.shape == (proto.views, 3, 4, 4)
    v, y, x = 17, 2, 3
    assert torch.allclose(sc.colours[(v * 4 + y) * 4 + x], ((sc.views[v, :, y, x] + 1) / 2).clamp(0, 1))
    n = proto.views * 16
    assert torch.equal(sc.watched, torch.randperm(n, generator=torch.Generator().manual_seed(1))[:7])
    # the rays of the normalised scene: cameras at 1 / scene_radius (the scene's sphere is the unit sphere)
    pixel_origins = sc.origins.reshape(proto.views, 16, 3)[:, 0]
    assert torch.allclose(pixel_origins.norm(dim=-1), torch.full((proto.views,), 1 / proto.neus.scene_radius),
                          rtol=1e-4)
    assert neus.scene(4, 0, torch.device("cpu")).watched.shape == (1,)  # at least one pixel
    assert neus.scene(2, 10 ** 6, torch.device("cpu")).watched.shape == (proto.views * 4,)  # at most all


def test_the_time_to_a_target_is_interpolated_from_the_watched_step_before_it_or_is_the_first_points():
    curve = [{"iteration": 10, "train_s": 2.0, "psnr_db": 20.0}, {"iteration": 20, "train_s": 6.0, "psnr_db": 20.0},
             {"iteration": 30, "train_s": 7.0, "psnr_db": 24.0}]
    assert neus.seconds_to_reach(curve, 15.0) == (2.0, 10.0)  # before the first watch: its time, not 0
    assert neus.seconds_to_reach(curve, 21.0) == (6.25, 22.5)  # from the flat stretch's last point
    assert neus.seconds_to_reach([], 1.0) is None


def test_a_watch_counts_training_seconds_without_the_time_spent_watching(monkeypatch):
    clock = iter([100.0, 103.0, 104.5, 110.0, 111.0, 115.0])
    monkeypatch.setattr(neus, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    sc = _scene(eval_pixels=3)
    watch = neus.Watch(sc, every=10)  # starts at 100
    assert watch.every == 10
    target = sc.colours[sc.watched]
    point = watch.observe(10, lambda idx: sc.colours[idx] + 0.1)  # at 103, watched until 104.5
    assert point == {"iteration": 10, "train_s": 3.0, "psnr_db": round(_psnr(target + 0.1, target), 3)}
    point = watch.observe(20, lambda idx: sc.colours[idx])  # at 110: 10 s since the start less 1.5 s watching
    assert point["train_s"] == 8.5 and point["psnr_db"] == 100.0 and watch.curve[-1] is point
    assert watch.train_seconds() == 115.0 - 100.0 - 1.5 - 1.0


def test_a_result_gives_the_time_and_steps_to_the_target_or_the_time_spent():
    watch = neus.Watch(_scene(), every=10)
    watch.curve = [{"iteration": 10, "train_s": 4.0, "psnr_db": 18.0}, {"iteration": 20, "train_s": 8.0,
                                                                         "psnr_db": 22.0}]
    out = neus._result(watch, 20, 21.0, 23.4567)
    assert out["time_s"] == 7.0 and out["iterations_to_target"] == 17.5 and out["reached"] is True
    assert out["train_s"] == 8.0 and out["s_per_iter"] == 0.4 and out["psnr_db"] == 22.0
    assert out["psnr_full_db"] == 23.457 and out["target_db"] == 21.0 and out["iterations"] == 20
    assert out["curve"] is watch.curve
    short = neus._result(watch, 20, 30.0, 20.0)
    assert short["reached"] is False and short["time_s"] == 8.0 and short["iterations_to_target"] is None
    free = neus._result(watch, 20, None, 20.0)
    assert free["reached"] is False and free["time_s"] == 8.0 and free["target_db"] is None


def test_a_results_times_and_steps_are_rounded_as_recorded_and_an_unwatched_fit_uses_its_clock(monkeypatch):
    watch = neus.Watch(_scene(), every=10)
    watch.curve = [{"iteration": 10, "train_s": 4.12345, "psnr_db": 18.0},
                   {"iteration": 20, "train_s": 8.98765, "psnr_db": 22.0}]
    out = neus._result(watch, 20, 20.7, 20.0)  # crossed 0.675 of the way: 4.12345 + 0.675 x 4.8642 s, step 16.75
    assert out["time_s"] == 7.407 and out["iterations_to_target"] == 16.8
    assert out["train_s"] == 8.988 and out["s_per_iter"] == 0.4494
    assert neus._result(watch, 20, 30.0, 20.0)["time_s"] == 8.988
    assert neus._result(watch, 1, 30.0, 20.0)["s_per_iter"] == 8.9877  # one step: all of it
    monkeypatch.setattr(neus, "time", types.SimpleNamespace(perf_counter=lambda: 12.5))
    empty = neus.Watch(_scene(), every=10)  # started at 12.5: the clock's reading
    empty.start = 10.0
    out = neus._result(empty, 4, None, 20.0)
    assert out["train_s"] == out["time_s"] == 2.5 and out["psnr_db"] is None and out["s_per_iter"] == 0.625


def test_a_steps_record_keeps_its_fixed_count_whatever_the_environment(monkeypatch):
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_ITERATIONS", "7")
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_ITERS", "9")
    assert neus.record_settings("neus.steps.32") == neus.SETTINGS["neus.steps.32"]
    fit = neus.record_settings("neus.fit.32")
    assert (fit.iterations, fit.authors_max_iters) == (7, 9)
    assert (fit.eval_every_zoo3d, fit.eval_every_authors, fit.eval_pixels) == (10, 20, 1024)
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_ITERATIONS", "")
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_ITERS", "")
    assert neus.record_settings("neus.fit.64") == neus.SETTINGS["neus.fit.64"]


# ---------------------------------------------------------------------------------------------- zoo3d's side


def _fit_neus(calls, colour):
    """A stand-in fit_neus: steps 1..iterations, each watched through the callback with a render that gives the
    scene's colours plus an error shrinking with the step; re-renders ``colour`` everywhere."""
    def fit_neus(views, cameras, settings, seed=0, rerender=True, callback=None):
        calls.append({"views": views, "cameras": cameras, "settings": settings, "seed": seed, "rerender": rerender,
                      "callback": callback})
        sc = _scene()
        for step in range(1, settings.iterations + 1):
            if callback is not None:
                callback(step, lambda idx, step=step: sc.colours[idx] + 0.5 / step)
        renders = (colour * 2 - 1)[None, :, None, None].expand(views.shape[0], 3, R, R) if rerender else None
        return types.SimpleNamespace(renders=renders, iterations=settings.iterations, seconds=1.23456)
    return fit_neus


def test_zoo3ds_fit_is_watched_every_few_steps_and_at_its_last_and_leaves_its_last_psnr_as_the_target(
        scenes, monkeypatch, tmp_path):
    import zoo3d.eval.neus.fit as fit_module

    calls = []
    colour = torch.tensor([0.2, 0.5, 0.7])
    monkeypatch.setattr(fit_module, "fit_neus", _fit_neus(calls, colour))
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_ITERATIONS", "25")
    folder = tmp_path / "peers" / "neus.fit.32"  # made with its parents
    work, finish = neus.prepare_zoo3d(by_name("neus.fit.32"), folder, torch.device("cpu"))
    assert scenes == [(32, 1024, torch.device("cpu"))]
    out = finish(work())
    (call,) = calls
    assert call["seed"] == 0 and call["rerender"] is True and call["settings"].iterations == 25
    assert call["cameras"] is CAMERAS and torch.equal(call["views"], _scene().views)
    assert call["settings"] == make_protocol("small").neus.model_copy(update={"iterations": 25})
    assert [p["iteration"] for p in out["curve"]] == [10, 20, 25]  # every 10 steps and the last
    sc = _scene()
    last = round(_psnr(sc.colours[sc.watched] + 0.5 / 25, sc.colours[sc.watched]), 3)
    assert out["psnr_db"] == out["target_db"] == last and out["reached"] is True and out["iterations"] == 25
    assert json.loads((folder / neus.TARGET_FILE).read_text()) == {"psnr_db": last}
    assert out["psnr_full_db"] == pytest.approx(_mean_view_psnr(colour, sc.views), abs=2e-3)


def test_zoo3ds_steps_record_times_the_fit_alone(scenes, monkeypatch, tmp_path):
    import zoo3d.eval.neus.fit as fit_module

    calls = []
    monkeypatch.setattr(fit_module, "fit_neus", _fit_neus(calls, torch.zeros(3)))
    work, finish = neus.prepare_zoo3d(by_name("neus.steps.32"), tmp_path / "peers" / "steps", torch.device("cpu"))
    out = finish(work())
    (call,) = calls
    assert call["rerender"] is False and call["settings"].iterations == 10 and call["callback"] is None
    assert call["seed"] == 0 and call["cameras"] is CAMERAS and torch.equal(call["views"], _scene().views)
    assert out == {"iterations": 10, "time_s": 1.235, "s_per_iter": 0.1235}


# -------------------------------------------------------------------------------------------- the authors' side

#: their confs/womask.conf's train and model sections (Totoro97/NeuS), as JSON for the stand-in reader
WOMASK = {
    "train": {"learning_rate": 5e-4, "learning_rate_alpha": 0.05, "end_iter": 300000, "batch_size": 512,
              "validate_resolution_level": 4, "warm_up_end": 5000, "anneal_end": 50000, "use_white_bkgd": False,
              "save_freq": 10000, "val_freq": 2500, "val_mesh_freq": 5000, "report_freq": 100, "igr_weight": 0.1,
              "mask_weight": 0.0},
    "model": {"sdf_network": {"d_out": 257, "d_in": 3, "d_hidden": 256, "n_layers": 8, "skip_in": [4],
                              "multires": 6, "bias": 0.5, "scale": 1.0, "geometric_init": True, "weight_norm": True},
              "variance_network": {"init_val": 0.3},
              "rendering_network": {"d_feature": 256, "mode": "idr", "d_in": 9, "d_out": 3, "d_hidden": 256,
                                    "n_layers": 4, "weight_norm": True, "multires_view": 4, "squeeze_out": True},
              "neus_renderer": {"n_samples": 64, "n_importance": 64, "n_outside": 32, "up_sample_steps": 4,
                                "perturb": 1.0}},
}

PYHOCON = '''
import json

class ConfigTree(dict):
    def _node(self, key, make=False):
        node = self
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {}) if make else node[part]
        return node, last

    def __getitem__(self, key):
        node, last = self._node(key)
        return dict.__getitem__(node, last) if node is self else node[last]

    def put(self, key, value):
        node, last = self._node(key, make=True)
        dict.__setitem__(node, last, value) if node is self else node.__setitem__(last, value)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def get_int(self, key):
        return int(self[key])

    def get_float(self, key, default=None):
        return float(self.get(key, default))

    def get_bool(self, key):
        return bool(self[key])


class ConfigFactory:
    @staticmethod
    def parse_file(path):
        return ConfigTree(json.load(open(path)))
'''

CHECKOUT = {
    "exp_runner.py": """
        import numpy as np
        import torch
        import cv2
        import mcubes
        import trimesh
        from icecream import ic
        from tqdm import tqdm
        from torch.utils.tensorboard import SummaryWriter

        DIRS = []

        class Runner:
            def get_image_perm(self):
                return torch.randperm(self.dataset.n_images)

            def get_cos_anneal_ratio(self):
                return 1.0 if self.anneal_end == 0.0 else float(np.min([1.0, self.iter_step / self.anneal_end]))

            def train(self):
                DIRS.append(self.base_exp_dir)
                self.writer = SummaryWriter(log_dir=self.base_exp_dir)
                perm = self.get_image_perm()
                for _ in tqdm(range(self.end_iter - self.iter_step)):
                    data = self.dataset.gen_random_rays_at(perm[self.iter_step % len(perm)], self.batch_size)
                    rays_o, rays_d, true_rgb = data[:, :3], data[:, 3:6], data[:, 6:9]
                    near, far = self.dataset.near_far_from_sphere(rays_o, rays_d)
                    out = self.renderer.render(rays_o, rays_d, near, far, background_rgb=None,
                                               cos_anneal_ratio=self.get_cos_anneal_ratio())
                    loss = (out['color_fine'] - true_rgb).abs().mean()
                    self.optimizer.zero_grad()
                    loss.backward()
                    self.optimizer.step()
                    self.iter_step += 1
                    self.writer.add_scalar('Loss/loss', loss, self.iter_step)
                    if self.iter_step % self.val_freq == 0:
                        self.validate_image()
    """,
    "models/__init__.py": "",
    "models/dataset.py": """
        import torch

        class Dataset:
            def near_far_from_sphere(self, rays_o, rays_d):
                mid = -(rays_o * rays_d).sum(-1, keepdim=True) / (rays_d ** 2).sum(-1, keepdim=True)
                return mid - 1.0, mid + 1.0
    """,
    "models/fields.py": """
        import torch

        class _Net(torch.nn.Module):
            def __init__(self, **kwargs):
                super().__init__()
                self.kwargs = kwargs
                self.p = torch.nn.Parameter(torch.zeros(3))

        class SDFNetwork(_Net):
            pass

        class RenderingNetwork(_Net):
            pass

        class SingleVarianceNetwork(_Net):
            pass
    """,
    "models/renderer.py": """
        import torch

        INSTANCES = []

        class NeuSRenderer:
            def __init__(self, nerf, sdf_network, deviation_network, color_network, **kwargs):
                INSTANCES.append(self)
                self.nets = (nerf, sdf_network, deviation_network, color_network)
                self.kwargs = kwargs
                self.calls = []

            def render(self, rays_o, rays_d, near, far, perturb_overwrite=-1, background_rgb=None,
                       cos_anneal_ratio=0.0):
                self.calls.append(dict(n=rays_o.shape[0], rays_o=rays_o, rays_d=rays_d, near=near, far=far,
                                       perturb_overwrite=perturb_overwrite,
                                       background_rgb=background_rgb, cos_anneal_ratio=cos_anneal_ratio))
                colour = torch.sigmoid(self.nets[3].p + self.nets[1].p)
                return {'color_fine': colour.expand(rays_o.shape[0], 3)}
    """,
}


@pytest.fixture
def upstream(tmp_path, monkeypatch, scenes):
    """The stand-in NeuS checkout named by ZOO3D_UPSTREAM_NEUS, pyhocon's stand-in; every module they bring is
    forgotten afterwards."""
    root = tmp_path / "NeuS"
    for name, text in CHECKOUT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    (root / "confs").mkdir()
    (root / "confs" / "womask.conf").write_text(json.dumps(WOMASK))
    pyhocon = types.ModuleType("pyhocon")
    exec(PYHOCON, pyhocon.__dict__)
    monkeypatch.setenv("ZOO3D_UPSTREAM_NEUS", str(root))
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    monkeypatch.setitem(sys.modules, "pyhocon", pyhocon)
    yield root
    brought = {"exp_runner", "models", "pyhocon", "cv2", "mcubes", "trimesh", "icecream", "tqdm"}
    for name in set(sys.modules) - before:
        if name.split(".")[0] in brought or name == "torch.utils.tensorboard":
            del sys.modules[name]


def test_the_authors_side_is_refused_without_a_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO3D_UPSTREAM_NEUS", raising=False)
    with pytest.raises(RuntimeError, match="^ZOO3D_UPSTREAM_NEUS does not name a checkout$"):
        neus.prepare_authors(by_name("neus.fit.32"), tmp_path, torch.device("cpu"))
    monkeypatch.setenv("ZOO3D_UPSTREAM_NEUS", str(tmp_path / "absent"))
    with pytest.raises(RuntimeError, match="does not name a checkout"):
        neus.prepare_authors(by_name("neus.fit.32"), tmp_path, torch.device("cpu"))


def test_their_conf_is_womask_narrowed_to_the_protocols_sizes_and_the_records_rays_and_watching(upstream):
    s = make_protocol("small").neus
    conf = neus.authors_conf(upstream, s, 300, 40)
    sdf, colour = conf["model.sdf_network"], conf["model.rendering_network"]
    assert (sdf["d_hidden"], sdf["n_layers"], sdf["skip_in"], sdf["d_out"], sdf["multires"]) == (
        s.sdf_hidden, s.sdf_layers, [s.sdf_layers // 2], 1 + s.feature_dim, s.sdf_multires)
    assert (sdf["bias"], sdf["geometric_init"], sdf["weight_norm"]) == (0.5, True, True)  # theirs, untouched
    assert (colour["d_feature"], colour["d_hidden"], colour["n_layers"], colour["multires_view"]) == (
        s.feature_dim, s.color_hidden, s.color_layers, s.view_multires)
    assert conf["model.variance_network"] == {"init_val": s.init_variance}
    assert conf["model.neus_renderer"] == {"n_samples": s.n_coarse, "n_importance": s.n_importance, "n_outside": 0,
                                           "up_sample_steps": s.upsample_steps, "perturb": 1.0}
    assert (conf.get_int("train.batch_size"), conf.get_int("train.val_freq")) == (300, 40)
    for key in ("save_freq", "val_mesh_freq", "report_freq"):  # never reached
        assert conf.get_int(f"train.{key}") == 10 ** 9
    assert conf.get_float("train.learning_rate") == 5e-4 and conf.get_int("train.end_iter") == 300000


def test_their_runner_has_their_attributes_networks_and_optimiser_and_serves_the_shared_rays(upstream, tmp_path):
    s = make_protocol("small").neus
    exp_runner, Dataset, *nets = neus._import(upstream)
    assert exp_runner.SummaryWriter is neus._NullWriter  # logging is not fitting
    conf = neus.authors_conf(upstream, s, 6, 40)
    sc = _scene()
    r = neus._runner(exp_runner, Dataset, nets, conf, sc, tmp_path, torch.device("cpu"))
    assert (r.end_iter, r.save_freq, r.report_freq, r.val_freq, r.val_mesh_freq, r.batch_size) == (
        300000, 10 ** 9, 10 ** 9, 40, 10 ** 9, 6)
    assert (r.validate_resolution_level, r.learning_rate, r.learning_rate_alpha, r.use_white_bkgd) == (
        4, 5e-4, 0.05, False)
    assert (r.warm_up_end, r.anneal_end, r.igr_weight, r.mask_weight) == (5000.0, 50000.0, 0.1, 0.0)
    assert r.iter_step == 0 and r.base_exp_dir == str(tmp_path) and r.device == torch.device("cpu")
    assert r.nerf_outside is None and r.sdf_network.kwargs == conf["model.sdf_network"]
    assert r.color_network.kwargs == conf["model.rendering_network"]
    assert r.deviation_network.kwargs == conf["model.variance_network"]
    assert r.renderer.nets == (None, r.sdf_network, r.deviation_network, r.color_network)
    assert r.renderer.kwargs == conf["model.neus_renderer"]
    params = [*r.sdf_network.parameters(), *r.deviation_network.parameters(), *r.color_network.parameters()]
    assert isinstance(r.optimizer, torch.optim.Adam) and r.optimizer.param_groups[0]["params"] == params
    assert r.optimizer.param_groups[0]["lr"] == 5e-4
    assert (r.dataset.n_images, r.dataset.H, r.dataset.W) == (V, R, R)
    torch.manual_seed(5)
    rays = r.dataset.gen_random_rays_at(torch.tensor(1), 6)
    torch.manual_seed(5)
    xs, ys = torch.randint(0, R, [6]), torch.randint(0, R, [6])  # their draw: x, then y
    rows = (1 * R + ys) * R + xs  # the shared rays of image 1 at (y, x)
    assert rays.shape == (6, 10)
    assert torch.equal(rays[:, :3], sc.origins[rows]) and torch.equal(rays[:, 3:6], sc.dirs[rows])
    assert torch.equal(rays[:, 6:9], sc.colours[rows]) and torch.equal(rays[:, 9], torch.ones(6))


def _authors_run(upstream, tmp_path, name="neus.fit.32", target=None):
    folder = tmp_path / "rec"
    if target is not None:
        folder.mkdir(exist_ok=True)
        (folder / neus.TARGET_FILE).write_text(json.dumps({"psnr_db": target}))
    work, finish = neus.prepare_authors(by_name(name), folder, torch.device("cpu"))
    return work, finish


def test_their_loop_stops_at_the_first_watched_step_at_or_above_zoo3ds_psnr(upstream, tmp_path, scenes):
    work, finish = _authors_run(upstream, tmp_path, target=0.0)  # any PSNR reaches it
    assert scenes == [(32, 1024, torch.device("cpu"))]
    watch = work()
    out = finish(watch)
    assert [p["iteration"] for p in out["curve"]] == [20]  # neus.fit.32 watches every 20 steps
    assert out["iterations"] == 20 and out["reached"] is True and out["target_db"] == 0.0
    assert out["time_s"] == out["curve"][0]["train_s"] and out["conf"] == "womask.conf narrowed"
    # the stand-in renders one colour: the watched pixels' PSNR and the full PSNR follow from it
    renderer = _renderer()
    colour = torch.sigmoid(renderer.nets[3].p + renderer.nets[1].p).detach()
    sc = _scene()
    assert out["psnr_db"] == pytest.approx(_psnr(colour, sc.colours[sc.watched]), abs=2e-3)
    assert out["psnr_full_db"] == pytest.approx(_mean_view_psnr(colour, sc.views), abs=2e-3)
    watched = [c for c in renderer.calls if c["perturb_overwrite"] == 0]
    assert [c["n"] for c in watched] == [5, V * R * R]  # the watched pixels, then every pixel once at the end
    assert all(c["background_rgb"] is None for c in watched)
    assert watched[0]["cos_anneal_ratio"] == pytest.approx(20 / 50000)  # their ratio at the watched step
    assert torch.equal(watched[0]["rays_o"], sc.origins[:5]) and torch.equal(watched[0]["rays_d"], sc.dirs[:5])
    from exp_runner import DIRS

    assert DIRS == [str(tmp_path / "rec")]  # their experiment folder: the record's
    mid = -(sc.origins * sc.dirs).sum(-1, keepdim=True)  # their near/far around the ray's closest point
    assert torch.allclose(watched[1]["near"], mid - 1) and torch.allclose(watched[1]["far"], mid + 1)


def _renderer():
    from models.renderer import INSTANCES

    (renderer,) = INSTANCES
    return renderer


def test_their_loop_gives_up_at_the_step_cap_or_the_time_cap(upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_ITERS", "60")
    work, finish = _authors_run(upstream, tmp_path, target=1000.0)
    out = finish(work())
    assert [p["iteration"] for p in out["curve"]] == [20, 40, 60] and out["reached"] is False
    assert out["time_s"] == out["train_s"] == out["curve"][-1]["train_s"] and out["iterations_to_target"] is None
    # a scripted clock, 0.5 s a reading (the watch made, the loop started, then each watch's start and end): the
    # watched steps come at 0.5, 1.0, 1.5, ... training seconds (1.5, 2.5, ... with the watching); a cap of 1.5 s
    # stops at the first watch at or above it, by training seconds
    ticks = iter(range(10 ** 6))
    monkeypatch.setattr(neus, "time", types.SimpleNamespace(perf_counter=lambda: 0.5 * next(ticks)))
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_ITERS", "200")
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_S", "1.5")
    work, finish = neus.prepare_authors(by_name("neus.fit.32"), tmp_path / "rec", torch.device("cpu"))
    curve = work().curve
    assert [(p["iteration"], p["train_s"]) for p in curve] == [(20, 0.5), (40, 1.0), (60, 1.5)]


def test_an_empty_time_cap_is_no_cap(upstream, tmp_path, monkeypatch):
    ticks = iter(range(10 ** 6))
    monkeypatch.setattr(neus, "time", types.SimpleNamespace(perf_counter=lambda: 0.5 * next(ticks)))
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_ITERS", "60")
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_S", "")
    work, finish = _authors_run(upstream, tmp_path, target=1000.0)
    assert [p["iteration"] for p in finish(work())["curve"]] == [20, 40, 60]


def test_every_pixel_is_rendered_once_in_chunks_at_the_end(upstream, tmp_path, scenes):
    scenes.r = 48  # 2 x 48² = 4608 pixels: a chunk of 4096 and one of 512
    work, finish = _authors_run(upstream, tmp_path, target=0.0)
    finish(work())
    calls = [c for c in _renderer().calls if c["perturb_overwrite"] == 0]
    assert [c["n"] for c in calls] == [5, 4096, 512]
    sc = _scene(r=48)
    assert torch.equal(torch.cat([calls[1]["rays_o"], calls[2]["rays_o"]]), sc.origins)


def test_a_fixed_target_from_the_environment_replaces_zoo3ds(upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_TARGET_DB", "0.5")
    work, finish = _authors_run(upstream, tmp_path, target=1000.0)
    out = finish(work())
    assert out["target_db"] == 0.5 and out["reached"] is True and out["iterations"] == 20


def test_their_steps_record_stops_at_the_first_validation_and_gives_the_time_per_step(upstream, tmp_path):
    folder = tmp_path / "peers" / "neus.steps.32"  # made with its parents
    work, finish = neus.prepare_authors(by_name("neus.steps.32"), folder, torch.device("cpu"))
    watch = work()
    (point,) = watch.curve
    out = finish(watch)
    assert set(out) == {"iterations", "time_s", "s_per_iter"} and folder.is_dir()
    assert out["iterations"] == point["iteration"] == 10  # the record's fixed count, their val_freq
    assert out["time_s"] == round(point["train_s"], 3) and out["s_per_iter"] == round(point["train_s"] / 10, 4)


def test_modules_their_training_never_calls_get_empty_stand_ins_only_when_missing(monkeypatch):
    monkeypatch.delitem(sys.modules, "zoo3d_absent_module_for_test", raising=False)
    try:
        neus._stand_in("zoo3d_absent_module_for_test", ic=len)
        module = sys.modules["zoo3d_absent_module_for_test"]
        assert module.ic is len and module.__name__ == "zoo3d_absent_module_for_test"
    finally:
        sys.modules.pop("zoo3d_absent_module_for_test", None)
    json_module = sys.modules["json"]
    neus._stand_in("json")
    assert sys.modules["json"] is json_module
    writer = neus._NullWriter("logs", flush_secs=1)
    assert writer.add_scalar("Loss/loss", 1.0, 3) is None
