"""``zoo3d plugins`` and ``zoo3d models``: what is registered, where it came from, and what is broken."""

from __future__ import annotations

import json

import click

from zoo3d.errors import UserError, counted


def _plugin_rows() -> list[dict]:
    from zoo3d.plugins import get_host

    return [info.as_dict() for info in get_host().plugins.values()]


def _model_rows() -> list[dict]:
    from zoo3d.cards import load_card
    from zoo3d.plugins import get_host

    rows = []
    for spec in get_host().models:
        row = {
            "name": spec.name, "aliases": list(spec.aliases), "kind": spec.kind, "summary": spec.summary,
            "source": spec.source, "plugin": spec.plugin, "version": spec.version, "presets": spec.presets(),
            "status": "ok", "error": None, "paper": None, "results": [],
        }
        if spec.card is not None:
            try:
                card = load_card(spec.card)
                row["paper"] = card.paper.model_dump() if card.paper else None
                row["results"] = [r.model_dump() for r in card.results]
                if card.name.lower().replace("-", "_") != spec.key:
                    raise UserError(f"model card '{spec.card}' is for '{card.name}', not '{spec.name}'")
            except UserError as exc:
                row["status"], row["error"] = "error", str(exc)
        rows.append(row)
    return rows


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--check", is_flag=True,
              help="Also import every model, metric and dataset factory and report each; exit status 1 if any fails.")
def plugins(as_json, check):
    """List plugins: name, source package, version, status and error."""
    if check:
        _check(as_json)
        return
    rows = _plugin_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console

    from zoo3d.cli.tables import print_fitting_table

    table = []
    for r in rows:
        registered = "; ".join(f"{k}: {', '.join(v)}" for k, v in r["registered"].items())
        status = {"ok": "[green]ok[/]", "error": "[red]error[/]"}.get(r["status"], r["status"])
        table.append([r["name"], r["source"], r["version"], status, registered, r["error"] or ""])
    print_fitting_table(Console(), ["name", "source", "version", "status", "registered", "error"], table,
                        title="zoo3d plugins", prose=("registered", "error"), styled=("status",))


def _check(as_json: bool) -> None:
    """``zoo3d plugins --check``: every plugin's load status, every factory's import, every model card (its schema
    and name) and every model's presets (read as ``zoo3d train --preset`` reads them), exit 1 on any failure."""
    import sys

    from zoo3d.plugins import get_host

    host = get_host()
    rows = host.check_factories()
    cards = {r["name"]: r["error"] for r in _model_rows() if r["status"] == "error"}  # what `zoo3d models` flags
    for r in rows:
        if r["kind"] == "model" and r["status"] == "ok" and r["name"] in cards:
            r["status"], r["error"] = "error", cards[r["name"]]
    presets = host.check_presets()
    broken = [info for info in host.plugins.values() if info.status == "error"]
    failed = [r for r in rows + presets if r["status"] != "ok"]
    if as_json:
        click.echo(json.dumps({"plugins": _plugin_rows(), "factories": rows, "presets": presets}, indent=2))
    else:
        from rich.console import Console

        from zoo3d.cli.tables import print_fitting_table

        table = [[r["plugin"], r["kind"], r["name"], r["factory"], r["status"], r["error"] or ""] for r in rows]
        table += [[r["plugin"], "preset", _shown_preset(r), _shown_file(r["file"]), r["status"], r["error"] or ""]
                  for r in presets]
        for row in table:
            row[4] = "[green]ok[/]" if row[4] == "ok" else "[red]error[/]"
        print_fitting_table(Console(), ["plugin", "kind", "name", "factory", "status", "error"], table,
                            title="zoo3d plugins --check", prose=("error",), styled=("status",))
        for r in failed:
            click.echo(f"error: {r['error']}", err=True)
        for info in broken:
            click.echo(f"plugin {info.name} ({info.source}) failed to load: {info.error}", err=True)
        click.echo(f"{_of(rows, 'factory', 'factories', 'import')}, {_of(presets, 'preset', 'presets', 'load')}; "
                   f"{counted(len(broken), 'plugin')} failed to load.", err=True)
    if failed or broken:
        sys.exit(1)


def _shown_preset(row: dict) -> str:
    """``MODEL:PRESET``, or ``MODEL (defaults)`` for a model without presets, which trains on its config's defaults."""
    return f"{row['model']} (defaults)" if row["preset"] is None else f"{row['model']}:{row['preset']}"


def _shown_file(path: str | None) -> str:
    """A preset file as the table shows it: its package folder, presets folder and name (the JSON has it whole)."""
    from pathlib import Path

    return "" if path is None else str(Path(*Path(path).parts[-3:]))


def _of(rows: list[dict], noun: str, plural: str, verb: str) -> str:
    """``12 of 12 factories import``, ``1 of 1 preset loads``: the rows that passed of all of them."""
    ok = sum(r["status"] == "ok" for r in rows)
    return f"{ok} of {counted(len(rows), noun, plural)} {verb + 's' * (ok == 1)}"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(as_json):
    """List models: name, aliases, kind, source, presets, paper and status."""
    rows = _model_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape

    from zoo3d.cli.tables import print_fitting_table

    console = Console()
    if not rows:
        console.print("No models are registered. `zoo3d plugins` shows which plugins loaded and why not.")
        return
    table = []
    for r in rows:
        paper = r["paper"]["title"] if r["paper"] else ""
        status = "[green]ok[/]" if r["status"] == "ok" else f"[red]error[/]: {escape(r['error'])}"
        table.append([r["name"], ", ".join(r["aliases"]), r["kind"], r["source"], ", ".join(r["presets"]), paper,
                      status])
    print_fitting_table(console, ["name", "aliases", "kind", "source", "presets", "paper", "status"], table,
                        title="zoo3d models", prose=("presets", "paper", "status"), styled=("status",))
