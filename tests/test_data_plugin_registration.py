"""The built-in dataset plugin (zoo3d.data.plugin): `synthetic:heads` as docs/data.md describes it, its one-line
summary's options against data.md's option list (written out below: the mutation layout does not copy docs/) and
against the dataset the factory builds when no option is given."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from zoo3d.config import DataConfig
from zoo3d.plugins import get_host

# docs/data.md, "## `synthetic:heads`": opens "Procedural heads with ground truth."; its options with their defaults:
# "synthetic:heads?count=10000&seed=0&cache=1&block=32&cache_mb=1024&yaw_std=0.3&pitch_std=0.155"
DOCS_OPENING = "Procedural heads"
DOCS_DEFAULTS = {"count": "10000", "seed": "0", "cache": "1", "block": "32", "cache_mb": "1024", "yaw_std": "0.3",
                 "pitch_std": "0.155"}


def test_the_summary_is_one_line_opening_as_data_md_does_and_its_options_are_the_defaults():
    summary = get_host().datasets.get("synthetic:heads").summary
    assert isinstance(summary, str) and "\n" not in summary and summary.startswith(DOCS_OPENING + " ")
    assert not re.search(r"[A-Z]", summary[len(DOCS_OPENING):])  # a sentence, not shouted
    query = re.fullmatch(r".*\(options: \?([^)]*)\)\.?", summary).group(1)
    options = dict(parse_qsl(query, strict_parsing=True))
    assert len(options) >= 3 and options == {key: DOCS_DEFAULTS[key] for key in options}
    built = get_host().datasets.get("synthetic:heads").load()(DataConfig(), 32)  # no option given
    assert (built.count, built.seed, built.cache) == (int(options["count"]), int(options["seed"]),
                                                      options["cache"] == "1")
