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
orientation.
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    from torchvision.utils import save_image

    from zoo3d.runs import load_model
    from zoo3d.train.checkpoint import list_checkpoints

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    print("| run | step | levels | front level | levels behind | background |")
    print("|---|---|---|---|---|---|")
    for run in args.runs:
        loaded = load_model(str(list_checkpoints(run)[0]), device="cpu")
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
        grid = torch.cat([r.flip(-2).clamp(0, 1) for r in rows])  # texture v grows upwards, image rows downwards
        save_image(grid, args.out, nrow=args.seeds, padding=2, pad_value=1.0)
        print(f"Wrote {args.out}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
