"""pi-GAN's density noise is drawn where and as often as the authors' code draws it.

marcoamonteiro/pi-GAN ``generators/volumetric_rendering.py`` adds ``randn * nerf_noise`` to the raw density inside
``fancy_integration``, which ``generators/generators.py`` calls twice while training: over the coarse samples for
the importance weights, then over all (coarse and fine, sorted) samples for the image. Each call draws afresh, so
the noise a coarse sample carries into the image is not the noise that placed the fine samples. The replay below
restates that: the process RNG is the only source of randomness left once the jitter and importance ``u`` are given.
"""

from __future__ import annotations

import torch

from conftest import reference_weights
from test_pigan_generator_glue import generator
from zoo3d.cameras import Camera
from zoo3d.core.representation import Radiance
from zoo3d.render.samples import sample_pdf
from zoo3d.render.volume import SampleDraws, VolumeRenderer

STD = 0.7


def _weights(raw: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """NeRF weights from raw density with ReLU: differences to the next sample, the last one 1e10 long."""
    delta = torch.cat([t[..., 1:] - t[..., :-1], torch.full_like(t[..., :1], 1e10)], -1)
    alpha = 1 - torch.exp(-torch.relu(raw) * delta)
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1 - alpha + 1e-10], -1), -1)[..., :-1]
    return alpha * trans


def test_the_noise_is_drawn_once_for_the_importance_weights_and_once_more_for_the_image():
    gen = generator("generator.rendering.convention=upstream").train()
    S, near, far = 6, gen.renderer.near, gen.renderer.far
    gen.density_noise = STD
    g = torch.Generator().manual_seed(3)
    rep = gen.represent(torch.randn(1, 8, generator=g))
    draws = SampleDraws(jitter=torch.rand(1, 4, S, generator=g), importance=torch.rand(1, 4, S, generator=g))
    torch.manual_seed(11)
    with torch.no_grad():
        out = gen.render(rep, Camera.from_angles([0.2], [0.1]), (2, 2), draws=draws)
    torch.manual_seed(11)
    first, second = torch.randn(1, 4, S), torch.randn(1, 4, 2 * S)  # upstream's two calls, in order

    t = out.extras["t"].reshape(1, 2 * S, 4).transpose(1, 2)  # (B, rays, 2S), sorted
    raw = out.extras["raw"].reshape(1, 2 * S, 4).transpose(1, 2)  # the field's noise-free density
    step = (far - near) / (S - 1)
    t_coarse = near + step * torch.arange(S) + (draws.jitter - 0.5) * step  # linspace jittered by +-step / 2
    is_coarse = (t.unsqueeze(-1) - t_coarse.unsqueeze(-2)).abs().min(-1).values < 1e-6
    assert is_coarse.sum(-1).tolist() == [[S] * 4]
    raw_coarse = raw[is_coarse].reshape(1, 4, S)
    torch.testing.assert_close(raw_coarse, rep.query(*_points(gen, t_coarse)).sigma.reshape(1, 4, S))

    # the fine samples come from the coarse weights under the first draw
    w = _weights(raw_coarse + STD * first, t_coarse)
    mids = 0.5 * (t_coarse[..., 1:] + t_coarse[..., :-1])
    expected_fine = sample_pdf(mids, w[..., 1:-1] + 1e-5, S, u=draws.importance)
    fine = t[~is_coarse].reshape(1, 4, S)
    torch.testing.assert_close(fine, expected_fine.sort(-1).values, rtol=1e-5, atol=1e-6)
    # the image's weights come from every sample under the second draw
    torch.testing.assert_close(out.weights.reshape(1, 2 * S, 4).transpose(1, 2), _weights(raw + STD * second, t),
                               rtol=1e-5, atol=1e-6)


def _points(gen, t: torch.Tensor):
    """The world points at depths t (B, rays, S) along the rays of the render above, and their directions."""
    from zoo3d_pigan.generator import ndc_grid_cameras

    origins, dirs = ndc_grid_cameras(Camera.from_angles([0.2], [0.1]), 2, 2).rays(2, 2)
    pts = origins.unsqueeze(-2) + t.unsqueeze(-1) * dirs.unsqueeze(-2)
    return pts.reshape(1, -1, 3), dirs.unsqueeze(-2).expand_as(pts).reshape(1, -1, 3)


def test_without_hierarchical_sampling_the_image_takes_the_one_draw():
    gen = generator("generator.rendering.convention=upstream", "generator.rendering.hierarchical=false").train()
    gen.density_noise = STD
    g = torch.Generator().manual_seed(4)
    rep = gen.represent(torch.randn(1, 8, generator=g))
    draws = SampleDraws(jitter=torch.rand(1, 4, 6, generator=g))
    torch.manual_seed(5)
    with torch.no_grad():
        out = gen.render(rep, Camera.from_angles([0.0], [0.0]), (2, 2), draws=draws)
        after = torch.randn(1)
    torch.manual_seed(5)
    noise = torch.randn(1, 4, 6)
    t = out.extras["t"].reshape(1, 6, 4).transpose(1, 2)
    raw = out.extras["raw"].reshape(1, 6, 4).transpose(1, 2)
    torch.testing.assert_close(out.weights.reshape(1, 6, 4).transpose(1, 2), _weights(raw + STD * noise, t),
                               rtol=1e-5, atol=1e-6)
    assert torch.equal(after, torch.randn(1))  # nothing else drawn


def test_a_given_generator_draws_the_noise_and_the_process_rng_is_left_alone():
    gen = generator().train()
    gen.density_noise = STD
    rep = gen.represent(torch.randn(1, 8, generator=torch.Generator().manual_seed(6)))
    cams = Camera.from_angles([0.1], [0.0])
    state = torch.get_rng_state()
    with torch.no_grad():
        a, b = (gen.renderer.render(rep, cams, (2, 2), generator=torch.Generator().manual_seed(9)) for _ in range(2))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.weights, b.weights) and torch.equal(a.rgb, b.rgb)


class _NoisyFog:
    """Density 3 everywhere, with pi-GAN's density noise of std STD."""

    kind, bounds, density_noise = "density", 1.0, STD

    def query(self, points, dirs):
        return Radiance(rgb=torch.full_like(points, 0.5), sigma=torch.full_like(points[..., :1], 3.0))


def test_eg3d_sample_placement_draws_the_noise_once_per_integration_too():
    """``sampling="eg3d"`` integrates over the intervals between its samples (in eval mode linspace(0.5, 1.5, 6)
    moved by its jitter's mean, half a spacing: five intervals of 0.2 centred on 0.7 ... 1.5): the image takes one
    draw over them; with importance samples a draw over the coarse intervals comes first, then one over all of
    them, both from the given generator."""
    cams = Camera.from_angles([0.0], [0.0])
    renderer = VolumeRenderer(6, near=0.5, far=1.5, density_activation="relu", sampling="eg3d").eval()
    state = torch.get_rng_state()
    with torch.no_grad():
        out = renderer.render(_NoisyFog(), cams, (1, 2), generator=torch.Generator().manual_seed(9))
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(out.extras["t"].reshape(5, 2).T, torch.tensor([0.7, 0.9, 1.1, 1.3, 1.5]).expand(2, 5))
    noise = torch.randn(2, 5, generator=torch.Generator().manual_seed(9))
    expected = [reference_weights((1 - torch.exp(-torch.relu(3.0 + STD * n) * 0.2)).tolist(), 1e-10) for n in noise]
    torch.testing.assert_close(out.weights.reshape(5, 2).T, torch.tensor(expected), rtol=1e-5, atol=1e-7)

    fine = VolumeRenderer(6, num_importance=4, near=0.5, far=1.5, density_activation="relu", sampling="eg3d").eval()
    g = torch.Generator().manual_seed(9)
    with torch.no_grad():
        fine.render(_NoisyFog(), cams, (1, 2), generator=g)
    replay = torch.Generator().manual_seed(9)
    torch.randn(1, 2, 5, generator=replay), torch.randn(1, 2, 9, generator=replay)  # coarse, then all intervals
    assert torch.equal(g.get_state(), replay.get_state())
