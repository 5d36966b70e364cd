"""``zoo3d import MODEL FILE --preset P --set key=value``: a network the authors' code trained at widths of its own
(the parity fixtures are such networks) imports as the preset with those keys changed, and renders what the
authors' code rendered."""

from __future__ import annotations

import pytest
import torch
import yaml
from safetensors import safe_open

from conftest import FIXTURES, one_line_error, run_in_process as zoo3d
from parity_replay import _weights, flat_snap_ambiguous, load_fixture
from zoo3d.cameras import Camera
from zoo3d.runs import load_model

GRAM_FIXTURE = FIXTURES / "parity" / "gram.safetensors"
#: The keys on which the fixture's narrowed FFHQ_default network differs from the ffhq256 preset
#: (tests/parity_replay.gram_fixture_config builds its config from the same widths).
GRAM_SETS = ["generator.resolution=32", "generator.manifold.hidden=32", "generator.radiance.hidden=64",
             "generator.radiance.z_dim=64", "generator.radiance.mapping_hidden=64"]


@pytest.fixture(scope="module")
def gram_fixture():
    return load_fixture(GRAM_FIXTURE)


@pytest.fixture
def gram_release(in_tmp, gram_fixture):
    """The fixture's official weights as the authors' generator.pth (a plain state dict)."""
    path = in_tmp / "generator.pth"
    torch.save(_weights(gram_fixture[0]), path)
    return path


def _set_args(items):
    return [arg for item in items for arg in ("--set", item)]


def test_gram_network_of_other_widths_imports_with_set_and_renders_the_authors_image(in_tmp, capsys, gram_release,
                                                                                    gram_fixture):
    code, out, err = zoo3d(capsys, "import", "gram", gram_release, "--preset", "ffhq256", *_set_args(GRAM_SETS),
                           "--out", "run")
    assert code == 0, err
    config = yaml.safe_load((in_tmp / "run" / "config.yaml").read_text())
    assert config["generator"]["radiance"]["z_dim"] == 64 and config["generator"]["manifold"]["hidden"] == 32
    assert config["generator"]["radiance"]["num_layers"] == 8  # the rest is the preset's
    with safe_open(str(in_tmp / "run" / "checkpoints" / "step_000000000.safetensors"), "pt") as fh:
        meta = fh.metadata()
    assert meta["zoo3d.imported_preset"] == "ffhq256"
    assert yaml.safe_load(meta["zoo3d.imported_overrides"]) == GRAM_SETS

    tensors, fixture_meta = gram_fixture
    loaded = load_model(str(in_tmp / "run"), device="cpu")
    pose = tensors["inputs.camera_pos"]
    cams = Camera.from_gram(pose[:, 0], pose[:, 1], fov=fixture_meta["camera"]["fov"])
    with torch.no_grad():
        image = loaded.generator.render(loaded.generator.represent(tensors["inputs.z"]), cams, 32).rgb
    # the pixels test_parity_gram.py holds to 1e-4: all but those whose ray GRAM may snap either way
    clear = ~flat_snap_ambiguous(tensors["s"], loaded.generator.levels).any(-1)
    clear = clear.reshape(len(image), 1, 32, 32).expand(-1, 3, -1, -1)
    assert (image[clear] - tensors["image"][clear]).abs().max() <= 1e-4


def test_set_items_are_checked_as_zoo3d_train_checks_them(in_tmp, capsys, gram_release):
    code, _, err = zoo3d(capsys, "import", "gram", gram_release, "--preset", "ffhq256",
                         "--set", "generator.radiance.z_dim=64", "--set", "generator.radiance.z_dim=32", "--out", "run")
    assert code == 2
    assert one_line_error(err) == ("Error: --set 'generator.radiance.z_dim=64' and --set "
                                   "'generator.radiance.z_dim=32' both set 'generator.radiance.z_dim'; give it once.")
    code, _, err = zoo3d(capsys, "import", "gram", gram_release, "--preset", "ffhq256",
                         "--set", "generator.radiance.zdim=64", "--out", "run")
    assert code == 2 and "generator.radiance.zdim" in err and "z_dim" in err
    assert not (in_tmp / "run").exists()


# A refusal for shapes names the --set items read from the file, and those items import it.

RELEASES = FIXTURES / "releases"


def _named_sets(sentence: str) -> list[str]:
    """The ``--set`` items a refusal tells to give, as a shell reads them."""
    import shlex

    words = shlex.split(sentence.partition(": give ")[2].partition(" to import it")[0].partition(" in place of ")[0])
    assert words[::2] == ["--set"] * (len(words) // 2)
    return words[1::2]


@pytest.mark.parametrize("name", ["pigan_ema.pth", "pigan_generator.pth"])
def test_pigan_refusal_names_the_widths_read_from_the_file(in_tmp, capsys, name):
    code, _, err = zoo3d(capsys, "import", "pigan", RELEASES / name, "--preset", "celeba", "--out", "run")
    assert code == 2
    line = one_line_error(err)
    # the file's narrowed widths (tests/fixtures/releases/README.md): radiance and mapping 16, z 8; depth 8 and
    # 3 mapping layers are celeba's own, so they are not named
    assert _named_sets(line) == ["generator.width=16", "generator.z_dim=8", "generator.mapping_hidden=16"]
    assert line.endswith(" to import it.")
    code, _, err = zoo3d(capsys, "import", "pigan", RELEASES / name, "--preset", "celeba",
                         *_set_args(_named_sets(line)), "--out", "run")
    assert code == 0, err


def test_gram_refusal_names_the_widths_of_a_state_dict_in_any_key_order(in_tmp, capsys, gram_release):
    """Without the --set items the file is refused. The release written from the fixture lists its keys sorted by
    name, not in GRAM's parameter order."""
    code, _, err = zoo3d(capsys, "import", "gram", gram_release, "--preset", "ffhq256", "--out", "run")
    assert code == 2 and not (in_tmp / "run").exists()
    line = one_line_error(err)
    assert line.startswith(f"Error: {gram_release} does not fit gram preset 'ffhq256': ")
    # the resolution is no shape: it is left to the user
    assert _named_sets(line) == GRAM_SETS[1:]


def test_gram_ema_refusal_says_which_set_item_of_the_command_it_replaces(in_tmp, capsys):
    code, _, err = zoo3d(capsys, "import", "gram", RELEASES / "gram_ema.pth", "--preset", "cats256",
                         "--set", "generator.radiance.z_dim=32", "--out", "run")
    assert code == 2
    line = one_line_error(err)
    assert "does not fit gram preset 'cats256' with --set generator.radiance.z_dim=32:" in line
    # tiny's widths (radiance 32, mapping 64, z 64; the manifold predictor's 64 is cats256's own)
    assert line.endswith(": give --set generator.radiance.hidden=32 --set generator.radiance.z_dim=64 --set "
                         "generator.radiance.mapping_hidden=64 in place of --set generator.radiance.z_dim=32 to "
                         "import it.")


def test_gram_hd_refusal_names_every_width_and_they_import_it(in_tmp, capsys):
    release = RELEASES / "gram_hd_ffhq256.pt"
    code, _, err = zoo3d(capsys, "import", "gram_hd", release, "--preset", "ffhq256", "--out", "run")
    assert code == 2
    items = _named_sets(one_line_error(err))
    assert "generator.foreground_sr.up_channels=[8,8]" in items and "generator.lowres.radiance.z_dim=8" in items
    code, _, err = zoo3d(capsys, "import", "gram_hd", release, "--preset", "ffhq256", *_set_args(items),
                         "--out", "run")
    assert code == 0, err


def test_a_set_item_for_a_key_the_import_sets_itself_is_refused_not_overwritten(in_tmp, capsys, gram_release):
    code, _, err = zoo3d(capsys, "import", "gram", gram_release, "--preset", "ffhq256", *_set_args(GRAM_SETS),
                         "--set", "generator.render.align_corners=false", "--out", "run")
    assert code == 2
    assert one_line_error(err) == (
        "Error: --set generator.render.align_corners=false sets a key the import sets itself "
        "(generator.render.align_corners: true), so that the model computes what the authors' code computes "
        "(docs/pretrained.md); drop it.")
    assert not (in_tmp / "run").exists()
    # the value the import sets anyway is no conflict
    code, _, err = zoo3d(capsys, "import", "gram", gram_release, "--preset", "ffhq256", *_set_args(GRAM_SETS),
                         "--set", "generator.render={align_corners: true}", "--out", "run")
    assert code == 0, err


def test_a_map_item_is_refused_only_for_the_keys_it_names(in_tmp, capsys, gram_release):
    """generator.render={near: 0.88} sets the ray's near end only, not the align_corners the import sets beside it."""
    code, _, err = zoo3d(capsys, "import", "gram", gram_release, "--preset", "ffhq256", *_set_args(GRAM_SETS),
                         "--set", "generator.render={near: 0.88, num_samples: 64}", "--out", "run")
    assert code == 0, err
    assert yaml.safe_load((in_tmp / "run" / "config.yaml").read_text())["generator"]["render"]["align_corners"]


@pytest.mark.parametrize("name, named", [
    ("stylesdf_full.pt", ["generator.renderer.z_dim=16", "generator.renderer.width=16", "generator.renderer.depth=3",
                          "generator.decoder.w_dim=32", "generator.decoder.max_channels=16",
                          "generator.decoder.output_resolution=128"]),
    ("stylesdf_sphere_init.pt", ["generator.renderer.z_dim=16", "generator.renderer.width=16",
                                 "generator.renderer.depth=3"])])
def test_stylesdf_refusal_names_the_widths_and_resolutions_read_from_the_file(in_tmp, capsys, name, named):
    """The file's narrowed widths (tests/fixtures/releases/README.md); the 64² volume render, 3 renderer mapping
    layers and the decoder's 5 are ffhq1024's own; the decoder's noise maps show its output resolution."""
    code, _, err = zoo3d(capsys, "import", "stylesdf", RELEASES / name, "--preset", "ffhq1024", "--out", "run")
    assert code == 2
    assert _named_sets(one_line_error(err)) == named
    code, _, err = zoo3d(capsys, "import", "stylesdf", RELEASES / name, "--preset", "ffhq1024", *_set_args(named),
                         "--out", "run")
    assert code == 0, err


def test_eg3d_refusal_names_the_widths_its_generator_was_built_with(in_tmp, capsys):
    """tiny_eg3d fits the snapshot as it is; with a z_dim of the command's own no preset does, and the sentence
    names the constructor's settings the file records (z 16, w 16, backbone 256 / 16 at 32², SR blocks of 16)."""
    release = RELEASES / "eg3d_snapshot.pkl"
    code, _, err = zoo3d(capsys, "import", "triplane", release, "--preset", "ffhq512", "--set", "generator.z_dim=32",
                         "--out", "run")
    assert code == 2
    line = one_line_error(err)
    named = ["generator.z_dim=16", "generator.w_dim=16", "generator.channel_base=256", "generator.channel_max=16",
             "generator.plane_resolution=32", "generator.sr_channels=[16,16]"]
    assert _named_sets(line) == named and line.endswith(" in place of --set generator.z_dim=32 to import it.")
    code, _, err = zoo3d(capsys, "import", "triplane", release, "--preset", "ffhq512", *_set_args(named),
                         "--out", "run")
    assert code == 0, err


def test_a_set_item_of_a_key_the_run_does_not_read_is_refused_as_zoo3d_train_refuses_it(in_tmp, capsys):
    """GRAM-HD's stage-1 discriminator beside generator.lowres_run: refused before the file is read."""
    code, _, err = zoo3d(capsys, "import", "gram_hd", RELEASES / "gram_hd_ffhq256.pt", "--preset", "ffhq256",
                         "--set", "generator.lowres_run=lr", "--set", "discriminator={lowres_max_channels: 8}",
                         "--out", "run")
    assert code == 2
    assert one_line_error(err) == (
        "Error: --set 'discriminator={lowres_max_channels: 8}' sets a key this run does not read, so drop it: "
        "generator.lowres_run gives the LR GRAM, so stage gram_hd.stage1 and its discriminator are not trained "
        "(without generator.lowres_run they are).")
    assert not (in_tmp / "run").exists()
