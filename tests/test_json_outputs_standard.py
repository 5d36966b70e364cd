"""Files users parse are standard JSON: a number that is not finite is written as null.

Python's json writes NaN and Infinity as bare words, which JavaScript's parser, jq and Python's own with a strict
``parse_constant`` refuse, losing every other value in the file. A diverged inversion scores a NaN PSNR; a
benchmark may time nothing (NaN)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner

import zoo3d.cli.bench as bench_cli
from zoo3d.cameras import Camera
from zoo3d.core.inverter import InversionResult
from zoo3d.core.outputs import RenderOutput
from zoo3d.fileio import json_text
from zoo3d.invert.outputs import write_inversion_outputs


def _strict(text: str):
    def refuse(word):
        raise ValueError(f"not standard JSON: {word}")

    return json.loads(text, parse_constant=refuse)


def test_json_text_writes_non_finite_numbers_as_null_at_any_depth_and_keeps_the_rest():
    value = {"a": math.nan, "b": [1.5, math.inf, (-math.inf, 2)], "c": {"d": 0.25, "e": "NaN", "f": None, "g": 3}}
    assert _strict(json_text(value)) == {"a": None, "b": [1.5, None, [None, 2]],
                                         "c": {"d": 0.25, "e": "NaN", "f": None, "g": 3}}
    assert json_text([0.1, 2]) == json.dumps([0.1, 2], indent=2)  # finite values as json writes them


class Diverged:
    """An inverter stand-in whose render is NaN everywhere, as a diverged optimisation draws it."""

    def render(self, result, cameras, resolution=None):
        return RenderOutput(rgb=torch.full((len(cameras), 3, 16, 16), math.nan))


def test_a_diverged_inversion_writes_metrics_json_a_strict_parser_reads(tmp_path):
    image = torch.linspace(-1, 1, 3 * 16 * 16).reshape(1, 3, 16, 16)
    result = InversionResult(representation=None, cameras=Camera.from_angles(0.1, 0.0, 2.7, 12.0))
    metrics = write_inversion_outputs(Diverged(), result, image, tmp_path / "out", frames=2)
    assert math.isnan(metrics["psnr"])  # the returned dict keeps the number; the file cannot
    saved = _strict((tmp_path / "out" / "metrics.json").read_text())
    assert saved["psnr"] is None and saved["pose"]["yaw"] == pytest.approx(0.1)


def test_bench_json_with_a_nan_timing_is_standard_json(monkeypatch, tmp_path):
    import sys
    import types

    module = types.ModuleType("zoo3d.benchmarks.nan_suite")
    module.run = lambda device, quick: [{"name": "a", "ms": math.nan, "repeats": [1.0, math.inf]}]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(bench_cli, "available_suites", lambda: ["nan_suite"])
    out = tmp_path / "b[/x].json"  # a path with rich markup in it is printed as written
    result = CliRunner().invoke(bench_cli.bench, ["nan_suite", "--device", "cpu", "--json", str(out)],
                                env={"COLUMNS": "500"})
    assert result.exit_code == 0, result.output
    assert f"wrote 1 record to {out}" in " ".join(result.output.split())
    (record,) = _strict(out.read_text())
    assert record["ms"] is None and record["repeats"] == [1.0, None] and record["suite"] == "nan_suite"
