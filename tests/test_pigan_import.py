"""pi-GAN's ``import_release`` on the authors' files (tests/fixtures/releases): which weights it takes, how it
names where each tensor came from, and the one sentence it gives for a file it cannot read."""

from __future__ import annotations

import pytest
import torch

from conftest import FIXTURES
from zoo3d.config import load_run_config
from zoo3d.errors import UserError
from zoo3d.upstream import InertObject, load_release, module_state_dict
from test_pigan_model import PRESETS
from zoo3d_pigan import upstream as up
from zoo3d_pigan.config import PiGanConfig
from zoo3d_pigan.model import PiGanModel

RELEASES = FIXTURES / "releases"
#: the celeba preset narrowed to the release files' widths (their networks are tiny)
NARROW = ["generator.z_dim=8", "generator.mapping_hidden=16", "generator.width=16"]


def _config(extra=()) -> PiGanConfig:
    return load_run_config(PiGanConfig, "pigan", PRESETS, "celeba",
                           overrides=NARROW + list(extra))


def _message(release, cfg) -> str:
    with pytest.raises(UserError) as err:
        PiGanModel().import_release(release, cfg)
    return str(err.value)


def test_a_raw_generator_gives_its_own_weights_names_their_sources_and_says_where_the_averages_are():
    cfg = _config()
    release = load_release(RELEASES / "pigan_generator.pth")
    imported = PiGanModel().import_release(release, cfg)
    upstream = module_state_dict(release)
    assert imported.notes == ["weights: the raw generator in the release file; the authors render with the averages "
                              "in ema.pth beside it: import that file for those"]
    assert set(imported.sources) == set(imported.state) and len(imported.state) == len(up.upstream_parameter_names(cfg))
    for ours, name in imported.sources.items():
        assert torch.equal(imported.state[ours], upstream[name].float())
    assert imported.config.generator.rendering.convention == "upstream"
    assert cfg.generator.rendering.convention != "upstream"  # the caller's config is left as it was


@pytest.mark.parametrize("wrapped", [True, False], ids=["with the generator", "ema.pth alone"])
def test_an_ema_gives_the_averages_and_names_each_tensors_shadow_parameter(wrapped):
    cfg = _config()
    release = load_release(RELEASES / "pigan_ema.pth")
    # the fixture's averages equal its generator's weights (an untrained network): make them differ
    shadow = release.state["shadow_params"] = [t * 2 + 1 for t in release.state["shadow_params"]]
    given = {"generator": load_release(RELEASES / "pigan_generator.pth"), "ema": release} if wrapped else release
    imported = PiGanModel().import_release(given, cfg)
    names = up.upstream_parameter_names(cfg)
    assert imported.notes == ["weights: the EMA averages in the release file (what the authors render with)"]
    assert set(imported.sources) == set(imported.state) and len(imported.state) == len(names)
    for ours, where in imported.sources.items():
        i = int(where[len("shadow_params["):where.index("]")])
        assert where == f"shadow_params[{i}] ({names[i]})"
        assert torch.equal(imported.state[ours], shadow[i].float())


def test_a_file_that_is_no_pi_gan_release_is_named_by_its_class():
    cfg = _config()
    head = ("the release file is not a pi-GAN release: pi-GAN's generator.pth holds a pickled "
            f"{up.GENERATOR_CLASS} and ema.pth a torch_ema ExponentialMovingAverage, this holds ")
    assert _message(InertObject("models.Other", {}), cfg) == head + "models.Other."
    assert _message(42, cfg) == head + "int."


def test_a_generator_of_another_latent_size_is_refused_before_its_weights_are_read():
    assert _message(load_release(RELEASES / "pigan_generator.pth"), _config(["generator.z_dim=9"])) == (
        "the release file holds a generator with z_dim 8, the preset has 9.")


def test_a_file_missing_a_tensor_or_an_average_names_the_file_and_what_is_missing():
    cfg = _config()
    release = load_release(RELEASES / "pigan_generator.pth")
    siren = release.state["_modules"]["siren"].state["_modules"]
    del siren["network"].state["_modules"]["0"].state["_modules"]["layer"].state["_parameters"]["weight"]
    assert _message(release, cfg) == ("the release file does not fit pi-GAN's layout for this preset: it has no "
                                      "tensor 'siren.network.0.layer.weight'.")
    ema = load_release(RELEASES / "pigan_ema.pth")
    ema.state["shadow_params"] = ema.state["shadow_params"][:3]
    assert _message(ema, cfg) == (f"the release file holds 3 averaged parameters where pi-GAN with this preset has "
                                  f"{len(up.upstream_parameter_names(cfg))}.")
