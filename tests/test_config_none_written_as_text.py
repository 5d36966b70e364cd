"""``--set train.micro_batch=None`` (Python's word) is text in YAML, so an optional key refuses it as a bad number;
the sentence then says how to write none (``null``), which the key takes. A key that takes no null gets no such
advice."""

from __future__ import annotations

import pytest
from test_config import ToyRunConfig

from zoo3d.config import load_run_config
from zoo3d.errors import ConfigError


def _said(item: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_run_config(ToyRunConfig, "toy", None, overrides=[item])
    return str(err.value)


@pytest.mark.parametrize("word", ["None", "none", "NIL"])
def test_an_optional_key_given_a_word_for_none_is_told_to_write_null(word):
    assert _said(f"train.micro_batch={word}") == (
        f"Invalid value '{word}' for config key 'train.micro_batch': input should be a valid integer, unable to parse "
        f"string as an integer; write null for none.")
    assert load_run_config(ToyRunConfig, "toy", None, overrides=["train.micro_batch=null"]).train.micro_batch is None


def test_an_optional_key_of_a_stage_is_told_too():
    assert _said("stages.main.ema_decay=None") == (
        "Invalid value 'None' for config key 'stages.main.ema_decay': input should be a valid number, unable to parse "
        "string as a number; write null for none.")


def test_a_key_that_takes_no_null_or_other_text_gets_no_advice():
    assert _said("train.seed=None") == ("Invalid value 'None' for config key 'train.seed': input should be a valid "
                                        "integer, unable to parse string as an integer.")
    assert _said("train.micro_batch=many") == ("Invalid value 'many' for config key 'train.micro_batch': input should "
                                               "be a valid integer, unable to parse string as an integer.")
