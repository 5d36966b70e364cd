"""``zoo3d compare --help`` says which metrics read ``--data``: it named fid, kid, swd and diversity, and left out
``detail``, which scores its images against the same dataset (a researcher reading the help would not give their
own data for it). Every built-in metric that requires the dataset is named there, and none that does not."""

from __future__ import annotations

import re

from conftest import run_in_process as zoo3d
from zoo3d.eval.harness import load_metrics
from zoo3d.eval.plugin import _BUILTIN

BUILT_IN = [name for name, *_ in _BUILTIN]  # every metric zoo3d registers, one added later included


def test_the_help_of_data_names_exactly_the_metrics_that_read_it(capsys):
    code, out, _ = zoo3d(capsys, "compare", "--help")
    assert code == 0
    text = " ".join(out.split())  # click wraps the help; its words, one space apart
    line = re.search(r"--data TEXT (.*?)\[default: synthetic:heads\]", text).group(1)
    named = set(re.findall(r"[a-z_]+", line.split("dataset for", 1)[1]))
    metrics = load_metrics(BUILT_IN)
    assert named == {name for name, metric in metrics.items() if "dataset" in metric.requires}, line
