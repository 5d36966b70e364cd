"""``zoo3d bench render``: time and memory of the ManifoldRenderer and the VolumeRenderer with GRAM-size networks.

Networks (built here from zoo3d.nn so the benchmark measures the renderers, not a model plugin):
a scalar MLP 3 -> 128 -> 128 -> 128 -> 1 (ReLU, GRAM's manifold predictor) and GRAM's radiance
network: pi-GAN mapping z(256) -> FiLM parameters, 8 FiLM-SIREN layers of 256, 7 summed sigma heads
and 7 summed rgb heads (the last on the view-dependent colour FiLM layer).

* ``manifold``: GRAM rendering, 64 samples for the level search, 23 levels + background plane.
* ``volume``: the naive reference, pi-GAN-style 24 stratified + 24 importance samples per ray
  through the *same* radiance network (density = softplus sigma); ``speedup_vs_naive`` on the
  manifold record is volume total / manifold total at the same resolution and device.

Method: inference (no graph), batch 1, median of ``repeats`` renders after one warm-up render
(at 16^2 on CPU, full size on CUDA); ``status`` ``ok``, or on a CPU ``OOM`` / ``error`` with a ``note`` when
the record's process failed (no times then, and no ``speedup_vs_naive`` for that resolution). On a CPU the
record's process caps its address space after the warm-up at what it holds plus ``ZOO3D_BENCH_CPU_MEM_GB`` (a
positive number, default 12), as ``models`` does: a render that would exhaust the machine fails with an
allocation error, reported as ``OOM`` (zoo3d.benchmarks.children).
``network_s`` is the summed wall time of the network forward calls, each bracketed by a device
synchronise (so CUDA work is attributed to the call that queued it); ``overhead_fraction`` =
(total - network) / total is everything the renderer does around the networks. ``peak_mem_mb``:
CUDA max allocated during the render; on CPU the rise of the process's peak RSS over its
post-set-up peak, measured in a fresh child process per record (so earlier records cannot mask it).
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo3d.benchmarks.children import cap_address_space, failure, memory_cap_gb, oom_note, out_of_memory
from zoo3d.core.representation import Radiance

RESOLUTIONS = (64, 128, 256)
NUM_LEVELS, LEVEL_START, LEVEL_END = 23, 23.0, 8.0
DELTA_ALPHA = 0.04  # GRAM: alpha = 1 - exp(-0.04 softplus(sigma))


class _Timer:
    """Accumulates synchronised wall time of wrapped calls."""

    def __init__(self, device: torch.device):
        self.device, self.seconds = device, 0.0

    def __call__(self, fn):
        def timed(*args, **kwargs):
            _sync(self.device)
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            _sync(self.device)
            self.seconds += time.perf_counter() - t0
            return out

        return timed


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class ScalarMLP(nn.Module):
    """GRAM-size manifold predictor: warp p * 2/0.24 - (0, 0, -1.5), 3 x (Linear 128 + ReLU), Linear(128, 1)."""

    def __init__(self, hidden: int = 128, layers: int = 3):
        super().__init__()
        dims = [3] + [hidden] * layers
        self.body = nn.Sequential(*[m for i in range(layers) for m in (nn.Linear(dims[i], dims[i + 1]), nn.ReLU())])
        self.out = nn.Linear(hidden, 1)
        with torch.no_grad():
            for m in self.body:
                if isinstance(m, nn.Linear):
                    m.weight.normal_(0.0, math.sqrt(2.0 / m.out_features))
                    m.bias.zero_()
            self.out.weight.fill_(10 * math.sqrt(math.pi / hidden))
            self.out.bias.zero_()
        self.register_buffer("center", torch.tensor([0.0, 0.0, -1.5]))

    def forward(self, p: Tensor) -> Tensor:
        return self.out(self.body(p * (2 / 0.24) - self.center)).squeeze(-1)


class RadianceMLP(nn.Module):
    """GRAM-size radiance network (8 FiLM-SIREN x 256, 7 sigma + 7 rgb heads); returns rgb [0, 1] and raw sigma."""

    def __init__(self, hidden: int = 256, layers: int = 8, z_dim: int = 256):
        super().__init__()
        from zoo3d.nn.siren import ColorFiLMLayer, FiLMSirenTrunk, PiGanMappingNetwork

        self.mapping = PiGanMappingNetwork(z_dim, 256, layers + 1, hidden)
        self.trunk = FiLMSirenTrunk(3, hidden, layers)
        self.color = ColorFiLMLayer(hidden, hidden)
        self.sigma_heads = nn.ModuleList([nn.Linear(hidden, 1) for _ in range(layers - 1)])
        self.rgb_heads = nn.ModuleList([nn.Linear(hidden, 3) for _ in range(layers - 1)])

    def forward(self, p: Tensor, dirs: Tensor, freq: Tensor, phase: Tensor) -> tuple[Tensor, Tensor]:
        xs = self.trunk(p * (2 / 0.24), freq, phase)
        sigma = sum(h(x) for h, x in zip(self.sigma_heads, xs[1:]))
        rgb = sum(h(x) for h, x in zip(self.rgb_heads[:-1], xs[1:-1]))
        rgb = rgb + self.rgb_heads[-1](self.color(xs[-1], dirs, freq[:, -1], phase[:, -1]))
        return torch.sigmoid(rgb) * (1 + 2e-3) - 1e-3, sigma


class BenchManifolds:
    """A GRAM ManifoldRepresentation over the benchmark networks (one instance per FiLM row)."""

    def __init__(self, scalar_net, radiance_net, freq, phase, scalar_call, radiance_call):
        self.levels = torch.linspace(LEVEL_START, LEVEL_END, NUM_LEVELS, device=freq.device, dtype=freq.dtype)
        self.background_z = -0.12
        self._s, self._rad, self.freq, self.phase = scalar_call(scalar_net), radiance_call(radiance_net), freq, phase

    def scalar(self, x: Tensor) -> Tensor:
        return self._s(x)

    def radiance(self, points: Tensor, dirs: Tensor) -> Radiance:
        B, N, P, _ = points.shape
        d = dirs.unsqueeze(1).expand(B, N, P, 3)
        rgb, sigma = self._rad(points.reshape(B, N * P, 3), d.reshape(B, N * P, 3), self.freq, self.phase)
        alpha = 1 - torch.exp(-DELTA_ALPHA * F.softplus(sigma))
        return Radiance(rgb=rgb.reshape(B, N, P, 3), alpha=alpha.reshape(B, N, P, 1))

    def background_radiance(self, points: Tensor, dirs: Tensor) -> Radiance:
        rgb, _ = self._rad(points, dirs, self.freq, self.phase)
        return Radiance(rgb=rgb)


class BenchField:
    """The same radiance network as a density FieldRepresentation (the pi-GAN-style naive reference)."""

    kind = "density"
    bounds = 0.12

    def __init__(self, radiance_net, freq, phase, radiance_call):
        self._rad, self.freq, self.phase = radiance_call(radiance_net), freq, phase

    def query(self, points: Tensor, dirs: Tensor) -> Radiance:
        rgb, sigma = self._rad(points, dirs, self.freq, self.phase)
        return Radiance(rgb=rgb, sigma=sigma)


#: ``ZOO3D_BENCH_CPU_MEM_GB``'s default: the GB a record's process on a CPU may add after its warm-up
CPU_MEM_GB = 12


def measure(renderer_name: str, resolution: int, device: str, repeats: int, cap_gb: float | None = None) -> dict:
    """One record: total and network seconds per image, overhead fraction, peak memory. ``cap_gb``: on a CPU, cap
    this process's address space after the warm-up at what it holds plus that many GB (the fresh process of
    :func:`_measure_isolated` does; never a caller's own), and report a render the cap refuses as ``OOM``."""
    from zoo3d.cameras import Camera
    from zoo3d.render import ManifoldRenderer, VolumeRenderer

    dev = torch.device(device)
    torch.manual_seed(0)
    scalar_net, radiance_net = ScalarMLP().to(dev), RadianceMLP().to(dev)
    cams = Camera.from_angles([0.2], [0.05], 1.0, 12.0, device=dev)
    timer = _Timer(dev)
    with torch.no_grad():
        freq, phase = radiance_net.mapping(torch.randn(1, 256, device=dev))
        if renderer_name == "manifold":
            rep = BenchManifolds(scalar_net, radiance_net, freq, phase, timer, timer)
            renderer = ManifoldRenderer(64, 0.88, 1.12)
        else:
            rep = BenchField(radiance_net, freq, phase, timer)
            renderer = VolumeRenderer(24, 24, 0.88, 1.12, stratified=True, density_activation="softplus").train()

        def run_once(res):
            timer.seconds = 0.0
            _sync(dev)
            t0 = time.perf_counter()
            renderer.render(rep, cams, (res, res))
            _sync(dev)
            return time.perf_counter() - t0, timer.seconds

        # warm-up (lazy kernel selection, thread pools); small on CPU where a full render takes minutes
        run_once(resolution if dev.type == "cuda" else min(resolution, 16))
        if cap_gb is not None and dev.type == "cpu":
            cap_address_space(cap_gb)
        rss_before = _peak_rss_mb()
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        try:
            runs = [run_once(resolution) for _ in range(repeats)]
        except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
            if not out_of_memory(exc):
                raise
            return {**_unmeasured(renderer_name, resolution, device, repeats), "status": "OOM", "note": oom_note(exc)}
        peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else _peak_rss_mb() - rss_before
    total = statistics.median(r[0] for r in runs)
    network = statistics.median(r[1] for r in runs)
    overhead = statistics.median((t - n) / t for t, n in runs)  # per run: two medians may come from two runs
    return {
        "renderer": renderer_name, "resolution": resolution, "device": device, "batch": 1,
        "total_s": total, "network_s": network, "overhead_fraction": overhead,
        "peak_mem_mb": peak, "repeats": repeats,
        "samples": "64 search + 24 hits" if renderer_name == "manifold" else "24 + 24 importance", "status": "ok",
    }


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _measure_isolated(renderer_name: str, resolution: int, device: str, repeats: int) -> dict:
    """Run :func:`measure` in a fresh interpreter so the peak RSS it reports is its own; a process that fails
    (killed out of memory at 256², say) gives a record of that status, and the suite goes on."""
    code = ("import json, sys; from zoo3d.benchmarks.children import memory_cap_gb; "
            "from zoo3d.benchmarks.render import CPU_MEM_GB, measure; "
            f"print(json.dumps(measure({renderer_name!r}, {resolution}, {device!r}, {repeats}, "
            "cap_gb=memory_cap_gb(CPU_MEM_GB))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return json.loads(done.stdout.strip().splitlines()[-1])
    return {**_unmeasured(renderer_name, resolution, device, repeats), **failure(done)}


def _unmeasured(renderer_name: str, resolution: int, device: str, repeats: int) -> dict:
    """A record without times or memory: its ``status`` and ``note`` are added by the caller."""
    return {"renderer": renderer_name, "resolution": resolution, "device": device, "batch": 1, "total_s": None,
            "network_s": None, "overhead_fraction": None, "peak_mem_mb": None, "repeats": repeats}


def run(device: str, quick: bool) -> list[dict]:
    """Records for both renderers at 64^2, 128^2, 256^2 (quick: 64^2 and 128^2, one repeat). A line on stderr as
    each measurement starts: the whole suite takes most of an hour on a CPU, which would otherwise pass in silence."""
    resolutions = RESOLUTIONS[:2] if quick else RESOLUTIONS
    if device == "cpu":
        memory_cap_gb(CPU_MEM_GB)  # a bad cap is refused here, not in every record's process
    records = []
    count, total = 0, 2 * len(resolutions)
    for res in resolutions:
        repeats = 1 if quick or (device == "cpu" and res >= 256) else 3
        pair = {}
        for name in ("manifold", "volume"):
            count += 1
            print(f"render: {count}/{total}: the {name} renderer at {res}x{res}, {repeats} "
                  f"render{'s' * (repeats != 1)} after a warm-up", file=sys.stderr, flush=True)
            rec = _measure_isolated(name, res, device, repeats) if device == "cpu" else \
                measure(name, res, device, repeats)
            pair[name] = rec
            records.append(rec)
        if pair["manifold"]["total_s"] and pair["volume"]["total_s"]:  # both measured (a failed one has None)
            pair["manifold"]["speedup_vs_naive"] = pair["volume"]["total_s"] / pair["manifold"]["total_s"]
    return records
