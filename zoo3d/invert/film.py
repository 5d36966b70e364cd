"""W+ of a FiLM-SIREN generator (pi-GAN, GRAM): what their mapping network gives each FiLM layer.

pi-GAN's mapping network maps one z to every FiLM layer's frequencies and phases at once, through one linear layer:
each layer gets a vector of its own, none shared. Its authors invert an image in that output
(``inverse_render.py``: offsets to the mean frequencies and phases over 10000 z, one per layer), and GRAM's
radiance generator has the same mapping. So one ``w`` is one FiLM layer's raw frequencies (before
``freq_scale * raw + freq_bias``) then its phases, ``w_dim = 2 * film_dim``, and a W+ code holds ``num_ws`` of them,
one per FiLM layer (trunk and colour layer). A single w broadcast to every layer (StyleGAN's W) is the image of no z
here and no space of the papers, so these generators offer ``z`` and ``w+`` only (``latent_spaces``).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["FiLMLatentSpaces"]


class FiLMLatentSpaces:
    """:class:`zoo3d.invert.SupportsLatentSpaces` for a generator driven by a
    :class:`zoo3d.nn.siren.PiGanMappingNetwork`.

    The generator provides ``film_mapping`` (its mapping network), ``representation_from_style(freq, phase)`` (the
    scene of given FiLM parameters, each (B, num_ws, film_dim), as ``represent`` builds it) and ``mean_latent_draw``
    ((number of z, seed) of the mean w: its truncation centre's). ``represent_ws(map_latent(z))`` is ``represent(z)``
    exactly.
    """

    latent_spaces = ("z", "w+")

    @property
    def w_dim(self) -> int:
        return 2 * self.film_mapping.film_dim

    @property
    def num_ws(self) -> int:
        return self.film_mapping.num_film_layers

    def mean_latent(self) -> Tensor:
        """Mean W+ code (1, num_ws, w_dim) over the seeded z of ``mean_latent_draw`` (every layer's own mean, as
        pi-GAN's inversion starts from); kept until a mapping weight changes, moves or changes dtype."""
        params = tuple(self.film_mapping.parameters())
        key = (*self.mean_latent_draw, tuple((p.data_ptr(), p._version, p.device, p.dtype) for p in params))
        cached = getattr(self, "_mean_latent_cache", None)
        if cached is None or cached[0] != key:
            samples, seed = self.mean_latent_draw
            mean = self.film_mapping.average_codes(samples, generator=torch.Generator().manual_seed(seed))
            self._mean_latent_cache = cached = (key, mean)
        return cached[1]

    def map_latent(self, z: Tensor, psi: float = 1.0) -> Tensor:
        """z (B, z_dim) -> W+ (B, num_ws, w_dim); psi < 1 lerps it towards :meth:`mean_latent` (pi-GAN's and GRAM's
        truncation, done on the raw frequencies and phases as theirs is)."""
        ws = self.film_mapping.codes(z)
        return ws if psi == 1.0 else torch.lerp(self.mean_latent().to(ws), ws, psi)

    def represent_ws(self, ws: Tensor):
        """W+ (B, num_ws, w_dim) -> the scene ``represent`` would build from the same FiLM parameters."""
        if ws.dim() != 3 or tuple(ws.shape[1:]) != (self.num_ws, self.w_dim):
            raise ValueError(f"expected W+ codes (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        return self.representation_from_style(*self.film_mapping.film(ws))
