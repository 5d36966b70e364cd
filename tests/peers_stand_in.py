"""Stand-ins for ``zoo3d bench peers``'s outside world, for the tests of what it refuses before a record is
measured: a checkout of the authors' code (a folder with the files the suite looks for and the COMMIT file it
reads) and measuring processes that answer "ok" at once and record which records they were asked for."""

from __future__ import annotations

from pathlib import Path

from zoo3d.benchmarks import peers


def name_checkout(monkeypatch, folder: Path, variable: str, commit: str = "abc") -> None:
    """``folder`` is a checkout (the files the suite looks for, empty, and a COMMIT file) and ``$variable`` names
    it."""
    from zoo3d.benchmarks.peers.authors import ENV, LAYOUT

    model = next(m for m, v in ENV.items() if v == variable)
    for name in LAYOUT[model]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("")
    (folder / "COMMIT").write_text(f"{commit}\n")
    monkeypatch.setenv(variable, str(folder))


def stand_in_children(monkeypatch, calls: list | None = None) -> list:
    """Measuring processes that answer "ok" at once; returns ``calls`` (a new list by default), where each appends
    the name of the record it was asked for."""
    calls = [] if calls is None else calls
    monkeypatch.setattr(peers, "_child", lambda record, *args: calls.append(record.name) or {
        "status": "ok", "time_s": 1.0, "peak_mb": 1.0})
    return calls
