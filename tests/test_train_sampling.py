"""Fixed-seed rendering (training sample grids, ``zoo3d sample``, ``zoo3d render``) with a stand-in generator
whose images write out the latent and the camera they were rendered from."""

from __future__ import annotations

import torch

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.outputs import RenderOutput
from zoo3d.train.sampling import render_views, sample_grid_images, seed_latents, yaw_rows


def test_a_seed_is_the_same_latent_in_any_list():
    """Seed s is randn(1, z_dim) from a CPU generator seeded with s (the module's contract)."""
    z = seed_latents([7, 3, 7, 12], 5)
    for row, s in zip(z, [7, 3, 7, 12]):
        assert torch.equal(row, torch.randn(1, 5, generator=torch.Generator().manual_seed(s))[0])
    assert torch.equal(seed_latents([3], 5)[0], z[1])
    assert not torch.equal(z[0], z[1])


class Echo:
    """A generator whose image i is (z[i, 0], camera origin x, psi) per pixel and whose depth is z[i, 1];
    it records the batch size of each call and draws from the process RNG like a real generator's noise."""

    def __init__(self, z_dim=4, prior=None, depth=True):
        self.z_dim, self.camera_prior, self.depth = z_dim, prior or CameraPrior(), depth
        self.device = torch.device("cpu")
        self.calls: list[tuple[int, object]] = []
        self.cameras: list[Camera] = []
        self.latents: list[torch.Tensor] = []

    def __call__(self, z, cameras, psi=1.0, resolution=None):
        H, W = resolution or (2, 2)
        self.calls.append((z.shape[0], resolution))
        self.cameras.append(cameras)
        self.latents.append(z)
        torch.rand(3)
        o = cameras.origins
        rgb = torch.stack([z[:, 0], o[:, 0], torch.full_like(z[:, 0], psi)], 1)[..., None, None].expand(-1, 3, H, W)
        depth = z[:, 1, None, None, None].expand(-1, 1, H, W) if self.depth is True or self.depth(z) else None
        return RenderOutput(rgb=rgb.double(), depth=None if depth is None else depth.double())


def test_views_render_each_latent_from_its_camera_in_chunks():
    z = seed_latents(range(7), 4)
    cams = Camera.from_angles(torch.linspace(-0.4, 0.4, 7), 0.1, 2.0, 12.0)
    gen = Echo()
    state = torch.get_rng_state()
    out = render_views(gen, z, cams, psi=0.7, resolution=(3, 2), chunk=3)
    assert torch.equal(torch.get_rng_state(), state)  # the generator's draws leave the training stream alone
    assert gen.calls == [(3, (3, 2)), (3, (3, 2)), (1, (3, 2))]
    assert out.rgb.dtype == torch.float32 and out.rgb.shape == (7, 3, 3, 2)
    assert torch.equal(out.rgb[:, 0, 1, 1], z[:, 0])
    assert torch.equal(out.rgb[:, 1, 2, 0], cams.origins[:, 0])
    assert (out.rgb[:, 2] == torch.tensor(0.7, dtype=torch.float64).float()).all()
    assert out.depth.dtype == torch.float32 and torch.equal(out.depth[:, 0, 0, 1], z[:, 1])
    assert render_views(gen, z, cams).rgb.shape == (7, 3, 2, 2) and gen.calls[-1] == (7, None)
    assert (render_views(gen, z, cams).rgb[:, 2] == 1).all()  # psi 1 by default
    z10, cams10 = seed_latents(range(10), 4), Camera.from_angles(torch.zeros(10), 0.0, 2.0, 12.0)
    render_views(gen, z10, cams10)
    assert gen.calls[-2:] == [(8, None), (2, None)]  # 8 images at a time by default


def test_views_have_no_depth_unless_every_chunk_gives_one():
    z, cams = seed_latents(range(5), 4), Camera.from_angles(torch.zeros(5), 0.0, 2.0, 12.0)
    assert render_views(Echo(depth=lambda z: False), z, cams, chunk=2).depth is None
    assert render_views(Echo(depth=lambda z: z.shape[0] == 2), z, cams, chunk=2).depth is None  # not the last
    assert render_views(Echo(), z, cams, chunk=2).depth.shape == (5, 1, 2, 2)


def test_yaw_rows_are_the_prior_mean_and_one_std_either_side():
    prior = CameraPrior(yaw_mean=0.1, yaw_std=0.25)
    assert yaw_rows(prior) == [0.1 - 0.25, 0.1, 0.1 + 0.25]
    assert yaw_rows(prior, yaw=0.5) == [0.1 - 0.5, 0.1, 0.1 + 0.5]
    assert yaw_rows(CameraPrior(yaw_mean=-0.2, yaw_std=0.0)) == [-0.2 - 0.3, -0.2, -0.2 + 0.3]
    assert yaw_rows(prior, yaw=0.0) == [0.1, 0.1, 0.1]


def test_a_sample_grid_has_one_row_per_yaw_and_one_column_per_seed():
    prior = CameraPrior(yaw_mean=0.05, pitch_mean=0.2, radius=2.5, fov=14.0)
    gen = Echo(z_dim=6, prior=prior)
    seeds, yaws = [4, 9], [-0.3, 0.0, 0.4]
    grid = sample_grid_images(gen, seeds, psi=0.5, yaws=yaws, resolution=(2, 3))
    assert grid.shape == (6, 3, 2, 3)
    z = seed_latents(seeds, 6)
    assert torch.equal(torch.cat(gen.latents), torch.cat([z] * len(yaws)))
    cams = Camera.cat(gen.cameras)
    for r, yaw in enumerate(yaws):
        ref = Camera.from_angles([yaw], prior.pitch_mean, prior.radius, prior.fov)
        for c in range(len(seeds)):
            i = r * len(seeds) + c
            assert grid[i, 0, 0, 0] == z[c, 0] and (grid[i, 2] == 0.5).all()
            assert torch.allclose(cams.cam2world[i], ref.cam2world[0], atol=1e-6, rtol=0)
            assert torch.allclose(cams.intrinsics[i], ref.intrinsics[0], atol=1e-6, rtol=0)
            assert grid[i, 1, 1, 2] == cams.origins[i, 0]
