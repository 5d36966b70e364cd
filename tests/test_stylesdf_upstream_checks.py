"""StyleSDF's importer refusals, release layouts and cameras, against the authors' code.

References: royorel/StyleSDF's ``model.py`` (``make_kernel([1, 3, 3, 1])`` times factor 2 squared in every
upsampling ``Blur``/``Upsample``; ``Decoder.style`` = PixelNorm then ``EqualLinear``s from index 1),
``volume_renderer.py`` (``SirenGenerator.pts_linears``), ``torch.save({"g", "d", "g_ema"})`` releases and
``generate_camera_params(locations=[azim, elev])`` (a camera at dist (cos e sin a, sin e, cos e cos a)
looking at the origin, ``fov`` the half angle, 6 degrees); ``stylesdf_full.pt`` (tests/fixtures/releases) is
a ``g_ema`` the authors' code wrote. Refusals are checked word for word: they are what a user reads.
"""

from __future__ import annotations


import pytest
import torch

from conftest import FIXTURES
from zoo3d.errors import UserError
from zoo3d.upstream import load_release
from zoo3d_stylesdf.upstream import convert_g_ema, has_decoder, release_state, stylesdf_cameras

RELEASES = FIXTURES / "releases"


@pytest.fixture(scope="module")
def g_ema() -> dict:
    return load_release(RELEASES / "stylesdf_full.pt")["g_ema"]


def _kernel(taps, gain):
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[:, None] * k[None, :]
    return k / k.sum() * gain


def test_the_authors_blur_kernels_pass_and_others_are_refused(g_ema):
    """``make_kernel([1, 3, 3, 1]) * factor ** 2`` (factor 2) is what upstream stores in every upsampling layer."""
    state = dict(g_ema)
    for name in ("decoder.convs.0.conv.blur.kernel", "decoder.to_rgbs.0.upsample.kernel"):
        torch.testing.assert_close(state[name], _kernel([1, 3, 3, 1], 4.0), rtol=0, atol=1e-7)
        for other in (_kernel([1, 3, 3, 1], 1.0), _kernel([1, 2, 2, 1], 4.0), _kernel([1, 3, 3, 1], 4.0)[:3, :3]):
            with pytest.raises(UserError) as err:
                convert_g_ema({**state, name: other}, "x.pt")
            assert str(err.value) == (f"x.pt uses a blur kernel other than [1, 3, 3, 1] ('{name}'), which zoo3d's "
                                      "StyleSDF decoder does not support.")
    state["decoder.convs.1.conv.blur.kernel"] = _kernel([1, 3, 3, 1], 4.0)  # a kernel convert_g_ema checks there too
    convert_g_ema(state)
    with pytest.raises(UserError, match="^the release file uses a blur kernel .*'decoder.convs.1.conv.blur.kernel'"):
        convert_g_ema({**state, "decoder.convs.1.conv.blur.kernel": _kernel([1, 3, 3, 1], 1.0)})


def test_a_release_gives_its_g_ema_and_a_bare_state_dict_is_taken_as_is(g_ema):
    full = {"g": {"renderer.sigmoid_beta": torch.zeros(1)}, "d": {}, "g_ema": g_ema}
    assert release_state(full) is g_ema
    assert release_state(g_ema) is g_ema
    assert has_decoder(g_ema)
    assert not has_decoder(load_release(RELEASES / "stylesdf_sphere_init.pt")["g_ema"])
    with pytest.raises(UserError, match="^the release file is not a StyleSDF checkpoint"):  # the default source
        release_state([g_ema])
    for bad in ({"g": g_ema}, {"style.0.weight": torch.zeros(1)}, [g_ema]):
        with pytest.raises(UserError, match="^x.pt is not a StyleSDF checkpoint: it has no 'g_ema'"):
            release_state(bad, "x.pt")
    with pytest.raises(UserError, match="^x.pt is not a StyleSDF checkpoint: its 'g_ema' is not a state dict"):
        release_state({"g_ema": {"renderer.sigmoid_beta": 0.1}}, "x.pt")


@pytest.mark.parametrize("dropped, named", [("renderer.network.pts_linears.", "renderer.network.pts_linears.0.weight"),
                                           ("decoder.style.", "decoder.style.1.weight")])
def test_a_missing_tensor_is_named(g_ema, dropped, named):
    """A block with none of its layers (no trunk, no decoder mapping) is named by its first tensor, not skipped."""
    with pytest.raises(UserError) as err:
        convert_g_ema({k: v for k, v in g_ema.items() if not k.startswith(dropped)}, "x.pt")
    assert str(err.value) == f"x.pt is not a StyleSDF checkpoint of this layout: it has no tensor '{named}'."


def test_an_extra_tensor_is_refused_with_its_name(g_ema):
    with pytest.raises(UserError) as err:
        convert_g_ema({**g_ema, "decoder.to_rgbs.0.extra": torch.zeros(1)}, "x.pt")
    assert str(err.value) == ("x.pt holds 'g_ema.decoder.to_rgbs.0.extra', which zoo3d's StyleSDF model has no place "
                              "for: it is not a StyleSDF generator of this layout.")


def test_the_cameras_are_at_upstreams_azimuth_elevation_point_looking_at_the_origin():
    """``generate_camera_params(locations=[azim, elev])``: the camera sits at (cos e sin a, sin e, cos e cos a)
    times the distance and looks at the origin; ``fov`` is the half angle."""
    azim = torch.tensor([0.0, 0.3, -0.25], dtype=torch.float64)
    elev = torch.tensor([0.0, 0.1, -0.12], dtype=torch.float64)
    cams = stylesdf_cameras(azim.tolist(), elev.tolist(), fov_half_deg=7.5, dist=2.0, dtype=torch.float64)
    want = torch.stack([elev.cos() * azim.sin(), elev.sin(), elev.cos() * azim.cos()], -1) * 2.0
    c2w = cams.cam2world
    assert c2w.dtype == torch.float64
    torch.testing.assert_close(c2w[:, :3, 3], want, rtol=0, atol=1e-12)
    torch.testing.assert_close(c2w[:, :3, 2], -want / 2.0, rtol=0, atol=1e-12)  # OpenCV +z looks at the origin
    assert torch.all(c2w[:, 1, 1] < 0)  # image down is world down (OpenCV +y), so the camera is upright
    torch.testing.assert_close(cams.fov, torch.full_like(cams.fov, 15.0))
    default = stylesdf_cameras(azim.tolist(), elev.tolist())  # upstream's fov 6 (half angle) and unit distance
    assert default.cam2world.dtype == torch.get_default_dtype()
    torch.testing.assert_close(default.cam2world[:, :3, 3], (want / 2.0).to(default.cam2world), rtol=0, atol=1e-6)
    torch.testing.assert_close(default.fov, torch.full_like(default.fov, 12.0))
