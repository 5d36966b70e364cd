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
