"""The built-in metric plugin (zoo3d.eval.plugin): each metric registered with the direction docs/metrics.md's heading
gives it (written out below: the mutation layout does not copy docs/) and a one-line summary."""

from __future__ import annotations

import pytest

from zoo3d.plugins import get_host

# docs/metrics.md, "## The metrics": `neus` ↑ (its headline key), `epi` ↓, `depth` ↓, `swd` ↓, `diversity` ↑, `detail` ↑,
# `fid`, `kid` ↓; `speed` has no arrow (seconds and memory per image)
DIRECTIONS = {"neus": True, "epi": False, "depth": False, "swd": False, "diversity": True, "detail": True,
              "fid": False, "kid": False}


@pytest.mark.parametrize("name", sorted(DIRECTIONS))
def test_each_metric_points_the_way_docs_metrics_md_gives_it(name):
    assert get_host().metrics.get(name).higher_is_better is DIRECTIONS[name]


@pytest.mark.parametrize("name", sorted([*DIRECTIONS, "speed"]))
def test_each_metric_has_a_one_line_summary_and_a_factory_in_zoo3d_eval(name):
    spec = get_host().metrics.get(name)
    assert isinstance(spec.summary, str) and spec.summary.strip() and "\n" not in spec.summary
    assert spec.factory.startswith("zoo3d.eval.") and spec.factory.split(":")[1].lower().startswith(name)
