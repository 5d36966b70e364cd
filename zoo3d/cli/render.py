"""``zoo3d render RUN|CKPT --seed S --frames N --trajectory orbit|yaw-sweep --out turntable.gif``."""

from __future__ import annotations

from pathlib import Path

import click

from zoo3d.cli.paths import UserPath
from zoo3d.cli.sample import ANGLE, PSI, load_for_cli, model_options, typed_options
from zoo3d.errors import UserError, counted


def _depth_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}_depth{out.suffix}") if out.suffix else out.with_name(out.name + "_depth")


@click.command()
@model_options
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True, help="The instance to render.")
@click.option("--frames", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--trajectory", type=click.Choice(["orbit", "yaw-sweep"]), default="orbit", show_default=True,
              help="orbit: yaw and pitch swing around the prior's centre view (--yaw-range, --pitch-range); "
                   "yaw-sweep: the yaw from -R to +R (R: --yaw-range) at the prior's centre pitch.")
@click.option("--yaw-range", type=ANGLE, default=0.4, show_default=True,
              help="Radians: the sweep's half range, or the orbit's yaw amplitude (both around the prior's centre view).")
@click.option("--pitch-range", type=ANGLE, default=0.15, show_default=True, help="Radians: the orbit's pitch amplitude.")
@click.option("--fps", type=click.IntRange(min=1), default=24, show_default=True)
@click.option("--psi", type=PSI, default=0.7, show_default=True, help="Truncation.")
@click.option("--resolution", type=click.IntRange(min=1), help="Frame size (default: the generator's).")
@click.option("--depth", type=click.Choice(["none", "side", "separate"]), default="none", show_default=True,
              help="Depth view (near white, far and nothing hit black): next to the colour frames, or as its own "
                   "animation (<out>_depth).")
@click.option("--cached", is_flag=True,
              help="Render from the seed's textured-mesh cache with a rasterizer (GRAM, GRAM-HD, GRAMInverter).")
@click.option("--rasterizer", type=click.Choice(["auto", "gl", "torch"]), default="auto", show_default=True,
              help="With --cached: GL (moderngl, headless EGL), pure torch, or GL when available.")
@click.option("--out", required=True, type=UserPath(), help=".gif, .png (APNG), .webp, .mp4, or a folder.")
def render(run, model, no_ema, device, seed, frames, trajectory, yaw_range, pitch_range, fps, psi, resolution,
           depth, cached, rasterizer, out):
    """Render a free-view animation of one seed of a trained (or checkpoint-free) generator."""
    import torch

    from zoo3d.cameras import orbit, yaw_sweep
    from zoo3d.imageio import check_animation_target, depth_to_image, save_animation
    from zoo3d.limits import check_images
    from zoo3d.train.sampling import render_views, seed_latents

    if rasterizer != "auto" and not cached:
        raise UserError(f"--rasterizer {rasterizer} draws the cached layers; add --cached (without it the model "
                        "itself renders every frame).")
    if trajectory == "yaw-sweep" and typed_options("pitch_range"):  # the sweep keeps the centre pitch
        raise UserError("--pitch-range sets the orbit's pitch amplitude, not a yaw sweep, which stays at the prior's "
                        "centre pitch; leave it out or choose --trajectory orbit.")
    check_animation_target(out, fps)
    if depth == "separate":
        check_animation_target(_depth_path(Path(out)), fps)
    loaded = load_for_cli(run, model, device, no_ema)
    gen = loaded.generator
    h, w = (resolution, resolution) if resolution else tuple(gen.resolution)
    check_images(f"--frames {frames}", frames * (2 if depth == "separate" else 1), h, w * (2 if depth == "side" else 1),
                 "frames")
    prior = gen.camera_prior
    if trajectory == "orbit":
        cams = orbit(frames, yaw_amplitude=yaw_range, pitch_amplitude=pitch_range, radius=prior.radius, fov=prior.fov,
                     yaw_center=prior.yaw_mean, pitch_center=prior.centre_pitch)
    else:
        cams = yaw_sweep(frames, yaw_range=yaw_range, pitch=prior.centre_pitch, radius=prior.radius, fov=prior.fov,
                         yaw_center=prior.yaw_mean)
    z = seed_latents([seed], gen.z_dim, gen.device, gen.dtype).expand(frames, -1)
    res = (resolution, resolution) if resolution else None
    note = ""
    if cached:
        from zoo3d.freeview.commands import render_cached

        views, note = render_cached(gen, seed, cams.to(gen.device), psi, res, rasterizer, depth != "none")
        note = f" ({note})"
    else:
        views = render_views(gen, z, cams.to(gen.device), psi=psi, resolution=res, need_depth=depth != "none")
    rgb = views.rgb
    out_path = Path(out)
    written = []
    if depth != "none":
        if views.depth is None:
            raise UserError(f"Model '{loaded.spec.name}' renders no depth, so --depth cannot be shown.")
        shown = views.extras.get("picture_depth", views.depth)  # a cache's depth ends on its background plane
        d = depth_to_image(shown).expand(-1, 3, -1, -1)  # one near/far for all frames: no flicker
        if depth == "side":
            rgb = torch.cat([rgb, d], dim=-1)
        else:
            written.append(save_animation(list(d), _depth_path(out_path), fps=fps))
    written.insert(0, save_animation(list(rgb), out_path, fps=fps))
    click.echo(f"Wrote {counted(frames, 'frame')} of seed {seed} ({trajectory}) to "
               f"{', '.join(map(str, written))}.{note}")
