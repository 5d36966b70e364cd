"""A text key given a value YAML reads as a number or a boolean (``--set data.spec=2024``, a folder so named, or
``generator.lowres_run=true``) is refused with what to do, quote it (docs/training.md, "How values are read"), not
with pydantic's "input should be a valid string" alone; the quoted value is then taken as the text it is."""

from __future__ import annotations

import pytest

from zoo3d.config import load_run_config
from zoo3d.errors import ConfigError
from zoo3d.plugins import get_model_spec

QUOTE = "quote the value to keep it text (YAML reads it as a"


def _config(model: str, overrides=(), config_file=None):
    spec = get_model_spec(model)
    return load_run_config(spec.load().config_class, spec.name, spec.presets_dir, None, config_file, list(overrides),
                           default_preset=spec.default_preset)


@pytest.mark.parametrize("model, item, said", [
    ("gram", "data.spec=2024", f"Invalid value 2024 for config key 'data.spec': input should be a valid string; "
                               f"{QUOTE} number)."),
    ("gram", "data.spec=1e3", f"Invalid value 1000.0 for config key 'data.spec': input should be a valid string; "
                              f"{QUOTE} number)."),
    ("gram_hd", "generator.lowres_run=true", "Invalid value True for config key 'generator.lowres_run': input should "
                                             f"be a valid string; {QUOTE} boolean)."),
])
def test_text_read_as_a_number_or_boolean_is_refused_with_the_quoting_that_keeps_it(model, item, said):
    with pytest.raises(ConfigError) as exc:
        _config(model, [item])
    assert str(exc.value) == said
    key, value = item.split("=")
    quoted = _config(model, [f'{key}="{value}"'])  # what the sentence says to do
    section, name = key.split(".")
    assert getattr(getattr(quoted, section), name) == value


def test_the_same_in_a_config_file_names_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  spec: 2024\n")
    with pytest.raises(ConfigError) as exc:
        _config("gram", config_file=path)
    assert str(exc.value) == (f"Invalid value 2024 for config key 'data.spec' in {path}: input should be a valid "
                              f"string; {QUOTE} number).")


def test_a_number_key_given_text_is_not_told_to_quote():
    with pytest.raises(ConfigError) as exc:
        _config("gram", ["train.seed=abc"])
    assert "quote" not in str(exc.value) and "'train.seed'" in str(exc.value)
