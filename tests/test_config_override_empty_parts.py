"""A ``--set`` key with an empty part (``train..seed``, ``.train.seed``, ``train.seed.``) is refused as a malformed
override, as a key without ``=`` is: it was read as a key named '' and refused as ``Unknown config key 'train.'``
(or ``''``), a key the user never wrote, while ``train.seed`` itself went unmentioned."""

from __future__ import annotations

import pytest
from test_config import ToyRunConfig

from zoo3d.config import load_run_config, parse_override
from zoo3d.errors import ConfigError


@pytest.mark.parametrize("item", ["train..seed=3", ".train.seed=3", "train.seed.=3", "train. .seed=3"])
def test_a_key_with_an_empty_part_is_a_malformed_override(item):
    with pytest.raises(ConfigError) as err:
        load_run_config(ToyRunConfig, "toy", None, overrides=[item])
    assert str(err.value) == f"Override '{item}' must look like key.sub=value."


def test_spaces_around_a_whole_key_are_still_dropped():
    assert parse_override(" train.seed =3") == (["train", "seed"], 3)
    assert load_run_config(ToyRunConfig, "toy", None, overrides=["train.seed =3"]).train.seed == 3
