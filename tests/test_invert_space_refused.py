"""``zoo3d invert --method optimize --space w|w+`` into a model whose generator has no W space (GRAM-HD, the
toy) is refused in one sentence naming the model, the spaces it has and what to give, before any image is read or
anything is written."""

from __future__ import annotations

import pytest

from conftest import run_in_process as zoo3d
from test_cli_invert_options import sphere  # noqa: F401 (a fixture)
from test_invert_cli import toy_image  # noqa: F401 (a fixture)


@pytest.mark.parametrize("space", ["w", "w+"])
def test_a_space_the_generator_lacks_is_refused_naming_the_model(sphere, tmp_path, capsys, monkeypatch, space):
    import zoo3d.cli.invert as cli

    read = []
    monkeypatch.setattr(cli, "_check_images", lambda *args: read.append(args))
    code, out, err = zoo3d(capsys, "invert", sphere, "--model", "toy_procedural", "--method", "optimize",
                           "--pose", "0,0", "--space", space, "--out", "o")
    assert code == 2 and err.strip() == (
        f"Error: Model 'toy_procedural' can be inverted in z only, not --space {space}: its generator exposes no W "
        f"space (zoo3d.invert.SupportsLatentSpaces); give --space z or auto.")
    assert read == [] and not (tmp_path / "o").exists()
