"""pi-GAN's importer refusals, EMA list, siren classes and cameras, against the authors' code.

The references are marcoamonteiro/pi-GAN: ``siren/siren.py`` (``SPATIALSIRENBASELINE`` warps points with
``UniformBoxWarp(0.24)``, ``TALLSIREN`` has no warp, i.e. zoo3d's box of side 2), ``torch_ema``'s
``shadow_params`` (a list in ``generator.parameters()`` order), ``sample_camera_positions`` (a camera at
r (sin phi cos theta, cos phi, sin phi sin theta), fov 12) and ``pigan_generator.pth`` (tests/fixtures/releases),
a generator its code pickled. Every refusal is checked word for word: it is what a user reads.
"""

from __future__ import annotations

import math

import pytest
import torch

from conftest import FIXTURES
from test_pigan_model import PRESETS
from zoo3d.config import load_run_config
from zoo3d.errors import UserError
from zoo3d.upstream import InertObject, load_release, module_state_dict
from zoo3d_pigan import upstream as up
from zoo3d_pigan.config import PiGanConfig

RELEASES = FIXTURES / "releases"
#: the celeba preset narrowed to the release files' widths
NARROW = ["generator.z_dim=8", "generator.mapping_hidden=16", "generator.width=16"]


def _config(*extra: str, preset: str = "celeba") -> PiGanConfig:
    return load_run_config(PiGanConfig, "pigan", PRESETS, preset, overrides=NARROW + list(extra))


def test_missing_and_extra_tensors_are_named():
    weights = module_state_dict(load_release(RELEASES / "pigan_generator.pth"))
    cfg = _config()
    with pytest.raises(UserError, match="^the release file does not fit pi-GAN's layout"):  # the default source
        up.convert_state({}, cfg)
    with pytest.raises(UserError, match="^the release file has tensors this preset's pi-GAN does not"):
        up.convert_state({**weights, "siren.extra": torch.zeros(1)}, cfg)
    for missing in ("siren.network.3.layer.bias", "siren.color_layer_linear.0.weight",
                    "siren.mapping_network.network.6.bias"):
        with pytest.raises(UserError) as err:
            up.convert_state({k: v for k, v in weights.items() if k != missing}, cfg, "x.pth")
        assert str(err.value) == f"x.pth does not fit pi-GAN's layout for this preset: it has no tensor '{missing}'."
    extra = {**weights, "siren.network.8.layer.weight": torch.zeros(1), "siren.spatial_embeddings": torch.zeros(1)}
    with pytest.raises(UserError) as err:
        up.convert_state(extra, cfg, "x.pth")
    assert str(err.value) == ("x.pth has tensors this preset's pi-GAN does not ('siren.network.8.layer.weight'): it is "
                              "a different architecture (e.g. more layers, or a spatial embedding).")


def test_the_shadow_list_is_named_in_parameter_order_and_checked():
    cfg = _config()
    names = up.upstream_parameter_names(cfg)
    shadow = [torch.full((1,), float(i)) for i in range(len(names))]
    named = up.shadow_state(InertObject(up.EMA_CLASS, {"shadow_params": shadow}), cfg, "x.pth")
    assert list(named) == names and all(named[n].item() == i for i, n in enumerate(names))
    for bad in ({"shadow_params": tuple(shadow)}, {"shadow_params": shadow[:-1] + [1.0]}, {}):
        with pytest.raises(UserError) as err:
            up.shadow_state(InertObject(up.EMA_CLASS, bad), cfg, "x.pth")
        assert str(err.value) == "x.pth is not a torch_ema object: it has no list of shadow parameters."
    with pytest.raises(UserError) as err:
        up.shadow_state(InertObject(up.EMA_CLASS, {"shadow_params": shadow + shadow[:1]}), cfg, "x.pth")
    assert str(err.value) == f"x.pth holds {len(names) + 1} averaged parameters where pi-GAN with this preset has " \
                             f"{len(names)}."
    with pytest.raises(UserError, match="^the release file is not a torch_ema object"):  # the default source
        up.shadow_state(object(), cfg)
    with pytest.raises(UserError, match="^the release file holds 1 averaged parameters"):
        up.shadow_state(InertObject(up.EMA_CLASS, {"shadow_params": shadow[:1]}), cfg)


def _generator(siren_class, z_dim=8):
    siren = InertObject(siren_class, {"_parameters": {}, "_modules": {}})
    return InertObject(up.GENERATOR_CLASS, {"_parameters": {}, "_modules": {"siren": siren}, "z_dim": z_dim})


def test_each_siren_class_needs_its_box_warp():
    """SPATIALSIRENBASELINE has UniformBoxWarp(0.24); TALLSIREN none, which is zoo3d's box of side 2 (scale 1)."""
    up.check_siren(_generator("siren.siren.SPATIALSIRENBASELINE"), _config(), "x.pth")
    up.check_siren(_generator("siren.siren.TALLSIREN"), _config("generator.box_size=2.0"), "x.pth")
    for box in (0.24, 2.5):
        with pytest.raises(UserError) as err:
            up.check_siren(_generator("siren.siren.TALLSIREN"), _config(f"generator.box_size={box}"), "x.pth")
        assert str(err.value) == (f"x.pth holds a TALLSIREN network (no box warp), but the preset's "
                                  f"generator.box_size is {box}.")
    with pytest.raises(UserError) as err:
        up.check_siren(_generator("siren.siren.SPATIALSIRENBASELINE"), _config("generator.box_size=0.25"), "x.pth")
    assert str(err.value) == ("x.pth holds a SPATIALSIRENBASELINE network (box 0.24), but the preset's "
                              "generator.box_size is 0.25.")
    with pytest.raises(UserError) as err:
        up.check_siren(_generator("siren.siren.SIREN"), _config(), "x.pth")
    assert str(err.value) == ("x.pth holds a pi-GAN generator with a 'siren.siren.SIREN' network, which zoo3d cannot "
                              "import (it reads siren.siren.SPATIALSIRENBASELINE, siren.siren.TALLSIREN).")


def test_z_dim_and_class_names_are_read_from_the_record():
    release = load_release(RELEASES / "pigan_generator.pth")
    assert up.z_dim_of(release) == 8 and up.qualname(release) == up.GENERATOR_CLASS
    assert up.z_dim_of(_generator("siren.siren.TALLSIREN", z_dim=256)) == 256
    assert up.z_dim_of(_generator("siren.siren.TALLSIREN", z_dim=8.0)) is None
    assert up.z_dim_of(object()) is None and up.qualname(object()) is None


def test_the_cameras_sit_where_sample_camera_positions_puts_them():
    phi = torch.tensor([math.pi / 2, 1.2, 1.9], dtype=torch.float64)
    theta = torch.tensor([math.pi / 2, 1.3, 2.0], dtype=torch.float64)
    cams = up.pigan_cameras(phi.tolist(), theta.tolist(), fov=18.0, radius=1.5, dtype=torch.float64)
    assert cams.cam2world.dtype == torch.float64  # the keywords reach the camera
    want = 1.5 * torch.stack([phi.sin() * theta.cos(), phi.cos(), phi.sin() * theta.sin()], -1)
    torch.testing.assert_close(cams.cam2world[:, :3, 3], want, rtol=0, atol=1e-12)
    torch.testing.assert_close(cams.cam2world[:, :3, 2], -want / 1.5, rtol=0, atol=1e-12)  # looking at the origin
    torch.testing.assert_close(cams.fov, torch.full_like(cams.fov, 18.0))
    default = up.pigan_cameras(phi, theta, dtype=torch.float64)  # pi-GAN's fov 12 and unit radius
    torch.testing.assert_close(default.cam2world[:, :3, 3], want / 1.5, rtol=0, atol=1e-12)
    torch.testing.assert_close(default.fov, torch.full_like(default.fov, 12.0))
