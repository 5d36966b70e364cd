"""Depth pictures show the surface's distance (docs/rendering.md, "Depth pictures"): a render without a background
composites depth as sum w t, which fades to 0 where the foreground is part empty; `sample --depth`, `render --depth`
and invert's depth.png draw sum w t / alpha where alpha >= 0.5 and the background far (black). The expected grey
levels are written here from the documented mapping: near white, far black, 1 - 2 (d - near) / (far - near) over
the drawn surface's range, byte = round((level + 1) * 127.5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import toy_model
from cli_toy import read_rgb, tile, toy, train_toy_run, zoo3d  # noqa: F401 (toy: a fixture)
from zoo3d.cameras import Camera
from zoo3d.core.inverter import InversionResult
from zoo3d.core.outputs import RenderOutput
from zoo3d.imageio import depth_to_image, picture_depth
from zoo3d.invert.outputs import write_inversion_outputs
from zoo3d.render import VolumeRenderer

pytestmark = pytest.mark.usefixtures("single_thread")

#: A stand-in scene, by image column quarter: opacity and the distance of the surface it shows.
ALPHAS = (1.0, 0.8, 0.6, 0.02)
DISTANCES = (1.0, 1.1, 1.4, 1.1)
#: Drawn: d = 1.0 nearest (white, 255), 1.1 a quarter of the way (0.5 -> 191), 1.4 farthest (black, 0); the ray 2 %
#: opaque is background, drawn far (0). Its sum w t (0.022) drawn as a depth would have been the nearest: white.
WANT_BYTES = (255, 191, 0, 0)


def _columns(values, width: int, height: int) -> torch.Tensor:
    """(1, 1, height, width) of one value per column quarter."""
    return torch.tensor(values).repeat_interleave(width // 4).expand(1, 1, height, width).clone()


def _scene(b: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    alpha = _columns(ALPHAS, w, h).expand(b, -1, -1, -1)
    return alpha * _columns(DISTANCES, w, h), alpha  # depth = sum w t = alpha * d


def _want(h: int, w: int) -> np.ndarray:
    return np.repeat(np.array(WANT_BYTES, dtype=np.float64), w // 4)[None, :].repeat(h, 0)


def test_a_part_empty_foreground_is_drawn_at_its_surface_and_an_empty_ray_far():
    depth, alpha = _scene(2, 2, 8)
    drawn = depth_to_image(picture_depth(RenderOutput(rgb=torch.zeros(2, 3, 2, 8), depth=depth, alpha=alpha)))
    levels = [1.0, 0.5, -1.0, -1.0]  # 1 - 2 (d - 1.0) / (1.4 - 1.0); background far
    assert drawn[0, 0, 0].tolist() == pytest.approx([v for v in levels for _ in range(2)], abs=1e-6)
    # nothing hit at all: every pixel background, black, not white
    empty = RenderOutput(rgb=torch.zeros(1, 3, 2, 2), depth=torch.zeros(1, 1, 2, 2), alpha=torch.zeros(1, 1, 2, 2))
    assert torch.equal(depth_to_image(picture_depth(empty)), -torch.ones(1, 1, 2, 2))


def test_a_render_with_a_background_layer_keeps_its_depth():
    # GRAM's manifold renderer and the oracle give foreground_depth: their depth also sums the background plane
    depth = torch.tensor([[[[0.95, 1.05], [1.20, 1.30]]]])
    alpha = torch.tensor([[[[1.0, 0.3], [0.0, 0.0]]]])
    out = RenderOutput(rgb=torch.zeros(1, 3, 2, 2), depth=depth, alpha=alpha,
                       extras={"foreground_depth": depth * alpha})
    assert torch.equal(picture_depth(out), depth)
    want = [1.0, 1 - 2 * 0.10 / 0.35, 1 - 2 * 0.25 / 0.35, -1.0]  # near 0.95, far 1.30: the plane drawn, not blanked
    assert depth_to_image(picture_depth(out)).reshape(-1).tolist() == pytest.approx(want, abs=1e-6)
    assert picture_depth(RenderOutput(rgb=torch.zeros(1, 3, 2, 2), depth=depth)) is depth  # no alpha: as given


def test_a_manifold_render_without_its_background_plane_draws_the_surface():
    # GRAM's CARLA preset has no plane (background_z: null): depth = foreground_depth = sum w t, fading to 0
    depth, alpha = _scene(1, 2, 8)
    out = RenderOutput(rgb=torch.zeros(1, 3, 2, 8), depth=depth, alpha=alpha, extras={"foreground_depth": depth})
    levels = [1.0, 0.5, -1.0, -1.0]
    assert depth_to_image(picture_depth(out))[0, 0, 0].tolist() == pytest.approx(
        [v for v in levels for _ in range(2)], abs=1e-6)


def test_the_oracles_picture_keeps_its_background_plane_and_its_metric_depth_is_unchanged():
    from zoo3d.eval.depth import surface_depth
    from zoo3d_oracle.model import OracleGenerator

    gen = OracleGenerator()
    cams = Camera.from_angles(torch.tensor([0.0, 0.3]), 0.0, gen.camera_prior.radius, gen.camera_prior.fov)
    with torch.no_grad():
        out = gen.render(gen.represent(torch.randn(2, gen.z_dim, generator=torch.Generator().manual_seed(0))), cams,
                         (8, 8))
    mask = out.alpha > 0.5
    assert bool(mask.any()) and bool((~mask).any())  # both the head and the plane in view
    assert torch.equal(picture_depth(out), out.depth)  # the plane keeps its distance, drawn farther than the head
    # the depth metric's surface: the head's exact distance on the head, as it was from depth / alpha
    assert torch.equal(surface_depth(out.depth, out.alpha, out.extras["foreground_depth"])[mask], out.depth[mask])


@pytest.mark.parametrize("fill_last", [False, True])
def test_a_volume_render_that_fills_its_last_sample_draws_the_same_surface(fill_last):
    # a uniform medium, 6 samples at 0.90 + 0.04 k, each section 0.04 long: w_k = a (1 - a)^k, a = 1 - exp(-0.04 s);
    # pi-GAN's and StyleSDF's eval_fill_last gives the last sample the rest, which is not the surface's
    class Medium:
        kind, bounds = "density", 1.0

        def query(self, points, dirs):
            from zoo3d.core.representation import Radiance

            return Radiance(rgb=torch.full_like(points, 0.5), sigma=torch.full_like(points[..., :1], 5.0))

    renderer = VolumeRenderer(6, near=0.88, far=1.12, density_activation="relu", eval_fill_last=fill_last).eval()
    out = renderer.render(Medium(), Camera.from_angles(0.0, 0.0, fov=12.0, dtype=torch.float64), (1, 1))
    a = 1 - np.exp(-0.04 * 5.0)
    w = a * (1 - a) ** np.arange(6)
    t = 0.90 + 0.04 * np.arange(6)
    assert w.sum() > 0.5  # drawn as a surface
    assert float(picture_depth(out)) == pytest.approx(float((w * t).sum() / w.sum()), rel=1e-6)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_toy_run(tmp_path_factory, "depth_pictures")


@pytest.fixture
def stand_in(monkeypatch):
    """The toy run's generator draws the column scene instead of its sphere."""
    def render(colour, radius, cameras, resolution):
        depth, alpha = _scene(len(cameras), *resolution)
        return RenderOutput(rgb=alpha.expand(-1, 3, -1, -1) * 2 - 1, depth=depth, alpha=alpha)

    monkeypatch.setattr(toy_model, "render_spheres", render)


def test_sample_depth_rows_draw_the_surface_and_the_background_far(run, toy, stand_in, capsys):
    assert zoo3d("sample", run, "--seeds", "0-1", "--resolution", "8", "--depth", "--out", "d.png") == 0
    grid = read_rgb(toy / "d.png")
    for col in range(2):
        assert np.array_equal(tile(grid, 1, col, 8, 8)[..., 0], _want(8, 8))


def test_render_depth_side_draws_the_surface_and_the_background_far(run, toy, stand_in, capsys):
    assert zoo3d("render", run, "--frames", "2", "--resolution", "8", "--depth", "side", "--out", "f") == 0
    for k in range(2):
        frame = np.asarray(Image.open(toy / "f" / f"frame_{k:04d}.png").convert("RGB"), dtype=np.float64)
        assert np.array_equal(frame[:, 8:, 0], _want(8, 8))


def test_invert_depth_png_draws_the_surface_and_the_background_far(tmp_path):
    class Inverter:
        def render(self, result, cameras, resolution=None):
            depth, alpha = _scene(len(cameras), 8, 8)
            return RenderOutput(rgb=alpha.expand(-1, 3, -1, -1) * 2 - 1, depth=depth, alpha=alpha)

    result = InversionResult(representation=None, cameras=Camera.from_angles(0.0, 0.0, 1.0, 12.0))
    write_inversion_outputs(Inverter(), result, torch.zeros(1, 3, 8, 8), tmp_path / "out", frames=1)
    assert np.array_equal(read_rgb(tmp_path / "out" / "depth.png")[..., 0], _want(8, 8))
