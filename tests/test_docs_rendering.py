"""docs/rendering.md's constructor lines against the renderers' signatures.

The page opens each renderer's section with ``Renderer(every keyword=its default, …).render(its arguments)``;
the line is read as the Python call it is written as and compared, name by name and default by default, with
``inspect.signature`` of ``__init__`` and ``render``. A keyword added, renamed or given another default in the
code, and not on the page, fails here.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from zoo3d.render import ManifoldRenderer, VolumeRenderer

RENDERING_MD = Path(__file__).resolve().parents[1] / "docs" / "rendering.md"


def documented_call(section: str) -> ast.Call:
    """The ``Name(...).render(...)`` call in the first python block under the heading ``## section``."""
    text = RENDERING_MD.read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1]
    block = re.search(r"```python\n(.*?)```", body, re.S).group(1)
    call = ast.parse(block.strip(), mode="eval").body
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "render"
    return call


def as_written(call: ast.Call) -> list[tuple[str, object]]:
    """(name, default) per argument of a written call; a bare name has no default (``inspect.Parameter.empty``)."""
    out = [(arg.id, inspect.Parameter.empty) for arg in call.args]
    return out + [(kw.arg, ast.literal_eval(kw.value)) for kw in call.keywords]


def in_code(function) -> list[tuple[str, object]]:
    params = list(inspect.signature(function).parameters.values())[1:]   # without self
    return [(p.name, p.default) for p in params]


@pytest.mark.parametrize("renderer", [ManifoldRenderer, VolumeRenderer], ids=lambda c: c.__name__)
def test_the_pages_constructor_and_render_lines_are_the_signatures(renderer):
    render_call = documented_call(renderer.__name__)
    constructor = render_call.func.value
    assert isinstance(constructor, ast.Call) and constructor.func.id == renderer.__name__
    assert as_written(constructor) == in_code(renderer.__init__)
    assert as_written(render_call) == in_code(renderer.render)


def test_a_written_call_reads_as_names_and_defaults():
    call = ast.parse("R(a=1, b=None, c='x').render(rep, cams, k=2.5)", mode="eval").body
    assert as_written(call.func.value) == [("a", 1), ("b", None), ("c", "x")]
    assert as_written(call) == [("rep", inspect.Parameter.empty), ("cams", inspect.Parameter.empty), ("k", 2.5)]
