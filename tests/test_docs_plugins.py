"""docs/plugins.md's "complete minimal plugin", built from the page's own blocks and loaded as the page says.

The ``pyproject.toml`` and ``zoo3d_hello/__init__.py`` blocks are written to a folder as they stand; with the
folder on ``sys.path`` and ``ZOO3D_PLUGINS=zoo3d_hello`` (the page's way without installing), ``zoo3d models``
lists the model under the page's summary, ``zoo3d hello`` says hello, and ``zoo3d train hello`` -- whose
``model.py`` the page leaves to the example plugin -- stops with the sentence docs/errors.md gives for a model
whose code does not import.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import one_line_error, run_in_process

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _block_after(text: str, marker: str, language: str) -> str:
    """The first ``language`` block after the line that holds ``marker``."""
    return re.search(rf"```{language}\n(.*?)```", text.split(marker, 1)[1], re.S).group(1)


@pytest.fixture
def hello(tmp_path, monkeypatch):
    """The page's package under tmp_path, importable and named in ZOO3D_PLUGINS; zoo3d's command group as it
    was afterwards (the plugin's command is added to the process-wide group)."""
    from zoo3d.cli.main import cli
    from zoo3d.plugins import reset_host

    page = (DOCS / "plugins.md").read_text(encoding="utf-8")
    section = page.split("## A complete minimal plugin", 1)[1]
    pyproject = tomllib.loads(_block_after(section, "`pyproject.toml`:", "toml"))
    package = pyproject["project"]["entry-points"]["zoo3d"]["hello"]
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text(_block_after(section, f"`{package}/__init__.py`", "python"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", package)
    monkeypatch.chdir(tmp_path)
    commands = dict(cli.commands)
    reset_host()
    yield package, section
    cli.commands.clear()
    cli.commands.update(commands)
    sys.modules.pop(package, None)


def test_the_pages_plugin_registers_its_model_and_command(hello, capsys):
    package, section = hello
    summary = re.search(r'summary="([^"]*)"', section).group(1)
    code, out, _ = run_in_process(capsys, "models", "--json")
    assert code == 0
    [row] = [m for m in json.loads(out) if m["name"] == "hello"]
    assert (row["plugin"], row["kind"], row["summary"], row["status"]) == (package, "generator", summary, "ok")
    message = re.search(r'click\.echo\("([^"]*)"\)', section).group(1)
    assert run_in_process(capsys, "hello") == (0, message + "\n", "")
    assert "torch" not in _block_after(section, f"`{package}/__init__.py`", "python")   # "keep it import-light"


def test_training_it_without_its_model_module_gives_the_errors_md_sentence(hello, capsys):
    package, _ = hello
    page = re.sub(r"\s+", " ", (DOCS / "errors.md").read_text(encoding="utf-8"))   # sentences wrap over lines
    shape = re.search(r"`(Model 'mine' from plugin 'zoo3d_mine' cannot be loaded from 'zoo3d_mine\.model:Mine': "
                      r"ModuleNotFoundError: No module named )'scipyy'\.`", page)
    assert shape, "errors.md's sentence for a model whose code fails to import is gone"
    expected = shape.group(1).replace("'mine'", "'hello'").replace("zoo3d_mine", package)
    expected = expected.replace(":Mine", ":HelloModel") + f"'{package}.model'."
    code, _, err = run_in_process(capsys, "train", "hello", "--steps", "1")
    assert code == 2 and one_line_error(err) == "Error: " + expected
    assert not Path("runs").exists()
