"""One record, one side, in this (fresh) process: ``python -m zoo3d.benchmarks.peers.worker NAME SIDE DIR DEVICE``.

Prints one JSON line: ``time_s`` (wall time of the work, device synchronised; on CUDA after one untimed call, so
that handle creation, kernel loading, the allocator's growth and a training step's new Adam state are not
timed; the NeuS records time many steps and are not warmed) and ``peak_mb``: on CPU the
rise of peak RSS over the RSS just before the work (the kernel's high-water mark is reset first, so
set-up cannot mask it), on CUDA ``torch.cuda.max_memory_allocated`` during the work. A record whose work
is watched (the NeuS fit) puts its own ``time_s`` (training seconds to its target) in place of the wall
time, which it keeps as ``wall_s``. On CPU the address
space is capped at the set-up's plus ``ZOO3D_BENCH_CPU_MEM_GB`` (default 14) GiB: work that would exhaust
the machine fails with an allocation error and is reported as ``OOM``.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path

import torch

from zoo3d.benchmarks.children import cap_address_space, memory_cap_gb, oom_note, out_of_memory


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":")) / 1024.0


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def measure(name: str, side: str, workdir: Path, device: str) -> dict:
    from zoo3d.benchmarks.peers import authors, ours
    from zoo3d.benchmarks.peers.records import by_name

    record = by_name(name)
    dev = torch.device(device)
    threads = os.environ.get("ZOO3D_BENCH_THREADS", "").strip()  # checked by the suite before it starts
    if threads:
        torch.set_num_threads(int(threads))
    work, finish = (authors if side == "authors" else ours).prepare(record, workdir, dev)
    gc.collect()
    out = {"record": name, "side": side, "device": dev.type, "threads": torch.get_num_threads()}
    if dev.type == "cuda":
        if record.work not in ("neus_fit", "neus_steps"):
            warm = work()
            del warm
            gc.collect()
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    else:
        cap_address_space(memory_cap_gb(14))
        exact = _reset_peak_rss()
        base = _status_mb("VmRSS") if exact else _status_mb("VmHWM")
    load = os.getloadavg()[0]
    try:
        t0 = time.perf_counter()
        result = work()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - t0
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        return {**out, "status": "OOM", "note": oom_note(exc)}
    peak = (torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda"
            else _status_mb("VmHWM") - base)
    out.update({"status": "ok", "time_s": round(seconds, 3), "wall_s": round(seconds, 3), "peak_mb": round(peak, 1),
                "load_avg_1min": round(load, 2)})
    out.update(finish(result))
    out["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    return out


def main(argv: list[str]) -> None:
    name, side, workdir, device = argv
    print(json.dumps(measure(name, side, Path(workdir), device)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
