"""Does a super-resolution model's HR output hold more detail than its LR render? The ``detail`` score of both.

    python benchmarks/hr_detail.py CHECKPOINT_OR_RUN [...] [--images 64] [--psi 1.0] [--data synthetic:heads]

For each GRAM-HD checkpoint (a run means its newest), the EMA generator draws ``--images`` samples
(latents and prior cameras from the seeded draws of ``zoo3d compare``'s distribution metrics) and
returns, from one render, the HR image and the LR GRAM render beneath it (``output.raw``). Both are
scored by :func:`zoo3d.eval.detail.detail` against as many dataset images at the HR size, the LR render
after bicubic up-sampling to that size. ``HR / LR`` above 1 means the super-resolution added detail the
LR render does not have; 1 means the HR image is the LR one up-sampled.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F


def hr_and_lr_images(generator, n: int, psi: float, seed: int = 0, batch: int = 16):
    """(HR images, LR renders) of n prior samples, (n, 3, H, W) and (n, 3, h, w) in [-1, 1]."""
    rng = torch.Generator().manual_seed(seed)
    hr, lr = [], []
    with torch.no_grad():
        for start in range(0, n, batch):
            b = min(batch, n - start)
            z = generator.sample_z(b, generator=rng, device="cpu")
            cams = generator.camera_prior.sample(b, generator=rng)
            out = generator(z, cams, psi=psi)
            if out.raw is None:
                if not bool(getattr(generator, "super_resolve", True)):  # GRAM-HD before stage 2: its LR GRAM alone
                    raise SystemExit("this checkpoint is from before the super-resolution stage began, so it renders "
                                     "the LR GRAM alone and has no HR output; give a checkpoint of stage 2")
                raise SystemExit("this model renders no LR image beneath its output (not a super-resolution model)")
            hr.append(out.rgb.float())
            lr.append(out.raw.rgb.float())
    return torch.cat(hr), torch.cat(lr)


def main(argv: list[str] | None = None) -> int:
    from zoo3d.eval.detail import detail
    from zoo3d.eval.distribution import real_images
    from zoo3d.runs import load_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--psi", type=float, default=1.0)
    ap.add_argument("--data", default="synthetic:heads")
    args = ap.parse_args(argv)
    print("| checkpoint | step | detail HR | detail LR (bicubic up) | HR / LR |")
    print("|---|---|---|---|---|")
    real: dict[int, torch.Tensor] = {}
    for ref in args.checkpoints:
        loaded = load_model(ref, device="cpu")
        hr, lr = hr_and_lr_images(loaded.generator, args.images, args.psi)
        size = hr.shape[-1]
        if size not in real:
            real[size] = real_images(args.data, args.images, size)
        up = F.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=False)
        d_hr, d_lr = detail(hr, real[size])["score"], detail(up, real[size])["score"]
        print(f"| {ref} | {loaded.step} | {d_hr:.3f} | {d_lr:.3f} | {d_hr / d_lr:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
