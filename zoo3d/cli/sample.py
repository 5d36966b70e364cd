"""``zoo3d sample RUN|CKPT --seeds 0-15 --out grid.png``: a grid of fixed seeds from any generator."""

from __future__ import annotations

import click

from zoo3d.cli.paths import GIVEN, UserPath
from zoo3d.errors import UserError, counted


class FiniteFloat(click.ParamType):
    """A float that is not NaN or infinite (a NaN angle renders garbage with exit status 0)."""

    name = "float"

    def convert(self, value, param, ctx):
        import math

        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number.", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


FINITE = FiniteFloat()


class Angle(FiniteFloat):
    """Radians, at most a full turn either way. The cameras hold angles in 32-bit floats, where a value past about
    3.4e38 (``--yaw 1e308``, finite to Python) is infinite and its cosine NaN: a grid of NaN pixels with exit
    status 0. No view needs more than a turn."""

    def convert(self, value, param, ctx):
        import math

        number = super().convert(value, param, ctx)
        if abs(number) > 2 * math.pi:
            self.fail(f"{value!r} is not in the range {-2 * math.pi:.3f}<=x<={2 * math.pi:.3f} (radians: a full turn "
                      f"either way).", param, ctx)
        return number


ANGLE = Angle()


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange without NaN, which passes its bounds check (every comparison with NaN is false)."""

    def convert(self, value, param, ctx):
        import math

        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number in the range {self.min:g}<=x<={self.max:g}.", param, ctx)
        return number


#: truncation psi: 0 (the mean latent) to 1 (none)
PSI = FiniteFloatRange(0, 1)


def parse_seeds(text: str, limit: int | None = None) -> list[int]:
    """``"0-3,7"`` -> [0, 1, 2, 3, 7]; seeds are 0 to 2^63 - 1, and more than ``limit`` of them are refused
    before the list is built."""
    from zoo3d.config import MAX_SEED

    ranges: list[tuple[int, int]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, sep, hi = part.partition("-")
        try:
            a, b = (int(lo), int(hi)) if sep else (int(part), int(part))
            if b < a or a < 0:
                raise ValueError
        except ValueError:
            raise UserError(f"Cannot read seeds '{text}': use numbers and ranges such as 0-15 or 1,4,7-9.") from None
        if b > MAX_SEED:
            raise UserError(f"Seed {b} in '{text}' is too large: seeds go from 0 to {MAX_SEED}.")
        ranges.append((a, b))
    if not ranges:
        raise UserError(f"Cannot read seeds '{text}': no seed given.")
    if limit is not None:
        from zoo3d.limits import check_count

        check_count(f"--seeds {text}", sum(b - a + 1 for a, b in ranges), limit,
                    "seeds fit in one grid (split them over several commands)")
    return [s for a, b in ranges for s in range(a, b + 1)]


def model_options(f):
    """The options shared by sample and render: which model, which weights, where to run."""
    f = click.option("--device", type=GIVEN, default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")(f)
    f = click.option("--no-ema", is_flag=True, help="Use the raw generator instead of its EMA.")(f)
    f = click.option("--model", type=GIVEN, help="Model name: names a checkpoint-free model when RUN is omitted; otherwise "
                     "checked against the checkpoint.")(f)
    return click.argument("run", type=GIVEN, required=False)(f)


def typed_options(*names: str) -> list[str]:
    """The options among ``names`` (parameter names: ``no_ema``) the user typed on the command line, as flags
    (``--no-ema``), in the order given: a command refuses those its case would silently ignore."""
    ctx = click.get_current_context()
    return [f"--{name.replace('_', '-')}" for name in names
            if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]


def refuse_beside_inversion(run: str | None, verb: str) -> None:
    """Refuse, in one sentence, ``RUN``, ``--model``, ``--no-ema``, ``--seed`` and ``--psi`` typed beside
    ``--inversion``, which ``verb`` (``renders``, ``exports``, ``shows``) the inverted image with the weights and
    latent the inversion brings."""
    typed = (["RUN"] if run is not None else []) + typed_options("model", "no_ema", "seed", "psi")
    if typed:
        one = len(typed) == 1
        raise UserError(f"{', '.join(typed)} {'does' if one else 'do'} not apply to --inversion, which {verb} the "
                        f"inverted image with the weights it was inverted with (the run and EMA its header names, its "
                        f"own latent); leave {'it' if one else 'them'} out.")


def load_for_cli(run: str | None, model: str | None, device: str, no_ema: bool, inversion: bool = False):
    """The model RUN or --model names; ``inversion``: the command also takes ``--inversion``, which the refusal of
    neither names."""
    from zoo3d.runs import load_model

    if run is None and model is None:
        also = ", or an image's folder that zoo3d invert wrote (--inversion DIR/<image name>)" if inversion else ""
        raise UserError(f"Give a run folder, a checkpoint file or a model name (or --model NAME){also}.")
    return load_model(run, model=model, device=device, ema=not no_ema)


@click.command()
@model_options
@click.option("--seeds", default="0-15", show_default=True, help="Seeds: ranges and lists, e.g. 0-15 or 1,4,7-9.")
@click.option("--yaw", "yaws", type=ANGLE, multiple=True,
              help="Yaw in radians, one grid row of the seeds each (default: the prior's mean yaw, seeds in a square).")
@click.option("--pitch", type=ANGLE, default=None, help="Pitch in radians (default: the prior's centre view).")
@click.option("--psi", type=PSI, default=0.7, show_default=True, help="Truncation.")
@click.option("--resolution", type=click.IntRange(min=1), help="Output size (default: the generator's).")
@click.option("--depth", is_flag=True, help="Add a depth row under every image row: the distance of what each "
              "pixel shows, near white, far (and where nothing is hit) black.")
@click.option("--out", required=True, type=UserPath(dir_okay=False), help="The grid image (.png, .jpg).")
def sample(run, model, no_ema, device, seeds, yaws, pitch, psi, resolution, depth, out):
    """Render the seeds of a trained (or checkpoint-free) generator as one grid image."""
    import torch

    from zoo3d.cameras import Camera
    from zoo3d.imageio import check_image_size, check_image_target, depth_to_image, grid_size, save_grid
    from zoo3d.limits import MAX_IMAGES, check_images
    from zoo3d.train.sampling import render_views, seed_latents

    check_image_target(out)
    seed_list = parse_seeds(seeds, limit=MAX_IMAGES)
    loaded = load_for_cli(run, model, device, no_ema)
    gen = loaded.generator
    prior = gen.camera_prior
    yaw_list = list(yaws) or [prior.yaw_mean]
    n = len(seed_list)
    h, w = (resolution, resolution) if resolution else tuple(gen.resolution)
    count = n * len(yaw_list) * (2 if depth else 1)
    check_images(f"--seeds {seeds} with {counted(len(yaw_list), 'view')}{' and depth' if depth else ''}", count, h, w)
    nrow = n if (yaws or depth) else None
    check_image_size(out, *grid_size(count, h, w, nrow))
    z = seed_latents(seed_list, gen.z_dim, gen.device, gen.dtype).repeat(len(yaw_list), 1)
    yaw_t = torch.tensor([y for y in yaw_list for _ in range(n)], dtype=torch.float32)
    cams = Camera.from_angles(yaw_t, prior.centre_pitch if pitch is None else pitch, prior.radius, prior.fov,
                              device=gen.device)
    res = (resolution, resolution) if resolution else None
    out_views = render_views(gen, z, cams, psi=psi, resolution=res, need_depth=depth)
    rows = list(out_views.rgb.split(n))
    if depth:
        if out_views.depth is None:
            raise UserError(f"Model '{loaded.spec.name}' renders no depth, so --depth cannot be shown.")
        d = depth_to_image(out_views.extras["picture_depth"]).expand(-1, 3, -1, -1)
        rows = [t for pair in zip(rows, d.split(n)) for t in pair]
    path = save_grid(torch.cat(rows), out, nrow=nrow)
    click.echo(f"Wrote {counted(len(seed_list), 'seed')} x {counted(len(yaw_list), 'view')} to {path}.")
