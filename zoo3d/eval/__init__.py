"""Metrics and the compare harness.

Importing this package stays light (no torch) because the built-in metric plugin
(``zoo3d.eval.plugin``) lives in it; the public names below are loaded on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Metric": "zoo3d.eval.metric",
    "EvalContext": "zoo3d.eval.metric",
    "EvalModel": "zoo3d.eval.metric",
    "Protocol": "zoo3d.eval.protocol",
    "make_protocol": "zoo3d.eval.protocol",
    "compare_models": "zoo3d.eval.harness",
    "load_metrics": "zoo3d.eval.harness",  # what compare_models takes its metrics from
    "load_eval_model": "zoo3d.eval.harness",
}

__all__ = sorted(_LAZY)


def __dir__() -> list[str]:
    """The public names too, so a notebook's completion (``zoo3d.eval.<Tab>``) offers them before their first use."""
    return sorted({*globals(), *_LAZY})


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo3d.eval' has no attribute '{name}'")
