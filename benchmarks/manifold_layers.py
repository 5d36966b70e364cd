"""Which layer an Efficient GRAM (GRAMInverter) generator draws its image on: the front level, the levels
behind it, or the background plane.

    python benchmarks/manifold_layers.py RUN [RUN ...] [--seeds 8] [--out layers.png]

For each run's newest checkpoint, the EMA generator decodes its radiance maps for ``--seeds`` latents (torch
seed 0, psi 1) and composites them front to back along each texel's column, which is what a frontal camera
sees of view-independent maps gridded along -Z (the renderer reads the same maps through the camera). It
prints the share of the composite's centre half (the middle half of the texture square in x and y, where
the face is) that comes from the front level (its mean alpha there, since nothing lies in front of it),
the levels behind it and the background plane. ``--out`` writes, per run, three rows of ``--seeds``
images: the composite, the front level's alpha (white: opaque) and the background texture, in image
orientation. RUN is a run folder, a checkpoint or a model name; one that is none, or whose generator draws no
radiance maps, is refused in one sentence (exit status 2) before any is drawn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch


def frontal_composite(maps: torch.Tensor, background: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The renderer's compositing (:func:`zoo3d.render.composite.composite`) along texel columns, the
    background plane as the last, opaque layer.

    maps (B, N, 4, R, R) rgba per level, level 0 in front; background (B, 3, R, R) ->
    (image (B, 3, R, R), weights (B, N + 1, R, R): each level's share, then the background's)."""
    from zoo3d.render.composite import composite

    alpha = torch.cat([maps[:, :, 3], torch.ones_like(background[:, :1])], 1)  # (B, N + 1, R, R)
    rgb = torch.cat([maps[:, :, :3], background[:, None]], 1)  # (B, N + 1, 3, R, R)
    out = composite(alpha.permute(0, 2, 3, 1), rgb.permute(0, 3, 4, 1, 2))
    return out.rgb.permute(0, 3, 1, 2), out.weights.permute(0, 3, 1, 2)


def newest_manifold_model(run: Path):
    """The run's newest checkpoint loaded (:func:`zoo3d.runs.load_model`: a run folder, a checkpoint or a model name),
    refused in one sentence (:class:`zoo3d.errors.UserError`) when its generator draws no radiance maps."""
    from zoo3d.errors import UserError
    from zoo3d.runs import load_model

    loaded = load_model(str(run), device="cpu")
    if not callable(getattr(loaded.generator, "radiance_maps", None)):
        raise UserError(f"'{run}' is a {loaded.spec.name} run, whose generator draws no radiance maps; this script "
                        "reads an Efficient GRAM generator's (a gram_inverter run).")
    return loaded


def main(argv: list[str] | None = None) -> int:
    from zoo3d.errors import UserError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    try:  # every RUN is loaded and checked before the first is drawn
        models = [(run, newest_manifold_model(run)) for run in args.runs]
    except UserError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    rows = []
    print("| run | step | levels | front level | levels behind | background |")
    print("|---|---|---|---|---|---|")
    for run, loaded in models:
        gen = loaded.generator
        torch.manual_seed(0)
        with torch.no_grad():
            maps, background = gen.radiance_maps(gen.represent(torch.randn(args.seeds, gen.z_dim)))
        image, weights = frontal_composite(maps, background)
        R = maps.shape[-1]
        centre = (..., slice(R // 4, R - R // 4), slice(R // 4, R - R // 4))
        share = weights[centre].mean((0, 2, 3))
        print(f"| {run.name} | {loaded.step} | {maps.shape[1]} | {share[0]:.2f} | {share[1:-1].sum():.2f} | "
              f"{share[-1]:.2f} |")
        rows += [image, maps[:, 0, 3:4].expand(-1, 3, -1, -1), background]
    if args.out is not None:
        from torchvision.utils import save_image

        grid = torch.cat([r.flip(-2).clamp(0, 1) for r in rows])  # texture v grows upwards, image rows downwards
        save_image(grid, args.out, nrow=args.seeds, padding=2, pad_value=1.0)
        print(f"Wrote {args.out}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
