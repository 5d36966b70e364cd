"""``zoo3d invert IMAGE… --model gram_inverter [--ckpt …] [--method single|optimize] [--pose yaw,pitch] --out DIR``."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import click

from zoo3d.cli.paths import GIVEN, UserPath
from zoo3d.cli.sample import ANGLE, typed_options
from zoo3d.errors import UserError, counted, shell_line, tell


def _read_image(path: str, resolution: int, resize: str = "lanczos", again: bool = False):
    """The image as the model saw its training images: the centred square, resized with the run's filter; the
    (width, height) of the photo and the crop box. A file PIL cannot decode is a UserError. ``again``: the image
    was read before, so PIL's warnings about it (a very large photo) are not repeated."""
    import warnings

    from PIL import Image

    from zoo3d.data.images import decode_image

    try:
        with warnings.catch_warnings():
            if again:
                warnings.simplefilter("ignore")
            return decode_image(path, resolution, resize=resize)
    except Image.DecompressionBombError:
        raise UserError(_too_many_pixels(path)) from None
    except Exception as exc:  # noqa: BLE001 - PIL raises SyntaxError, OSError, ... for bad files
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise UserError(f"Cannot read image '{path}' ({first}).") from None


def _too_many_pixels(path: str) -> str:
    """The refusal of a photo past Pillow's decompression-bomb limit (twice ``Image.MAX_IMAGE_PIXELS``, 179
    million pixels by default: a 200-megapixel phone photo), with its size read from the header alone. PIL's own
    sentence calls the photo a possible attack and gives no way on."""
    from zoo3d.data.images import too_many_pixels

    return (f"Cannot read image '{path}': its {too_many_pixels(path)}; save a smaller copy (the model sees it at its "
            f"own resolution anyway) and invert that.")


def _has_transparency(path: str) -> bool:
    """Whether the image has a pixel that is not fully opaque: an alpha channel below 255 somewhere, or a palette
    or grey image's transparent colour in use (only images that can have one are decoded for it)."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the photo was read just before: PIL's warnings about it were given then
        with Image.open(path) as img:
            if img.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in img.info:
                return False
            try:
                alpha = img.convert("RGBA").getchannel("A")
            except (ValueError, OSError):  # a mode Pillow cannot give an alpha (16-bit grey with a tRNS value)
                return False
            return alpha.getextrema()[0] < 255


def _check_images(paths: tuple[str, ...], resolution: int, resize: str = "lanczos") -> None:
    """Decode every image once before any work, so that a file that cannot be read is refused before anything is
    written, then warn of each one smaller than the model and of each with transparent pixels, whose alpha is
    dropped. Nothing is kept: each image is read again when its turn comes, so a long list of photos holds one
    decoded image at a time."""
    warned = []
    for p in paths:
        _, (width, height), box = _read_image(p, resolution, resize)
        if _has_transparency(p):
            warned.append(f"'{p}' has transparent pixels; their alpha is dropped, so the inversion fits the colour "
                         f"stored under them (black in most cut-outs): composite the photo onto a background first.")
        side = box[2] - box[0]
        if side < resolution:
            shape = f"{width}x{height}" + ("" if width == height else f" (its centred square {side}x{side})")
            warned.append(f"'{p}' is {shape}, smaller than the {resolution}x{resolution} the model inverts at; it is "
                          f"upsampled, so the inversion fits its blur.")
    for message in warned:  # once every image is read: a refused input leaves no warning behind
        tell(message, "warning")


def _images_in_folders(paths: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """``paths`` with each folder among them replaced by the images directly in it (by suffix, as a dataset folder's
    are found; hidden files passed over, sub-folders not entered), in name order, and a note for each folder that
    also holds photos in a format zoo3d does not invert (an iPhone's .heic), which are passed over. A folder with no
    image is refused, naming such photos where it holds some."""
    import os

    from zoo3d.data.formats import IMAGE_SUFFIXES, UNREAD_IMAGE_SUFFIXES, unread_kinds

    found: list[str] = []
    notes: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            found.append(path)
            continue
        names = sorted(entry.name for entry in os.scandir(path) if entry.is_file() and not entry.name.startswith("."))
        images = [name for name in names if Path(name).suffix.lower() in IMAGE_SUFFIXES]
        unread = [name for name in names if Path(name).suffix.lower() in UNREAD_IMAGE_SUFFIXES]
        held, them = "", "it" if len(unread) == 1 else "them"
        if unread:
            held = f"{counted(len(unread), 'photo')} in a format zoo3d does not invert ({unread_kinds(unread)})"
        if not images:
            kinds = ", ".join(sorted(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES))
            raise UserError(f"Folder '{path}' holds no image to invert: no {kinds} file directly in it (its "
                            f"sub-folders are not searched)" + (f"; it holds {held}: save {them} as PNG or JPEG."
                                                                 if held else "."))
        if held:
            notes.append(f"Folder '{path}' also holds {held}, passed over: save {them} as PNG or JPEG to invert "
                         f"{them}.")
        found += [os.path.join(path, name) for name in images]
    return tuple(found), notes


def _out_dirs(paths: tuple[str, ...], out: Path) -> list[Path]:
    """out/<image stem>; an input whose stem an earlier input has gets out/<stem>-N, the smallest N >= 2
    that no other input uses, neither as its folder nor as its own stem (so 'photo-2.png' keeps
    out/photo-2 wherever it comes in the list). Names are compared ignoring case, as on macOS and Windows. A stem
    that is no folder of its own ('..png': '.', '...png': '..', which would name DIR or its parent) gives way to
    the whole file name."""
    stems = [Path(p).stem if Path(p).stem not in ("", ".", "..") else Path(p).name for p in paths]
    reserved = {s.casefold() for s in stems}  # every input's plain stem belongs to the first input with it
    used: set[str] = set()
    dirs = []
    for stem in stems:
        name, n = stem, 1
        while name.casefold() in used or (n > 1 and name.casefold() in reserved):
            n += 1
            name = f"{stem}-{n}"
        used.add(name.casefold())
        dirs.append(out / name)
    return dirs


def untrained_inverter_note(loaded, inverter, use: str, alternative: str = "") -> str | None:
    """A sentence when ``loaded``'s checkpoint holds the networks of ``inverter`` (besides the generator) that the
    first of its recipe's stages to train any of them trains, and that stage has not trained them, so that ``use``
    is the untrained networks' (GRAMInverter's encoder, whose heads answer the mean face at the prior's centre pose);
    else None. Networks of later stages refine that result (GRAMInverter's detail net, which adds nothing before its
    stage trains it), so their untrained state gets no sentence.

    The stage has trained them once it has taken a step: the checkpoint's stage is past it and the config gives it
    steps, or it is that stage after one step or more. A stage ahead of the checkpoint is trained by resuming the
    run; one the checkpoint passed without a step (the config gives it none) only by a new run. An imported
    checkpoint, or one without a recipe position, is taken as trained."""
    from zoo3d.train.checkpoint import metadata_int, read_metadata

    if loaded.checkpoint is None:
        return None
    meta = read_metadata(loaded.checkpoint)
    if "zoo3d.imported_from" in meta or "zoo3d.stage_index" not in meta:
        return None
    parts = {id(m) for m in inverter.modules()}
    networks = [name for name, m in loaded.modules.items() if name != "generator" and id(m) in parts]
    stage_index, stage_step = metadata_int(meta, "zoo3d.stage_index"), metadata_int(meta, "zoo3d.stage_step")
    try:
        stages = loaded.plugin.stages(loaded.config)
    except Exception:  # noqa: BLE001 - the warning is advice: a recipe that cannot be built here gives none
        return None
    if stage_index >= len(stages):
        return None
    first = next(((i, stage, sorted(nets)) for i, stage in enumerate(stages)
                  if (nets := {m.split(".")[0] for spec in stage.optimizers.values() for m in spec.modules}
                      & set(networks))), None)
    if first is None:
        return None
    i, stage, untrained = first
    if (i < stage_index and stage.steps > 0) or (i == stage_index and stage_step > 0):
        return None
    nets = " and ".join(untrained)
    where = (f"'{loaded.checkpoint}' stopped at step {metadata_int(meta, 'zoo3d.step')}, in stage "
             f"'{stages[stage_index].name}',")
    if i < stage_index:  # a stage passed without a step: a resume never goes back to it
        return (f"{where} past stage '{stage.name}', which trains the single-pass inverter's {nets} and took no step "
                f"(stages.{stage.name}.steps is {stage.steps}), so {use} is the untrained {nets}'s: train a new run "
                f"that gives that stage steps{alternative}.")
    run = loaded.checkpoint.parent.parent if loaded.checkpoint.parent.name == "checkpoints" else None
    more = (f" (`{shell_line(['zoo3d', 'train', loaded.spec.name, '--out', str(run), '--resume'])}`)"
            if run is not None else "")
    return (f"{where} before stage '{stage.name}' trains the single-pass inverter's {nets}, so {use} is the "
            f"untrained {nets}'s: train the run on{more}{alternative}.")


def _refuse_unfit_optimisation(model: str, gen, space: str, tune_steps: int, keep_geometry: bool) -> None:
    """Refuse, in one sentence naming ``model``, a --space its generator has not and a --keep-geometry it cannot
    honour (no PTI to keep the geometry in, or no geometry apart from the rest), before any image is read."""
    from zoo3d.invert import available_spaces, keeps_geometry
    from zoo3d.invert.latent import layer_ws_only, no_w_reason

    if keep_geometry and tune_steps == 0:
        raise UserError("--keep-geometry sets what PTI's tuning steps keep, and --tune-steps is 0 (no tuning); "
                        "give --tune-steps N, or leave --keep-geometry out.")
    if space not in ("auto", *available_spaces(gen)):
        why = (f"{no_w_reason(gen)}; give --space w+, z or auto" if layer_ws_only(gen) else
               "its generator exposes no W space (zoo3d.invert.SupportsLatentSpaces); give --space z or auto")
        raise UserError(f"Model '{model}' can be inverted in {' and '.join(available_spaces(gen))} only, not --space "
                        f"{space}: {why}.")
    if keep_geometry and not keeps_geometry(gen):
        raise UserError(f"Model '{model}' has no shared geometry that PTI can keep apart from the rest (its generator "
                        f"exposes no intersect(cameras, resolution), as GRAM's and GRAMInverter's do); leave "
                        f"--keep-geometry out.")


@click.command()
@click.argument("images", nargs=-1, required=True, type=UserPath(exists=True))
@click.option("--model", type=GIVEN, required=True,
              help="The model to invert into (gram_inverter, or any generator with --method optimize).")
@click.option("--ckpt", type=GIVEN, help="Run folder or checkpoint (default: the model's newest run).")
@click.option("--method", type=click.Choice(["single", "optimize"]), default=None,
              help="single: the model's single-pass inverter (default when it has one); "
                   "optimize: latent optimisation.")
@click.option("--pose", help="Input pose 'yaw,pitch' in radians (default: the pose the single-pass inverter's pose head "
                   "estimates, as GRAMInverter's; other models need it).")
@click.option("--out", required=True, type=UserPath(file_okay=False),
              help="Output folder: one sub-folder per image, named after its file (a/photo.png: DIR/photo; "
                   "a second photo.png: DIR/photo-2, or the next number no input owns).")
@click.option("--steps", type=click.IntRange(min=0), default=450, show_default=True, help="optimize: latent steps.")
@click.option("--tune-steps", type=click.IntRange(min=0), default=0, show_default=True,
              help="optimize: PTI generator fine-tuning steps after the latent (0: none).")
@click.option("--space", type=click.Choice(["auto", "z", "w", "w+"]), default="auto", show_default=True,
              help="optimize: latent space (auto: W+ where the generator has one).")
@click.option("--recipe", type=click.Choice(["zoo3d", "pigan"]), default="zoo3d", show_default=True,
              help="optimize: zoo3d (L1 + perceptual loss, Adam at 0.01) or pigan (pi-GAN's inverse_render.py: MSE, "
                   "Adam at 0.01 with weight decay 1e-4 towards the start, x0.75 every 100 steps, decaying noise on "
                   "the latent; 700 steps unless --steps is given).")
@click.option("--keep-geometry", is_flag=True,
              help="optimize: PTI keeps the geometry every instance shares (GRAM's and GRAMInverter's manifold "
                   "predictor) as trained and tunes the rest: faster tuning (2.3x on a tiny GRAMInverter, 1.3x on "
                   "GRAM), fitting a little less (default: every weight is tuned).")
@click.option("--frames", type=click.IntRange(min=1), default=30, show_default=True, help="Turntable frames.")
@click.option("--yaw-range", type=ANGLE, default=0.5, show_default=True, help="Turntable yaw half range (radians).")
@click.option("--device", type=GIVEN, default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--no-ema", is_flag=True, help="Use the raw generator instead of its EMA.")
@click.option("--resume", is_flag=True,
              help="Pass over each image whose folder holds its inversion by this same command (a run stopped "
                   "part way through the list goes on).")
def invert(images, model, ckpt, method, pose, out, steps, tune_steps, space, recipe, keep_geometry, frames, yaw_range,
           device, no_ema, resume):
    """Invert portrait IMAGES (files, or folders of them) into 3D: reconstruction, turntable, depth and metrics.json
    per image."""
    from zoo3d.cameras import Camera
    from zoo3d.cli.main import Terminated
    from zoo3d.fileio import check_can_create
    from zoo3d.invert import OptimizationInverter, OptimizeSettings, resolve_space
    from zoo3d.invert.outputs import holds_inversion, load_lpips_or_reason, parse_pose
    from zoo3d.invert.saved import saves_state, single_pass_inverter
    from zoo3d.limits import check_images
    from zoo3d.runs import load_model

    angles = parse_pose(pose)
    images, passed_over = _images_in_folders(images)
    check_can_create(out, "inversion outputs", folder=True)
    optimize_only = typed_options("steps", "tune_steps", "space", "recipe", "keep_geometry")
    loaded = load_model(ckpt, model=model, device=device, ema=not no_ema)
    gen = loaded.generator
    check_images(f"--frames {frames}", frames, *gen.resolution, "frames")
    single = single_pass_inverter(loaded)
    method = method or ("single" if single is not None else "optimize")
    if method == "single" and single is None:
        raise UserError(f"Model '{loaded.spec.name}' has no single-pass inverter; use --method optimize.")
    if method == "single" and optimize_only:
        raise UserError(f"{', '.join(optimize_only)} set the latent optimisation; add --method optimize "
                        f"(the single-pass inverter has no steps).")
    if method == "single":
        inverter = single
    else:
        _refuse_unfit_optimisation(loaded.spec.name, gen, space, tune_steps, keep_geometry)
        estimator = single.estimate_cameras if single is not None and getattr(single, "has_pose_head", False) else None
        chosen = dict(space=space, tune_steps=tune_steps, keep_geometry=keep_geometry)
        if recipe == "pigan":  # its 700 steps unless --steps is typed
            search = OptimizeSettings.pigan(**chosen, **({"steps": steps} if typed_options("steps") else {}))
        else:
            search = OptimizeSettings(steps=steps, **chosen)
        steps = search.steps
        inverter = OptimizationInverter(gen, search, pose_estimator=estimator)
        if steps or tune_steps:
            inverter.perceptual  # noqa: B018 - built now (LPIPS reads its weights), not in the first image's time
    if angles is None and method == "single" and not getattr(inverter, "has_pose_head", False):
        raise UserError(f"Model '{loaded.spec.name}' has no pose head, so the input pose must be given "
                        f"(--pose yaw,pitch).")
    if angles is None and method == "optimize" and inverter.pose_estimator is None:
        raise UserError(f"Model '{loaded.spec.name}' has no pose estimator, so the input pose must be given "
                        f"(--pose yaw,pitch).")
    if single is not None and (method == "single" or angles is None):
        note = (untrained_inverter_note(loaded, single, "the inversion") if method == "single" else
                untrained_inverter_note(loaded, single, "the pose estimate", ", or give --pose yaw,pitch"))
        if note:
            tell(note, "warning")
    res = gen.resolution[0]
    resize = loaded.config.data.resize
    _check_images(images, res, resize)
    for message in passed_over:  # once every image is read, as _check_images' warnings
        tell(message)
    lpips_model, lpips_reason = load_lpips_or_reason(gen.device)
    prior = gen.camera_prior
    checkpoint = None if loaded.checkpoint is None else str(loaded.checkpoint)  # null for a checkpoint-free model
    # what every image's metrics.json records of this command, and what --resume finds again in a folder
    settings = {"method": method, "model": loaded.spec.name, "checkpoint": checkpoint,
                "sha256": loaded.sha256,  # a checkpoint rewritten at the same path is another model
                "pose_source": "given" if angles is not None else "estimated",
                "pose_given": None if angles is None else list(angles), "ema": not no_ema, "frames": frames,
                "yaw_range": yaw_range}
    if method == "optimize":  # the search that made it: the space --space auto resolved to, its length, its loss
        fitted = (steps or tune_steps) and inverter.perceptual is not None
        settings.update(space=resolve_space(gen, space), recipe=recipe, steps=steps, tune_steps=tune_steps,
                        keep_geometry=keep_geometry, perceptual=inverter.perceptual.name if fitted else None)
    # what inversion.safetensors records besides: the checkpoint wherever the command is run from, and its hash
    header = {**settings, "checkpoint": checkpoint and str(Path(checkpoint).resolve()),
              "resolution": [res, res], **({"psi": inverter.settings.psi} if method == "optimize" else {})}
    jobs = list(zip(images, _out_dirs(images, Path(out))))
    if resume:
        done = {folder for path, folder in jobs
                if holds_inversion(folder, {**settings, "image": str(path)}, saved=saves_state(inverter))}
        if done:
            click.echo(f"--resume: {len(done)} of the {counted(len(jobs), 'image')} already inverted by this command, "
                       f"passed over.", err=True)
        jobs = [(path, folder) for path, folder in jobs if folder not in done]
    cams = None if angles is None else Camera.from_angles(angles[0], angles[1], prior.radius, prior.fov,
                                                          device=gen.device)
    outputs = {"frames": frames, "yaw_range": yaw_range, "lpips_model": lpips_model, "lpips_reason": lpips_reason}
    for n, (path, folder) in enumerate(jobs):
        try:
            _invert_one(path, folder, inverter, method, cams, gen.device, res, resize, outputs,
                        {**settings, "image": str(path)}, header, f"{path} ({n + 1}/{len(jobs)})")
        except (KeyboardInterrupt, Terminated):
            click.echo(f"Stopped while inverting '{path}', with {n} of the {counted(len(jobs), 'image')} to "
                       f"invert done; the same command with --resume inverts the rest.", err=True)
            raise
    if lpips_reason:
        click.echo(f"LPIPS not computed: {lpips_reason}")


def _bar_console():
    """The console a progress bar is drawn on: stderr where it is a terminal that can move its cursor, else None (a
    log file, a pipe, CI: there the line printed per image is the log)."""
    from rich.console import Console

    from zoo3d.train.progress import moves_cursor

    console = Console(stderr=True)
    return console if moves_cursor(console.file) else None


@contextmanager
def _steps_bar(label: str, total: int):
    """A bar of one image's ``total`` optimisation steps with the time left, removed once they are done (the image's
    line follows it); gives the callable to call after each step, or None where no bar is drawn."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = _bar_console() if total > 0 else None
    if console is None:
        yield None
        return
    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True, redirect_stdout=False,
                  redirect_stderr=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def _invert_one(path, folder, inverter, method: str, cams, device, res: int, resize: str, outputs: dict,
                record: dict, header: dict, label: str) -> None:
    """Invert one image on ``device`` at ``cams`` (None: estimated) into ``folder`` (``outputs``: the keywords of
    :func:`write_inversion_outputs`) and print its line; ``record`` (the command's settings and the image) joins the
    metrics in metrics.json, and ``header`` with the image heads inversion.safetensors. In a terminal, the
    optimisation's steps are shown on a bar named ``label``."""
    import time

    import torch

    from zoo3d.invert.outputs import write_inversion_outputs

    x = _read_image(path, res, resize, again=True)[0].unsqueeze(0).to(device)
    t0 = time.perf_counter()
    if method == "single":
        with torch.no_grad():
            result = inverter.invert(x, cams)
    else:
        with _steps_bar(label, record["steps"] + record["tune_steps"]) as advance:
            result = inverter.invert(x, cams) if advance is None else inverter.invert(x, cams, on_step=advance)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    metrics = write_inversion_outputs(inverter, result, x, folder, **outputs,
                                      extra={**record, "invert_seconds": seconds},
                                      inversion={**header, "image": record["image"]})
    lp = "n/a" if metrics["lpips"] is None else f"{metrics['lpips']:.3f}"
    click.echo(f"{path}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f}, LPIPS {lp} "
               f"({method}, {seconds:.2f}s) -> {folder}")
