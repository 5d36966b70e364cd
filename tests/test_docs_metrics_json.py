"""docs/metrics.md's example of `zoo3d compare --json` against the file the command writes: the top-level blocks,
the protocol block's keys and a model's provenance keys the page shows are the ones written (`…` on the page stands
for values and the keys of metrics it does not run). A key renamed in the code, or one the page invents, fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import run_in_process as zoo3d

METRICS_MD = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def example() -> str:
    """The JSON example under `--json OUT`: the first ```json block of the page."""
    return METRICS_MD.read_text(encoding="utf-8").split("```json", 1)[1].split("```", 1)[0]


def keys_at(text: str) -> set[str]:
    """The keys of the first map in ``text`` (not those of the maps nested in it)."""
    depth, inner = 0, ""
    for char in text[text.index("{"):]:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            break
        inner += char if depth == 1 else " "
    return set(re.findall(r'"(\w+)":', inner))


def keys_of(text: str, block: str) -> set[str]:
    """The keys the example gives inside the first ``"block": {...}``."""
    return keys_at(text[text.index(f'"{block}": {{'):].split(":", 1)[1])


def test_the_pages_json_example_has_the_keys_compare_writes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi", "--instances", "1",
                         "--set", "epi_frames=4", "--resolution", "16", "--json", "out.json")
    assert code == 0, err
    written = json.loads((tmp_path / "out.json").read_text())
    text = example()
    # the top-level blocks both ways: `evidence` is written (empty) without --markdown too
    assert keys_at(text) == set(written) == {"models", "protocol", "provenance", "higher_is_better", "notes",
                                             "evidence"}
    # a metric's entry: the summary keys the page shows for neus_detail_gain are epi's too (epi adds its frames)
    summary = keys_of(text, "neus_detail_gain")
    assert summary == {"mean", "std", "n", "values"} and sorted(summary - set(written["models"]["oracle"]["epi"])) == []
    protocol = keys_of(text, "protocol")
    assert len(protocol) > 10 and sorted(protocol - set(written["protocol"])) == []
    provenance = keys_of(text, "provenance")
    assert provenance == {"oracle"}
    assert keys_of(text.split('"provenance":', 1)[1], "oracle") == set(written["provenance"]["oracle"])
