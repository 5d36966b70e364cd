"""``zoo3d data synth`` (write synthetic heads to disk) and ``zoo3d data check`` (validate a dataset)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from zoo3d.errors import UserError


@click.group()
def data():
    """Make and validate datasets."""


@data.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--kind", type=click.Choice(["heads"]), default="heads", show_default=True)
@click.option("--count", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--resolution", type=click.IntRange(32, 1024), default=64, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["zoo3d", "eg3d"]), default="zoo3d", show_default=True,
              help="zoo3d: images + poses.json; eg3d: images + dataset.json.")
@click.option("--depth/--no-depth", default=True, show_default=True, help="Also write depth/*.npy and mask/*.png.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True, help="Images rendered at once.")
def synth(out_dir, kind, count, resolution, seed, fmt, depth, batch):
    """Render COUNT synthetic heads (image, camera, depth, mask) into OUT."""
    import numpy as np
    from PIL import Image
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn, TextColumn

    from zoo3d.data.formats import write_eg3d_labels, write_zoo3d_poses
    from zoo3d.data.synthetic import SyntheticHeads
    from zoo3d.imageio import to_uint8

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"Output folder '{out}' is not empty; choose a new folder.")
    (out / "images").mkdir(parents=True, exist_ok=True)
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
    click.echo(f"wrote {count} synthetic heads at {resolution}x{resolution} to {out} ({fmt} format)")


@data.command()
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--fast", is_flag=True, help="Read image headers only (what training does at start-up).")
def check(path, as_json, fast):
    """Report what the dataset at PATH holds and every problem in it; exit status 1 when there are problems."""
    from zoo3d.data.check import check_dataset

    if not Path(path).exists():
        raise UserError(f"Dataset path '{path}' does not exist.")
    report = check_dataset(path, full=not fast)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(report.summary(max_problems=10_000))
    sys.exit(0 if report.ok else 1)
