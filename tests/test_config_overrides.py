"""``--set`` overrides, presets and the sentences that refuse them, written out whole: an empty value, list items
by name or index (and the paths a mistaken one may have meant), sections made on the way, presets that are
missing or extend a missing one, and which place (a file, or none for --set) a refusal names."""

from __future__ import annotations

import pytest
from pydantic import Field

from zoo3d.config import Config, RunConfig, StageConfig, load_run_config, parse_override
from zoo3d.errors import ConfigError


class NetConfig(Config):
    hidden: int = 64
    layers: int = Field(3, ge=1)


class ToyRunConfig(RunConfig):
    net: NetConfig = Field(default_factory=NetConfig)
    stages: list[StageConfig] = Field(default_factory=lambda: [
        StageConfig(name="main", steps=1000, batch_size=8, lr={"generator": 1e-3})])


def test_an_empty_set_value_is_null_as_an_empty_value_in_a_file_is(tmp_path):
    """docs/training.md: a --set value means what the same text means in a file, and an empty value is null; an
    optional setting a preset turns on is turned off again with an empty --set."""
    assert parse_override("train.micro_batch=") == (["train", "micro_batch"], None)
    assert parse_override("train.micro_batch=  ") == (["train", "micro_batch"], None)
    (tmp_path / "tiny.yaml").write_text("train:\n  micro_batch: 2\n")
    file = tmp_path / "run.yaml"
    file.write_text("extends: tiny\ntrain:\n  micro_batch:\n")
    from_file = load_run_config(ToyRunConfig, "toy", tmp_path, config_file=file)
    from_set = load_run_config(ToyRunConfig, "toy", tmp_path, "tiny", overrides=["train.micro_batch="])
    assert from_file.train.micro_batch is None and from_set.train.micro_batch is None

