"""A config key with characters that do not show (no-break spaces pasted from a web page or a word processor, which
YAML reads as part of the key; a byte-order mark inside a file joined from two) is named with them escaped. The
sentence had printed them as they are: 'Unknown config key '  seed'' read as a key indented by two spaces, and
''data'; did you mean 'data'' as nonsense."""

from __future__ import annotations

import pytest

from zoo3d.config import load_run_config
from zoo3d.errors import ConfigError

VALID = "valid keys: model, data, train, camera, stages, generator, discriminator, loss"


def _said(tmp_path, text: str) -> str:
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec("gram")
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_run_config(spec.load().config_class, spec.name, spec.presets_dir, config_file=path)
    return str(err.value).replace(str(path), "run.yaml")


def test_a_key_indented_with_no_break_spaces_is_named_with_them_escaped(tmp_path):
    said = _said(tmp_path, "extends: tiny\ntrain:\n\u00a0\u00a0seed: 3\n")
    assert said == ("Unknown config key '\\xa0\\xa0seed' in run.yaml, a key with characters that do not show ('\\xa0'): "
                    f"retype that line ({VALID}).")


def test_a_byte_order_mark_inside_a_file_is_named_and_the_key_it_hides_is_offered(tmp_path):
    said = _said(tmp_path, "extends: tiny\ntrain:\n  seed: 3\n\ufeffdata:\n  mirror: false\n")
    assert said == ("Unknown config key '\\ufeffdata' in run.yaml, a key with characters that do not show ('\\ufeff'): "
                    f"retype that line; did you mean 'data' ({VALID}).")


def test_a_misspelt_key_that_shows_is_said_as_before(tmp_path):
    said = _said(tmp_path, "extends: tiny\ntrian:\n  seed: 3\n")
    assert said == f"Unknown config key 'trian' in run.yaml; did you mean 'train' ({VALID})."


def test_errors_md_quotes_the_sentence(tmp_path, monkeypatch, capsys, single_thread):
    from conftest import one_line_error, run_in_process
    from test_docs_errors import as_pattern, documented

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pasted.yaml").write_text("extends: tiny\ntrain:\n\u00a0\u00a0seed: 3\n", encoding="utf-8")
    code, _, err = run_in_process(capsys, "train", "gram", "--config", "pasted.yaml", "--steps", "1", "--out", "r")
    assert code == 2 and not (tmp_path / "r").exists()
    assert as_pattern(documented("zoo3d train gram --config pasted.yaml")).fullmatch(one_line_error(err))
