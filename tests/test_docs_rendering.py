"""docs/rendering.md's constructor lines against the renderers' signatures.

The page opens each renderer's section with ``Renderer(every keyword=its default, …).render(its arguments)``;
the line is read as the Python call it is written as and compared, name by name and default by default, with
``inspect.signature`` of ``__init__`` and ``render``; so are the ``grid_manifolds(…)`` and ``TexturedManifolds(…)``
calls that open the texture section. A keyword added, renamed or given another default in the code, and not on the
page, fails here.
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


def documented_inline_call(section: str, name: str) -> ast.Call:
    """The first inline ``name(...)`` call the prose under ``## section`` writes, where it introduces ``name``
    (``grid_manifolds(rep, resolution, …)``; a later ``name(..., align_corners=False)`` is an example)."""
    body = RENDERING_MD.read_text(encoding="utf-8").split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    spans = [span for span in re.findall(r"`([^`]+)`", body) if span.startswith(f"{name}(")]
    assert spans, f"rendering.md's {section} writes no {name}(...)"
    call = ast.parse(spans[0], mode="eval").body
    assert isinstance(call, ast.Call) and call.func.id == name
    return call


@pytest.mark.parametrize("name", ["grid_manifolds", "TexturedManifolds"])
def test_the_texture_sections_calls_are_the_signatures(name):
    """The gridding and texture calls are written with every keyword and its default; ``batch_size``, which
    decides how many instances a representation without a ``batch_size`` of its own is gridded for, was not."""
    import zoo3d.render

    target = getattr(zoo3d.render, name)
    params = (in_code(target.__init__) if isinstance(target, type)
              else [(p.name, p.default) for p in inspect.signature(target).parameters.values()])
    assert as_written(documented_inline_call("Texture mode and manifold gridding", name)) == params
