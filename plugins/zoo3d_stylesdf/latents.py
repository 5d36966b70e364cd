"""StyleSDF's W and W+: the codes its two mapping networks give the renderer's and the decoder's layers.

StyleSDF (royorel/StyleSDF ``model.py``) maps z through the volume renderer's mapping (3 layers, z_dim -> z_dim)
to one w that every FiLM-SIREN layer of the SDF network reads through an affine of its own (``depth`` trunk
layers and the view layer: ``depth + 1`` consumers). Its 2D decoder has a mapping network of its own, fed that
renderer w (PixelNorm + 5 layers, z_dim -> decoder w_dim: 256 -> 512 upstream), whose w every one of the
decoder's modulated convolutions and ToRGBs reads (``n_latent`` of them). Truncation (``truncation`` with
``mean_latent``) lerps the renderer's w towards its mean over many z, maps the result through the decoder's mapping
and lerps that towards the mean decoder w (of the untruncated renderer ws).

So a W+ code is the renderer's ``depth + 1`` codes (trunk layers in order, then the view layer) followed, while the
decoder renders (stage 2 has begun), by the decoder's ``num_ws`` codes (in its synthesis order). Both sit in rows of
``w_dim`` = the wider of the two sizes; a narrower code fills the start of its row and the rest is zeros, which
nothing reads. Without the decoder, one w broadcast to every FiLM layer is StyleSDF's own W (the image of every
z), so ``w`` is offered; with it, the renderer's and the decoder's ws are of two mappings (and two sizes) and no
single w is both, so only ``z`` and ``w+`` are.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["StyleSDFLatentSpaces"]

#: why a StyleSDF generator whose decoder renders refuses ``w``
NO_SINGLE_W = ("its 2D decoder reads the w of a mapping network of its own, fed the renderer's, so no single w is "
               "broadcast to the renderer's and the decoder's layers")


class StyleSDFLatentSpaces:
    """:class:`zoo3d.invert.SupportsLatentSpaces` for :class:`zoo3d_stylesdf.generator.StyleSDFGenerator` (which
    provides ``volume``, ``decoder``, ``decoder_renders``, ``truncation_centres`` and ``field_of``).
    ``represent_ws(map_latent(z, psi))`` renders what ``represent(z, psi)`` renders."""

    no_single_w = NO_SINGLE_W

    @property
    def latent_spaces(self) -> tuple[str, ...]:
        """z, W and W+ while the decoder does not render; z and W+ once it does (no single w is both mappings')."""
        return ("z", "w+") if self.decoder_renders else ("z", "w", "w+")

    @property
    def _row_counts(self) -> tuple[int, int]:
        """How many rows of a W+ code are the renderer's (``depth + 1``) and the decoder's (its ``num_ws``, 0 while it
        does not render)."""
        return self.volume.network.depth + 1, self.decoder.synthesis.num_ws if self.decoder_renders else 0

    @property
    def w_dim(self) -> int:
        """The width of a W+ row: the renderer's w (z_dim), or, while the decoder renders, the wider of it and the
        decoder's."""
        return max(self.z_dim, self.decoder.mapping.w_dim) if self.decoder_renders else self.z_dim

    @property
    def num_ws(self) -> int:
        """The rows of a W+ code: the renderer's, then the decoder's."""
        return sum(self._row_counts)

    def _pack(self, w: Tensor, decoder_w: Tensor | None) -> Tensor:
        """Renderer w (B, z_dim) [and decoder w (B, decoder w_dim)] -> W+ (B, num_ws, w_dim), each broadcast."""
        n_r, n_d = self._row_counts
        ws = w.new_zeros(w.shape[0], n_r + n_d, self.w_dim)
        ws[:, :n_r, :w.shape[1]] = w[:, None]
        if n_d:
            ws[:, n_r:, :decoder_w.shape[1]] = decoder_w[:, None]
        return ws

    def mean_latent(self) -> Tensor:
        """(1, num_ws, w_dim): the truncation centres (the mean renderer w and mean decoder w over 10000 seeded z,
        as StyleSDF's ``mean_latent``) in the layers that read them."""
        w, decoder_w = self.truncation_centres()
        return self._pack(w, decoder_w)

    def map_latent(self, z: Tensor, psi: float = 1.0) -> Tensor:
        """z (B, z_dim) -> W+ (B, num_ws, w_dim), truncated by ``psi`` as StyleSDF does: the renderer's w towards
        its mean, then the decoder's w (of that truncated w) towards its own."""
        w = self.volume.mapping(z)
        if psi != 1.0:
            w = torch.lerp(self.truncation_centres()[0].to(w), w, psi)
        decoder_w = None
        if self.decoder_renders:
            decoder_w = self.decoder.mapping(w)
            if psi != 1.0:
                decoder_w = torch.lerp(self.truncation_centres()[1].to(decoder_w), decoder_w, psi)
        return self._pack(w, decoder_w)

    def represent_ws(self, ws: Tensor):
        """W+ (B, num_ws, w_dim) -> the scene whose FiLM layers and decoder layers read these codes."""
        if ws.dim() != 3 or tuple(ws.shape[1:]) != (self.num_ws, self.w_dim):
            raise ValueError(f"expected W+ codes (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        n_r, n_d = self._row_counts
        decoder_ws = ws[:, n_r:, :self.decoder.mapping.w_dim] if n_d else None
        return self.field_of(ws[:, :n_r, :self.z_dim], decoder_ws=decoder_ws)
