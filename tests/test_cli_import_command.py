"""``zoo3d import MODEL FILE --preset NAME --out RUN_DIR`` (docs/training.md, docs/pretrained.md) with a recording
stand-in for the importer: its arguments reach it unchanged, its notes are shown one per line, the last line names
the run and its checkpoint and the command to try, and the importer (with torch) is loaded only when the command
runs, not for its help."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

from conftest import run_in_process as zoo3d


def stand_in_importer(monkeypatch) -> list:
    calls = []

    def import_to_run(model, file, preset, out, overrides=()):
        calls.append((model, file, preset, out, tuple(overrides)))
        run = Path(out)
        return types.SimpleNamespace(run_dir=run, checkpoint=run / "checkpoints" / "step_000000000.safetensors",
                                     imported=types.SimpleNamespace(notes=["EMA weights taken from ema.pth",
                                                                           "align_corners set as upstream"]))

    # the module the command will import (sys.modules'), not the attribute of a package imported before
    monkeypatch.setattr(importlib.import_module("zoo3d.upstream.importing"), "import_to_run", import_to_run)
    return calls


def test_the_importer_loads_when_the_command_runs_and_its_notes_and_the_run_are_printed(monkeypatch, capsys):
    for name in [m for m in sys.modules if m.startswith("zoo3d.upstream") or m == "zoo3d.cli.importing"]:
        monkeypatch.delitem(sys.modules, name)
    code, out, _ = zoo3d(capsys, "import", "--help")  # the help loads no importer (nor torch through it)
    assert code == 0 and "--preset" in out and "--out" in out
    assert not any(m.startswith("zoo3d.upstream") for m in sys.modules)
    importer = stand_in_importer(monkeypatch)
    for missing in ("--preset", "--out"):
        args = {"--preset": "tiny", "--out": "run"}
        del args[missing]
        code, _, err = zoo3d(capsys, "import", "gram", "rel.pth", *[x for kv in args.items() for x in kv])
        assert code == 2 and f"Missing option '{missing}'" in err and importer == []

    code, out, err = zoo3d(capsys, "import", "gram", "rel/ema.pth", "--preset", "ffhq256", "--out", "runs/imported")
    assert code == 0, err
    assert importer == [("gram", "rel/ema.pth", "ffhq256", "runs/imported", ())]
    run = Path("runs/imported")
    assert out == ("  EMA weights taken from ema.pth\n  align_corners set as upstream\n"
                   f"Wrote {run} (checkpoint step_000000000.safetensors); "
                   f"try `zoo3d sample {run} --seeds 0-7 --out grid.png`.\n")


def test_set_items_reach_the_importer_in_the_order_given(monkeypatch, capsys):
    importer = stand_in_importer(monkeypatch)
    code, _, err = zoo3d(capsys, "import", "gram", "ema.pth", "--preset", "ffhq256", "--set", "generator.resolution=32",
                         "--set", "generator.radiance={hidden: 64, z_dim: 64}", "--out", "run")
    assert code == 0, err
    assert importer == [("gram", "ema.pth", "ffhq256", "run",
                         ("generator.resolution=32", "generator.radiance={hidden: 64, z_dim: 64}"))]
