"""docs/data.md's Python API block and ``data check --json`` example, run as a reader would run them.

The block is executed as written, with its example folder (``/data/ffhq256``) replaced by a small folder that
``zoo3d data synth`` writes; the item it reads must hold the fields its comment names, and the report must be
clean. The JSON example's keys must be the keys ``zoo3d data check --json`` prints for that folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from conftest import run_in_process

DATA_MD = Path(__file__).resolve().parents[1] / "docs" / "data.md"

pytestmark = pytest.mark.usefixtures("single_thread")


def _section_block(heading: str, language: str) -> str:
    body = DATA_MD.read_text(encoding="utf-8").split(f"\n## {heading}\n", 1)[1]
    return re.search(rf"```{language}\n(.*?)```", body, re.S).group(1)


@pytest.fixture
def synth_folder(tmp_path, capsys):
    folder = tmp_path / "heads"
    code, _, err = run_in_process(capsys, "data", "synth", "--out", folder, "--count", "2", "--resolution", "32")
    assert code == 0, err
    return folder


def test_the_python_api_block_runs_and_reads_what_its_comment_says(synth_folder):
    block = _section_block("Python API", "python")
    assert '"/data/ffhq256"' in block
    fields = re.search(r"item = ds\[0\]\s+# (.*)", block).group(1)
    printed = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(printed):
        exec(block.replace('"/data/ffhq256"', repr(str(synth_folder))), scope)
    assert sorted(scope["item"]) == sorted(f.strip() for f in fields.split(","))
    assert tuple(scope["item"]["image"].shape) == (3, 64, 64)               # the resolution the block asks for
    assert scope["report"].ok and printed.getvalue() == "True []\n"


def test_the_check_json_example_has_the_keys_data_check_prints(synth_folder, capsys):
    example = json.loads(_section_block("`zoo3d data check`", "json"))
    code, out, _ = run_in_process(capsys, "data", "check", synth_folder, "--json")
    report = json.loads(out)
    assert code == 0
    assert list(report) == list(example)
    assert set(report["yaw"]) == set(example["yaw"]) and set(report["pitch"]) == set(example["pitch"])
    assert (report["count"], report["usable"], report["format"], report["problems"]) == (2, 2, "zoo3d", [])
