"""StyleSDF's ``import_release`` on the files the authors' code wrote (tests/fixtures/releases): what it does to the
config it is given, the notes it says, and a full release imported into a config whose decoder is off.

docs/pretrained.md (StyleSDF): "zoo3d reads its ``g_ema`` (the generator the authors render with)"; the import sets
``generator.renderer.convention: upstream``; a file holding the volume renderer only is imported with "the decoder
... turned off, images are the 64² volume renders". The model's docstring: a file without the 2D decoder turns the
decoder off. The caller's config is an input: the preset ``zoo3d import`` tries next (it tries every preset on a
file that does not fit) must not carry what the previous try set.
"""

from __future__ import annotations

import pytest
import torch

from conftest import FIXTURES, REPO
from test_parity_stylesdf import PRESETS
from zoo3d.config import load_run_config
from zoo3d.errors import UserError
from zoo3d.upstream import RELEASE_FILE, load_release
from zoo3d.upstream.importing import first_mismatch
from zoo3d_stylesdf.config import StyleSDFConfig
from zoo3d_stylesdf.model import StyleSDFModel

RELEASES = FIXTURES / "releases"
#: ffhq1024 narrowed to the release files' widths (tests/fixtures/releases/README.md)
NARROW = ["generator.renderer.z_dim=16", "generator.renderer.width=16", "generator.renderer.depth=3",
          "generator.renderer.resolution=64", "generator.decoder.output_resolution=128", "generator.decoder.w_dim=32",
          "generator.decoder.channel_multiplier=2", "generator.decoder.max_channels=16"]
G_EMA_NOTE = "weights from 'g_ema' (the EMA generator upstream renders with)"


def _config(*more: str) -> StyleSDFConfig:
    return load_run_config(StyleSDFConfig, "stylesdf", PRESETS, "ffhq1024", overrides=NARROW + list(more))


@pytest.fixture(scope="module")
def releases() -> dict:
    return {name: load_release(RELEASES / f"stylesdf_{name}.pt") for name in ("full", "sphere_init")}


@pytest.mark.parametrize("name", ["sphere_init", "full"])
def test_the_callers_config_is_left_as_it_was_down_to_its_nested_sections(releases, name):
    config = _config()
    before = config.model_dump()
    imported = StyleSDFModel().import_release(releases[name], config)
    assert config.model_dump() == before
    assert (config.generator.renderer.convention, config.generator.decoder.enabled) == (before["generator"]["renderer"]
                                                                                         ["convention"], True)
    got = imported.config
    assert got.generator.renderer.convention == "upstream" and got.generator.decoder.enabled is (name == "full")
    for section in (lambda c: c.generator, lambda c: c.generator.renderer, lambda c: c.generator.decoder):
        assert section(got) is not section(config)  # copies, not the caller's objects
    # a second import from the same config is the first again: nothing of the first stuck to the config
    again = StyleSDFModel().import_release(releases[name], config)
    assert again.config.model_dump() == got.model_dump() and again.notes == imported.notes


@pytest.mark.parametrize("resolution", [64, 32])
def test_a_renderer_only_file_says_the_decoder_is_off_in_the_docs_words(releases, resolution):
    imported = StyleSDFModel().import_release(releases["sphere_init"], _config(f"generator.renderer.resolution="
                                                                              f"{resolution}"))
    assert imported.notes == [G_EMA_NOTE, f"{RELEASE_FILE} holds only the volume renderer: the 2D decoder is off, "
                                          f"images are {resolution}x{resolution} volume renders"]
    assert not bool(imported.state["decoder_active"]) and imported.config.generator.decoder.enabled is False


def test_the_notes_say_what_docs_pretrained_md_says_of_the_release_files(releases):
    imported = StyleSDFModel().import_release(releases["sphere_init"], _config())  # ffhq1024: a 64² render
    docs = (REPO / "docs" / "pretrained.md").read_text()
    assert "| the volume renderer only | `--preset ffhq1024` / `afhq512`: the decoder is turned off, images are " \
           "the 64² volume renders |" in docs
    assert imported.notes[1].endswith(": the 2D decoder is off, images are 64x64 volume renders")
    assert "zoo3d reads its `g_ema` (the generator the authors render with)" in docs
    assert imported.notes[0] == "weights from 'g_ema' (the EMA generator upstream renders with)"


def test_a_full_release_keeps_its_decoder_on_and_says_only_where_its_weights_come_from(releases):
    imported = StyleSDFModel().import_release(releases["full"], _config())
    assert imported.notes == [G_EMA_NOTE]
    assert bool(imported.state["decoder_active"]) and imported.state["decoder.mapping.w_avg"].abs().max() > 0


def test_a_full_release_into_a_config_whose_decoder_is_off_is_a_renderer_that_does_not_fit(releases):
    config = _config("generator.decoder.enabled=false")
    g_ema = releases["full"]["g_ema"]
    imported = StyleSDFModel().import_release(releases["full"], config)
    # the decoder stays off and inactive: no decoder w_avg is made for it, and nothing says the file lacks one
    assert imported.notes == [G_EMA_NOTE] and imported.config.generator.decoder.enabled is False
    assert imported.state["decoder_active"].dtype == torch.bool and not bool(imported.state["decoder_active"])
    assert "decoder.mapping.w_avg" not in imported.state
    assert torch.equal(imported.state["volume.sdf_sharpness"], g_ema["renderer.sigmoid_beta"][0])
    # the file's decoder has no place in that generator: the import is refused on its first decoder tensor
    generator = StyleSDFModel().build(imported.config)["generator"]
    assert generator.decoder is None
    assert first_mismatch(generator.state_dict(), imported) == (
        "its tensor 'g_ema.decoder.style.1.weight' has no place in the preset's generator")


def test_a_refusal_names_the_file_as_release_file_so_zoo3d_import_can_put_its_path_there(releases):
    # zoo3d.upstream.RELEASE_FILE is how an importer names the file in its errors; `zoo3d import` replaces it
    g_ema = {k: v for k, v in releases["sphere_init"]["g_ema"].items() if k != "renderer.sigmoid_beta"}
    with pytest.raises(UserError) as caught:
        StyleSDFModel().import_release({"g_ema": g_ema}, _config())
    assert str(caught.value) == (f"{RELEASE_FILE} is not a StyleSDF checkpoint of this layout: it has no tensor "
                                 "'renderer.sigmoid_beta'.")
