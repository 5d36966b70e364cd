"""What plugins register: small, import-free descriptions of models, metrics and datasets.

A spec names its implementation by an import string (``"package.module:attr"``) so that
listing and ``--help`` never import torch-heavy code; :meth:`load` imports it on first use.
The host fills ``plugin``, ``source`` and ``version`` when the spec is registered.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


def normalize_name(name: str) -> str:
    """Names match case-insensitively with '-' and '_' equal: ``GRAM-HD`` == ``gram_hd``."""
    return name.strip().lower().replace("-", "_")


def import_object(target: str | Callable | Any) -> Any:
    """Resolve ``"package.module:attr"`` (or return a non-string target unchanged)."""
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


@dataclass
class _Spec:
    name: str
    factory: str | Callable | Any
    aliases: tuple[str, ...] = ()
    summary: str = ""
    plugin: str = ""
    source: str = ""
    version: str = ""

    def load(self) -> Any:
        """Import the implementation; a class is instantiated without arguments."""
        obj = import_object(self.factory)
        return obj() if isinstance(obj, type) else obj

    @property
    def key(self) -> str:
        return normalize_name(self.name)


@dataclass
class ModelSpec(_Spec):
    """A model: ``factory`` resolves to a :class:`zoo3d.core.model.ModelPlugin` (class or instance).

    ``kind`` is ``generator``, ``inverter`` or ``calibration`` (reference models for metrics).
    ``presets_dir`` holds ``<preset>.yaml`` files; ``card`` is the model card YAML.
    """

    kind: str = "generator"
    presets_dir: str | Path | None = None
    card: str | Path | None = None
    default_preset: str = "tiny"

    def presets(self) -> list[str]:
        if self.presets_dir is None or not Path(self.presets_dir).is_dir():
            return []
        return sorted(p.stem for p in Path(self.presets_dir).glob("*.yaml"))


@dataclass
class MetricSpec(_Spec):
    """A metric: ``factory`` resolves to a :class:`zoo3d.eval.Metric` (class or instance)."""

    higher_is_better: bool | None = None


@dataclass
class DatasetSpec(_Spec):
    """A dataset scheme, e.g. ``synthetic:heads``; ``factory`` builds it from a config."""

    extras: dict[str, Any] = field(default_factory=dict)
