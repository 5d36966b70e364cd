"""Each inverter's saved state (``Inverter.state``) rebuilds its result (``Inverter.restore``) on an inverter of the same
weights, so that the restored result draws the same pixels from any camera: GRAMInverter's W+, pose estimate and the
image its detail branch draws the detail manifolds from again; the optimisation inverter's latent (in each space, z at
its truncation) and, after PTI, the tuned weights, only those that PTI changed (a geometry it kept is not stored
again)."""

from __future__ import annotations

import copy

import pytest
import torch

from test_gram_inverter_model import _images, _inverter
from test_invert_optimize_shared_hits import BUILD, target_and_camera
from zoo3d.cameras import Camera
from zoo3d.core.inverter import Inverter
from zoo3d.invert import OptimizationInverter, OptimizeSettings

pytestmark = pytest.mark.usefixtures("single_thread")

#: the input view and a view the inversion never saw
VIEWS = Camera.from_angles(torch.tensor([0.25, -0.3]), torch.tensor([0.08, -0.1]), 1.0, 12.0)


def _same_pictures(inverter, a, b, resolution=None) -> bool:
    return all(torch.equal(inverter.render(a, VIEWS[i], resolution).rgb, inverter.render(b, VIEWS[i], resolution).rgb)
               for i in range(len(VIEWS)))


@torch.no_grad()
def test_graminverters_state_holds_w_plus_the_image_and_the_pose_and_restores_its_detail_and_pictures():
    inverter, modules = _inverter()
    modules["detail"].sr.conv_last.weight.normal_(0, 0.5)  # a detail branch that adds something (it starts at zero)
    images = _images(1)
    result = inverter.invert(images)  # the pose head's estimate gives the camera
    state = inverter.state(result)
    assert sorted(state) == ["images", "latent", "pose"]
    assert torch.equal(state["latent"], result.latent) and torch.equal(state["pose"], result.extras["pose"])
    assert torch.equal(state["images"], images)
    restored = inverter.restore({k: v.clone() for k, v in state.items()}, result.cameras)
    for part in ("foreground", "background"):
        assert torch.equal(getattr(restored.extras["detail"], part), getattr(result.extras["detail"], part))
    assert _same_pictures(inverter, result, restored)
    assert torch.equal(restored.extras["pose"], result.extras["pose"])
    coarse_only = inverter.restore({"latent": state["latent"]}, result.cameras)
    assert not _same_pictures(inverter, result, coarse_only)  # the detail manifolds are part of what is kept


@torch.no_grad()
def test_graminverters_state_without_the_detail_branch_holds_no_image():
    inverter, _ = _inverter()
    result = inverter.invert(_images(1), VIEWS[:1], use_detail=False)
    assert sorted(inverter.state(result)) == ["latent", "pose"]  # the pose head's estimate, though a camera was given
    assert _same_pictures(inverter, result, inverter.restore(inverter.state(result), result.cameras))


@pytest.mark.parametrize("model", sorted(BUILD))
@pytest.mark.parametrize("keep_geometry", [False, True], ids=["every-weight", "keep-geometry"])
def test_pti_stores_the_weights_it_changed_and_restores_the_tuned_generator(model, keep_geometry):
    build, space = BUILD[model]
    gen = build()
    base = copy.deepcopy(gen.state_dict())
    image, cams = target_and_camera(gen)
    settings = OptimizeSettings(space=space, steps=2, tune_steps=2, tune_lr=1e-3, perceptual_weight=0,
                                keep_geometry=keep_geometry)
    result = OptimizationInverter(gen, settings).invert(image, cams)
    state = OptimizationInverter(gen, settings).state(result)
    tuned = result.generator.state_dict()
    changed = {name for name, value in tuned.items() if not torch.equal(value, base[name])}
    assert {k for k in state if k != "latent"} == {f"generator.{name}" for name in changed}
    assert any(name.startswith("manifold.") for name in changed) != keep_geometry  # a kept geometry is not stored
    assert torch.equal(state["latent"], result.latent)
    with torch.no_grad():
        restored = OptimizationInverter(build(), settings).restore(state, cams)  # the same weights, built afresh
    assert all(torch.equal(value, tuned[name]) for name, value in restored.generator.state_dict().items())
    assert _same_pictures(OptimizationInverter(gen, settings), result, restored, image.shape[-2:])


@torch.no_grad()
@pytest.mark.parametrize("model, space, psi, resolved", [("gram", "z", 0.5, "z"), ("efficient_gram", "w", 1.0, "w"),
                                                         ("efficient_gram", "auto", 1.0, "w+"),
                                                         ("gram", "auto", 1.0, "w+")])
def test_a_latent_without_tuning_restores_on_the_generator_itself_in_its_space(model, space, psi, resolved):
    """z at the inverter's truncation; W, found as one w, kept as the W+ the generator consumes; auto as resolved
    (GRAM's W+: its FiLM layers' frequencies and phases)."""
    gen = BUILD[model][0]()
    image, cams = target_and_camera(gen)
    inverter = OptimizationInverter(gen, OptimizeSettings(space=space, psi=psi, steps=2, perceptual_weight=0))
    with torch.enable_grad():
        result = inverter.invert(image, cams)
    state = inverter.state(result)
    assert sorted(state) == ["latent"]
    assert state["latent"].shape == ((1, gen.z_dim) if resolved == "z" else (1, gen.num_ws, gen.w_dim))
    restored = inverter.restore(state, cams)
    assert restored.generator is None and restored.extras["space"] == resolved
    assert _same_pictures(inverter, result, restored, image.shape[-2:])


def test_only_an_inverter_that_both_gives_and_restores_its_state_has_its_results_saved():
    from zoo3d.invert.saved import saves_state

    gen = BUILD["gram"][0]()

    class GivesOnly(OptimizationInverter):
        restore = Inverter.restore

    class Neither(GivesOnly):
        state = Inverter.state

    assert saves_state(OptimizationInverter(gen)) and saves_state(_inverter()[0])
    assert not saves_state(GivesOnly(gen)) and not saves_state(Neither(gen))
