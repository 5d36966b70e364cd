"""Training-step time of tiny presets at another revision against this tree, side by side on the same cores.

    python benchmarks/train_step_ab.py [--before REV] [--models gram_hd,gram] [--steps 30] [--repeats 2] [--stage 0]

Writes ``zoo3d/`` and ``plugins/`` of ``--before`` (default ``dfbeffe``, before the one-pass intersection
graph and the kept host memory) to a scratch folder, removed at the end, and, for each model, starts two
processes at once, one thread each: stage ``--stage`` (default 0, the first) of its ``tiny`` preset, entered
fresh, at that revision and at this tree (``Trainer``, as ``zoo3d train`` builds it, on the CPU, with no grids or
checkpoints), 5 steps of warm-up, then ``--steps`` timed (rounded up to a whole number of the stage's lazy
period; the step counter advances as in training, so a lazy phase runs on its own steps). The timing loop
is written out here rather than taken from ``zoo3d.benchmarks.train``, so that both sides are timed by the
same loop whatever that module holds at the earlier revision. Both run at the same time so that a machine
whose speed drifts slows both alike; the ratio is the result. Prints seconds a step, kernel (system)
seconds a step and page faults a step of each, and the ratio of CPU seconds (the process's user and system
time) a step, which other jobs on a loaded machine disturb less than the wall-clock ratio. Run from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, math, resource, sys, tempfile, time
import torch
from zoo3d.config import load_run_config
from zoo3d.plugins import get_model_spec
from zoo3d.train.engine import Trainer

import zoo3d
model, steps, stage_index = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = get_model_spec(model)
plugin = spec.load()
cfg = load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny",
                      overrides=["train.sample_every=0", "train.checkpoint_every=0", "train.log_every=1"])
with tempfile.TemporaryDirectory() as tmp:
    trainer = Trainer(plugin, cfg, tmp, model_name=spec.name, device="cpu", progress=False)
    stage = trainer.stages[stage_index]
    trainer._begin_stage(stage, fresh=True)

    def step():  # the counters advance as in training: lazy phases run on their own steps, fades progress
        trainer._train_step(stage)
        trainer.step += 1
        trainer.stage_step += 1

    period = math.lcm(*(phase.every for phase in stage.phases))
    steps = -(-steps // period) * period
    for _ in range(5):
        step()
    r0, t0, c0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    seconds, r1, cpu = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF), time.process_time() - c0
print(json.dumps({"sources": [zoo3d.__file__, sys.modules[type(plugin).__module__].__file__], "s_per_step": seconds / steps,
                  "cpu_per_step": cpu / steps,
                  "sys_per_step": (r1.ru_stime - r0.ru_stime) / steps,
                  "faults_per_step": (r1.ru_minflt - r0.ru_minflt) / steps}))
"""


def export_revision(rev: str, into: Path) -> Path:
    """``zoo3d/`` and ``plugins/`` of git revision ``rev`` under ``into`` (``git archive``)."""
    archive = into / "tree.tar"
    subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), rev, "zoo3d", "plugins"], check=True,
                   cwd=ROOT)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def start(model: str, steps: int, source: Path, stage: int = 0) -> subprocess.Popen:
    """One timing process for ``model`` importing zoo3d and the built-in plugins from ``source``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(source), str(source / "plugins")])}
    return subprocess.Popen([sys.executable, "-c", CHILD, model, str(steps), str(stage)], env=env, cwd=source,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, expect: Path) -> dict:
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"timing process failed:\n{err[-3000:]}")
    record = json.loads(out.strip().splitlines()[-1])
    for source in record["sources"]:  # zoo3d and the model's plugin
        if not Path(source).resolve().is_relative_to(expect.resolve()):
            raise SystemExit(f"expected the code from {expect}, imported {source}")
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="dfbeffe")
    ap.add_argument("--models", default="gram_hd,gram")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--stage", type=int, default=0, help="which stage of the preset to time (0: the first)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zoo3d_before_") as tmp:  # the exported tree goes with the run
        compare(args, export_revision(args.before, Path(tmp)))
    return 0


def compare(args, before: Path) -> None:
    """The table: each model's stage at ``before`` (an exported tree) and at this tree, side by side."""
    print(f"before = {args.before}, after = this tree; stage {args.stage}, {args.steps} steps (rounded up to a "
          "whole number of the stage's lazy period) after 5, one thread each, side by side")
    print("| model | repeat | before: s/step (sys, faults) | after: s/step (sys, faults) | after / before | "
          "CPU s/step: after / before |")
    print("|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for repeat in range(args.repeats):
            procs = (start(model, args.steps, before, args.stage), start(model, args.steps, ROOT, args.stage))
            b, a = finish(procs[0], before), finish(procs[1], ROOT)
            print(f"| {model} | {repeat + 1} | {b['s_per_step']:.3f} ({b['sys_per_step']:.3f}, "
                  f"{b['faults_per_step']:.0f}) | {a['s_per_step']:.3f} ({a['sys_per_step']:.3f}, "
                  f"{a['faults_per_step']:.0f}) | **{a['s_per_step'] / b['s_per_step']:.2f}** | "
                  f"{a['cpu_per_step']:.3f} / {b['cpu_per_step']:.3f} = {a['cpu_per_step'] / b['cpu_per_step']:.2f} |",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
