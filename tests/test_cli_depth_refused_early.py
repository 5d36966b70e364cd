"""``sample --depth`` and ``render --depth`` of a model that renders no depth (StyleSDF's decoder image) are refused
after its first chunk of views, not after every seed or frame was drawn for nothing (docs/errors.md)."""

from __future__ import annotations

import pytest

import toy_model
from cli_toy import toy, train_toy_run, zoo3d  # noqa: F401 (toy: a fixture)
from conftest import one_line_error
from zoo3d.core.outputs import RenderOutput

REFUSAL = "Error: Model 'toy' renders no depth, so --depth cannot be shown."


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_toy_run(tmp_path_factory, "depth_refused")


@pytest.fixture
def calls(monkeypatch):
    """The toy generator's renders, counted; each gives colour and no depth."""
    made = []
    sphere = toy_model.render_spheres

    def render(colour, radius, cameras, resolution):
        made.append(len(cameras))
        return RenderOutput(rgb=sphere(colour, radius, cameras, resolution).rgb)

    monkeypatch.setattr(toy_model, "render_spheres", render)
    return made


def test_sample_depth_is_refused_after_the_first_chunk(run, toy, calls, capsys):
    assert zoo3d("sample", run, "--seeds", "0-19", "--depth", "--out", "g.png") == 2
    assert one_line_error(capsys.readouterr().err) == REFUSAL
    assert calls == [8] and not (toy / "g.png").exists()  # 8 of the 20 views drawn, nothing written
    assert zoo3d("sample", run, "--seeds", "0-19", "--out", "g.png") == 0  # without --depth: every view
    assert calls[1:] == [8, 8, 4]


@pytest.mark.parametrize("depth", ["side", "separate"])
def test_render_depth_is_refused_after_the_first_chunk(run, toy, calls, capsys, depth):
    assert zoo3d("render", run, "--frames", "20", "--depth", depth, "--out", "t.gif") == 2
    assert one_line_error(capsys.readouterr().err) == REFUSAL
    assert calls == [8] and sorted(p.name for p in toy.iterdir()) == []
