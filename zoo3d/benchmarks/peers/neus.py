"""The NeuS-fit record of ``zoo3d bench peers``: the ``neus`` metric's fit against the authors' NeuS training loop.

The scene: the exact textured sphere (:class:`zoo3d.eval.calibration.TexturedSphereGenerator`, seed 0) seen
by the ``small`` protocol's 30 yaw-swept cameras, at the record's resolution. Both sides get the same rays
(the fit's normalised scene, unit sphere), the same network widths and depths, rays per step and samples
per ray (the ``small`` protocol's ``NeusSettings``):

- zoo3d: :func:`zoo3d.eval.neus.fit.fit_neus` with the protocol's settings (``iterations``: the protocol's 800, or
  ``ZOO3D_PEERS_NEUS_ITERATIONS``).
- the authors' code (Totoro97/NeuS, checkout named by ``ZOO3D_UPSTREAM_NEUS``): their ``Runner.train`` loop
  from ``exp_runner.py`` (their image permutation, 512 random pixels of one image per step, their
  ``NeuSRenderer`` with its sampling and up-sampling, ``SDFNetwork`` / ``RenderingNetwork`` /
  ``SingleVarianceNetwork``, their colour + eikonal loss and their warm-up / cosine learning-rate schedule
  and cos-anneal), configured by their own ``confs/womask.conf`` (read with pyhocon) with only the
  network sizes, rays per step and samples per ray narrowed to zoo3d's, and no NeRF++ outside model
  (``n_outside = 0``: the scene's background is black, which their renderer gives without one). Their
  renderer is fed directly: a stand-in for their ``Dataset`` serves the shared rays and colours through
  their ``gen_random_rays_at`` interface (their loader reads ``cameras_sphere.npz`` and images with OpenCV
  and moves rays to CUDA); their ``near_far_from_sphere`` is used as is. Their TensorBoard writer is
  replaced by a no-op (logging is not fitting), modules their training path never calls (``cv2``,
  ``mcubes``, ``icecream``, TensorBoard) get empty stand-ins when not installed.

Both sides are watched the same way: every ``eval_every`` steps (outside the timed part) each renders a fixed
set of ``eval_pixels`` pixels drawn once (seeded) from all 30 training views, deterministically as its own
code re-renders (zoo3d: no jitter, cos-anneal 1; authors: no jitter, their current cos-anneal ratio, as their
``validate_image`` does), and the PSNR of their pooled squared error is recorded with the training seconds so
far. The subset, not the 30 full images, because a full render costs as much as ~240 training steps and is
needed dozens of times; pixels from every view, not a few whole views, so that every view counts as in the
metric. The full-image PSNR (mean over the 30 views, as ``neus_psnr``) is reported once at the end.

The target PSNR is zoo3d's subset PSNR at its last step; zoo3d's child runs first and leaves it in the
record's folder for the authors' child, which stops when it reaches it (or at ``ZOO3D_PEERS_NEUS_MAX_ITERS``
steps / ``ZOO3D_PEERS_NEUS_MAX_S`` training seconds). The time to the target is interpolated linearly
between the two watched steps around it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

TARGET_FILE = "neus_target.json"


@dataclass(frozen=True)
class NeusRecordSettings:
    """How one NeuS record runs: zoo3d's iterations (None: the protocol's), the authors' step cap, how often and
    on how many pixels both are watched."""

    iterations: int | None
    authors_max_iters: int
    eval_every_zoo3d: int
    eval_every_authors: int
    eval_pixels: int


SETTINGS = {
    "neus.fit.64": NeusRecordSettings(None, 20000, 20, 100, 8192),
    "neus.fit.32": NeusRecordSettings(40, 400, 10, 20, 1024),
    # time per step alone: 50 steps on each side, nothing watched
    "neus.steps.64": NeusRecordSettings(50, 50, 50, 50, 0),
    "neus.steps.32": NeusRecordSettings(10, 10, 10, 10, 0),
}


def record_settings(name: str) -> NeusRecordSettings:
    """The record's settings with the environment's overrides (``ZOO3D_PEERS_NEUS_ITERATIONS``,
    ``ZOO3D_PEERS_NEUS_MAX_ITERS``), which apply to the fit records only: a steps record times the same
    fixed count on both sides (the authors' loop stops at its ``val_freq``), so it takes no override."""
    s = SETTINGS[name]
    if name.startswith("neus.steps."):
        return s
    iterations = os.environ.get("ZOO3D_PEERS_NEUS_ITERATIONS", "").strip()  # checked by the suite before it starts
    cap = os.environ.get("ZOO3D_PEERS_NEUS_MAX_ITERS", "").strip()
    return NeusRecordSettings(int(iterations) if iterations else s.iterations,
                              int(cap) if cap else s.authors_max_iters,
                              s.eval_every_zoo3d, s.eval_every_authors, s.eval_pixels)


def fit_settings(name: str):
    """zoo3d's ``NeusSettings``: the ``small`` protocol's, with the record's iteration count."""
    from zoo3d.eval.protocol import make_protocol

    neus = make_protocol("small").neus
    iterations = record_settings(name).iterations
    return neus if iterations is None else neus.model_copy(update={"iterations": iterations})


@dataclass
class Scene:
    """views (V, 3, R, R) in [-1, 1]; cameras; rays (V*R*R, 3) of the normalised scene; colours (V*R*R, 3) in
    [0, 1]; the watched pixels (n,) (indices into the pooled views, ``(v * R + y) * R + x``)."""

    views: Tensor
    cameras: object
    origins: Tensor
    dirs: Tensor
    colours: Tensor
    watched: Tensor


def scene(resolution: int, eval_pixels: int, device: torch.device) -> Scene:
    """The textured sphere (seed 0) in the ``small`` protocol's 30 views, and the rays both fits see."""
    from zoo3d.eval.calibration import TexturedSphereGenerator
    from zoo3d.eval.metric import protocol_cameras, render_instance
    from zoo3d.eval.neus.fit import normalised_rays
    from zoo3d.eval.protocol import make_protocol

    proto = make_protocol("small")
    gen = TexturedSphereGenerator(True).to(device)
    cameras = protocol_cameras(gen, proto).to(device=device)
    z = torch.randn(1, gen.z_dim, generator=torch.Generator().manual_seed(0)).to(device)
    views = render_instance(gen, z, cameras, resolution)["rgb"].float()
    scale = proto.neus.scene_radius * float(cameras.origins.norm(dim=-1).mean())
    origins, dirs = normalised_rays(cameras, resolution, scale)
    colours = ((views + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).reshape(-1, 3)
    n = colours.shape[0]
    watched = torch.randperm(n, generator=torch.Generator().manual_seed(1))[:max(1, min(eval_pixels, n))].to(device)
    return Scene(views, cameras, origins, dirs, colours, watched)


def pooled_psnr(pred: Tensor, target: Tensor) -> float:
    """PSNR (dB) of the mean squared error over all pixels and channels, colours in [0, 1]."""
    mse = float((pred.float() - target.float()).pow(2).mean())
    return -10.0 * math.log10(max(mse, 1e-10))


def seconds_to_reach(curve: list[dict], target_db: float) -> tuple[float, float] | None:
    """(training seconds, iterations) at which ``curve`` (dicts with ``iteration``, ``train_s``, ``psnr_db``, in
    step order) first reaches ``target_db``, interpolated linearly from the watched step before; None if never."""
    prev = {"iteration": 0, "train_s": 0.0, "psnr_db": -math.inf}
    for point in curve:
        if point["psnr_db"] >= target_db:
            lo, hi = prev["psnr_db"], point["psnr_db"]
            frac = 1.0 if not math.isfinite(lo) or hi == lo else (target_db - lo) / (hi - lo)
            seconds = prev["train_s"] + frac * (point["train_s"] - prev["train_s"])
            its = prev["iteration"] + frac * (point["iteration"] - prev["iteration"])
            return seconds, its
        prev = point
    return None


class Watch:
    """Training seconds (wall time less the time spent watching) and the PSNR curve of one fit."""

    def __init__(self, scene: Scene, every: int):
        self.scene, self.every = scene, every
        self.curve: list[dict] = []
        self.start = time.perf_counter()
        self.watching = 0.0

    def train_seconds(self) -> float:
        return time.perf_counter() - self.start - self.watching

    def observe(self, iteration: int, render: Callable[[Tensor], Tensor]) -> dict:
        t0 = time.perf_counter()
        train_s = t0 - self.start - self.watching
        pred = render(self.scene.watched)  # with autograd: both renderers need the SDF's gradient (the normal)
        point = {"iteration": iteration, "train_s": round(train_s, 3),
                 "psnr_db": round(pooled_psnr(pred, self.scene.colours[self.scene.watched]), 3)}
        self.curve.append(point)
        self.watching += time.perf_counter() - t0
        return point


def full_psnr(colours: Tensor, views: Tensor) -> float:
    """Mean over views of the per-view PSNR (the metric's ``neus_psnr``) of pooled colours (V*R*R, 3) in [0, 1]."""
    from zoo3d.eval.image_metrics import psnr

    v, _, r, _ = views.shape
    renders = colours.reshape(v, r, r, 3).permute(0, 3, 1, 2) * 2 - 1
    return float(psnr(renders, views).mean())


def _result(watch: Watch, iterations: int, target_db: float | None, final_full_db: float) -> dict:
    total = watch.curve[-1]["train_s"] if watch.curve else watch.train_seconds()
    out = {"iterations": iterations, "s_per_iter": round(total / max(iterations, 1), 4),
           "train_s": round(total, 3), "psnr_db": watch.curve[-1]["psnr_db"] if watch.curve else None,
           "psnr_full_db": round(final_full_db, 3), "target_db": target_db, "curve": watch.curve}
    reached = seconds_to_reach(watch.curve, target_db) if target_db is not None else None
    out["reached"] = reached is not None
    # time_s: the training seconds to the target; when it was not reached, those spent (a lower bound)
    out["time_s"] = round(reached[0], 3) if reached else round(total, 3)
    out["iterations_to_target"] = round(reached[1], 1) if reached else None
    return out


# ---------------------------------------------------------------------------------------------------- zoo3d


def prepare_zoo3d(record, workdir: Path, device: torch.device):
    """zoo3d's ``fit_neus`` with the protocol's settings, watched; leaves the target PSNR in ``workdir``."""
    from zoo3d.eval.neus.fit import fit_neus

    rs = record_settings(record.name)
    settings = fit_settings(record.name)
    sc = scene(record.resolution, rs.eval_pixels, device)
    workdir.mkdir(parents=True, exist_ok=True)
    if record.work == "neus_steps":
        def steps():
            return fit_neus(sc.views, sc.cameras, settings, seed=0, rerender=False)

        def per_step(fit) -> dict:  # time_s: the steps alone, as on the authors' side
            return {"iterations": fit.iterations, "time_s": round(fit.seconds, 3),
                    "s_per_iter": round(fit.seconds / fit.iterations, 4)}

        return steps, per_step

    def work():
        watch = Watch(sc, rs.eval_every_zoo3d)

        def callback(step, render):
            if step % watch.every == 0 or step == settings.iterations:
                watch.observe(step, render)

        fit = fit_neus(sc.views, sc.cameras, settings, seed=0, rerender=True, callback=callback)
        return watch, fit

    def finish(result) -> dict:
        watch, fit = result
        colours = ((fit.renders + 1) / 2).permute(0, 2, 3, 1).reshape(-1, 3)
        target = watch.curve[-1]["psnr_db"]
        (workdir / TARGET_FILE).write_text(json.dumps({"psnr_db": target}))
        return _result(watch, settings.iterations, target, full_psnr(colours, sc.views))

    return work, finish


# -------------------------------------------------------------------------------------------------- authors

ENV = "ZOO3D_UPSTREAM_NEUS"


class _NullWriter:
    """What their loop logs to (TensorBoard's ``SummaryWriter``): nothing is written."""

    def __init__(self, *args, **kwargs):
        pass

    def add_scalar(self, *args, **kwargs):
        pass


def _stand_in(name: str, **attrs) -> None:
    """An empty module for ``name`` when it is not installed (imported at their module level, unused here)."""
    try:
        missing = importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        missing = True
    if missing:
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module


def _import(path: Path):
    """Their ``exp_runner`` (``Runner``), ``models.dataset.Dataset``, the fields and the renderer."""
    import pyhocon  # noqa: F401  (their conf reader: a clear ImportError before anything else)

    _stand_in("cv2")
    _stand_in("mcubes")
    _stand_in("trimesh")
    _stand_in("icecream", ic=lambda *a: a[0] if len(a) == 1 else a)
    _stand_in("tqdm", tqdm=lambda it, *a, **k: it)
    if importlib.util.find_spec("tensorboard") is None:
        sys.modules["torch.utils.tensorboard"] = types.ModuleType("torch.utils.tensorboard")
        sys.modules["torch.utils.tensorboard"].SummaryWriter = _NullWriter
    sys.path.insert(0, str(path))
    import exp_runner
    from models.dataset import Dataset
    from models.fields import RenderingNetwork, SDFNetwork, SingleVarianceNetwork
    from models.renderer import NeuSRenderer

    exp_runner.SummaryWriter = _NullWriter
    return exp_runner, Dataset, SDFNetwork, RenderingNetwork, SingleVarianceNetwork, NeuSRenderer


def authors_conf(path: Path, settings, batch_size: int, eval_every: int):
    """Their ``confs/womask.conf``, narrowed to zoo3d's network sizes, rays per step and samples per ray."""
    from pyhocon import ConfigFactory

    conf = ConfigFactory.parse_file(str(path / "confs" / "womask.conf"))
    sdf_skip = settings.sdf_layers // 2  # zoo3d's skip layer (theirs: 4 of 8)
    overrides = {
        "train.batch_size": batch_size,
        "train.val_freq": eval_every,
        "train.save_freq": 10 ** 9, "train.val_mesh_freq": 10 ** 9, "train.report_freq": 10 ** 9,
        "model.sdf_network.d_hidden": settings.sdf_hidden, "model.sdf_network.n_layers": settings.sdf_layers,
        "model.sdf_network.skip_in": [sdf_skip], "model.sdf_network.d_out": 1 + settings.feature_dim,
        "model.sdf_network.multires": settings.sdf_multires,
        "model.rendering_network.d_feature": settings.feature_dim,
        "model.rendering_network.d_hidden": settings.color_hidden,
        "model.rendering_network.n_layers": settings.color_layers,
        "model.rendering_network.multires_view": settings.view_multires,
        "model.variance_network.init_val": settings.init_variance,
        "model.neus_renderer.n_samples": settings.n_coarse, "model.neus_renderer.n_importance": settings.n_importance,
        "model.neus_renderer.up_sample_steps": settings.upsample_steps, "model.neus_renderer.n_outside": 0,
    }
    for key, value in overrides.items():
        conf.put(key, value)
    return conf


class _Stop(Exception):
    pass


def _train_until_stopped(runner, watch: Watch, hook: Callable) -> Watch:
    """Run the authors' training loop with ``hook`` in place of their ``validate_image`` (called every
    ``val_freq`` steps) until it raises :class:`_Stop`; the watch's clock starts here."""
    runner.validate_image = hook
    watch.start = time.perf_counter()
    try:
        runner.train()
    except _Stop:
        pass
    return watch


def _runner(exp_runner, Dataset, nets, conf, sc: Scene, workdir: Path, device: torch.device):
    """Their ``Runner`` with the attributes its ``__init__`` sets from ``conf``, built on ``device`` (theirs
    hard-codes CUDA), its dataset the stand-in below."""
    SDFNetwork, RenderingNetwork, SingleVarianceNetwork, NeuSRenderer = nets
    views, res = sc.views.shape[0], sc.views.shape[-1]

    class Views(Dataset):
        """Their ``Dataset`` interface over the shared rays: random pixels of one image per step."""

        def __init__(self):  # their loader reads files with OpenCV; the rays are given here
            self.n_images, self.H, self.W = views, res, res
            self.origins = sc.origins.reshape(views, res, res, 3)
            self.dirs = sc.dirs.reshape(views, res, res, 3)
            self.colours = sc.colours.reshape(views, res, res, 3)

        def gen_random_rays_at(self, img_idx, batch_size):
            pixels_x = torch.randint(low=0, high=self.W, size=[batch_size], device=device)
            pixels_y = torch.randint(low=0, high=self.H, size=[batch_size], device=device)
            i = int(img_idx)
            o, d = self.origins[i][(pixels_y, pixels_x)], self.dirs[i][(pixels_y, pixels_x)]
            color = self.colours[i][(pixels_y, pixels_x)]
            return torch.cat([o, d, color, torch.ones_like(color[:, :1])], dim=-1)  # batch_size, 10

    r = exp_runner.Runner.__new__(exp_runner.Runner)
    r.device, r.conf, r.base_exp_dir, r.dataset, r.iter_step = device, conf, str(workdir), Views(), 0
    r.end_iter = conf.get_int("train.end_iter")
    r.save_freq = conf.get_int("train.save_freq")
    r.report_freq = conf.get_int("train.report_freq")
    r.val_freq = conf.get_int("train.val_freq")
    r.val_mesh_freq = conf.get_int("train.val_mesh_freq")
    r.batch_size = conf.get_int("train.batch_size")
    r.validate_resolution_level = conf.get_int("train.validate_resolution_level")
    r.learning_rate = conf.get_float("train.learning_rate")
    r.learning_rate_alpha = conf.get_float("train.learning_rate_alpha")
    r.use_white_bkgd = conf.get_bool("train.use_white_bkgd")
    r.warm_up_end = conf.get_float("train.warm_up_end", default=0.0)
    r.anneal_end = conf.get_float("train.anneal_end", default=0.0)
    r.igr_weight = conf.get_float("train.igr_weight")
    r.mask_weight = conf.get_float("train.mask_weight")
    r.is_continue, r.mode, r.model_list, r.writer = False, "train", [], None
    torch.manual_seed(0)
    r.nerf_outside = None  # n_outside = 0: their renderer never calls it
    r.sdf_network = SDFNetwork(**conf["model.sdf_network"]).to(device)
    r.deviation_network = SingleVarianceNetwork(**conf["model.variance_network"]).to(device)
    r.color_network = RenderingNetwork(**conf["model.rendering_network"]).to(device)
    params = (list(r.sdf_network.parameters()) + list(r.deviation_network.parameters())
              + list(r.color_network.parameters()))
    r.optimizer = torch.optim.Adam(params, lr=r.learning_rate)
    r.renderer = NeuSRenderer(r.nerf_outside, r.sdf_network, r.deviation_network, r.color_network,
                              **conf["model.neus_renderer"])
    return r


def prepare_authors(record, workdir: Path, device: torch.device):
    """Their training loop to zoo3d's PSNR (read from ``workdir``, or ``ZOO3D_PEERS_NEUS_TARGET_DB``)."""
    value = os.environ.get(ENV, "")
    if not value or not Path(value).is_dir():
        raise RuntimeError(f"{ENV} does not name a checkout")
    path = Path(value)
    rs = record_settings(record.name)
    settings = fit_settings(record.name)
    if device.type != "cpu":
        torch.set_default_device(device)  # their renderer makes its tensors on the default device
    sc = scene(record.resolution, rs.eval_pixels, device)
    exp_runner, Dataset, *nets = _import(path)
    conf = authors_conf(path, settings, settings.batch_rays, rs.eval_every_authors)
    workdir.mkdir(parents=True, exist_ok=True)
    runner = _runner(exp_runner, Dataset, nets, conf, sc, workdir, device)
    target_env = os.environ.get("ZOO3D_PEERS_NEUS_TARGET_DB", "").strip()
    target_path = workdir / TARGET_FILE
    target = (float(target_env) if target_env else
              json.loads(target_path.read_text())["psnr_db"] if target_path.is_file() else None)
    max_s = float(os.environ.get("ZOO3D_PEERS_NEUS_MAX_S", "").strip() or 0)

    def render(idx: Tensor) -> Tensor:
        out = []
        for s in range(0, idx.shape[0], 4096):
            i = idx[s:s + 4096]
            o, d = sc.origins[i], sc.dirs[i]
            near, far = runner.dataset.near_far_from_sphere(o, d)
            ret = runner.renderer.render(o, d, near, far, perturb_overwrite=0, background_rgb=None,
                                         cos_anneal_ratio=runner.get_cos_anneal_ratio())
            out.append(ret["color_fine"].detach())
        return torch.cat(out)

    if record.work == "neus_steps":
        def steps():
            watch = Watch(sc, rs.eval_every_authors)

            def stop(*args, **kwargs):  # their loop calls it after val_freq = the record's steps
                watch.curve.append({"iteration": runner.iter_step, "train_s": watch.train_seconds()})
                raise _Stop

            return _train_until_stopped(runner, watch, stop)

        def per_step(watch) -> dict:
            point = watch.curve[-1]
            return {"iterations": point["iteration"], "time_s": round(point["train_s"], 3),
                    "s_per_iter": round(point["train_s"] / point["iteration"], 4)}

        return steps, per_step

    def work():
        watch = Watch(sc, rs.eval_every_authors)

        def validate_image(*args, **kwargs):  # their loop calls it every val_freq steps
            point = watch.observe(runner.iter_step, render)
            if ((target is not None and point["psnr_db"] >= target) or runner.iter_step >= rs.authors_max_iters
                    or (max_s and point["train_s"] >= max_s)):
                raise _Stop

        return _train_until_stopped(runner, watch, validate_image)

    def finish(watch) -> dict:
        colours = render(torch.arange(sc.colours.shape[0], device=device))
        out = _result(watch, runner.iter_step, target, full_psnr(colours, sc.views))
        out["conf"] = "womask.conf narrowed"
        return out

    return work, finish
