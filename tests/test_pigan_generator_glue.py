"""pi-GAN's generator glue against the authors' code (marcoamonteiro/pi-GAN ``siren/siren.py``,
``generators/volumetric_rendering.py``): head inits, the colour layer's FiLM slice, the noise-free query, the
truncation centre and how the config reaches the renderer.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from zoo3d.cameras import Camera
from zoo3d.config import load_run_config
from zoo3d.render.volume import SampleDraws
import zoo3d_pigan
from zoo3d_pigan.config import PiGanConfig
from zoo3d_pigan.generator import PiGanField, PiGanGenerator, PiGanSiren, ndc_grid_cameras

PRESETS = Path(zoo3d_pigan.__file__).parent / "presets"
STAGE = "{name: res8, resolution: 8, steps: 1, batch_size: 2, lr: {generator: 6.0e-5, discriminator: 2.0e-4}}"
MICRO = ["generator.z_dim=8", "generator.mapping_hidden=16", "generator.depth=2", "generator.width=16",
         "generator.rendering.num_steps=6", f"stages=[{STAGE}]"]


def generator(*extra: str) -> PiGanGenerator:
    torch.manual_seed(0)
    return PiGanGenerator(load_run_config(PiGanConfig, "pigan", PRESETS, "tiny", overrides=MICRO + list(extra)))


def points_and_dirs(n: int = 32, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    p = (torch.rand(1, n, 3, generator=g) * 2 - 1) * 0.1
    return p, torch.nn.functional.normalize(torch.randn(1, n, 3, generator=g), dim=-1)


def test_heads_use_sirens_frequency_init_of_25():
    """Upstream applies frequency_init(25) to the density and colour heads: U(+-sqrt(6 / fan_in) / 25)."""
    torch.manual_seed(0)
    siren = PiGanSiren(depth=1, width=256, input_scale=1.0)
    bound = math.sqrt(6 / 256) / 25
    for head in (siren.sigma_head, siren.color_head):
        w = head.weight.abs().max().item()
        assert bound * 0.97 < w <= bound  # 256+ draws reach the bound's top 3 %; 26 would stop below it


def test_the_colour_layer_takes_the_last_film_slice_and_the_trunk_the_others():
    torch.manual_seed(0)
    siren = PiGanSiren(depth=2, width=16, input_scale=2 / 0.24)
    p, d = points_and_dirs()
    freq, phase = torch.randn(1, 3, 16) * 15 + 30, torch.randn(1, 3, 16)
    with torch.no_grad():
        sigma, rgb = siren(p, d, freq, phase)
        for which in ("freq", "phase"):
            f, ph = freq.clone(), phase.clone()
            (f if which == "freq" else ph)[:, -1] += 1.0
            s2, rgb2 = siren(p, d, f, ph)
            torch.testing.assert_close(s2, sigma, rtol=0, atol=0)  # the density never sees the colour slice
            assert (rgb2 - rgb).abs().max() > 1e-3


def test_a_query_answers_the_noise_free_density_whatever_the_noise():
    """Upstream adds randn * nerf_noise in ``fancy_integration``, not in the network: the renderer draws it
    (tests/test_pigan_density_noise_draws.py), a query answers the field itself."""
    gen = generator()
    p, d = points_and_dirs()
    freq, phase = gen.mapping(torch.randn(1, 8))
    with torch.no_grad():
        clean = PiGanField(gen.siren, freq, phase, 0.12).query(p, d).sigma
        state = torch.get_rng_state()
        noisy = PiGanField(gen.siren, freq, phase, 0.12, density_noise=0.5).query(p, d).sigma
    assert torch.equal(noisy, clean) and torch.equal(torch.get_rng_state(), state)


def test_without_noise_a_query_draws_nothing_from_the_process_rng():
    gen = generator()
    rep = gen.represent(torch.randn(1, 8))
    state = torch.get_rng_state()
    with torch.no_grad():
        rep.query(*points_and_dirs())
    assert torch.equal(torch.get_rng_state(), state)


def test_a_training_generator_adds_no_noise_until_the_recipe_sets_it():
    gen = generator().train()
    rep = gen.represent(torch.randn(1, 8))
    assert rep.density_noise == 0.0
    with torch.no_grad():
        a, b = rep.query(*points_and_dirs()).sigma, rep.query(*points_and_dirs()).sigma
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_truncation_centre_is_the_mean_film_over_seeded_latents_and_follows_the_weights():
    gen = generator()
    with torch.no_grad():
        f, ph = gen.mapping(torch.randn(96, 8, generator=torch.Generator().manual_seed(3)))
        freq, phase = gen.truncation_centre(num_samples=96, seed=3)
    torch.testing.assert_close(freq, f.mean(0, keepdim=True), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(phase, ph.mean(0, keepdim=True), rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # the defaults: 10000 latents of seed 0
        f, _ = gen.mapping(torch.randn(10000, 8, generator=torch.Generator().manual_seed(0)))
        default = gen.truncation_centre()
        torch.testing.assert_close(default[0], f.mean(0, keepdim=True), rtol=2e-6, atol=2e-6)
        assert gen.truncation_centre() is default  # kept while the weights stay
        gen.mapping.out.bias.add_(1.0)
        assert not torch.allclose(gen.truncation_centre()[0], default[0])


def test_represent_lerps_towards_the_centre_only_when_psi_is_not_one():
    gen = generator()
    z = torch.randn(2, 8)
    with torch.no_grad():
        freq, phase = gen.mapping(z)
        plain = gen.represent(z)
        avg_f, avg_p = gen.truncation_centre()
        far = gen.represent(z, psi=2.0)
    torch.testing.assert_close(plain.freq, freq, rtol=0, atol=0)
    torch.testing.assert_close(far.freq, avg_f + 2.0 * (freq - avg_f))
    torch.testing.assert_close(far.phase, avg_p + 2.0 * (phase - avg_p))


def test_the_config_reaches_the_networks_and_the_renderer():
    """The sampled cube is [-(far - near) / 2, (far - near) / 2]^3 and the SIREN sees p * 2 / box_size (upstream's
    UniformBoxWarp); the mapping has mapping_layers hidden layers; the renderer gets the rendering options."""
    gen = generator("generator.mapping_layers=2", "generator.box_size=0.5", "generator.rendering.near=0.7",
                    "generator.rendering.far=1.2", "generator.rendering.white_background=true")
    assert gen.bounds == pytest.approx(0.25) and gen.represent(torch.zeros(1, 8)).bounds == pytest.approx(0.25)
    assert gen.siren.input_scale == pytest.approx(4.0)
    assert sum(isinstance(m, nn.Linear) for m in gen.mapping.modules()) == 2 + 1
    r = gen.renderer
    assert (r.near, r.far, r.num_importance, r.stratified) == (0.7, 1.2, 6, True)
    assert r.spacing == "bins" and r.intervals == "sections" and r.importance_bins == "sections"
    assert r.background == "white"
    coarse = generator("generator.rendering.hierarchical=false").renderer
    assert coarse.num_importance == 0 and coarse.background is None
    up = generator("generator.rendering.convention=upstream").renderer
    assert (up.spacing, up.intervals, up.importance_bins) == ("linspace", "differences", "midpoints")


def test_render_uses_the_given_draws_and_the_generators_dtype():
    gen = generator().train()
    rep = gen.represent(torch.randn(1, 8))
    cams = Camera.from_angles([0.1], [0.0])
    g = torch.Generator().manual_seed(2)
    draws = SampleDraws(torch.rand(1, 64, 6, generator=g), torch.rand(1, 64, 6, generator=g))
    with torch.no_grad():
        torch.manual_seed(0)
        a = gen.render(rep, cams, (8, 8), draws=draws)
        torch.manual_seed(1)
        b = gen.render(rep, cams, (8, 8), draws=draws)
        c = gen.render(rep, Camera(cams.cam2world.double(), cams.intrinsics.double()), (8, 8), draws=draws)
    torch.testing.assert_close(a.rgb, b.rgb, rtol=0, atol=0)  # the draws, not the process rng, place the samples
    assert c.rgb.dtype == torch.float32
    torch.testing.assert_close(c.rgb, a.rgb)


def test_ndc_grid_cameras_keep_the_pose_and_default_size():
    cams = Camera.from_angles([0.2], [0.1], resolution=(6, 6))
    ndc = ndc_grid_cameras(cams, 6, 6)
    assert ndc.resolution == (6, 6)
    torch.testing.assert_close(ndc.cam2world, cams.cam2world, rtol=0, atol=0)
    torch.testing.assert_close(ndc.intrinsics[:, 0, 0], cams.intrinsics[:, 0, 0] * 5 / 6)


def test_training_renders_jitter_their_samples_even_without_density_noise():
    """Upstream perturbs the sample depths while training; zoo3d's stratified sampling does the same."""
    gen = generator().train()
    rep = gen.represent(torch.randn(1, 8))
    cams = Camera.from_angles([0.1], [0.0])
    with torch.no_grad():
        torch.manual_seed(0)
        a = gen.render(rep, cams, (4, 4))
        torch.manual_seed(1)
        b = gen.render(rep, cams, (4, 4))
    assert rep.density_noise == 0.0 and not torch.allclose(a.extras["t"], b.extras["t"])


def test_a_field_counts_its_scenes():
    gen = generator()
    rep = gen.represent(torch.randn(5, 8))  # 5 scenes of 3 FiLM layers each
    assert len(rep) == 5 and rep.device == torch.device("cpu")
