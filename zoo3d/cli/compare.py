"""``zoo3d compare``: score several models under one evaluation protocol."""

from __future__ import annotations

import shlex
import shutil
import sys

import click

from zoo3d.cli.paths import GIVEN, UserPath
from zoo3d.errors import ConfigError, UserError, counted


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def labelled(name: str) -> tuple[str, str | None]:
    """A ``--models`` entry as (model, label): ``gram@lr2`` is a run of ``gram`` shown, keyed and given its
    ``--ckpt`` as ``gram@lr2``, so two runs of one model share a table; ``gram`` has no label."""
    import re

    from zoo3d.specs import ModelSpec

    model, sep, label = name.partition("@")
    if sep and not (model and re.fullmatch(ModelSpec.name_pattern, label)):  # spelt as a name: it names a folder
        raise UserError(f"'{name}' is no MODEL@LABEL; a label is {ModelSpec.name_characters} after the model's "
                        f"name, as in gram@lr2.")
    return model, label if sep else None


def entry_key(name: str) -> str:
    """What a ``--models`` or ``--ckpt`` entry is matched by: its model's key (any spelling or alias), then its
    label in any case (``GRAM@LR2`` is ``gram@lr2``)."""
    from zoo3d.plugins import model_key
    from zoo3d.specs import normalize_name

    model, label = labelled(name)
    return model_key(model) + ("" if label is None else "@" + normalize_name(label))


def _parse_ckpts(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UserError(f"--ckpt '{item}' must look like NAME=PATH.")
        if entry_key(name) in out:  # the last one would win, silently
            raise UserError(f"--ckpt names model '{name}' twice ({out[entry_key(name)]} and {path}); a comparison "
                            f"scores one run per model.")
        out[entry_key(name)] = path
    return out


def load_entry(name: str, checkpoint: str | None, device):
    """The model a ``--models`` entry names, with its ``--ckpt``; a labelled one (``gram@lr2``) under that name."""
    import dataclasses

    from zoo3d.eval.harness import load_eval_model

    model, label = labelled(name)
    loaded = load_eval_model(model, checkpoint, device)
    return loaded if label is None else dataclasses.replace(loaded, name=f"{loaded.name}@{label}")


def _sets_neus_iterations(item: str) -> bool:
    """Whether a ``--set`` item sets ``neus.iterations`` (``neus.iterations=N``, or a ``neus`` map holding it)."""
    from zoo3d.config import parse_override

    path, value = parse_override(item)
    if path == ["neus"]:
        return isinstance(value, dict) and "iterations" in value
    return path[:2] == ["neus", "iterations"]


def check_not_suffix_alone(what: str, path: str, suffixes: tuple[str, ...], example: str) -> None:
    """Refuse a report named by its suffix alone (``--json .json``, as ``--json "$name.json"`` reads with an empty
    ``$name``): it was written as a hidden file (and ``--markdown .md`` with a hidden images folder beside it)."""
    from pathlib import Path

    name = Path(path).name
    if name.startswith(".") and name.count(".") == 1 and name[1:].lower() in suffixes:
        raise UserError(f"Cannot write {what} '{path}': the file name is the suffix alone; name it, e.g. "
                        f"'{example}{name}'.")


def _check_outputs_apart(json_out: str | None, md_out: str | None, out_dir) -> None:
    """Refuse a ``--json`` that is the ``--markdown`` report or its images folder: the report replaced the results
    written a moment before (both 'wrote' lines printed), or the JSON could not be written over the folder the
    metrics had filled, after the whole comparison."""
    from pathlib import Path

    if not json_out or not md_out or json_out == "-":
        return
    where = Path(json_out).resolve()
    if where == Path(md_out).resolve():
        raise UserError(f"--json '{json_out}' and --markdown '{md_out}' name one file, and the report would replace "
                        f"the results; give each a file of its own.")
    if where == Path(out_dir).resolve():
        raise UserError(f"--json '{json_out}' is the folder --markdown '{md_out}' writes its images into; give the "
                        f"JSON another name.")


def evidence_staging(out_dir):
    """The hidden folder beside the images folder ``out_dir`` that the metrics write their evidence into; made by
    the first image written (the temporary folders of a killed comparison are removed first)."""
    from zoo3d.fileio import clean_stale_temps, temp_path

    clean_stale_temps(out_dir.parent, out_dir.name)
    return temp_path(out_dir)


def place_evidence(result: dict, staging, out_dir) -> None:
    """Move the evidence images from ``staging`` into ``out_dir`` (the whole folder when there is none yet; file by
    file into an existing one, whose other files stay) and point ``result["evidence"]`` at them."""
    import os
    from pathlib import Path

    from zoo3d.fileio import place

    staging, out_dir = Path(staging), Path(out_dir)
    result["evidence"] = {group: [str(out_dir / Path(f).relative_to(staging)) for f in files]
                          for group, files in result.get("evidence", {}).items()}
    if not staging.exists():
        return
    if not out_dir.exists():
        try:
            os.replace(staging, out_dir)
            return
        except OSError:  # made meanwhile by another process: file by file, as into any existing folder
            pass
    for written in sorted(p for p in staging.rglob("*") if p.is_file()):
        target = out_dir / written.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        place(written, target)  # through an image that is a link to a file


def images_folder(md_out: str):
    """The evidence images' folder of a ``--markdown`` report: ``report_images/`` beside ``report.md``."""
    from pathlib import Path

    return Path(md_out).with_name(Path(md_out).stem + "_images")


def scored_line(model) -> str:
    """What ``model`` (an :class:`~zoo3d.eval.metric.EvalModel`) is scored from: its run folder and step, a lone
    checkpoint file, or nothing for a model that needs no checkpoint."""
    from pathlib import Path

    from zoo3d.runs import CONFIG_FILE

    if model.checkpoint is None:
        return f"scoring {model.name}: no checkpoint (it needs none)"
    path = Path(model.checkpoint)
    at = "" if model.step is None else f" at step {model.step}"
    # a run folder's checkpoints/step_<N>.safetensors; not a file of ~/checkpoints/ (downloaded weights), no run's
    if path.parent.name == "checkpoints" and (path.parent.parent / CONFIG_FILE).is_file():
        return f"scoring {model.name}: run {path.parent.parent}{at} ({path.parent.name}/{path.name})"
    return f"scoring {model.name}: checkpoint {path}{at}"


@click.command()
@click.option("--models", required=True, multiple=True,
              help="Comma-separated model names, e.g. gram_hd,styleSDF (repeatable: the lists add up); gram@a,gram@b "
                   "are two runs of one model, each given with --ckpt gram@a=RUN.")
@click.option("--metric", "metrics", default=["neus"], show_default=True, multiple=True,
              help="Comma-separated metrics: neus, epi, depth, swd, diversity, detail, fid, kid, speed (or any "
                   "plugin's); repeatable: the lists add up.")
@click.option("--ckpt", "ckpts", multiple=True,
              help="NAME=PATH: checkpoint or run folder for a model, or a labelled one (gram@a=PATH); repeatable.")
@click.option("--instances", type=click.IntRange(1, 10_000), default=None,
              help="Instances per model (default: the protocol's).")
@click.option("--protocol", "protocol_name", type=click.Choice(["small", "paper"]), default="small", show_default=True,
              help="small: honest CPU settings (4 instances, 64 px); paper: GRAM-HD Table 2 (50, model resolution).")
@click.option("--resolution", type=click.IntRange(8, 4096), default=None,
              help="Override the protocol's image resolution.")
@click.option("--neus-iterations", type=click.IntRange(1, 1_000_000), default=None,
              help="Override the NeuS iteration budget (the same as --set neus.iterations=N).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a protocol key (epi_frames=120, neus.batch_rays=1024) or a metric plugin's own "
                   "setting (METRIC.KEY=VALUE); repeatable.")
@click.option("--data", type=GIVEN, default="synthetic:heads", show_default=True,
              help="Reference dataset for swd/diversity/detail/fid/kid.")
@click.option("--inception", type=UserPath(dir_okay=True), default=None,
              help="Inception TorchScript file for fid/kid (or set ZOO3D_INCEPTION).")
@click.option("--device", type=GIVEN, default="auto", show_default=True)
@click.option("--json", "json_out", type=UserPath(dir_okay=False), default=None,
              help="Write the results as JSON ('-': print them on stdout, and the table on stderr).")
@click.option("--markdown", "md_out", type=UserPath(dir_okay=False), default=None,
              help="Write a Markdown report, with an images folder next to it.")
def compare(models, metrics, ckpts, instances, protocol_name, resolution, neus_iterations, sets, data, inception,
            device, json_out, md_out):
    """Compare MODELS on METRICs with the same seeds and cameras; print a table, write JSON/Markdown."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from zoo3d.config import refuse_key_set_twice
    from zoo3d.devices import resolve_device
    from zoo3d.eval.harness import compare_models, load_metrics, preflight, total_work
    from zoo3d.eval.metric import EvalContext
    from zoo3d.eval.protocol import build_protocol
    from zoo3d.fileio import WriteError

    # a repeated option adds to the list: click keeps only the last value of a single one, and `--metric epi
    # --metric depth` scored depth alone without a word
    model_names, metric_names = _split(",".join(models)), _split(",".join(metrics))
    if not model_names:
        raise UserError("--models needs at least one model name.")
    if not metric_names:
        raise UserError("--metric needs at least one metric name.")
    keys = [entry_key(m) for m in model_names]
    twice = next((m for m, k in zip(model_names, keys) if keys.count(k) > 1), None)
    if twice:  # the rows are keyed by model: one would overwrite the other after both were scored
        model = labelled(twice)[0]
        raise UserError(f"--models names '{twice}' twice; a comparison scores one run per model (label two runs of "
                        f"one model, each with its --ckpt: --models {model}@a,{model}@b --ckpt {model}@a=RUN ...).")
    from zoo3d.fileio import check_can_create

    if md_out == "-":  # a report has an images folder beside it: a file named '-' and a folder '-_images' were made
        raise UserError("--markdown '-' would name a file '-' and its images folder '-_images'; give the report a "
                        "file name (--json - prints the results on stdout).")
    if json_out:
        check_not_suffix_alone("--json report", json_out, ("json",), "results")
    if md_out:
        check_not_suffix_alone("--markdown report", md_out, ("md", "markdown"), "report")
    for option, path in (("--json", None if json_out == "-" else json_out), ("--markdown", md_out)):
        if path:  # refused now, not after an hour of NeuS fits
            check_can_create(path, f"{option} report")
    out_dir = images_folder(md_out) if md_out else None
    if out_dir is not None:  # it takes the evidence after the comparison: refused now, not after every fit
        check_can_create(out_dir, "--markdown images folder", folder=True)
    _check_outputs_apart(json_out, md_out, out_dir)
    ckpt_map = _parse_ckpts(ckpts)
    unknown = set(ckpt_map) - set(keys)
    if unknown:
        raise UserError(f"--ckpt names model '{sorted(unknown)[0]}', which is not in --models.")
    unrun = next((m for m, k in zip(model_names, keys) if labelled(m)[1] is not None and k not in ckpt_map), None)
    if unrun:  # its newest run, as an unlabelled name takes: two labels of one model would score one run twice
        raise UserError(f"--models '{unrun}' labels a run of {labelled(unrun)[0]}; name it with --ckpt {unrun}=RUN.")
    metric_objs = load_metrics(metric_names)
    if neus_iterations:  # the --set, read after the shorthand, would win without a word
        clash = next((item for item in sets if _sets_neus_iterations(item)), None)
        if clash:
            raise ConfigError(f"--neus-iterations {neus_iterations} and --set '{clash}' both set the NeuS iterations; "
                              f"give it once.")
    refuse_key_set_twice(sets)  # the last would win without a word
    shorthand = [f"neus.iterations={neus_iterations}"] if neus_iterations else []
    protocol = build_protocol(protocol_name, instances=instances, resolution=resolution,
                              sets=[*shorthand, *sets], metrics=metric_objs)
    dev = resolve_device(device)
    options = {"data": data, "inception": inception}
    preflight(metric_objs, protocol, options)  # a missing file or dataset fails now, before any long work
    loaded = [load_entry(name, ckpt_map.get(key), dev) for name, key in zip(model_names, keys)]

    console = Console(stderr=True)
    for model in loaded:  # which run a model name picked (its newest under $ZOO3D_RUNS): said before the long work
        console.print(scored_line(model), markup=False, soft_wrap=True)  # a path whole, whatever the width
    probe = EvalContext(protocol=protocol, device=dev, seeds=protocol.seeds)
    # the evidence is written to a hidden folder and moved into the images folder with the report: a comparison
    # stopped half way (Ctrl-C, an error) put its images under an earlier report, which then showed them
    staging = evidence_staging(out_dir) if out_dir is not None else None
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=console, transient=False) as bar:
            task = bar.add_task("compare", total=total_work(loaded, metric_objs, probe))
            try:
                result = compare_models(
                    loaded, metric_objs, protocol, dev, out_dir=staging, options=options,
                    progress=lambda n: bar.advance(task, n),
                    on_model=lambda m, k: bar.update(task, description=f"{m} · {k}"))
            except WriteError as exc:  # an image that could not be written: named where it was to go
                if staging is None or str(staging) not in str(exc):
                    raise
                raise WriteError(str(exc).replace(str(staging), str(out_dir)), exc.reason) from None
        _report(result, protocol, metric_objs, console, json_out, md_out, staging, out_dir)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    _exit_if_failed(result)


def _exit_if_failed(result) -> None:
    """Exit 1 where a metric failed on a model or its ``protocol_info`` failed (:func:`zoo3d.eval.harness.failures`),
    the first failure named in the last line on stderr (where ``zoo3d bench zoo`` reads why a comparison failed):
    the table and the reports hold the rest, and a script learns that the comparison is not whole."""
    from zoo3d.eval.harness import failures

    failed = failures(result)
    if failed:
        more = f" (and {counted(len(failed) - 1, 'other failure')} under the table)" if len(failed) > 1 else ""
        click.secho(f"Error: {failed[0]}{more}; the other results were scored and reported.", fg="red", err=True)
        sys.exit(1)


def _protocol_title(protocol, metrics) -> str:
    """The protocol as the table's title names it: ``small protocol, 4 instances``, and where ``--set``,
    ``--resolution`` or ``--neus-iterations`` changed its settings, ``small protocol changed to epi_frames=10; 4
    instances``: its name alone claimed the named protocol's numbers for a run under other settings."""
    from zoo3d.eval.protocol import departures

    changed = departures(protocol, metrics)
    if not changed:
        return f"{protocol.name} protocol, {counted(protocol.instances, 'instance')}"
    return f"{protocol.name} protocol changed to {', '.join(changed)}; {counted(protocol.instances, 'instance')}"


def _report(result, protocol, metrics, console, json_out, md_out, staging, out_dir) -> None:
    """The table on stdout (on stderr with ``--json -``, which prints the JSON there), the notes on stderr, then
    the images, the JSON and the Markdown report in place."""
    from rich.console import Console

    from zoo3d.cli.tables import print_fitting_table
    from zoo3d.eval.harness import direction_arrow, format_value, not_applicable_lines, write_json, write_markdown

    # `--json -` is stdout, the Unix way (it wrote a file named '-'): the JSON alone there, the table on stderr
    table = Console(stderr=json_out == "-")
    keys = list(dict.fromkeys(k for r in result["models"].values() for k in r))
    columns = ["model"] + [k + direction_arrow(result, k) for k in keys]
    rows = [[name, *[format_value(row[k]) if k in row else "-" for k in keys]]
            for name, row in result["models"].items()]
    print_fitting_table(table, columns, rows, title=f"zoo3d compare ({_protocol_title(protocol, metrics)})")
    for line in not_applicable_lines(result):  # why a cell reads n/a, under the table (it was in the JSON alone)
        table.print(line, markup=False)
    # as written, not as rich markup: a note or path holding '[v2]' lost it, and one holding '[/x]' raised a
    # MarkupError before the reports were written
    for note in result["notes"]:
        console.print(f"note: {note}", markup=False)
    command = "zoo3d " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if staging is not None:
        place_evidence(result, staging, out_dir)
    if json_out == "-":
        from zoo3d.fileio import json_text

        click.echo(json_text(result))
    elif json_out:
        write_json(result, json_out)
        console.print(f"wrote {json_out}", markup=False)
    if md_out:
        write_markdown(result, md_out, command=command)
        console.print(f"wrote {md_out}", markup=False)
