"""``zoo3d render RUN|CKPT --seed S --frames N --trajectory orbit|yaw-sweep --out turntable.gif``, or
``zoo3d render --inversion DIR/<image name> …``: an image ``zoo3d invert`` inverted, around its input view."""

from __future__ import annotations

from pathlib import Path

import click

from zoo3d.cli.paths import UserPath
from zoo3d.cli.sample import ANGLE, PSI, load_for_cli, model_options, refuse_beside_inversion, typed_options
from zoo3d.errors import UserError, counted


def _depth_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}_depth{out.suffix}") if out.suffix else out.with_name(out.name + "_depth")


def _check_frames(frames: int, depth: str, height: int, width: int) -> None:
    """Refuse ``frames`` frames of ``height`` x ``width`` beyond :func:`zoo3d.limits.check_images`' bounds, counting
    the depth pictures ``depth`` adds: one more frame each (``separate``) or twice the width (``side``)."""
    from zoo3d.limits import check_images

    check_images(f"--frames {frames}", frames * (2 if depth == "separate" else 1), height,
                 width * (2 if depth == "side" else 1), "frames")


def _trajectory(trajectory: str, frames: int, yaw_range: float, pitch_range: float, yaw: float, pitch: float,
                radius: float, fov: float):
    """The cameras of ``trajectory`` around the view (``yaw``, ``pitch``) at ``radius`` and ``fov``."""
    from zoo3d.cameras import orbit, yaw_sweep

    if trajectory == "orbit":
        return orbit(frames, yaw_amplitude=yaw_range, pitch_amplitude=pitch_range, radius=radius, fov=fov,
                     yaw_center=yaw, pitch_center=pitch)
    return yaw_sweep(frames, yaw_range=yaw_range, pitch=pitch, radius=radius, fov=fov, yaw_center=yaw)


@click.command()
@model_options
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True, help="The instance to render.")
@click.option("--frames", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--trajectory", type=click.Choice(["orbit", "yaw-sweep"]), default="orbit", show_default=True,
              help="orbit: yaw and pitch swing around the prior's centre view (--yaw-range, --pitch-range); "
                   "yaw-sweep: the yaw from -R to +R (R: --yaw-range) at the prior's centre pitch. With --inversion, "
                   "around its input view instead.")
@click.option("--yaw-range", type=ANGLE, default=0.4, show_default=True,
              help="Radians: the sweep's half range, or the orbit's yaw amplitude (both around the prior's centre view, "
                   "or an inversion's input view).")
@click.option("--pitch-range", type=ANGLE, default=0.15, show_default=True, help="Radians: the orbit's pitch amplitude.")
@click.option("--fps", type=click.IntRange(min=1), default=24, show_default=True)
@click.option("--psi", type=PSI, default=0.7, show_default=True, help="Truncation.")
@click.option("--resolution", type=click.IntRange(min=1), help="Frame size (default: the generator's).")
@click.option("--depth", type=click.Choice(["none", "side", "separate"]), default="none", show_default=True,
              help="Depth view (near white, far and nothing hit black): next to the colour frames, or as its own "
                   "animation (<out>_depth).")
@click.option("--cached", is_flag=True,
              help="Render from the seed's (or the inversion's) textured-mesh cache with a rasterizer (GRAM, GRAM-HD, "
                   "GRAMInverter).")
@click.option("--rasterizer", type=click.Choice(["auto", "gl", "torch"]), default="auto", show_default=True,
              help="With --cached: GL (moderngl, headless EGL), pure torch, or GL when available.")
@click.option("--inversion", type=UserPath(exists=True),
              help="An image's folder that zoo3d invert wrote (DIR/<image name>, holding inversion.safetensors): "
                   "render that inverted image, with the run it was inverted with, around its input view.")
@click.option("--out", required=True, type=UserPath(), help=".gif, .png (APNG), .webp, .mp4, or a folder.")
def render(run, model, no_ema, device, seed, frames, trajectory, yaw_range, pitch_range, fps, psi, resolution,
           depth, cached, rasterizer, inversion, out):
    """Render a free-view animation of one seed of a trained (or checkpoint-free) generator, or of an image that
    zoo3d invert inverted (--inversion)."""
    from zoo3d.imageio import check_animation_target
    from zoo3d.train.sampling import render_views, seed_latents

    if inversion is not None:
        refuse_beside_inversion(run, "renders")
    if rasterizer != "auto" and not cached:
        raise UserError(f"--rasterizer {rasterizer} draws the cached layers; add --cached (without it the model "
                        "itself renders every frame).")
    if trajectory == "yaw-sweep" and typed_options("pitch_range"):  # the sweep keeps the centre pitch
        centre = "the prior's centre pitch" if inversion is None else "the pitch of the inversion's input view"
        raise UserError(f"--pitch-range sets the orbit's pitch amplitude, not a yaw sweep, which stays at {centre}; "
                        f"leave it out or choose --trajectory orbit.")
    check_animation_target(out, fps)
    if depth == "separate":
        check_animation_target(_depth_path(Path(out)), fps)
    res = (resolution, resolution) if resolution else None
    if inversion is not None:
        _render_inversion(inversion, device, frames, trajectory, yaw_range, pitch_range, fps, res, depth, out,
                          rasterizer if cached else None)
        return
    loaded = load_for_cli(run, model, device, no_ema, inversion=True)
    gen = loaded.generator
    _check_frames(frames, depth, *(res or tuple(gen.resolution)))
    prior = gen.camera_prior
    cams = _trajectory(trajectory, frames, yaw_range, pitch_range, prior.yaw_mean, prior.centre_pitch, prior.radius,
                       prior.fov)
    z = seed_latents([seed], gen.z_dim, gen.device, gen.dtype).expand(frames, -1)
    note = ""
    if cached:
        from zoo3d.freeview.commands import render_cached

        views, note = render_cached(gen, seed, cams.to(gen.device), psi, res, rasterizer, depth != "none")
        note = f" ({note})"
    else:
        views = render_views(gen, z, cams.to(gen.device), psi=psi, resolution=res, need_depth=depth != "none")
    written = _save_views(views, loaded.spec.name, depth, out, fps)
    click.echo(f"Wrote {counted(frames, 'frame')} of seed {seed} ({trajectory}) to "
               f"{', '.join(map(str, written))}.{note}")


def _save_views(views, model: str, depth: str, out: str, fps: int) -> list[Path]:
    """Write the rendered ``views`` to ``out`` with their depth as ``depth`` asks; the files written."""
    import torch

    from zoo3d.imageio import depth_to_image, save_animation

    rgb = views.rgb
    out_path = Path(out)
    written = []
    if depth != "none":
        if views.depth is None:
            raise UserError(f"Model '{model}' renders no depth, so --depth cannot be shown.")
        shown = views.extras.get("picture_depth", views.depth)  # a cache's depth ends on its background plane
        d = depth_to_image(shown).expand(-1, 3, -1, -1)  # one near/far for all frames: no flicker
        if depth == "side":
            rgb = torch.cat([rgb, d], dim=-1)
        else:
            written.append(save_animation(list(d), _depth_path(out_path), fps=fps))
    written.insert(0, save_animation(list(rgb), out_path, fps=fps))
    return written


def _render_inversion(folder: str, device: str, frames: int, trajectory: str, yaw_range: float, pitch_range: float,
                      fps: int, res: tuple[int, int] | None, depth: str, out: str, rasterizer: str | None) -> None:
    """``zoo3d render --inversion``: the inversion in ``folder`` along ``trajectory`` around its input view (at its
    radius and fov), at ``res`` or the resolution it was inverted at, each frame as the turntable's are drawn, or with
    ``rasterizer`` (``--cached``) from its textured-mesh cache, baked for the input view."""
    from zoo3d.invert.outputs import render_each
    from zoo3d.invert.saved import inversion_generator, load_inversion

    inverter, result = load_inversion(folder, device)
    header = result.extras["header"]
    size = res or (tuple(header["resolution"]) if header.get("resolution") else None)  # None: the inverter's own
    # the frames' size as drawn: the generator's own where neither --resolution nor the header gives one (a header
    # written without it), which the inverter and the cache draw at; the bounds are checked at that size
    generator = inversion_generator(inverter, result)
    drawn = size or (tuple(generator.resolution) if getattr(generator, "resolution", None) is not None else None)
    if drawn is not None:
        _check_frames(frames, depth, *drawn)
    angles = {k: float(v[0]) for k, v in result.cameras[0].to_angles().items()}
    cams = _trajectory(trajectory, frames, yaw_range, pitch_range, angles["yaw"], angles["pitch"], angles["radius"],
                       angles["fov"])
    note = ""
    if rasterizer is not None:
        from zoo3d.freeview.cache import cache_inversion
        from zoo3d.freeview.commands import render_cache

        cache = cache_inversion(inverter, result)
        views, note = render_cache(cache, cams.to(cache.device), drawn, rasterizer, depth != "none")
        note = f" ({note})"
    else:
        views = render_each(inverter, result, cams, size, need_depth=depth != "none")
    written = _save_views(views, header.get("model"), depth, out, fps)
    click.echo(f"Wrote {counted(frames, 'frame')} of inversion '{folder}' ({trajectory} around its input view) to "
               f"{', '.join(map(str, written))}.{note}")
