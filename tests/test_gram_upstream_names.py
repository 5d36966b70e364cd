"""GRAM's release files in zoo3d's names: the parameter order of ``ema.pth`` and the renaming of ``generator.pth``.

The reference for the order is the authors' own state dicts (tests/fixtures/releases, written by
microsoft/GRAM and JeffreyXiang/GRAM-HD code); the renaming is the table of zoo3d_gram.upstream's
docstring written out here per layer.
"""

from __future__ import annotations

import pytest
import torch

from conftest import FIXTURES
from zoo3d.config import load_run_config
from zoo3d.errors import UserError
from zoo3d.plugins import get_model_spec
from zoo3d.upstream import InertObject, load_release
from zoo3d_gram.config import GeneratorConfig, GramConfig
from zoo3d_gram.generator import GramGenerator
from zoo3d_gram.upstream import (convert_generator_state, import_gram_release, lowres_state_from_upstream,
                                 upstream_parameter_names)

RELEASES = FIXTURES / "releases"


def _tiny() -> GramConfig:
    return load_run_config(GramConfig, "gram", get_model_spec("gram").presets_dir, "tiny")


#: the widths of gram_hd_ffhq256.pt's low-resolution GRAM (see the fixtures' README)
HD_LOWRES = GeneratorConfig.model_validate({
    "manifold": {"hidden": 8, "layers": 3},
    "radiance": {"z_dim": 8, "mapping_hidden": 16, "mapping_layers": 3, "hidden": 16, "num_layers": 8,
                 "feature_dim": 4}})


def _zoo3d_name(upstream: str, mapping_layers: int) -> str:
    """The docstring's table, one layer at a time (``representation.`` already removed)."""
    parts = upstream.split(".")
    kind = parts[-1]
    if parts[0] == "sample_network":
        return "manifold.out." + kind if parts[1] == "output_layer" else f"manifold.hidden.{int(parts[2]) // 2}.{kind}"
    body = parts[1:]
    if body[0] == "network":
        return f"radiance_net.trunk.layers.{body[1]}.layer.{kind}"
    if body[0] == "color_layer":
        return f"radiance_net.color_layer.layer.{kind}"
    heads = {"output_sigma": "sigma_heads", "output_color": "rgb_heads", "output_feature": "feature_heads"}
    if body[0] in heads:
        return f"radiance_net.{heads[body[0]]}.{body[1]}.{kind}"
    assert body[:2] == ["mapping_network", "network"], upstream
    index = int(body[2])
    return f"radiance_net.mapping.out.{kind}" if index == 2 * mapping_layers else \
        f"radiance_net.mapping.hidden.{index}.{kind}"


@pytest.mark.parametrize("file, config", [("gram_generator.pth", None), ("gram_hd_ffhq256.pt", HD_LOWRES)])
def test_the_parameter_order_is_the_authors_state_dict_order(file, config):
    """torch_ema's shadow list follows generator.parameters(): GRAM's state dict order (it has no buffers)."""
    config = config or _tiny().generator
    state = load_release(RELEASES / file)
    authors = [(k, tuple(v.shape)) for k, v in state.items() if k.startswith("representation.")]
    assert upstream_parameter_names(config) == authors
    assert upstream_parameter_names(config, "G.")[0] == ("G.sample_network.network.0.weight",
                                                          authors[0][1])


def test_the_tiny_preset_has_62_parameters():
    """Manifold 3 + 1 linears, trunk 8, colour layer 1, 7 sigma and 7 colour heads, mapping 3 + 1: 31 x 2."""
    assert len(upstream_parameter_names(_tiny().generator)) == 62


@pytest.mark.parametrize("file, config", [("gram_generator.pth", None), ("gram_hd_ffhq256.pt", HD_LOWRES)])
def test_every_tensor_lands_where_the_table_says_unchanged(file, config):
    config = config or _tiny().generator
    state = load_release(RELEASES / file)
    out, sources = lowres_state_from_upstream(state, config, "f.pth")
    expected = {_zoo3d_name(k.removeprefix("representation."), config.radiance.mapping_layers): k
                for k in state if k.startswith("representation.")}
    assert sources == expected
    for ours, theirs in expected.items():
        assert out[ours] is state[theirs], ours
    assert set(out) == set(expected) | {"levels", "manifold.center"}
    if file == "gram_generator.pth":
        GramGenerator(config).load_state_dict(out, strict=True)


def test_levels_and_centre_come_from_the_config():
    config = _tiny().generator.model_copy(deep=True)
    config.manifold.num_levels, config.manifold.level_start, config.manifold.level_end = 5, 10.0, 2.0
    config.manifold.center = (0.25, -0.5, 1.5)
    out, _ = lowres_state_from_upstream(load_release(RELEASES / "gram_generator.pth"), config, "f.pth")
    assert out["levels"].tolist() == [10.0, 8.0, 6.0, 4.0, 2.0]
    assert out["manifold.center"].dtype == torch.float32 and out["manifold.center"].tolist() == [0.25, -0.5, 1.5]


def test_the_prefix_chooses_which_tensors_are_read():
    state = load_release(RELEASES / "gram_generator.pth")
    moved = {k.replace("representation.", "lowres.", 1): v for k, v in state.items()}
    out, sources = lowres_state_from_upstream({**moved, "other.x": torch.ones(1)}, _tiny().generator, "f.pth",
                                              prefix="lowres.")
    assert sources["manifold.hidden.0.weight"] == "lowres.sample_network.network.0.weight"
    with pytest.raises(UserError) as info:
        lowres_state_from_upstream(moved, _tiny().generator, "f.pth")
    assert str(info.value) == "f.pth holds no GRAM generator tensors (none is named 'representation....')."


@pytest.mark.parametrize("key", ["representation.rf_network.extra.weight",
                                 "representation.rf_network.network.0.weight",  # no ".layer."
                                 "representation.rf_network.mapping_network.network.0.scale"])
def test_a_tensor_gram_does_not_have_is_named(key):
    state = {**load_release(RELEASES / "gram_generator.pth"), key: torch.ones(1)}
    with pytest.raises(UserError) as info:
        lowres_state_from_upstream(state, _tiny().generator, "f.pth")
    assert str(info.value) == f"f.pth has a tensor '{key}' that GRAM's generator does not have."
    with pytest.raises(UserError) as info:  # a whole release names its file too
        convert_generator_state(state, _tiny().generator, "g.pth")
    assert str(info.value) == f"g.pth has a tensor '{key}' that GRAM's generator does not have."


def _ema(qualname="torch_ema.ema.ExponentialMovingAverage", shadow=None):
    return InertObject(qualname, state={"decay": 0.999, "shadow_params": shadow})


def test_the_averages_are_named_in_parameter_order():
    generator = load_release(RELEASES / "gram_generator.pth")
    shadow = [torch.full_like(v, i) for i, v in enumerate(generator.values())]
    for qualname in ("torch_ema.ema.ExponentialMovingAverage", "ExponentialMovingAverage"):
        state, sources, kind = convert_generator_state(_ema(qualname, shadow), _tiny().generator, "ema.pth")
        assert kind == "EMA weights (torch_ema shadow parameters, named in GRAM's parameter order)"
        for i, upstream in enumerate(generator):
            ours = next(k for k, v in sources.items() if v == upstream)
            assert state[ours] is shadow[i], upstream
    state, _, kind = convert_generator_state(generator, _tiny().generator, "g.pth")
    assert kind == "generator state dict" and state["manifold.out.bias"] is generator[
        "representation.sample_network.output_layer.bias"]


@pytest.mark.parametrize("shadow, says", [
    (None, "ema.pth is a torch_ema object without a list of shadow parameters."),
    ((torch.ones(1),), "ema.pth is a torch_ema object without a list of shadow parameters."),
    ([torch.ones(1), 1.0], "ema.pth is a torch_ema object without a list of shadow parameters."),
    ([torch.ones(1)] * 61, "ema.pth averages 61 parameters where a GRAM generator of this preset has 62."),
])
def test_an_ema_object_that_does_not_fit_is_one_sentence(shadow, says):
    with pytest.raises(UserError) as info:
        convert_generator_state(_ema(shadow=shadow), _tiny().generator, "ema.pth")
    assert str(info.value) == says


@pytest.mark.parametrize("release", [{}, {"representation.x": 1.0}, [torch.ones(1)],
                                     InertObject("torch_ema.ema.Other", state={})])
def test_what_is_neither_file_is_one_sentence(release):
    with pytest.raises(UserError) as info:
        convert_generator_state(release, _tiny().generator, "x.pth")
    assert str(info.value) == ("x.pth is neither a GRAM generator.pth (a state dict) nor an ema.pth (a torch_ema "
                               "object).")


def test_a_gram_hd_file_is_sent_to_its_model():
    with pytest.raises(UserError) as info:
        convert_generator_state(load_release(RELEASES / "gram_hd_ffhq256.pt"), HD_LOWRES, "hd.pt")
    assert str(info.value) == ("hd.pt is a GRAM-HD generator (it has super-resolution networks): import it as model "
                               "gram_hd.")


def test_an_import_renders_on_grams_pixel_grid_and_leaves_the_preset_alone():
    preset = _tiny()
    assert preset.generator.render.align_corners is False
    imported = import_gram_release(load_release(RELEASES / "gram_generator.pth"), preset, "g.pth")
    assert imported.config.generator.render.align_corners is True and preset.generator.render.align_corners is False
    assert imported.notes == ["read generator state dict from g.pth", "rays are cast on GRAM's pixel grid "
                              "(generator.render.align_corners: true), as the authors render"]
    assert imported.sources["radiance_net.mapping.out.weight"] == (
        "representation.rf_network.mapping_network.network.6.weight")


def test_the_release_file_is_named_as_given_or_generically():
    with pytest.raises(UserError, match="^the release file is neither"):
        import_gram_release([], _tiny())
