"""``zoo3d bench``: run benchmark suites and write their records as JSON.

A suite is a module ``zoo3d.benchmarks.<name>`` with ``run(device: str, quick: bool) -> list[dict]``;
one with ``RUN_BY_DEFAULT = False`` (hours of work) runs only when named; one whose records are not whole raises
:class:`zoo3d.benchmarks.Incomplete` with them, and the command ends with its sentence and exit status 1. Modules
there without ``run`` (``source``, the digest of the code that ran; ``children``, the memory cap of a measuring
process and a failed one's record) are helpers, not suites.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import click

from zoo3d.cli.paths import GIVEN, UserPath
from zoo3d.errors import UserError, counted


def available_suites() -> list[str]:
    """The modules of ``zoo3d.benchmarks`` that define ``run`` (importing each is how to know)."""
    import zoo3d.benchmarks as pkg

    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))
    return [n for n in names if callable(getattr(importlib.import_module(f"zoo3d.benchmarks.{n}"), "run", None))]


@click.command()
@click.argument("suites", nargs=-1)
@click.option("--device", type=GIVEN, default="auto", show_default=True, help="cpu, cuda, cuda:1 or auto.")
@click.option("--quick", is_flag=True, help="Fewer repetitions and sizes (a smoke run, not for the record).")
@click.option("--json", "json_out", type=UserPath(dir_okay=False),
              help="Write the records here ('-': print them on stdout, and the table on stderr).")
def bench(suites, device, quick, json_out):
    """Benchmark SUITES and print their records as a table.

    Suites: data, freeview, invert, models, neus, peers, render, train (the default: all of them) and zoo
    (hours; only when named). docs/testing.md lists what each measures."""
    from rich.console import Console

    from zoo3d.devices import resolve_device

    if json_out:  # before the suites run (an hour for render on a CPU, hours for zoo), not after
        from zoo3d.cli.compare import check_not_suffix_alone
        from zoo3d.fileio import check_can_create

        check_not_suffix_alone("--json records", json_out, ("json",), "bench")
        if json_out != "-":
            check_can_create(json_out, "benchmark records")
    known = available_suites()
    for s in suites:
        if s not in known:
            raise UserError(f"Unknown benchmark suite '{s}'; available: {', '.join(known) or 'none'}.")
    from zoo3d.benchmarks import Incomplete

    dev = str(resolve_device(device))
    load_start = load_average()
    records: list[dict] = []
    incomplete: list[str] = []  # the sentence of each suite whose records are not whole, said after they are written
    for name in suites or known:
        module = importlib.import_module(f"zoo3d.benchmarks.{name}")
        if not suites and not getattr(module, "RUN_BY_DEFAULT", True):
            continue
        try:
            got = module.run(dev, quick)
        except Incomplete as exc:
            got = exc.records
            incomplete.append(f"{name}: {exc}")
        for rec in got:
            records.append({"suite": name, **rec})
    from zoo3d.benchmarks.source import environment

    # where the records were taken, how loaded the machine was while they were and how they were asked for (a
    # --quick smoke run, the ZOO3D_* settings the suites read, the command): printed around the table (the command
    # above it, the machine under it) and written with each record (a consumer may read one record alone)
    settings = {k: v for k, v in sorted(os.environ.items()) if k.startswith("ZOO3D_")}
    env = {**environment(dev), "load_avg_1min": {"start": load_start, "end": load_average()}, "quick": quick,
           "zoo3d_settings": settings, "command": bench_command(suites, device, quick, json_out, settings)}
    # `--json -` is stdout, the Unix way (it wrote a file named '-'): the JSON alone there, the table on stderr
    console = Console(stderr=json_out == "-")
    if records:
        console.print(f"command: {env['command']}", markup=False, highlight=False, soft_wrap=True)
        print_records(console, records)
        console.print(ran_on(env), markup=False, highlight=False)
    if json_out:
        from zoo3d.fileio import json_text, write_text_atomic

        text = json_text([{**r, "environment": env} for r in records])
        if json_out == "-":
            click.echo(text)
        else:
            write_text_atomic(json_out, text, "benchmark records")
            console.print(f"wrote {counted(len(records), 'record')} to {json_out}", markup=False)  # a path as written
    for line in incomplete:  # last, after the records: what a script and a reader of the end of a log see
        click.secho(f"Error: {line}", fg="red", err=True)
    if incomplete:
        sys.exit(1)


def bench_command(suites, device: str, quick: bool, json_out: str | None, settings: dict[str, str]) -> str:
    """The command that took the records, as a user would type it again: the ``ZOO3D_*`` settings the suites read,
    then ``zoo3d bench`` with the suites and options given (``--device`` as given, ``auto`` included)."""
    from zoo3d.errors import shell_line, shell_word

    words = ["zoo3d", "bench", *suites, *(["--quick"] if quick else []), "--device", device,
             *(["--json", json_out] if json_out else [])]
    return " ".join([f"{k}={shell_word(v)}" for k, v in settings.items()] + [shell_line(words)])


def load_average() -> float | None:
    """The machine's 1-minute load average (None where the system does not report one)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def ran_on(env: dict) -> str:
    """One line naming where the records were taken: the GPU or the CPU, its cores and threads, and the load."""
    parts = [f"{env['gpu']} with {env['cpu']}" if env.get("gpu") else env["cpu"],
             counted(env["usable_cores"], "usable core"), counted(env["torch_threads"], "torch thread")]
    load = env["load_avg_1min"]
    if load["start"] is not None and load["end"] is not None:
        parts.append(f"1-minute load average {load['start']:g} at the start, {load['end']:g} at the end")
    quick = "; --quick: a smoke run, not for the record" if env.get("quick") else ""
    return "ran on " + ", ".join(parts) + quick


def print_records(console, records: list[dict]) -> None:
    """The flat values of ``records`` (nested ones, every repeat and provenance, go to ``--json`` only), one
    column per field, or one field/value table per record when that is too wide for the console."""
    from zoo3d.cli.tables import print_fitting_table

    keys = list(dict.fromkeys(k for r in records for k, v in r.items() if not isinstance(v, (dict, list))))
    print_fitting_table(console, keys, [[_fmt(r.get(k)) for k in keys] for r in records])


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)
