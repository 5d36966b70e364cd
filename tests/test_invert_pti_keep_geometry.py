"""PTI that keeps the shared geometry (``OptimizeSettings(keep_geometry=True)``, ``zoo3d invert --keep-geometry``).

GRAM's and Efficient GRAM's manifold predictor, which every instance shares, stays exactly as trained in the tuned
copy while the rest of the generator is tuned; the tuning steps render from the latent steps' hits, so the whole
inversion intersects the input camera's rays once. A generator with no such geometry is refused.
"""

from __future__ import annotations

import pytest
import torch

from conftest import run_in_process as zoo3d
from test_cli_invert_options import single_pass, sphere  # noqa: F401 (fixtures)
from test_invert_cli import toy_image  # noqa: F401 (a fixture)
from test_invert_optimize import FlatColour
from test_invert_optimize_shared_hits import BUILD, counted_intersections, target_and_camera
from zoo3d.cameras import Camera
from zoo3d.errors import UserError
from zoo3d.invert import OptimizationInverter, OptimizeSettings

pytestmark = pytest.mark.usefixtures("single_thread")

#: the part of each micro generator that is not its geometry and that the tuning moves
RADIANCE = {"efficient_gram": "decoder", "gram": "radiance_net"}


def _weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _equal(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a, b))


@pytest.mark.parametrize("model", sorted(BUILD))
def test_pti_keeping_the_geometry_leaves_the_manifold_predictor_exactly_and_tunes_the_radiance(model):
    build, space = BUILD[model]
    gen = build()
    image, cams = target_and_camera(gen)
    manifold, radiance = _weights(gen.manifold), _weights(getattr(gen, RADIANCE[model]))
    settings = OptimizeSettings(space=space, steps=1, tune_steps=3, tune_lr=1e-3, perceptual_weight=0,
                                keep_geometry=True)
    result = OptimizationInverter(gen, settings).invert(image, cams)
    tuned = result.generator
    assert tuned is not None and tuned is not gen
    assert _equal(manifold, tuned.manifold.parameters())  # bit for bit, every weight of the geometry
    assert not _equal(radiance, getattr(tuned, RADIANCE[model]).parameters())
    assert _equal(manifold, gen.manifold.parameters()) and _equal(radiance, getattr(gen, RADIANCE[model]).parameters())
    losses = result.extras["losses"]
    assert len(losses) == 4 and losses[-1] < losses[1]  # the tuning fitted the image better


@pytest.mark.parametrize("model", sorted(BUILD))
def test_pti_keeping_the_geometry_intersects_the_input_camera_once_for_every_step(monkeypatch, model):
    """The latent steps and the tuning steps render from one intersection; tuning every weight intersects afresh
    at each tuning step, as the geometry moves."""
    build, space = BUILD[model]
    gen = build()
    image, cams = target_and_camera(gen)
    calls = counted_intersections(monkeypatch)
    for keep, intersections in ((True, 1), (False, 1 + 3)):
        calls.clear()
        settings = OptimizeSettings(space=space, steps=2, tune_steps=3, perceptual_weight=0, keep_geometry=keep)
        OptimizationInverter(gen, settings).invert(image, cams)
        assert len(calls) == intersections, keep


def test_a_generator_without_a_shared_geometry_is_refused_before_any_step():
    from zoo3d.invert import keeps_geometry

    gen = FlatColour()
    assert not keeps_geometry(gen)
    with pytest.raises(UserError, match=r"no shared geometry that PTI can keep apart .* leave keep_geometry off\.$"):
        OptimizationInverter(gen, OptimizeSettings(tune_steps=2, keep_geometry=True))
    result = OptimizationInverter(gen, OptimizeSettings(steps=1, tune_steps=1, perceptual_weight=0)).invert(
        torch.zeros(1, 3, 8, 8), Camera.from_angles(0.0, 0.0))
    assert result.generator is not None  # without it, PTI tunes this generator's every weight as before


# ---------------------------------------------------------------------------------------------------- the command
@pytest.fixture
def shared_geometry(monkeypatch):
    """The toy generator given a geometry every instance shares: ``intersect`` and ``render(..., intersections=)``,
    recording what each render was given."""
    import toy_model

    given = []
    render = toy_model.ToyGenerator.render

    def intersect(self, cameras, resolution=None):
        return ("hits", len(cameras))

    def render_from(self, representation, cameras, resolution=None, intersections=None):
        given.append(intersections)
        return render(self, representation, cameras, resolution)

    monkeypatch.setattr(toy_model.ToyGenerator, "intersect", intersect, raising=False)
    monkeypatch.setattr(toy_model.ToyGenerator, "render", render_from)
    return given


def _metrics(folder) -> dict:
    import json

    return json.loads((folder / "sphere" / "metrics.json").read_text())


OPTIMISE = ["--model", "toy_procedural", "--method", "optimize", "--pose", "0.1,0", "--steps", "1", "--frames", "1"]


def test_keep_geometry_reaches_pti_and_metrics_json_records_it(sphere, shared_geometry, tmp_path, capsys):
    code, out, err = zoo3d(capsys, "invert", sphere, *OPTIMISE, "--tune-steps", "2", "--keep-geometry", "--out", "k")
    assert code == 0, err
    # one latent step and two tuning steps from the latent step's hits; the outputs' renders intersect afresh
    assert shared_geometry[:3] == [("hits", 1)] * 3 and set(shared_geometry[3:]) == {None}
    assert (_metrics(tmp_path / "k")["keep_geometry"], _metrics(tmp_path / "k")["tune_steps"]) == (True, 2)
    shared_geometry.clear()
    code, out, err = zoo3d(capsys, "invert", sphere, *OPTIMISE, "--tune-steps", "2", "--out", "every")
    assert code == 0, err
    assert shared_geometry[:3] == [("hits", 1), None, None]  # every weight tuned: each tuning step intersects
    assert _metrics(tmp_path / "every")["keep_geometry"] is False
    code, out, err = zoo3d(capsys, "invert", sphere, *OPTIMISE, "--tune-steps", "2", "--out", "every", "--resume")
    assert code == 0 and "passed over" in err, err
    code, out, err = zoo3d(capsys, "invert", sphere, *OPTIMISE, "--tune-steps", "2", "--keep-geometry",
                           "--out", "every", "--resume")
    assert code == 0 and "passed over" not in err, err  # other settings: inverted again
    assert _metrics(tmp_path / "every")["keep_geometry"] is True


@pytest.mark.parametrize("args, sentence", [
    (["--method", "optimize", "--tune-steps", "3"],
     "Model 'toy_procedural' has no shared geometry that PTI can keep apart from the rest (its generator exposes no "
     "intersect(cameras, resolution), as GRAM's and GRAMInverter's do); leave --keep-geometry out."),
    (["--method", "optimize"], "--keep-geometry sets what PTI's tuning steps keep, and --tune-steps is 0 (no tuning); "
                               "give --tune-steps N, or leave --keep-geometry out."),
])
def test_keep_geometry_refusals_are_one_sentence_before_anything_is_written(sphere, tmp_path, capsys, args, sentence):
    code, out, err = zoo3d(capsys, "invert", sphere, "--model", "toy_procedural", "--pose", "0.1,0", *args,
                           "--keep-geometry", "--out", "o")
    assert code == 2 and err.strip() == f"Error: {sentence}"
    assert not (tmp_path / "o").exists()


def test_keep_geometry_with_the_single_pass_inverter_asks_for_the_optimisation(single_pass, tmp_path, capsys):
    code, out, err = zoo3d(capsys, "invert", "sphere.png", "--model", "toy_procedural", "--keep-geometry",
                           "--out", "o")
    assert code == 2 and err.strip() == ("Error: --keep-geometry set the latent optimisation; add --method optimize "
                                         "(the single-pass inverter has no steps).")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_gram_hds_pti_past_stage_one_leaves_its_manifolds_as_trained_in_any_case():
    """GRAM-HD has no ``intersect`` (so --keep-geometry is refused), but once stage 2 has begun its render intersects
    and grids the manifolds without gradient: PTI tunes its radiance and super-resolution only (docs/training.md)."""
    from zoo3d.config import load_run_config
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec("gram_hd")
    plugin = spec.load()
    cfg = load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny", None,
                          ["generator.resolution=32", "generator.lowres.resolution=16"])
    torch.manual_seed(0)
    gen = plugin.build(cfg)["generator"].eval()
    gen.super_resolve.fill_(True)
    with torch.no_grad():  # a trained net's detail: the zero-initialised last layers pass no gradient back
        for p in gen.foreground_sr.parameters():
            p.add_(0.05 * torch.randn_like(p))
    manifold, radiance = _weights(gen.lowres.manifold), _weights(gen.lowres.radiance_net)
    settings = OptimizeSettings(steps=0, tune_steps=1, tune_lr=1e-2, perceptual_weight=0)
    tuned = OptimizationInverter(gen, settings).invert(torch.zeros(1, 3, 32, 32),
                                                       Camera.from_angles(0.1, 0.0, 1.0, 12.0)).generator
    assert _equal(manifold, tuned.lowres.manifold.parameters())
    assert not _equal(radiance, tuned.lowres.radiance_net.parameters())
