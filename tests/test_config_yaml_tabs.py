"""A tab in a config file, which editors show as spaces, is refused naming its line and column and saying what to do.
The sentence had ended at the line number, so a file that looked right on screen was 'not valid YAML' without a
reason. PyYAML takes no tab in indentation, nor before a value or a comment."""

from __future__ import annotations

import pytest

from conftest import one_line_error, run_in_process
from zoo3d.config import read_yaml
from zoo3d.errors import ConfigError

SAID = "where the YAML reader takes only spaces (to indent, and around values and comments); replace it with spaces."


@pytest.mark.parametrize("text, line, column", [
    ("extends: tiny\ntrain:\n\tseed: 3\n", 3, 1),      # the Tab key indenting a key
    ("train:\n  seed:\t3\n", 2, 8),                      # a tab between a key and its value
    ("train:\n  seed: 3\t# my seed\n", 2, 10),           # a tab aligning a comment
    ("train:\n  sample_seeds: [0,\t1]\n", 2, 20),        # a tab inside a list
])
def test_a_tab_is_named_by_its_line_and_column(tmp_path, text, line, column):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    assert text.splitlines()[line - 1][column - 1] == "\t"  # the place named is the tab's
    with pytest.raises(ConfigError) as err:
        read_yaml(path)
    assert str(err.value) == (f"Config file '{path}' is not valid YAML at line {line}: it has a tab at column "
                              f"{column}, {SAID}")


def test_a_tab_inside_quoted_text_is_text(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text('data:\n  spec: "my\theads"\n')
    assert read_yaml(path) == {"data": {"spec": "my\theads"}}


def test_another_yaml_problem_is_not_said_to_be_a_tab(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  seed: [3\n")
    with pytest.raises(ConfigError) as err:
        read_yaml(path)
    assert str(err.value) == f"Config file '{path}' is not valid YAML at line 3."


def test_errors_md_quotes_the_sentence(tmp_path, monkeypatch, capsys, single_thread):
    from test_docs_errors import as_pattern, documented

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tabs.yaml").write_text("extends: tiny\ntrain:\n\tseed: 3\n")
    code, _, err = run_in_process(capsys, "train", "gram", "--config", "tabs.yaml", "--steps", "1", "--out", "r")
    assert code == 2 and not (tmp_path / "r").exists()
    assert as_pattern(documented("zoo3d train gram --config tabs.yaml")).fullmatch(one_line_error(err))
