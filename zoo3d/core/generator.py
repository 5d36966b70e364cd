"""The generator interface: latents + cameras -> RenderOutput, split into represent and render."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.outputs import RenderOutput
from zoo3d.errors import PluginError, counted


class Generator(torch.nn.Module, ABC):
    """A 3D-aware generator.

    Contract:
        z_dim: latent size; latents are (B, z_dim) standard normal.
        resolution: default output (H, W).
        camera_prior: where training and sampling draw cameras from.
        represent(z, psi): z (B, z_dim) -> the scene of each instance (a representation);
            ``psi`` < 1 applies the truncation trick towards the average latent/style.
        render(rep, cameras, resolution): -> RenderOutput with rgb (B, 3, H, W) in [-1, 1].
        strictly_3d_consistent: False for models that add a 2D upsampler after rendering.
    """

    z_dim: int
    resolution: tuple[int, int]
    camera_prior: CameraPrior
    strictly_3d_consistent: bool = True

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        """(n, z_dim) standard-normal latents in the generator's dtype, on ``device`` (default: the generator's).
        They are drawn in float32 on the CPU, so a seeded ``generator`` draws the same latents in every dtype."""
        device = device if device is not None else self.device
        return torch.randn(n, self.z_dim, generator=generator, dtype=torch.float32).to(device=device, dtype=self.dtype)

    def sample_cameras(self, n: int, generator: torch.Generator | None = None, device=None) -> Camera:
        """A :class:`Camera` of ``n`` poses drawn from :attr:`camera_prior` (``generator`` seeds the draws), on
        ``device`` (default: the generator's); :meth:`render` casts them to the generator's dtype."""
        device = device if device is not None else self.device
        return self.camera_prior.sample(n, generator=generator, device=device)

    @abstractmethod
    def represent(self, z: Tensor, psi: float = 1.0): ...

    @abstractmethod
    def render(self, representation, cameras: Camera, resolution: tuple[int, int] | None = None) -> RenderOutput: ...

    def forward(self, z: Tensor, cameras: Camera, psi: float = 1.0,
                resolution: tuple[int, int] | None = None) -> RenderOutput:
        """Latent ``z[i]`` (B, z_dim) seen from ``cameras[i]``: ``render(represent(z, psi), cameras, resolution)``.

        Returns a :class:`RenderOutput`: ``rgb`` (B, 3, H, W) in [-1, 1] (``(rgb + 1) / 2`` is in [0, 1]; a model
        whose 2D upsampler ends in a linear layer, the tri-plane model's and StyleSDF's as upstream, strays a little
        outside, so clamp before showing), ``depth`` (B, 1, H, W) distance along each ray where the model renders
        one (None otherwise), and the rest its renderer gives; H x W is ``resolution`` or :attr:`resolution`. One
        camera per latent, else ``ValueError`` (:func:`check_one_camera_each`); a ``render`` that returns no
        ``rgb`` tensor (the bare image) is a :class:`zoo3d.errors.PluginError` naming the class.
        """
        check_one_camera_each(z, cameras)
        out = self.render(self.represent(z, psi), cameras, resolution)
        if not isinstance(getattr(out, "rgb", None), Tensor):  # every command reads out.rgb
            raise PluginError(f"{type(self).__name__}.render returned a {type(out).__name__} without an rgb tensor; "
                              f"return a zoo3d.core.RenderOutput (rgb (B, 3, H, W) in [-1, 1], depth, alpha, ...; "
                              f"docs/plugins.md, The model interface).")
        return out

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the first floating parameter (or buffer): what cameras are cast to before rendering."""
        for t in (*self.parameters(), *self.buffers()):
            if t.is_floating_point():
                return t.dtype
        return torch.get_default_dtype()


def check_one_camera_each(z: Tensor, cameras: Camera) -> None:
    """A generator's call takes one camera per latent: refused in one sentence otherwise (a latent of one seen
    from several cameras failed deep in some renderers with a shape error and broadcast silently in others)."""
    if z.shape[0] != len(cameras):
        raise ValueError(f"{counted(z.shape[0], 'latent')} and {counted(len(cameras), 'camera')}: a generator renders each latent from its "
                         f"own camera; for several views of one instance repeat its latent (z.expand(len(cameras), -1)) or "
                         f"call zoo3d.eval.metric.render_instance.")
