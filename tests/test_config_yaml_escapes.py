"""A Windows path in double quotes in a config file (``spec: "C:\\data\\heads"``), where YAML reads each '\\' as the
start of an escape, is refused saying so; the sentence had ended at the line number."""

from __future__ import annotations

import pytest

from zoo3d.config import read_yaml
from zoo3d.errors import ConfigError


@pytest.mark.parametrize("value, problem, column", [
    ('"D:\\data\\heads"', "found unknown escape character 'd'", 13),                            # '\d'
    ('"C:\\Users\\me"', "expected escape sequence of 8 hexadecimal numbers, but found 's'", 14),  # '\U' + 8 hex digits
])
def test_a_backslash_in_double_quotes_is_said_to_start_an_escape(tmp_path, value, problem, column):
    path = tmp_path / "run.yaml"
    path.write_text(f"data:\n  spec: {value}\n")
    assert f"  spec: {value}"[column - 1] == problem[-2]  # the column named is that of the character YAML names
    with pytest.raises(ConfigError) as err:
        read_yaml(path)
    assert str(err.value) == (f"Config file '{path}' is not valid YAML at line 2: a '\\' in double quotes starts an "
                              f"escape ({problem}, column {column}); write a path in single quotes or with '/'.")


def test_the_same_path_in_single_quotes_is_read_as_written(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  spec: 'D:\\data\\heads'\n")
    assert read_yaml(path) == {"data": {"spec": "D:\\data\\heads"}}


def test_another_double_quoted_problem_is_not_said_to_be_an_escape(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text('data:\n  spec: "heads\n')  # the quote is never closed
    with pytest.raises(ConfigError) as err:
        read_yaml(path)
    assert "escape" not in str(err.value) and str(err.value).startswith(f"Config file '{path}' is not valid YAML")


@pytest.mark.parametrize("value, escape, what", [
    ('"C:\\new\\faces"', "n", "a newline"),        # '\n', then '\f'
    ('"D:\\train\\faces"', "t", "a tab"),
    ('"\\\\nas\\runs\\new"', "r", "a carriage return"),  # '\\' is a backslash, then '\r' and '\n'
])
def test_a_path_whose_escape_makes_a_character_that_does_not_show_is_refused(tmp_path, value, escape, what):
    """A valid escape had been read silently: '"C:\\new\\faces"' became 'C:', a newline, 'ew', a form feed and
    'aces', and the run was refused for a dataset that does not exist (or its path stored so)."""
    path = tmp_path / "run.yaml"
    path.write_text(f"extends: tiny\ndata:\n  spec: {value}\n")
    with pytest.raises(ConfigError) as err:
        read_yaml(path)
    assert str(err.value) == (f"Config file '{path}' has {value} in double quotes at line 3, where YAML reads "
                              f"'\\{escape}' as {what}; write a path in single quotes or with '/'.")


@pytest.mark.parametrize("text, line", [
    ('data:\n  spec: heads\nruns:\n  - ok\n  - "C:\\new"\n', 5),  # an item of a list
    ('runs: ["ok", "C:\\new"]\n', 1),                                 # of a list in brackets
    ('data:\n  "C:\\new": 1\n', 2),                                   # a key
], ids=["list", "flow-list", "key"])
def test_an_escape_in_a_list_or_a_key_is_refused_too(tmp_path, text, line):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        read_yaml(path)
    assert str(err.value) == (f"Config file '{path}' has \"C:\\new\" in double quotes at line {line}, where YAML "
                              f"reads '\\n' as a newline; write a path in single quotes or with '/'.")


def test_escapes_that_give_characters_that_show_are_read_as_yaml_says(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text('data:\n  spec: "C:\\\\data\\\\faces"\nmodel: "caf\\u00e9"\n')
    assert read_yaml(path) == {"data": {"spec": "C:\\data\\faces"}, "model": "café"}


def test_a_model_cards_notes_may_break_a_line_with_an_escape(tmp_path):
    """A model card holds prose (summary, notes), where '\\n' in double quotes is a line break meant."""
    from zoo3d.cards import load_card

    path = tmp_path / "toy.yaml"
    path.write_text('name: toy\nsummary: "first line\\nsecond line"\n')
    assert load_card(path).summary == "first line\nsecond line"
