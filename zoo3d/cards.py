"""Model cards: machine-readable YAML shipped with each model's plugin (``card.yaml``), validated on load.

A card says what a model is (name, aliases, kind, paper) and what its paper reports, each
number tied to the table it comes from, so ``zoo3d models`` and comparisons can show the
published figure beside the measured one; ``parity`` records how closely zoo3d reproduces the
authors' code on their weights (docs/pretrained.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from zoo3d.config_base import Config, format_validation_error, read_yaml
from zoo3d.errors import ConfigError


class Paper(Config):
    title: str
    authors: list[str] = Field(default_factory=list)
    venue: str = ""
    year: int | None = None
    url: str = ""


class ReportedResult(Config):
    """One number from a paper: ``table`` names where it is printed (e.g. "GRAM-HD Table 1")."""

    table: str
    dataset: str
    metric: str
    value: float | str
    resolution: int | None = None
    notes: str = ""


class ParityRecord(Config):
    """A measured difference between zoo3d's model and the authors' code on the same weights and inputs.

    ``upstream`` is ``owner/repo@commit``; ``setting`` the network and inputs compared (e.g. "FFHQ_default
    at paper width, 64², frontal + non-frontal pose, fp32 CPU"); ``what`` the output compared (e.g.
    "image", "manifold intersections"); ``max_abs`` its largest absolute difference; ``command`` how to
    reproduce it.
    """

    upstream: str
    setting: str
    what: str
    max_abs: float
    command: str = ""
    notes: str = ""


class ModelCard(Config):
    name: str
    aliases: list[str] = Field(default_factory=list)
    kind: Literal["generator", "inverter", "calibration"] = "generator"
    summary: str = ""
    paper: Paper | None = None
    results: list[ReportedResult] = Field(default_factory=list)
    presets: list[str] = Field(default_factory=list)
    parity: list[ParityRecord] = Field(default_factory=list)
    notes: str = ""


def load_card(path: str | Path) -> ModelCard:
    """Read and validate a card; a bad card raises :class:`ConfigError` naming the file and key."""
    data = read_yaml(path, "Model card", escapes_meant=True)
    try:
        return ModelCard.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, ModelCard, data, origin=str(path))) from None
