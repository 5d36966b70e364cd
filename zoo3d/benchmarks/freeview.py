"""``zoo3d bench freeview``: per-frame time of rendering from the textured-mesh cache against the generator's own
render, and how close the two images are, in one process so that the ratio shares the machine's state.

Model: the registered model with the role ``bench:freeview`` (GRAM-HD), its ``tiny`` preset with random weights (seeded; time does not depend on the weights), or a trained
run given by ``ZOO3D_BENCH_FREEVIEW_RUN=<run folder or checkpoint>``; ``ZOO3D_BENCH_FREEVIEW_PRESET=ffhq256``
takes another preset's architecture. One instance (seed 0, psi 0.7), frames on an orbit (yaw +-0.3, pitch +-0.15,
the prior's fov and radius) at ``resolution``² (256; 64 with ``--quick``).

* ``full_ms``: the generator's render per frame (``generator(z, camera)``: intersections, view-dependent
  textures and super-resolution for that camera, HR shading), median over the frames;
* ``cached_ms``: the cache's render of a frame's colour with each rasterizer available (``gl``: moderngl on
  headless EGL; ``torch``), median over the frames after one warm-up frame; the cache's one-off build is
  ``build_ms``;
* ``ratio`` = cached_ms / full_ms (the target is <= 1/50 on a CPU at 256²); ``*_cpu_ms`` the same with process
  CPU time (all threads), which a machine shared with other jobs disturbs less than wall time;
* ``psnr_min_db``: the lowest PSNR of the cached frame against the full frame over yaws -0.3, 0, 0.3 (pitch 0).
* ``load_avg``: the 1-minute load average when the record was taken.
"""

from __future__ import annotations

import os
import statistics
import time

import torch

SEED, PSI = 0, 0.7


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _generator(device: str):
    """(generator, label): a trained run, or a preset's architecture with seeded random weights."""
    run = os.environ.get("ZOO3D_BENCH_FREEVIEW_RUN")
    if run:
        from zoo3d.runs import load_model

        loaded = load_model(run, device=device)
        return loaded.generator, f"{loaded.spec.name} run {run} (step {loaded.step})"
    from zoo3d.config import load_run_config
    from zoo3d.plugins import model_with_role

    preset = os.environ.get("ZOO3D_BENCH_FREEVIEW_PRESET", "tiny")
    spec = model_with_role("bench:freeview", "zoo3d bench freeview")
    plugin = spec.load()
    config = load_run_config(plugin.config_class, spec.name, spec.presets_dir, preset=preset)
    torch.manual_seed(0)
    gen = plugin.benchmark_generator(config).to(device).eval()
    return gen, f"{spec.name} {preset} preset, random weights"


def _timed(fn, device: torch.device) -> tuple[float, float]:
    """(wall ms, process CPU ms) of one call."""
    _sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    _sync(device)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).pow(2).mean()
    return float(-10 * torch.log10(mse))


@torch.no_grad()
def measure(device: str = "cpu", resolution: int = 256, frames: int = 5) -> list[dict]:
    """Records for every available rasterizer (see the module doc)."""
    from zoo3d.cameras import Camera, orbit
    from zoo3d.freeview.cache import cache_instance
    from zoo3d.freeview.gl import gl_available
    from zoo3d.freeview.render import CachedRenderer
    from zoo3d.train.sampling import seed_latents

    dev = torch.device(device)
    gen, label = _generator(device)
    prior = gen.camera_prior
    z = seed_latents([SEED], gen.z_dim, dev)
    res = (resolution, resolution)
    cams = orbit(frames, 0.3, 0.15, radius=prior.radius, fov=prior.fov, yaw_center=prior.yaw_mean,
                 pitch_center=prior.centre_pitch).to(device=dev)
    gen(z, cams[0], psi=PSI, resolution=res)  # warm-up (and the truncation averages)
    full = [_timed(lambda i=i: gen(z, cams[i], psi=PSI, resolution=res), dev) for i in range(frames)]
    holder = {}
    build = _timed(lambda: holder.setdefault("cache", cache_instance(gen, SEED, psi=PSI)), dev)
    cache = holder["cache"]
    checks = Camera.from_angles(torch.tensor([-0.3, 0.0, 0.3]), 0.0, prior.radius, prior.fov).to(device=dev)
    references = [gen(z, checks[i], psi=PSI, resolution=res).rgb for i in range(len(checks))]
    backends = (["gl"] if dev.type == "cpu" and gl_available() else []) + ["torch"]
    full_ms = statistics.median(w for w, _ in full)
    full_cpu = statistics.median(c for _, c in full)
    records = []
    for backend in backends:
        renderer = CachedRenderer(cache, backend)
        try:
            renderer.render(cams[0], res, depth=False)  # warm-up: shaders, buffers
            cached = [_timed(lambda i=i: renderer.render(cams[i], res, depth=False), dev) for i in range(frames)]
            quality = min(psnr(renderer.render(checks[i], res, depth=False).rgb.to(dev), references[i])
                          for i in range(len(checks)))
        finally:
            renderer.close()
        cached_ms = statistics.median(w for w, _ in cached)
        cached_cpu = statistics.median(c for _, c in cached)
        records.append({
            "model": label, "resolution": resolution, "device": str(dev), "rasterizer": backend,
            "triangles": cache.num_faces, "build_ms": round(build[0], 1),
            "full_ms": round(full_ms, 2), "cached_ms": round(cached_ms, 2), "ratio": cached_ms / full_ms,
            "full_cpu_ms": round(full_cpu, 2), "cached_cpu_ms": round(cached_cpu, 2),
            "cpu_ratio": cached_cpu / full_cpu if full_cpu > 0 else None,
            "psnr_min_db": round(quality, 2), "frames": frames,
            "load_avg": round(os.getloadavg()[0], 2),
        })
    return records


def run(device: str, quick: bool) -> list[dict]:
    return measure(device, resolution=64 if quick else 256, frames=3 if quick else 5)
