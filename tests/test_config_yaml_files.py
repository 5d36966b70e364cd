"""How config files are read and written: the YAML 1.2 core schema's plain forms resolve to their tags, a file
that cannot be read is one sentence naming the file (and the line, where YAML knows it), and a dumped config
keeps its keys in the order written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from zoo3d.config import parse_override
from zoo3d.config_base import _resolve_core_schema, dump_yaml, load_yaml, read_yaml
from zoo3d.errors import ConfigError

INT, FLOAT, BOOL, NULL, STR = (f"tag:yaml.org,2002:{t}" for t in ("int", "float", "bool", "null", "str"))


@pytest.mark.parametrize("text, tag", [
    ("true", BOOL), ("FALSE", BOOL), ("no", STR), ("on", STR),
    ("010", INT), ("-7", INT), ("0o17", INT), ("0x1f", INT), ("1_000", STR), ("1:30", STR),
    ("1e-3", FLOAT), ("-.5", FLOAT), (".inf", FLOAT), (".NaN", FLOAT), ("1.2.3", STR),
    ("null", NULL), ("~", NULL), ("", NULL), ("nil", STR), ("2024-01-02", STR),
])
def test_a_fresh_loader_given_the_core_schema_resolves_its_plain_forms(text, tag):
    """YAML 1.2's core schema (spec 10.3.2) written out as tags: the resolvers alone decide them, on a loader
    that starts with none."""
    class Bare(yaml.SafeLoader):
        yaml_implicit_resolvers: dict = {}

    _resolve_core_schema(Bare)
    node = yaml.compose(f"k: {text}\n", Loader=Bare).value[0][1]
    assert node.tag == tag


def test_a_mapping_merged_with_the_core_schema_resolver():
    class Bare(yaml.SafeLoader):
        yaml_implicit_resolvers: dict = {}

    _resolve_core_schema(Bare)
    assert yaml.load("a: &a {x: 1}\nb: {<<: *a, y: 2}\n", Loader=Bare)["b"] == {"x": 1, "y": 2}


def test_an_explicit_int_tag_on_text_is_a_yaml_error_that_says_which_text_and_where():
    """``!!int abc`` is refused by the core-schema integer, with the text as the problem and the place as its mark
    (which a config file's sentence turns into a line number)."""
    with pytest.raises(yaml.constructor.ConstructorError) as err:
        load_yaml("a: 1\nb: !!int abc\n")
    assert err.value.problem == "'abc' is not an integer" and err.value.context is None
    assert err.value.problem_mark is not None and err.value.problem_mark.line == 1


def test_a_set_value_with_an_explicit_int_tag_on_text_names_the_problem():
    with pytest.raises(ConfigError) as err:
        parse_override("train.seed=[!!int abc]")
    assert str(err.value) == ("Override 'train.seed=[!!int abc]': the value '[!!int abc]' is not valid YAML "
                              "('abc' is not an integer).")


def test_a_dumped_mapping_keeps_the_order_its_keys_were_written_in():
    """A run's config.yaml lists its sections as the config class does, not alphabetically."""
    assert dump_yaml({"train": {"seed": 1, "amp": True}, "data": {"spec": "x"}}) == \
        "train:\n  seed: 1\n  amp: true\ndata:\n  spec: x\n"


def _said(path, what=None) -> str:
    with pytest.raises(ConfigError) as err:
        read_yaml(path) if what is None else read_yaml(path, what)
    return str(err.value)


def test_a_missing_file_is_named_as_a_config_file_or_as_what_the_caller_says(tmp_path):
    missing = tmp_path / "nope.yaml"
    assert _said(missing) == f"Config file '{missing}' does not exist."
    assert _said(missing, "Model card") == f"Model card '{missing}' does not exist."


@pytest.mark.parametrize("text, line", [
    ("a: 1\nb: [1, 2\n", 3),            # the parser reaches the end of the file still inside the list
    ("a: 1\nb: 2\nc: !!int abc\n", 3),   # the core-schema integer's own error
])
def test_a_file_that_is_not_yaml_is_named_with_the_line_of_its_problem(tmp_path, text, line):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert _said(path) == f"Config file '{path}' is not valid YAML at line {line}."


def test_a_yaml_error_without_a_place_names_the_file_without_a_line(tmp_path):
    """A character YAML does not allow in a stream is refused by the reader before any place is known."""
    path = tmp_path / "bell.yaml"
    path.write_text("a: \x07\n")
    assert _said(path) == f"Config file '{path}' is not valid YAML."


def test_a_file_that_holds_no_mapping_is_one_sentence(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    assert _said(path, "Model card") == f"Model card '{path}' must hold a mapping of keys to values."


def test_an_empty_file_is_an_empty_mapping(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing set\n")
    assert read_yaml(path) == {}


def test_a_file_the_system_will_not_read_is_one_sentence_with_the_system_s_reason(tmp_path, monkeypatch):
    """Root reads any file, so the refusal is made where the text is read: the sentence names the file, in lower
    case after 'Cannot read', and the reason the system gave, not the exception's whole text."""
    path = tmp_path / "locked.yaml"
    path.write_text("a: 1\n")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert _said(path, "Model card") == f"Cannot read model card '{path}': Permission denied."


def test_a_dumped_config_writes_a_path_an_enum_and_a_tuple_as_plain_yaml():
    """dump_config writes plain types only: a ``Path`` or an ``Enum`` setting (a plugin's config may hold either)
    as its text, a pair as a list; PyYAML's safe dumper refuses the objects themselves."""
    import enum

    from pydantic import Field

    from zoo3d.config import Config, dump_config

    class Speed(enum.Enum):
        fast = "fast"

    class Plain(Config):
        out: Path = Path("runs/a")
        speed: Speed = Speed.fast
        pair: tuple[float, float] = (0.0, 0.9)
        sizes: list[int] = Field(default_factory=lambda: [1, 2])

    assert dump_config(Plain()) == "out: runs/a\nspeed: fast\npair:\n- 0.0\n- 0.9\nsizes:\n- 1\n- 2\n"
