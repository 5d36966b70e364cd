"""A config file saved on Windows is read as the same config: UTF-8 with Notepad's byte-order mark, Windows line
endings (CRLF), and UTF-16 or UTF-32 text that starts with its byte-order mark (Windows PowerShell 5's ``>`` and
``Out-File`` save UTF-16), which was refused as not UTF-8 text. Text without a mark in another encoding is still
refused."""

from __future__ import annotations

import pytest

from zoo3d.config import load_run_config, read_yaml
from zoo3d.errors import ConfigError

TEXT = ("# a run of mine, café\nextends: tiny\ntrain:\n  seed: 7\n  log_every: 5\n"
        "data:\n  spec: 'synthetic:heads?count=9'\n")
MEANT = {"extends": "tiny", "train": {"seed": 7, "log_every": 5}, "data": {"spec": "synthetic:heads?count=9"}}


@pytest.mark.parametrize("encoding, newline, mark", [
    ("utf-8", "\n", True), ("utf-8", "\r\n", False), ("utf-8", "\r\n", True),  # Notepad, with and without its mark
    ("utf-16-le", "\r\n", True),  # Windows PowerShell 5's `>` and Out-File: UTF-16 LE with its mark
    ("utf-16-be", "\n", True), ("utf-32-le", "\n", True), ("utf-32-be", "\n", True),
])
def test_a_file_in_a_windows_encoding_or_line_ending_holds_what_it_says(tmp_path, encoding, newline, mark):
    """The byte order is named and the mark written by hand, so the bytes are the same on every machine (Python's
    'utf-16' and 'utf-32' codecs write the machine's own order)."""
    text = TEXT.replace("\n", newline)
    path = tmp_path / "run.yaml"
    path.write_bytes((("\ufeff" if mark else "") + text).encode(encoding))
    assert read_yaml(path) == MEANT


def test_a_utf16_config_file_loads_as_the_config_it_holds(tmp_path):
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec("gram")
    path = tmp_path / "run.yaml"
    path.write_bytes(("\ufeff" + TEXT.replace("\n", "\r\n")).encode("utf-16-le"))
    cfg = load_run_config(spec.load().config_class, spec.name, spec.presets_dir, config_file=path)
    tiny = load_run_config(spec.load().config_class, spec.name, spec.presets_dir, preset="tiny")
    assert cfg.train.seed == 7 and cfg.train.log_every == 5 and cfg.data.spec == "synthetic:heads?count=9"
    assert cfg.generator == tiny.generator  # the rest is the preset it extends


@pytest.mark.parametrize("data", [
    "train:\n  seed: 7 # café\n".encode("cp1252"),  # Windows-1252 text: not UTF-8, and no mark says what it is
    b"\xff\xfe" + "train:\n  seed: 7\n".encode("utf-16-le")[:-1],  # UTF-16 cut in the middle of a character
])
def test_text_that_is_neither_utf8_nor_marked_utf16_or_utf32_is_refused(tmp_path, data):
    path = tmp_path / "run.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as err:
        read_yaml(path)
    assert str(err.value) == f"Config file '{path}' is not UTF-8 text."


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_or_utf32_text_without_a_byte_order_mark_is_told_by_its_nul_bytes(tmp_path, encoding):
    """YAML 1.2 (5.2): a stream's first character is ASCII, so the NUL bytes beside it tell UTF-16 and UTF-32 and
    their byte order. Such a file had been read as UTF-8 (a NUL byte is UTF-8) and refused as 'not valid YAML'."""
    path = tmp_path / "run.yaml"
    path.write_bytes(TEXT.replace("\n", "\r\n").encode(encoding))
    assert read_yaml(path) == MEANT
