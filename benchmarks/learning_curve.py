"""Diversity, SWD and detail of every checkpoint of one or more runs: the learning curve of an ablation.

    python benchmarks/learning_curve.py RUN [RUN ...] [--images 64] [--psi 1.0] [--data synthetic:heads]
                                        [--resolution R]

Each checkpoint's EMA generator draws ``--images`` samples (latents and prior cameras from the same
seeded draws as ``zoo3d compare``'s distribution metrics, seed 0) at the run's output resolution (its newest
checkpoint's, so a GRAM-HD run's step 0 and stage-1 checkpoints are drawn at its HR size too), or at
``--resolution`` (e.g. GRAM-HD at 32² instead of its 64² output), and truncation ``--psi``; they are
compared with as many dataset images by the ``diversity``, ``swd`` and ``detail`` functions of
``zoo3d.eval`` (docs/metrics.md). ``step 0`` is the generator as the run's config builds it before any
training. Fewer images than the ``small`` protocol's make the curve cheap to draw on a CPU; compare runs
only at the same ``--images``. Keep more checkpoints with ``--set train.keep_checkpoints=N``. A RUN that is no run
folder with a checkpoint is refused in one sentence (exit status 2) before any is drawn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch


def checkpoints_of(run: Path) -> list[Path]:
    """The run's kept checkpoints, newest first; a ``RUN`` that is no run folder with one is refused in one sentence
    (:class:`zoo3d.errors.UserError`), where indexing an empty list failed."""
    from zoo3d.errors import UserError
    from zoo3d.runs import resolve_checkpoint
    from zoo3d.train.checkpoint import list_checkpoints

    paths = list_checkpoints(run)
    if not paths:
        resolve_checkpoint(str(run))  # its sentence: no such folder, no checkpoint yet, a run's checkpoints/ folder
        raise UserError(f"'{run}' is no run folder, whose every checkpoint (checkpoints/step_<N>.safetensors) the "
                        "curve draws; give the folder `zoo3d train` wrote.")
    return paths


def curve(run: Path, resolution: int | None = None):
    """(step, generator, size) for step 0 (the untrained generator of the oldest checkpoint's config) and every
    kept checkpoint, all at one size: ``resolution``, or the run's output size (its newest checkpoint's), so that
    every point compares with the last (GRAM-HD renders its LR size before stage 2)."""
    from zoo3d.eval.metric import model_resolution
    from zoo3d.runs import build_untrained, load_model

    paths = checkpoints_of(run)  # newest first
    newest = load_model(str(paths[0]), device="cpu")
    size = model_resolution(newest.generator, None) if resolution is None else resolution
    for i, path in enumerate(reversed(paths)):
        loaded = newest if path == paths[0] else load_model(str(path), device="cpu")
        if i == 0:
            yield 0, build_untrained(loaded.plugin, loaded.config)["generator"].eval(), size
        yield loaded.step, loaded.generator, size


def main(argv: list[str] | None = None) -> int:
    from zoo3d.eval.distribution import generated_images, real_images
    from zoo3d.eval.detail import detail
    from zoo3d.eval.diversity import diversity
    from zoo3d.eval.swd import swd
    from zoo3d.errors import UserError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--psi", type=float, default=1.0)
    ap.add_argument("--data", default="synthetic:heads")
    ap.add_argument("--resolution", type=int, default=None, help="render and compare at this size instead")
    args = ap.parse_args(argv)
    try:  # every RUN is checked before the first is drawn
        for run in args.runs:
            checkpoints_of(run)
    except UserError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    real: dict[int, torch.Tensor] = {}
    print("| run | step | diversity | layout | colour | texture | face | swd | detail |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        for step, gen, res in curve(run, args.resolution):
            if res not in real:
                real[res] = real_images(args.data, args.images, res)
            fake = generated_images(gen, args.images, res, args.psi, 0, "cpu")
            d = diversity(fake, real[res])
            g = d["groups"]
            print(f"| {run.name} | {step} | {d['score']:.2f} | {g['layout']:.2f} | {g['colour']:.2f} | "
                  f"{g['texture']:.2f} | {d['face']:.2f} | {swd(fake, real[res])['mean']:.1f} | "
                  f"{detail(fake, real[res])['score']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
