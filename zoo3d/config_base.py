"""The base of every config section and reading configs: YAML files and validation errors, each as one sentence.

Kept free of torch, so that the commands that only read configs and model cards (``zoo3d models``) start fast.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from zoo3d.errors import ConfigError, closest, shown_name

C = TypeVar("C", bound="Config")


class Config(BaseModel):
    """Base of every zoo3d config section: unknown keys are errors, and so are infinite and NaN numbers (no setting
    means infinity: one that can be off takes None; a NaN passes no bound and would train or report nonsense)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(), allow_inf_nan=False)


class CoreSchemaLoader(yaml.SafeLoader):
    """PyYAML's safe loader reading plain values as YAML 1.2's core schema does, not as YAML 1.1: only ``true``
    and ``false`` (in any case) are booleans, so ``no``, ``yes``, ``on`` and ``off`` are text; integers are
    decimal (``010`` is 10; ``0o17`` and ``0x1f`` spell octal and hex), so ``1:30`` and ``1_000`` are text, not 90
    and 1000; ``1e-3`` is a number; a date is text. ``null``, ``~`` and nothing are None; ``<<`` merges a mapping.
    """

    yaml_implicit_resolvers: dict = {}  # none of YAML 1.1's: CORE_SCHEMA's below

    def construct_mapping(self, node, deep=False):
        """A mapping, refused with :class:`DuplicateKey` when it gives one key twice (YAML requires keys to be
        unique; PyYAML would keep the later value, so a second ``train:`` section would silently drop the
        first's keys). A key a ``<<`` merge brings in may be given again: that is what a merge is for."""
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first.setdefault(key, key_node)
                except TypeError:  # an unhashable key: the base class says what is wrong with it
                    continue
                if earlier is not key_node:
                    raise DuplicateKey(key, earlier.start_mark, key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


class DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping that gives ``key`` twice, first at ``first_mark``, again at ``problem_mark``."""

    def __init__(self, key: Any, first_mark, mark):
        super().__init__(None, None, f"the key {key!r} is given twice", mark)
        self.key, self.first_mark = key, first_mark


#: YAML 1.2's core schema: (tag, pattern, the characters a value of it can start with)
CORE_SCHEMA = (
    ("bool", r"[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]", "tTfF"),
    ("int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    ("float", r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
     "-+.0123456789"),
    ("null", r"null|Null|NULL|~|", ["n", "N", "~", ""]),
    ("merge", r"<<", "<"),
)


def _resolve_core_schema(cls: type) -> None:
    """Make the loader or dumper ``cls`` resolve plain values of the core schema's forms to their types."""
    for tag, pattern, first in CORE_SCHEMA:
        cls.add_implicit_resolver(f"tag:yaml.org,2002:{tag}", re.compile(f"^(?:{pattern})$"), list(first))


def _core_int(loader: CoreSchemaLoader, node: yaml.ScalarNode) -> int:
    """A core-schema integer: decimal whatever its leading zeros, or ``0o``/``0x`` octal and hex."""
    text = loader.construct_scalar(node)
    try:
        return int(text, 0) if text.startswith(("0o", "0x")) else int(text, 10)
    except ValueError:  # an explicit !!int on text that is none
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not an integer", node.start_mark) from None


_resolve_core_schema(CoreSchemaLoader)
CoreSchemaLoader.add_constructor("tag:yaml.org,2002:int", _core_int)


class BothSchemasDumper(yaml.SafeDumper):
    """PyYAML's safe dumper that quotes every text a YAML 1.1 or a YAML 1.2 reader would take for something else
    (``no`` and ``1e3`` alike), so a config file it writes reads back the same in zoo3d, older zoo3d and other
    tools."""


_resolve_core_schema(BothSchemasDumper)  # on top of YAML 1.1's, which it keeps


def load_yaml(text: str) -> Any:
    """``text`` read as YAML with :class:`CoreSchemaLoader` (how config files and ``--set`` values are read)."""
    return yaml.load(text, Loader=CoreSchemaLoader)


def dump_yaml(data: Any) -> str:
    """``data`` (plain types) as YAML text that YAML 1.1 and 1.2 readers read back the same, keys in order."""
    return yaml.dump(data, Dumper=BothSchemasDumper, sort_keys=False)


#: byte-order marks of the encodings YAML streams may have besides UTF-8 (YAML 1.2, 5.2), UTF-32's first: its
#: little-endian mark starts with UTF-16's
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def _unmarked_codec(raw: bytes) -> str | None:
    """The encoding of a YAML stream without a byte-order mark that is UTF-16 or UTF-32, or None (UTF-8): as YAML 1.2
    (5.2) tells them, by the NUL bytes around its first character, which is ASCII. Such text had been read as UTF-8
    (a NUL byte is UTF-8), and refused as 'not valid YAML' without a word of why."""
    head = raw[:4]
    if len(head) == 4 and head[:3] == b"\0\0\0":
        return "utf-32-be"
    if len(head) == 4 and head[1:] == b"\0\0\0":
        return "utf-32-le"
    if len(head) >= 2 and head[0] == 0:
        return "utf-16-be"
    if len(head) >= 2 and head[1] == 0:
        return "utf-16-le"
    return None


def _yaml_text(path: Path) -> str:
    """The text of the YAML file ``path``: UTF-8 (a UTF-8 byte-order mark, Notepad's, is skipped by the YAML reader),
    or UTF-16 or UTF-32 where the file starts with its byte-order mark, as Windows PowerShell 5's ``>`` and
    ``Out-File`` save text (that had been refused as not UTF-8), or without one (:func:`_unmarked_codec`). A
    UnicodeDecodeError for anything else."""
    raw = path.read_bytes()
    codec = next((codec for bom, codec in _BOMS if raw.startswith(bom)), None) or _unmarked_codec(raw)
    return raw.decode(codec or "utf-8")


#: what YAML makes of the escapes in double quotes that give a character that does not show (YAML 1.2, 5.7)
_CONTROL_ESCAPES = {"n": "a newline", "t": "a tab", "r": "a carriage return", "f": "a form feed", "b": "a backspace",
                    "a": "a bell", "v": "a vertical tab", "e": "an escape character", "0": "a NUL character",
                    "N": "a next-line character"}


def _escaped_control(text: str) -> tuple[int, str, str] | None:
    """(line, the double-quoted value as written, its escape) of the first value in double quotes whose escape gives a
    character that does not show, as a Windows path does (``"C:\\new\\faces"`` reads as 'C:', a newline, 'ew', a
    form feed, 'aces'), or None."""
    def scalars(node):
        if isinstance(node, yaml.ScalarNode):
            yield node
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                yield from scalars(item)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                yield from scalars(key)
                yield from scalars(value)

    root = yaml.compose(text, Loader=CoreSchemaLoader)
    for node in scalars(root) if root is not None else ():
        if node.style != '"' or node.value.isprintable():
            continue
        written = text[node.start_mark.index:node.end_mark.index]
        escape = next((e for e in re.findall(r"\\(.)", written) if e in _CONTROL_ESCAPES), None)  # '\\' is a pair
        if escape is not None:
            return node.start_mark.line + 1, written, escape
    return None


def read_yaml(path: str | Path, what: str = "Config file", escapes_meant: bool = False) -> dict[str, Any]:
    """The mapping a YAML file holds; anything else (missing, unreadable, not UTF-8, UTF-16 or UTF-32 text, not YAML,
    not a mapping) is one :class:`ConfigError` naming the file as ``what`` (a config file, a model card). Unless its
    escapes are meant (a model card's notes, where ``"\\n"`` in double quotes is a line break; a run's ``config.yaml``,
    whose writer escapes a tab in a value), a value in double quotes whose escape makes a character that does not show
    is refused too (:func:`_escaped_control`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} '{shown_name(str(path))}' does not exist.")
    try:
        text = _yaml_text(path)
        data = load_yaml(text) or {}
        escaped = None if escapes_meant else _escaped_control(text)
    except DuplicateKey as exc:
        raise ConfigError(f"{what} '{path}' gives the key {exc.key!r} twice in one mapping, at lines "
                          f"{exc.first_mark.line + 1} and {exc.problem_mark.line + 1}; keep one.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        if mark and "'\\t'" in str(getattr(exc, "problem", "")):  # an editor's tab: invisible, say so
            where += (f": it has a tab at column {mark.column + 1}, where the YAML reader takes only spaces (to "
                      f"indent, and around values and comments); replace it with spaces")
        elif mark and getattr(exc, "context", None) == "while scanning a double-quoted scalar" and \
                "escape" in str(getattr(exc, "problem", "")):  # a Windows path in double quotes: "C:\\data\\heads"
            where += (f": a '\\' in double quotes starts an escape ({exc.problem}, column {mark.column + 1}); write a "
                      f"path in single quotes or with '/'")
        raise ConfigError(f"{what} '{path}' is not valid YAML{where}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} '{path}' is not UTF-8 text.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {what.lower()} '{path}': {exc.strerror or exc}.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} '{path}' must hold a mapping of keys to values.")
    if escaped is not None:
        line, written, escape = escaped
        raise ConfigError(f"{what} '{path}' has {shown_name(written)} in double quotes at line {line}, where YAML "
                          f"reads '\\{escape}' as {_CONTROL_ESCAPES[escape]}; write a path in single quotes or with "
                          f"'/'.")
    return data


def _model_in(annotation) -> type[BaseModel] | None:
    """The config class inside an annotation such as ``Sub``, ``Sub | None`` or ``list[Sub]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _fields_at(model_cls: type[BaseModel], loc: tuple) -> tuple[type[BaseModel] | None, list[str]]:
    """The config class reached by following ``loc`` from ``model_cls`` and its field names.

    List indices and dict keys in ``loc`` are stepped over (they select an item, not a field).
    """
    cls: type[BaseModel] | None = model_cls
    for part in loc:
        if cls is None:
            return None, []
        field_info = cls.model_fields.get(str(part))
        if field_info is None:
            continue
        cls = _model_in(field_info.annotation)
    return (cls, list(cls.model_fields)) if cls is not None else (None, [])


_ABSENT = object()


def _named_path(loc: tuple, data: Any) -> list[str]:
    """``loc`` as the user writes it: an index into a list of named items (``stages.0``) becomes the item's
    name (``stages.gram``), the form ``--set`` takes and the user typed; what pydantic adds below a value (the
    union member it tried: ``float``) is left out."""
    out, node = [], data
    for part in loc:
        item = _ABSENT
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            item = node[part]
            named = isinstance(item, dict) and isinstance(item.get("name"), str)
            out.append(item["name"] if named else str(part))
        elif isinstance(node, dict):
            item = node.get(part, _ABSENT)
            out.append(str(part))
        elif node is _ABSENT or isinstance(node, list):  # a key or index the data lacks
            out.append(str(part))
        else:
            break
        node = item
    return out


def format_validation_error(exc: ValidationError, model_cls: type[BaseModel], data: dict[str, Any],
                            origin: str = "") -> str:
    """One sentence about the first problem: the key, the bad value, and the closest valid keys."""
    errors = exc.errors()
    # A misspelt key usually also leaves a required key missing: name the misspelling first.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(str(p) for p in err["loc"])
    shown = _named_path(err["loc"], data)
    dotted = ".".join(shown)
    where = f" in {origin}" if origin else ""
    if err["type"] == "extra_forbidden":
        _, valid = _fields_at(model_cls, loc[:-1])
        hint = closest(loc[-1], valid)
        prefix = ".".join(shown[:-1])
        full = [f"{prefix}.{h}" if prefix else h for h in hint]
        did = f"; did you mean {' or '.join(repr(h) for h in full)}" if full else ""
        section = f" under '{prefix}'" if prefix else ""
        valid_txt = ", ".join(valid)
        if not dotted.isprintable():  # a no-break space pasted from a web page, a byte-order mark inside the file
            hidden = "".join(dict.fromkeys(c for c in dotted if not c.isprintable()))
            return (f"Unknown config key '{repr(dotted)[1:-1]}'{where}, a key with characters that do not show "
                    f"('{repr(hidden)[1:-1]}'): retype that line{did} (valid keys{section}: {valid_txt}).")
        return f"Unknown config key '{dotted}'{where}{did} (valid keys{section}: {valid_txt})."
    value = err.get("input")
    msg = err["msg"].rstrip(".")
    if err["type"] == "missing":
        return f"Missing config key '{dotted}'{where}."
    if not loc:  # a check across sections (a model validator): its own sentence names the keys
        return f"Invalid config{where}: {msg.removeprefix('Value error, ')}."
    if err["type"] == "value_error" and isinstance(value, dict):  # a section's own check: not its whole content
        return f"Invalid config section '{dotted}'{where}: {msg.removeprefix('Value error, ')}."
    msg = msg.removeprefix("Value error, ")
    null = "; write null for none" if _text_for_none(value) and _takes_none(model_cls, loc) else ""
    if err["type"] == "string_type" and isinstance(value, (bool, int, float)):  # a folder named 2024, a word 'true'
        null += f"; quote the value to keep it text (YAML reads it as a {_yaml_kind(value)})"
    return f"Invalid value {value!r} for config key '{dotted}'{where}: {msg[0].lower() + msg[1:]}{null}."


def _yaml_kind(value: bool | int | float) -> str:
    return "boolean" if isinstance(value, bool) else "number"


def _text_for_none(value: Any) -> bool:
    """Whether ``value`` is Python's or another language's word for nothing, which YAML reads as text."""
    return isinstance(value, str) and value.strip().lower() in ("none", "nil")


def _takes_none(model_cls: type[BaseModel], loc: tuple[str, ...]) -> bool:
    """Whether the field at ``loc`` takes None (``null``), as ``int | None`` does."""
    cls, _ = _fields_at(model_cls, loc[:-1])
    field = cls.model_fields.get(loc[-1]) if cls is not None else None
    return field is not None and type(None) in get_args(field.annotation)


def validate(config_cls: type[C], data: dict[str, Any], origin: str = "") -> C:
    try:
        return config_cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, config_cls, data, origin)) from None
