"""``zoo3d data synth`` (write synthetic heads to disk) and ``zoo3d data check`` (validate a dataset)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import click

from zoo3d.cli.paths import UserPath
from zoo3d.errors import UserError, counted, shown_name
from zoo3d.limits import byte_size


@click.group()
def data():
    """Make and validate datasets."""


@data.command()
@click.option("--out", "out_dir", required=True, type=UserPath(file_okay=False), help="Folder to write.")
@click.option("--kind", type=click.Choice(["heads"]), default="heads", show_default=True)
@click.option("--count", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@click.option("--resolution", type=click.IntRange(32, 1024), default=64, show_default=True)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["zoo3d", "eg3d"]), default="zoo3d", show_default=True,
              help="zoo3d: images + poses.json; eg3d: images + dataset.json.")
@click.option("--depth/--no-depth", default=True, show_default=True, help="Also write depth/*.npy and mask/*.png.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True, help="Images rendered at once.")
def synth(out_dir, kind, count, resolution, seed, fmt, depth, batch):
    """Render COUNT synthetic heads (image, camera, depth, mask) into OUT."""
    from zoo3d.fileio import (WriteError, check_can_create, clean_stale_temps, is_storage_error, make_parent,
                              storage_reason, temp_path)
    from zoo3d.limits import check_images

    out = Path(out_dir)
    check_can_create(out, "dataset", folder=True)  # a link leading nowhere would fail only after the rendering
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"Output folder '{shown_name(str(out))}' is not empty; choose a new folder.")
    check_images("--batch", batch, resolution, resolution)
    _check_free_space(out, count, resolution, depth)
    make_parent(out, "dataset")
    # a link to an empty folder (on a scratch disk) is filled through: the folder it leads to is replaced, the link
    # stays (a rename onto the link itself fails, and had been said to be another process's doing)
    target = Path(os.path.realpath(out)) if out.is_symlink() and out.is_dir() else out
    clean_stale_temps(target.parent, target.name)  # the hidden folder of a run that was killed (SIGTERM, kill -9)
    staging = temp_path(target)  # filled, then renamed to OUT: a failed run leaves no half-written dataset
    try:
        _synth_into(staging, kind, count, resolution, seed, fmt, depth, batch)
        _move_into_place(staging, target, out)
    except (OSError, WriteError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError) and not is_storage_error(exc):
            raise
        reason = exc.reason if isinstance(exc, WriteError) else storage_reason(exc)
        raise WriteError(f"Cannot write dataset '{shown_name(str(out))}': {reason}; nothing was left behind.",
                         reason) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    click.echo(f"wrote {counted(count, 'synthetic head')} at {resolution}x{resolution} to {shown_name(str(out))} "
               f"({fmt} format)")


def _move_into_place(staging: Path, target: Path, out: Path) -> None:
    """Rename the filled hidden folder to ``target`` (OUT, or the folder the link OUT leads to), which may be missing
    or empty; one that another process filled (or made a file) meanwhile is refused, not replaced."""
    import errno
    import stat

    try:
        if target.is_dir():  # an empty folder the user made (group-writable for a shared project): its mode stays
            os.chmod(staging, stat.S_IMODE(target.stat().st_mode))
        os.replace(staging, target)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            raise
        raise UserError(f"Output folder '{shown_name(str(out))}' was filled by another process while this one "
                        f"rendered; nothing of this run was kept: choose a new folder.") from None


def _check_free_space(out: Path, count: int, resolution: int, depth: bool) -> None:
    """Refuse a dataset that cannot fit on the disk: depth maps need exactly 4 bytes a pixel, images
    (PNG) at least about half a byte a pixel."""
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return
    need = count * (resolution * resolution * ((4.0 if depth else 0.0) + 0.5) + 256)
    if need > free:
        raise UserError(f"--count {count} at {resolution}x{resolution} needs at least {byte_size(need)} in "
                        f"'{shown_name(str(out))}', but only {byte_size(free)} are free.")


def _synth_into(out: Path, kind, count, resolution, seed, fmt, depth, batch) -> None:
    import numpy as np
    from PIL import Image
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn, TextColumn

    from zoo3d.data.formats import write_eg3d_labels, write_zoo3d_poses
    from zoo3d.data.synthetic import SyntheticHeads
    from zoo3d.imageio import to_uint8

    (out / "images").mkdir(parents=True)
    if depth:
        (out / "depth").mkdir(exist_ok=True)
        (out / "mask").mkdir(exist_ok=True)
    ds = SyntheticHeads(resolution, count=count, seed=seed, cache=False)
    files, cams, extra = [], [], []
    columns = [TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeRemainingColumn()]
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("synth", total=count, rate="")
        started = time.perf_counter()
        for start in range(0, count, batch):
            idx = list(range(start, min(count, start + batch)))
            rendered = ds.render(idx)
            for j, i in enumerate(idx):
                name = f"images/{i:06d}.png"
                Image.fromarray(to_uint8(rendered["image"][j])).save(out / name)
                files.append(name)
                cams.append(rendered["camera"][j].double().numpy())
                if depth:
                    np.save(out / f"depth/{i:06d}.npy", rendered["depth"][j, 0].numpy().astype(np.float32))
                    mask = (rendered["mask"][j, 0].numpy() * 255).astype(np.uint8)
                    Image.fromarray(mask).save(out / f"mask/{i:06d}.png")
                    extra.append({"depth": f"depth/{i:06d}.npy", "mask": f"mask/{i:06d}.png", "seed": seed,
                                  "index": i})
            done = idx[-1] + 1
            progress.update(task, advance=len(idx), rate=f"{done / (time.perf_counter() - started):.1f} img/s")
    cams_arr = np.stack(cams)
    if fmt == "eg3d":
        write_eg3d_labels(out, files, cams_arr)
    else:
        write_zoo3d_poses(out, files, cams_arr, extra if depth else None, resolution)


@data.command()
@click.argument("path", type=UserPath())
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--fast", is_flag=True, help="Read image headers only (what training does at start-up).")
@click.option("--crop", type=click.Choice(["center", "none"]), default="center", show_default=True,
              help="The data.crop training will use: with 'none' a non-square image is a problem.")
def check(path, as_json, fast, crop):
    """Report what the dataset at PATH holds and every problem in it; exit status 1 when there are problems."""
    from zoo3d.data.check import check_dataset, shown_name

    if not Path(path).exists():
        from zoo3d.data.dataset import parse_spec
        from zoo3d.plugins import get_host

        name, datasets = parse_spec(path)[0], get_host().datasets
        if name in datasets:
            spec = datasets.get(name)
            raise UserError(f"'{shown_name(str(path))}' is a registered dataset (plugin '{spec.plugin}'), not a folder "
                            f"or zip: data check reads dataset files, and a registered dataset makes its own images.")
        raise UserError(f"Dataset path '{shown_name(str(path))}' does not exist.")  # a '\\r' printed moves the cursor
    report = check_dataset(path, full=not fast, crop=crop)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(report.summary(max_problems=10_000))
    sys.exit(0 if report.ok else 1)
