"""Can a StyleGAN2 synthesis network at given widths and Adam settings learn the data as a plain 2D GAN?

    python benchmarks/synthesis_2d.py [--steps 3000] [--channel-base 512] [--channel-max 32] [--w-dim 32]
        [--lr-g 1e-3] [--lr-d 1e-3] [--beta2 0.9] [--grid OUT.png] [--data synthetic:heads]

A probe for 3D generators whose radiance comes from a 2D synthesis network (GRAMInverter's Efficient
GRAM, the tri-plane model): the same network, drawing RGB images directly with no rendering, trained
against an unconditioned StyleGAN2 discriminator (base 1024, widths <= 64, minibatch stddev over 4: the
tri-plane tiny model's) with the non-saturating loss, R1 (gamma 1) on every step, gradients clipped at
norm 1, batch 4, EMA 0.99 (the engine's own `zoo3d.train.losses` and `zoo3d.train.ema`) and mirrored
data at the generator's resolution. If the probe draws faces at
some settings and a 3D model with the same network and settings does not, the 3D part is what keeps
them out; if the probe does not either, the 2D recipe is.

Prints ``diversity`` and ``swd`` of 64 EMA samples against 64 dataset images (the functions
``benchmarks/learning_curve.py`` uses) at step 0, every ``--every`` steps and at the end; ``--grid``
writes 16 EMA samples (fixed latents) beside 4 dataset images at the end. One thread is enough.
"""

from __future__ import annotations

import argparse

import torch


def build(args):
    from zoo3d.nn.discriminators import StyleGAN2Discriminator
    from zoo3d.nn.mapping import MappingNetwork
    from zoo3d.nn.modconv import StyleSynthesis

    mapping = MappingNetwork(args.w_dim, args.w_dim, args.mapping_layers, w_avg_beta=None)
    synthesis = StyleSynthesis(args.w_dim, 3, args.resolution, noise=False,
                               channels=lambda r: min(args.channel_base // r, args.channel_max))
    generator = torch.nn.ModuleDict({"mapping": mapping, "synthesis": synthesis})
    discriminator = StyleGAN2Discriminator(args.resolution, channel_base=1024, max_channels=64, mbstd_group_size=4)
    return generator, discriminator


def draw(generator, z):
    return generator["synthesis"](generator["mapping"](z, update_w_avg=False), noise_mode="none")


def score(ema, z, real) -> str:
    from zoo3d.eval.diversity import diversity
    from zoo3d.eval.swd import swd

    with torch.no_grad():
        fake = draw(ema, z).clamp(-1, 1)
    return f"diversity {diversity(fake, real)['score']:.2f} swd {swd(fake, real)['mean']:.1f}"


def main(argv: list[str] | None = None) -> int:
    from zoo3d.config import DataConfig
    from zoo3d.data import build_dataset
    from zoo3d.eval.distribution import real_images
    from zoo3d.train.ema import make_ema, update_ema
    from zoo3d.train.losses import discriminator_loss, generator_loss, r1_penalty

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--channel-base", type=int, default=512)
    ap.add_argument("--channel-max", type=int, default=32)
    ap.add_argument("--w-dim", type=int, default=32)
    ap.add_argument("--mapping-layers", type=int, default=2)
    ap.add_argument("--lr-g", type=float, default=1e-3)
    ap.add_argument("--lr-d", type=float, default=1e-3)
    ap.add_argument("--beta2", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default="synthetic:heads")
    ap.add_argument("--grid", default=None)
    args = ap.parse_args(argv)
    if args.every < 1:  # before the networks and data are built, where step % 0 stopped the first step
        ap.error(f"--every must be at least 1 (the steps between scores; the end is always scored), not {args.every}")

    torch.manual_seed(args.seed)
    rng = torch.Generator().manual_seed(args.seed + 1)
    generator, discriminator = build(args)
    ema = make_ema(generator)
    opt_g = torch.optim.Adam(generator.parameters(), args.lr_g, betas=(0.0, args.beta2))
    opt_d = torch.optim.Adam(discriminator.parameters(), args.lr_d, betas=(0.0, args.beta2))
    data = build_dataset(DataConfig(spec=args.data, mirror=True), args.resolution, seed=args.seed)
    eval_z = torch.randn(64, args.w_dim, generator=torch.Generator().manual_seed(0))
    eval_real = real_images(args.data, 64, args.resolution)
    print(f"step 0: {score(ema, eval_z, eval_real)}", flush=True)

    order, cursor, epoch = torch.randperm(len(data), generator=rng), 0, 0
    for step in range(1, args.steps + 1):
        if cursor + 4 > len(data):
            epoch += 1
            data.set_epoch(epoch)
            order, cursor = torch.randperm(len(data), generator=rng), 0
        real = torch.stack([data[int(i)]["image"] for i in order[cursor:cursor + 4]]).requires_grad_(True)
        cursor += 4

        with torch.no_grad():
            fake = draw(generator, torch.randn(4, args.w_dim, generator=rng))
        real_logit = discriminator(real).logit
        loss_d = discriminator_loss(real_logit, discriminator(fake).logit) + r1_penalty(real_logit, real, gamma=1.0)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        torch.nn.utils.clip_grad_norm_(discriminator.parameters(), 1.0)
        opt_d.step()

        loss_g = generator_loss(discriminator(draw(generator, torch.randn(4, args.w_dim, generator=rng))).logit)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        torch.nn.utils.clip_grad_norm_(generator.parameters(), 1.0)
        opt_g.step()
        update_ema(ema, generator, 0.99)

        if step % args.every == 0 or step == args.steps:
            print(f"step {step}: {score(ema, eval_z, eval_real)}", flush=True)

    if args.grid:
        from torchvision.utils import save_image

        with torch.no_grad():
            samples = draw(ema, eval_z[:16]).clamp(-1, 1)
        save_image((torch.cat([samples, eval_real[:4]]) + 1) / 2, args.grid, nrow=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
