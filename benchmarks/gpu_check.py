"""The whole GPU path in one run, in under 10 minutes on one CUDA machine; started by ``gpu_check.sh``.

Parts, each timed and recorded (a part that fails or runs out of time is recorded as such; the rest go on):

1. ``tests``: the ``cuda``-marked tests (``pytest -m cuda``).
2. ``bench_render``, ``bench_models``: ``zoo3d bench render`` and ``zoo3d bench models`` on the GPU — the
   renderers at 64/128/256², GRAM vs GRAM-HD at paper sizes, GRAM-HD alone at 512² and 1024², with and
   without the graph retained (GRAM-HD Table 4's setting: V100 0.18/0.22/0.36 s and 5.4/6.3/9.0 GB).
3. ``train``: 25 steps of ``gram --preset ffhq256`` (about 2 s a step on an H200), 50 each of
   ``gram_hd --preset ffhq256`` (its 64² stage 1 and 256² stage 2 share the 50 steps) and
   ``triplane --preset ffhq512`` at 256² output, on ``synthetic:heads``
   (64 heads rendered once on the GPU) with the paper's batch per GPU (GRAM 4, GRAM-HD 8 then 4, EG3D 4):
   ms per step after the first logging interval, images/s, peak GPU memory, whether every loss stayed finite.
   ``smoke_*``: every stage of ``stylesdf --preset ffhq1024``, ``gram_inverter --preset ffhq256`` and
   ``gram --preset carla`` for 2 steps, and ``pigan --preset celeba`` for 2, with their paper batches
   (GRAM CARLA's 32 in micro-batches of 4): each model's other CUDA paths run and stay finite.
4. ``two_gpus`` (two or more GPUs): GRAM ffhq256 for 20 steps with ``torchrun --nproc-per-node 2`` at
   4 images per GPU (global batch 8), its images/s against one GPU's, then a resume of that run in one
   process for 2 more steps (the world-size change must be reported).
5. ``amp``: one batch of GRAM ffhq256 (4 images at 256², the D phase with R1 and the G phase) under fp32,
   bf16 and fp16 autocast (fp16 with a loss scale that starts at 2^16 and halves while the gradient
   overflows, as the engine's GradScaler does): time, peak memory, the loss and the gradient against
   fp32 (relative error, cosine).

6. ``zoo`` (only when named: ``--only zoo``, a run of its own): docs/zoo.md's paper-preset command,
   ``zoo3d bench zoo`` with GRAM and GRAM-HD ``ffhq256``, tri-plane ``ffhq512``, StyleSDF ``ffhq1024`` and
   pi-GAN ``celeba`` in micro-batches of 4 on the ``paper`` protocol, shrunk to fit: 2 steps per model, one
   instance, 128 px, NeuS 50 iterations, 64 images for swd/diversity. Every model must train, draw and get a
   finite ``neus_detail_gain``; its figures are no result, the command running unchanged on CUDA is.

``--dry-run`` prints the plan and runs and writes nothing. ``--only`` takes part names (``train_gram``,
``smoke_pigan_celeba``, ``zoo``); one that is no part is refused before anything runs. ``--device cpu --small``
runs every part at toy sizes on the CPU (tiny presets, a few steps; the benchmark suites, which have no toy
size, are skipped): it checks this script, its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 570  # the whole run, leaving a margin under 10 minutes
SMALL_SLACK = 6  # --small on a CPU: every cap x 6 and no overall budget (it checks the script, not speed)
#: docs/zoo.md's GPU command, and what the ``zoo`` part changes in it to fit in one call
ZOO_PAPER_PRESETS = {"gram": "ffhq256", "gram_hd": "ffhq256", "triplane": "ffhq512", "stylesdf": "ffhq1024",
                     "pigan": "celeba"}
ZOO_SHRUNK_PROTOCOL = ("resolution=128", "neus.iterations=50", "distribution_images=64", "epi_frames=12",
                       "depth_views=3", "speed_resolutions=[128]", "speed_repeats=2")
PAPER_TABLE4 = {"source": "GRAM-HD Table 4, V100, batch 1, graph retained",
                "time_s": {256: 0.18, 512: 0.22, 1024: 0.36}, "memory_gb": {256: 5.4, 512: 6.3, 1024: 9.0}}


class Check:
    """Runs the parts within the budget and collects one JSON document."""

    def __init__(self, out: Path, device: str, small: bool, dry_run: bool, budget_s: float = BUDGET_S):
        self.out, self.device, self.small, self.dry_run = out.resolve(), device, small, dry_run
        self.t0 = time.perf_counter()
        self.budget_s = budget_s * (SMALL_SLACK if small else 1)
        self.only: set[str] = set()
        self.doc: dict = {"device": device, "small": small, "parts": {}}

    # ---------------------------------------------------------------- plumbing
    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.t0)

    def run(self, name: str, cap_s: float, fn) -> None:
        if self.only and name not in self.only:
            return
        budget = min(cap_s * (SMALL_SLACK if self.small else 1), self.left() - 5)
        if budget < 20 and not self.dry_run:
            self.doc["parts"][name] = {"status": "skipped", "reason": f"time budget ({self.left():.0f} s left)"}
            return
        t = time.perf_counter()
        try:
            result = fn(budget)
        except subprocess.TimeoutExpired as exc:
            result = {"status": "timeout", "reason": f"over {budget:.0f} s", "command": _cmd(exc.cmd)}
        except Exception as exc:  # a part's failure is a result, not the end of the check
            result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:2000]}
        result.setdefault("status", "planned" if self.dry_run else "ok")
        result["wall_s"] = round(time.perf_counter() - t, 1)
        self.doc["parts"][name] = result
        print(f"[{time.perf_counter() - self.t0:5.0f} s] {name}: {result['status']} ({result['wall_s']} s)", flush=True)

    def sh(self, args: list[str], timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
        if self.dry_run:
            print("would run:", _cmd(args))
            return subprocess.CompletedProcess(args, 0, "", "")
        full = {**os.environ, **(env or {})}
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=full, cwd=REPO)

    # ---------------------------------------------------------------- parts
    def environment(self) -> dict:
        import torch

        info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
                "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                "bf16": bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())}
        from zoo3d.benchmarks.source import source_digest

        # what ran: the imported source's digest (`python -m zoo3d.benchmarks.source` on another machine
        # prints the same for the same code); a copied tree's git HEAD can be stale, so it is only
        # reported as the commit when the tracked files match it
        info["source_sha256"] = source_digest()
        try:
            head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO)
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                   text=True, cwd=REPO)
        except OSError:
            return info
        if head.returncode == 0 and dirty.returncode == 0:
            if dirty.stdout.strip():  # the files differ from that commit: it names a base, not what ran
                info.update(checkout_head=head.stdout.strip(), checkout_modified=True)
            else:
                info["commit"] = head.stdout.strip()
        return info

    def tests(self, budget: float) -> dict:
        done = self.sh([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "tests"],
                       budget)
        counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors|deselected)",
                                                    done.stdout)}
        ok = done.returncode in (0, 5) and not counts.get("failed") and not counts.get("error")
        status = "planned" if self.dry_run else "ok" if ok else "failed"
        return {"status": status, "counts": counts, "returncode": done.returncode,
                "tail": done.stdout.strip().splitlines()[-15:] if not ok else []}

    def bench(self, suite: str):
        def part(budget: float) -> dict:
            if self.small:
                return {"status": "skipped", "reason": "--small: the suite has no toy size"}
            path = self.out / f"bench_{suite}.json"
            done = self.sh([sys.executable, "-m", "zoo3d", "bench", suite, "--device", self.device, "--json",
                            str(path)], budget)
            if done.returncode or self.dry_run:
                status = "failed" if done.returncode else "planned" if self.dry_run else "ok"
                return {"status": status, "returncode": done.returncode, "tail": done.stderr.strip().splitlines()[-5:]}
            records = json.loads(path.read_text())
            out = {"records": records}
            if suite == "models":
                out["table4"] = _table4(records)
            return out
        return part

    def train_jobs(self) -> list[dict]:
        if self.small:
            data = "synthetic:heads?count=8&block=8"
            return [dict(model="gram", preset="tiny", steps=4, data=data,
                         sets=["stages.gram.batch_size=2", "train.log_every=1"]),
                    dict(model="gram_hd", preset="tiny", steps=4, data=data,
                         sets=["train.log_every=1", "stages.gram_hd.stage1.batch_size=2",
                               "stages.gram_hd.stage2.batch_size=2"]),
                    dict(model="triplane", preset="tiny", steps=4, data=data,
                         sets=["train.log_every=1", "stages.gan.batch_size=2"])]
        data = "synthetic:heads?count=64&device=cuda"
        common = ["train.log_every=5"]
        return [dict(model="gram", preset="ffhq256", steps=25, data=data, sets=common + ["stages.gram.batch_size=4"]),
                dict(model="gram_hd", preset="ffhq256", steps=50, data=data,
                     sets=common + ["stages.gram_hd.stage1.batch_size=8", "stages.gram_hd.stage2.batch_size=4"]),
                dict(model="triplane", preset="ffhq512", steps=50, data=data,
                     sets=common + ["stages.gan.batch_size=4", "generator.resolution=256",
                                    "generator.sr_input_resolution=128"])]

    def smoke_jobs(self) -> list[dict]:
        """Every stage of the other models' paper presets for a step or two under autocast: their CUDA paths
        (StyleSDF's decoder, pi-GAN, GRAMInverter's encoder and detail stages, GRAM CARLA's module_lr)."""
        data = "synthetic:heads?count=8&block=8" if self.small else "synthetic:heads?count=16&device=cuda"
        presets = {"stylesdf": "ffhq1024", "pigan": "celeba", "gram_inverter": "ffhq256", "gram": "carla"}
        if self.small:
            presets = dict.fromkeys(presets, "tiny")
        jobs = []
        for model, preset in presets.items():
            stages = _preset_stages(model, preset)
            sets = ["train.log_every=1"] + [f"stages.{s}.steps=2" for s in stages]
            if self.small:
                sets += [f"stages.{s}.batch_size=2" for s in stages]
            if model == "gram":  # CARLA's batch of 32 in one process needs over 140 GB at once
                sets.append(f"train.micro_batch={1 if self.small else 4}")
            jobs.append(dict(model=model, preset=preset, steps=None, data=data, sets=sets,
                             name=f"smoke_{model}_{preset}"))
        return jobs

    def train(self, job: dict):
        def part(budget: float) -> dict:
            run = self.out / "train" / job.get("name", job["model"])
            sets = job["sets"] + ["train.sample_every=0", "train.checkpoint_every=0"]
            args = dict(model=job["model"], preset=job["preset"], steps=job["steps"], data=job["data"],
                        overrides=sets, device=self.device, out=str(run), progress=False)
            done = self.sh([sys.executable, __file__, "--train-child", json.dumps(args)], budget)
            if self.dry_run:
                return {"job": job}
            if done.returncode:
                return {"status": "failed", "job": job, "tail": done.stderr.strip().splitlines()[-8:]}
            child = json.loads(done.stdout.strip().splitlines()[-1])
            return {"job": job, **child, **_step_times(run / "metrics.jsonl")}
        return part

    def two_gpus(self, budget: float) -> dict:
        import torch

        if not self.small and torch.cuda.device_count() < 2 and not self.dry_run:
            return {"status": "skipped", "reason": f"{torch.cuda.device_count()} GPU(s) on this machine"}
        run = self.out / "train" / "gram_2proc"
        preset, steps, per = ("tiny", 3, 2) if self.small else ("ffhq256", 20, 4)
        data = "synthetic:heads?count=8&block=8" if self.small else "synthetic:heads?count=64&device=cuda"
        env = {"OMP_NUM_THREADS": "1"} if self.small else {}
        done = self.sh([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        "-m", "zoo3d", "train", "gram", "--preset", preset, "--steps", str(steps), "--device",
                        self.device, "--data", data, "--out", str(run), "--quiet",
                        "--set", f"stages.gram.batch_size={2 * per}", "--set", "train.log_every=1",
                        "--set", "train.sample_every=0", "--set", "train.checkpoint_every=0"],
                       budget * 0.75, env)
        if self.dry_run:
            return {}
        if done.returncode:
            return {"status": "failed", "tail": done.stderr.strip().splitlines()[-8:]}
        times = _step_times(run / "metrics.jsonl")
        result = {"processes": 2, "global_batch": 2 * per, **times}
        one = self.doc["parts"].get("train_gram", {})
        if one.get("images_per_s") and times.get("images_per_s"):
            result["scaling_efficiency"] = round(times["images_per_s"] / (2 * one["images_per_s"]), 3)
        resumed = self.sh([sys.executable, "-m", "zoo3d", "train", "gram", "--out", str(run), "--resume",
                           "--steps", str(steps + 2), "--device", self.device, "--quiet"],
                          max(20.0, self.left() - 5), env)
        result["resume_one_process"] = {
            "returncode": resumed.returncode,
            "reported": "written by 2 processes with 1 process" in resumed.stderr,
            "step": _last_step(run / "metrics.jsonl")}
        if resumed.returncode or not result["resume_one_process"]["reported"] or \
                result["resume_one_process"]["step"] != steps + 2:
            result["status"] = "failed"
            result["resume_one_process"]["tail"] = resumed.stderr.strip().splitlines()[-5:]
        return result

    def amp(self, budget: float) -> dict:
        args = {"device": self.device, "small": self.small}
        done = self.sh([sys.executable, __file__, "--amp-child", json.dumps(args)], budget)
        if self.dry_run:
            return {}
        if done.returncode:
            return {"status": "failed", "tail": done.stderr.strip().splitlines()[-8:]}
        return json.loads(done.stdout.strip().splitlines()[-1])

    def zoo(self, budget: float) -> dict:
        """docs/zoo.md's paper-preset ``zoo3d bench zoo`` on this device, shrunk (module docstring, part 6)."""
        out = self.out / "zoo"
        if self.small:  # the paper NeuS (8 x 256 networks, 128 samples a ray) takes hours on a CPU
            presets, protocol = dict.fromkeys(ZOO_PAPER_PRESETS, "tiny"), "small"
            data = "synthetic:heads?count=8&block=8"
            sets = (*ZOO_SHRUNK_PROTOCOL, "resolution=32", "neus.iterations=5", "speed_resolutions=[32]")
            threads = {"OMP_NUM_THREADS": "1"}
        else:
            presets, protocol, data = ZOO_PAPER_PRESETS, "paper", "synthetic:heads?count=16&device=cuda"
            sets, threads = ZOO_SHRUNK_PROTOCOL, {}
        env = {"ZOO3D_ZOO_OUT": str(out), "ZOO3D_ZOO_STEPS": "2", "ZOO3D_ZOO_MINUTES": "0",
               "ZOO3D_ZOO_INSTANCES": "1", "ZOO3D_ZOO_PROTOCOL": protocol, "ZOO3D_ZOO_MODELS": ",".join(presets),
               "ZOO3D_ZOO_PRESETS": ",".join(f"{m}={p}" for m, p in presets.items()), "ZOO3D_ZOO_DATA": data,
               "ZOO3D_ZOO_SET": "train.micro_batch=4", "ZOO3D_ZOO_COMPARE_SET": ";".join(sets), **threads}
        path = out / "zoo.json"
        done = self.sh([sys.executable, "-m", "zoo3d", "bench", "zoo", "--device", self.device, "--json",
                        str(path)], budget, env)
        if self.dry_run:
            return {"env": env}
        if done.returncode:
            return {"status": "failed", "env": env, "tail": (done.stderr + done.stdout).strip().splitlines()[-8:]}
        records = [r for r in json.loads(path.read_text()) if r.get("suite") == "zoo"]
        trained = {r["model"]: r for r in records if r["model"] in presets}
        missing = [m for m in presets if m not in trained or trained[m].get("step") != 2
                   or not math.isfinite(trained[m].get("neus_detail_gain", math.nan))]
        return {"status": "failed" if missing else "ok", "not_done": missing, "env": env, "records": records}

    # ---------------------------------------------------------------- all
    def part_names(self) -> list[str]:
        """Every part :meth:`main` may run, in its order (what ``--only`` takes)."""
        return (["tests", "bench_render", "bench_models"] + [f"train_{job['model']}" for job in self.train_jobs()]
                + [job["name"] for job in self.smoke_jobs()] + ["two_gpus", "amp", "zoo"])

    def unknown_part(self) -> str | None:
        """The sentence refusing a ``--only`` name that is no part (a typo would run nothing and pass), or None."""
        from zoo3d.errors import closest

        names = self.part_names()
        for name in sorted(self.only):
            if name not in names:
                hint = closest(name, names, n=1)
                did = f" Did you mean '{hint[0]}'?" if hint else ""
                return (f"--only names part '{name}', which gpu_check does not run "
                        f"(its parts: {', '.join(names)}).{did}")
        return None

    def main(self) -> dict:
        if not self.dry_run:  # a dry run writes nothing: DIR/gpu_check.json may hold a real run's figures
            self.out.mkdir(parents=True, exist_ok=True)
        self.doc["environment"] = self.environment()
        self.run("tests", 150, self.tests)
        self.run("bench_render", 100, self.bench("render"))
        self.run("bench_models", 170, self.bench("models"))
        for job in self.train_jobs():
            self.run(f"train_{job['model']}", 110, self.train(job))
        for job in self.smoke_jobs():
            self.run(job["name"], 90, self.train(job))
        self.run("two_gpus", 100, self.two_gpus)
        self.run("amp", 80, self.amp)
        if "zoo" in self.only:  # longer than the rest of the check together: only when named
            self.run("zoo", 540, self.zoo)
        self.doc["wall_s"] = round(time.perf_counter() - self.t0, 1)
        self.doc["summary"] = summary(self.doc)
        path = self.out / "gpu_check.json"
        print(json.dumps(self.doc["summary"], indent=2))
        if self.dry_run:
            print(f"dry run: nothing written (a run writes {path})")
            return self.doc
        path.write_text(json.dumps(_finite(self.doc), indent=2, default=str))
        print(f"wrote {path}")
        return self.doc


def _finite(value):
    """JSON-safe: non-finite floats (a diverged comparison) become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _preset_stages(model: str, preset: str) -> list[str]:
    """The stage names of a model's preset, in training order, as ``zoo3d train`` would build them."""
    from zoo3d.config import load_run_config
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec(model)
    config = load_run_config(spec.load().config_class, spec.name, spec.presets_dir, preset)
    return [stage.name for stage in config.stages]


def _cmd(args) -> str:
    return " ".join(shlex.quote(str(a)) for a in args) if isinstance(args, (list, tuple)) else str(args)


def _records(metrics: Path) -> list[dict]:
    if not metrics.is_file():
        return []
    return [r for r in map(json.loads, metrics.read_text().splitlines()) if "event" not in r]


def _last_step(metrics: Path) -> int | None:
    records = _records(metrics)
    return records[-1]["step"] if records else None


def _step_times(metrics: Path) -> dict:
    """ms per step per stage from consecutive metrics records (the first interval, with warm-up, left out)."""
    records = _records(metrics)
    stages: dict[str, dict] = {}
    for stage in dict.fromkeys(r["stage"] for r in records):
        own = [r for r in records if r["stage"] == stage]
        if len(own) >= 2:
            ms = 1000 * (own[-1]["time_s"] - own[0]["time_s"]) / (own[-1]["step"] - own[0]["step"])
            stages[stage] = {"ms_per_step": round(ms, 1), "steps_timed": own[-1]["step"] - own[0]["step"]}
    losses = [v for r in records for k, v in r.items() if k.startswith("loss.")]
    out = {"stages": stages, "losses_finite": bool(losses) and all(math.isfinite(v) for v in losses),
           "steps": records[-1]["step"] if records else 0}
    if records:
        out["images_per_s"] = records[-1].get("images_per_s")
    return out


def _table4(records: list[dict]) -> list[dict]:
    rows = []
    for r in records:
        if r.get("model") == "gram_hd" and r.get("mode") == "graph" and r.get("resolution") in PAPER_TABLE4["time_s"]:
            res = r["resolution"]
            rows.append({"resolution": res, "time_s": r.get("time_s"), "paper_v100_time_s": PAPER_TABLE4["time_s"][res],
                         "peak_mem_gb": round(r["peak_mem_mb"] / 1024, 2) if r.get("peak_mem_mb") else None,
                         "paper_v100_memory_gb": PAPER_TABLE4["memory_gb"][res], "status": r.get("status")})
    return rows


def summary(doc: dict) -> dict:
    parts = doc["parts"]
    s: dict = {"wall_s": doc["wall_s"], "under_10_minutes": doc["wall_s"] < 600,
               "parts": {k: v.get("status") for k, v in parts.items()},
               "gpus": doc["environment"].get("gpus")}
    if "counts" in parts.get("tests", {}):
        s["cuda_tests"] = parts["tests"]["counts"]
    if parts.get("bench_models", {}).get("table4"):
        s["table4_graph"] = parts["bench_models"]["table4"]
    render = parts.get("bench_render", {}).get("records", [])
    s["render_256_s"] = {r.get("renderer"): r.get("total_s") for r in render if r.get("resolution") == 256}
    s["train"] = {k[len("train_"):]: {"ms_per_step": {st: v["ms_per_step"] for st, v in p.get("stages", {}).items()},
                                      "images_per_s": p.get("images_per_s"), "peak_mem_mb": p.get("peak_mem_mb"),
                                      "losses_finite": p.get("losses_finite"), "status": p.get("status")}
                  for k, p in parts.items() if k.startswith("train_")}
    s["smoke"] = {k[len("smoke_"):]: {"status": p.get("status"), "steps": p.get("steps"),
                                      "losses_finite": p.get("losses_finite"), "peak_mem_mb": p.get("peak_mem_mb")}
                  for k, p in parts.items() if k.startswith("smoke_")}
    two = parts.get("two_gpus", {})
    if two.get("status") == "ok":
        s["two_gpus"] = {"images_per_s": two.get("images_per_s"), "scaling_efficiency": two.get("scaling_efficiency"),
                         "resume_in_one_process": two.get("resume_one_process")}
    if "zoo" in parts:
        s["zoo"] = {"status": parts["zoo"].get("status"), "not_done": parts["zoo"].get("not_done"),
                    "neus_detail_gain": {r["model"]: r.get("neus_detail_gain")
                                         for r in parts["zoo"].get("records", [])}}
    amp = parts.get("amp", {})
    if amp.get("modes"):
        s["amp_vs_fp32"] = {m: {ph: {k: v[k] for k in ("loss_rel_err", "grad_cosine", "ms") if k in v}
                                for ph, v in r.items()} for m, r in amp["modes"].items()}
    return s


# ------------------------------------------------------------------------- children (fresh processes)

def train_child(args: dict) -> None:
    """One training run through the same function as ``zoo3d train``; prints its figures as JSON."""
    import torch

    from zoo3d.launch import train_model

    dev = torch.device(args["device"])
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    result = train_model(args["model"], preset=args["preset"], steps=args["steps"], data=args["data"],
                         overrides=args["overrides"], device=args["device"], out=args["out"], progress=False)
    out = {"step": result.step, "status": "ok" if result.status == "done" else result.status,
           "train_wall_s": round(time.perf_counter() - t, 1)}
    if dev.type == "cuda":
        out["peak_mem_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(out))


def amp_child(args: dict) -> None:
    """GRAM's D and G phases on one batch under fp32, bf16 and fp16 autocast: time, memory, agreement."""
    import torch

    from zoo3d.train.engine import Trainer
    from zoo3d.launch import plan_run

    small = args["small"]
    sets = (["stages.gram.batch_size=2", "data.spec=synthetic:heads?count=8&block=8"] if small else
            ["stages.gram.batch_size=4", "data.spec=synthetic:heads?count=64&device=cuda"])
    plan = plan_run("gram", preset="tiny" if small else "ffhq256", overrides=sets)
    dev = torch.device(args["device"])
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(plan.plugin, plan.config, tmp, model_name="gram", device=dev, progress=False)
        stage = trainer.stages[0]
        trainer.enter_stage(stage)
        real = trainer._real_batch(stage)
        every = [p for m in trainer.modules.values() for p in m.parameters()]
        modes = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
        results: dict = {}
        reference: dict = {}
        def once(phase, mine: set, scale: float):
            """One forward + backward of ``phase`` on the fixed batch and noise: (loss, seconds, peak MiB)."""
            for p in every:
                p.requires_grad_(id(p) in mine)
                p.grad = None
            trainer.rng.manual_seed(1234)
            torch.manual_seed(1234)
            if dev.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t = time.perf_counter()
            with trainer.autocast():
                loss = phase.loss(trainer._context(stage, real)).loss.float()
            (loss * scale).backward()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None
            return loss, time.perf_counter() - t, peak

        for mode, dtype in modes.items():
            trainer.amp_dtype = dtype
            results[mode] = {}
            for phase in stage.phases:
                params = trainer._params[phase.optimizer]
                mine = {id(p) for p in params}
                scale = 2.0 ** 16 if dtype == torch.float16 else 1.0
                times = []
                for repeat in range(3 if small else 4):  # the first is a warm-up
                    loss, seconds, peak = once(phase, mine, scale)
                    while dtype == torch.float16 and scale > 1 and not all(
                            p.grad.isfinite().all() for p in params if p.grad is not None):
                        scale /= 2  # GradScaler's back-off
                        loss, seconds, peak = once(phase, mine, scale)
                    if repeat:
                        times.append(seconds)
                grad = torch.cat([p.grad.float().flatten() / scale for p in params if p.grad is not None])
                row = {"loss": loss.item(), "ms": round(1000 * statistics.median(times), 1),
                       "peak_mem_mb": round(peak, 1) if peak is not None else None,
                       "grad_finite": bool(grad.isfinite().all()), "loss_scale": scale}
                if mode == "fp32":
                    reference[phase.name] = (loss.item(), grad)
                else:
                    ref_loss, ref_grad = reference[phase.name]
                    row["loss_rel_err"] = abs(loss.item() - ref_loss) / max(abs(ref_loss), 1e-12)
                    row["grad_cosine"] = torch.nn.functional.cosine_similarity(grad, ref_grad, dim=0).item()
                    row["grad_rel_err"] = ((grad - ref_grad).norm() / ref_grad.norm().clamp_min(1e-30)).item()
                results[mode][phase.name] = row
        for p in every:
            p.grad = None
    print(json.dumps(_finite({"model": "gram", "preset": "tiny" if small else "ffhq256",
                              "batch": 2 if small else 4, "modes": results})))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="gpu_check_out", help="folder for the JSON and the runs")
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu with --small (refused without)")
    parser.add_argument("--small", action="store_true", help="toy sizes: checks the script, not the GPU")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; run and write nothing")
    parser.add_argument("--budget", type=float, default=BUDGET_S,
                        help=f"seconds for the whole check (default {BUDGET_S}); parts past it are skipped")
    parser.add_argument("--only", default="", help="comma-separated parts to run (e.g. tests,train_triplane)")
    parser.add_argument("--train-child", help=argparse.SUPPRESS)
    parser.add_argument("--amp-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train_child:
        train_child(json.loads(args.train_child))
        return 0
    if args.amp_child:
        amp_child(json.loads(args.amp_child))
        return 0
    if not args.device.startswith("cuda") and not args.small:  # the paper sizes on a CPU: most of an hour per part
        print(f"--device {args.device} runs the GPU check's paper sizes there, hours of work cut off at the budget; "
              "add --small to check the script on it.", file=sys.stderr)
        return 2
    check = Check(Path(args.out), args.device, args.small, args.dry_run, args.budget)
    check.only = {p.strip() for p in args.only.split(",") if p.strip()}
    refusal = check.unknown_part()
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available() and not args.dry_run:
        print("No CUDA device: this check is for a GPU machine (use --device cpu --small to test the script).",
              file=sys.stderr)
        return 2
    doc = check.main()
    failed = [k for k, v in doc["parts"].items() if v.get("status") not in ("ok", "skipped", "planned")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
