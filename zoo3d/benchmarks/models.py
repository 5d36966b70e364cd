"""``zoo3d bench models``: the models with the role ``bench:models`` at the same output resolutions, paper-size.

Each model is its config class's defaults (the papers' FFHQ values) built by its plugin's
:meth:`~zoo3d.core.ModelPlugin.benchmark_generator` at R²; a model that builds on another benchmarked
model (``requires``) is also compared with it. For the built-ins: GRAM = the ffhq256 architecture
(manifold MLP 128, radiance 256 x 8, 23 levels + background, 64 samples) rendered directly at R²; GRAM-HD =
that GRAM at 64² + manifold gridding + the style RRDB (nf 64, 8 RRDBs) and background RRDB (4 RRDBs) nets at
x R/64 + HR texture rendering (the upstream sizes, GRAM-HD paper Sec. 4 and its released configs). Weights
are random: time and memory do not depend on them.

Records: ``model``, ``resolution``, ``device``, ``mode``, ``time_s`` (per image, batch 1, median of
``repeats``: on CUDA 5 after one untimed warm-up; on CPU one cold render, which takes minutes at the
large sizes and whose one-off costs are small beside that), ``peak_mem_mb``, ``status`` (``ok`` / ``OOM``),
``note``.
Modes: ``nograd`` (inference) and ``graph`` (a forward pass with the computational graph retained as in
training, the parameters that require grad being those of the model's last training stage: every GRAM
parameter; for GRAM-HD the stage-2 trainables, i.e. feature heads and SR nets, with the frozen stage-1 LR
render under no_grad — GRAM-HD paper Table 4's setting).

Each record runs in a fresh child process. ``peak_mem_mb``: CUDA max allocated; on CPU the rise of the
child's peak RSS over its post-set-up peak. On CPU the child's address space is capped at set-up +
``ZOO3D_BENCH_CPU_MEM_GB`` (a positive number, default 12) so a run that would exhaust the machine fails with an
allocation error, reported as OOM (as the paper reports GRAM at 512² on a 16 GB V100).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from zoo3d.benchmarks.children import cap_address_space, failure, memory_cap_gb, oom_note, out_of_memory

ROLE = "bench:models"
#: what each mode measures, as the progress lines say it
MODES = {"nograd": "inference (nograd)", "graph": "with the training graph (graph)"}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def models() -> list[str]:
    """The registered models with the role ``bench:models``."""
    from zoo3d.plugins import models_with_role

    return [spec.name for spec in models_with_role(ROLE)]


def build(model: str, resolution: int):
    """A paper-size generator of ``model`` whose default output is ``resolution``² (random weights)."""
    from zoo3d.plugins import get_model_spec

    plugin = get_model_spec(model).load()
    return plugin.benchmark_generator(plugin.config_class(), resolution)


def measure(model: str, resolution: int, device: str, mode: str, repeats: int) -> dict:
    """Time (s per image) and peak memory of one batch-1 render; OOM is caught and reported."""
    dev = torch.device(device)
    record = {"model": model, "resolution": resolution, "device": dev.type, "mode": mode}
    torch.manual_seed(0)
    gen = build(model, resolution).to(dev).eval()
    z = gen.sample_z(1, generator=torch.Generator().manual_seed(0), device=dev)
    cams = gen.sample_cameras(1, generator=torch.Generator().manual_seed(1), device=dev)
    if dev.type == "cpu":
        cap_address_space(memory_cap_gb(12))
    else:
        torch.cuda.reset_peak_memory_stats(dev)
    rss_before = _peak_rss_mb()
    times = []
    try:
        for i in range(repeats + (dev.type == "cuda")):  # one warm-up on CUDA
            _sync(dev)
            t0 = time.perf_counter()
            with torch.set_grad_enabled(mode == "graph"):
                out = gen(z, cams, resolution=(resolution, resolution))
            _sync(dev)
            if i or dev.type != "cuda":
                times.append(time.perf_counter() - t0)
            del out
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        return {**record, "time_s": None, "peak_mem_mb": None, "status": "OOM", "note": oom_note(exc)}
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else _peak_rss_mb() - rss_before
    return {**record, "time_s": round(statistics.median(times), 4), "peak_mem_mb": round(peak, 1), "status": "ok",
            "note": f"median of {len(times)}"}


def _measure_isolated(model: str, resolution: int, device: str, mode: str, repeats: int) -> dict:
    code = ("import json; from zoo3d.benchmarks.models import measure; "
            f"print(json.dumps(measure({model!r}, {resolution}, {device!r}, {mode!r}, {repeats})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return json.loads(done.stdout.strip().splitlines()[-1])
    return {"model": model, "resolution": resolution, "device": torch.device(device).type, "mode": mode,
            "time_s": None, "peak_mem_mb": None, **failure(done)}


def bases() -> dict[str, str]:
    """For each benchmarked model that builds on another benchmarked model, that base (GRAM-HD: GRAM)."""
    from zoo3d.plugins import get_model_spec

    names = models()
    out = {}
    for name in names:
        base = [r for r in get_model_spec(name).requires if get_model_spec(r).name in names]
        if base:
            out[name] = get_model_spec(base[0]).name
    return out


def plan(device: str, quick: bool) -> list[tuple[str, int, str]]:
    """(model, resolution, mode) to measure: every model at 128² and 256², and the models that build on another
    one alone at 512² and 1024², where their bases run out of memory (CUDA; on CPU only with
    ``ZOO3D_BENCH_CPU_HIGHRES=1``, as they take many minutes there)."""
    sizes = [128] if quick else [128, 256]
    jobs = [(m, r, mode) for r in sizes for m in models() for mode in ("nograd", "graph")]
    if not quick and (device.startswith("cuda") or os.environ.get("ZOO3D_BENCH_CPU_HIGHRES") == "1"):
        jobs += [(m, r, mode) for m in bases() for r in (512, 1024) for mode in ("nograd", "graph")]
    return jobs


def ratios(records: list[dict], base_of: dict[str, str] | None = None) -> list[dict]:
    """Each model vs its base (:func:`bases`; GRAM-HD vs GRAM) at each (resolution, device, mode) where both ran:
    fractions of time/memory saved."""
    base_of = bases() if base_of is None else base_of
    out = []
    index = {(r["model"], r["resolution"], r["device"], r["mode"]): r for r in records}
    for (model, res, dev, mode), rec in index.items():
        base = index.get((base_of.get(model), res, dev, mode))
        if base is None or rec["status"] != "ok":
            continue
        row = {"model": f"{model}_vs_{base['model']}", "resolution": res, "device": dev, "mode": mode}
        if base["status"] == "ok":
            row["time_saved"] = round(1 - rec["time_s"] / base["time_s"], 3)
            if base["peak_mem_mb"] and rec["peak_mem_mb"] is not None:
                row["memory_saved"] = round(1 - rec["peak_mem_mb"] / base["peak_mem_mb"], 3)
        else:  # what stopped the base: out of memory, or an error its own record names
            row["note"] = f"{base['model']} {base['status']}"
        out.append(row)
    return out


def run(device: str, quick: bool) -> list[dict]:
    """The records of :func:`plan`, each in a fresh process, then :func:`ratios`; a line on stderr as each starts."""
    from zoo3d.errors import counted

    if torch.device(device).type == "cpu":
        memory_cap_gb(12)  # a bad cap is refused here, not in every record's process
    repeats = 1 if quick or device == "cpu" else 5
    jobs = plan(device, quick)
    records = []
    for i, (m, r, mode) in enumerate(jobs, 1):  # said as each starts: on a CPU one record takes minutes
        warm = " after a warm-up" if torch.device(device).type == "cuda" else ""
        print(f"models: {i}/{len(jobs)}: {m} at {r}x{r}, {MODES[mode]}, {counted(repeats, 'render')}{warm}",
              file=sys.stderr, flush=True)
        records.append(_measure_isolated(m, r, device, mode, repeats))
    return records + ratios(records)
