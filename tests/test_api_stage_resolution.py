"""A recipe stage built without a resolution reads no real images: the shared GAN phases say so in one sentence.

docs/plugins.md tells a plugin to build each stage with ``Stage.from_config(config.stage(name), phases,
stage_optimizers(...), resolution=R)``. A stage built without ``resolution`` (and whose stage config sets none) gets no
real batch (``ctx.real`` is None); the discriminator phase of ``gan_phases`` then stops ``zoo3d train`` with the
sentence below instead of an AttributeError traceback. The model here is the example plugin's ``blobs`` with its
recipe built that way; built as the page writes it, it trains.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, one_line_error, run_in_process

pytestmark = pytest.mark.usefixtures("single_thread")

SENTENCE = ("Error: Stage 'gan' reads real images but was built without a resolution to read them at; the model's "
            "stages() should pass Stage.from_config(..., resolution=R) (docs/plugins.md, Configs and presets).")

PLUGIN = '''
from zoo3d import hookimpl
from zoo3d.core import Stage, stage_optimizers
from zoo3d.specs import ModelSpec
from zoo3d.train.gan import GANParts, adversarial_loss, gan_phases, lazy_r1_interval
from zoo3d_blobs import HERE
from zoo3d_blobs.model import BlobsModel, render_fakes


class Recipe(BlobsModel):
    with_resolution = WITH

    def stages(self, config):
        stage = config.stage("gan")
        loss = adversarial_loss(config.stage_loss("gan"))
        phases = gan_phases(loss, GANParts(fakes=render_fakes))
        optimizers = stage_optimizers(stage, {"generator": ["generator"], "discriminator": ["discriminator"]},
                                      lazy_every={"discriminator": lazy_r1_interval(loss)})
        rest = {"resolution": config.generator.resolution} if self.with_resolution else {}
        return [Stage.from_config(stage, phases, optimizers, **rest)]


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(name="recipe", factory="zoo3d_recipe:Recipe", presets_dir=HERE / "presets"))
'''


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    """The plugin module ``zoo3d_recipe`` (``with_resolution`` as asked), importable, runs under tmp_path; zoo3d's
    command group as it was afterwards.

    The example's package is linked into tmp_path rather than its folder put on sys.path: an install of the example
    leaves its ``.egg-info`` there, whose entry point would load the example as a plugin and add its command."""
    from zoo3d.cli.main import cli
    from zoo3d.plugins import reset_host

    def install(with_resolution: bool) -> None:
        (tmp_path / "zoo3d_recipe.py").write_text(textwrap.dedent(PLUGIN).replace("WITH", str(with_resolution)))
        if not (tmp_path / "zoo3d_blobs").exists():
            (tmp_path / "zoo3d_blobs").symlink_to(REPO / "examples" / "zoo3d-example-plugin" / "zoo3d_blobs")
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setenv("ZOO3D_PLUGINS", "zoo3d_recipe")
        monkeypatch.chdir(tmp_path)
        reset_host()

    commands = dict(cli.commands)
    yield install
    cli.commands.clear()
    cli.commands.update(commands)
    for name in ("zoo3d_recipe", "zoo3d_blobs", "zoo3d_blobs.model"):
        sys.modules.pop(name, None)


def test_a_stage_without_resolution_is_refused_in_one_sentence(recipe, capsys):
    recipe(with_resolution=False)
    code, _, err = run_in_process(capsys, "train", "recipe", "--steps", "1", "--out", "run", "--quiet")
    assert code == 2 and one_line_error(err) == SENTENCE
    assert not list(Path("run").glob("checkpoints/*.safetensors"))


def test_the_same_recipe_with_the_pages_resolution_trains(recipe, capsys):
    recipe(with_resolution=True)
    code, out, err = run_in_process(capsys, "train", "recipe", "--steps", "1", "--out", "run", "--quiet")
    assert code == 0, err
    assert [p.name for p in Path("run/checkpoints").glob("*.safetensors")] == ["step_000000001.safetensors"]


def test_plugins_md_builds_stages_with_their_resolution():
    page = re.sub(r"\s+", " ", (REPO / "docs" / "plugins.md").read_text(encoding="utf-8"))
    call = re.search(r"`(Stage\.from_config\(config\.stage\(name\), [^`]*)`", page)
    assert call and "resolution=" in call.group(1), "plugins.md builds its stages without a resolution"
    errors = re.sub(r"\s+", " ", (REPO / "docs" / "errors.md").read_text(encoding="utf-8"))
    assert SENTENCE.removeprefix("Error: ") in errors
