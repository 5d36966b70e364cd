"""``zoo3d plugins`` and ``zoo3d models``: what is registered, where it came from, and what is broken."""

from __future__ import annotations

import json

import click

from zoo3d.errors import UserError


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
def plugins(as_json):
    """List plugins: name, source package, version, status and error."""
    rows = _plugin_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "source", "version", "status", "registered", "error", title="zoo3d plugins")
    for r in rows:
        registered = "; ".join(f"{k}: {', '.join(v)}" for k, v in r["registered"].items())
        status = {"ok": "[green]ok[/]", "error": "[red]error[/]"}.get(r["status"], r["status"])
        table.add_row(r["name"], r["source"], r["version"], status, registered, r["error"] or "")
    Console().print(table)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(as_json):
    """List models: name, aliases, kind, source, presets, paper and status."""
    rows = _model_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not rows:
        console.print("No models are registered. `zoo3d plugins` shows which plugins loaded and why not.")
        return
    table = Table("name", "aliases", "kind", "source", "presets", "paper", "status", title="zoo3d models")
    for r in rows:
        paper = r["paper"]["title"] if r["paper"] else ""
        status = "[green]ok[/]" if r["status"] == "ok" else f"[red]error[/]: {r['error']}"
        table.add_row(r["name"], ", ".join(r["aliases"]), r["kind"], r["source"], ", ".join(r["presets"]), paper,
                      status)
    console.print(table)
