"""GramRepresentation: the radiance manifolds of B generated instances, queryable at any point."""

from __future__ import annotations

import torch
from torch import Tensor

from zoo3d.core.representation import Radiance

from zoo3d_gram.networks import FoldedRadiance, ManifoldPredictor, RadianceNetwork

__all__ = ["GramRepresentation"]


class GramRepresentation:
    """Implements :class:`zoo3d.core.ManifoldRepresentation` for GRAM.

    The scalar field is shared by every instance (category-level manifolds); only the radiance is
    per instance, through FiLM parameters ``freq``/``phase`` (B, L, hidden). Colours are in [0, 1];
    ``alpha = 1 - exp(-delta_alpha * sigma)``.

    Meshes (:mod:`zoo3d.mesh`, ``zoo3d export``) follow the GRAM authors' recipe: not the manifolds'
    iso-surfaces but the radiance generator's alpha sampled on a dense grid and thresholded at an
    empirical level (:attr:`MESH_ALPHA_LEVEL`; ``--level`` overrides it). Points outside the band of
    manifolds (s beyond the first or last level), which no ray ever shades, count as empty.

    Attributes:
        levels: (N,) descending levels. background_z: world z of the opaque plane, or None.
        bounds: half-extent (world units) of the cube meshed around the origin.
    """

    #: Alpha at which meshes are extracted. No value is published; 0.2 gave closed head-and-neck
    #: surfaces on a trained tiny model (0.1-0.3 all do, lower levels keep more of the hair fringe).
    MESH_ALPHA_LEVEL = 0.2

    def __init__(self, manifold: ManifoldPredictor, radiance_net: RadianceNetwork, freq: Tensor, phase: Tensor,
                 levels: Tensor, background_z: float | None, delta_alpha: float = 0.04, bounds: float = 0.12):
        self.manifold, self.radiance_net = manifold, radiance_net
        self.freq, self.phase = freq, phase
        self.levels, self.background_z, self.delta_alpha = levels, background_z, delta_alpha
        self.bounds = bounds
        self._folded: tuple[tuple, FoldedRadiance] | None = None

    @property
    def batch_size(self) -> int:
        return self.freq.shape[0]

    def scalar(self, x: Tensor) -> Tensor:
        """x (B, P, 3) world -> s (B, P) (the same field for every instance)."""
        return self.manifold(x)

    def query(self, points: Tensor, dirs: Tensor) -> Radiance:
        """Radiance at arbitrary points (B, Q, 3) seen along unit dirs (B, Q, 3): rgb, sigma, alpha, features."""
        if hasattr(self.radiance_net, "forward_folded"):
            rgb, sigma, features = self.radiance_net.forward_folded(points, dirs, self._folded_network())
        else:  # any network with GRAM's call signature (the fast folded path is RadianceNetwork's)
            rgb, sigma, features = self.radiance_net(points, dirs, self.freq, self.phase)
        alpha = 1.0 - torch.exp(-self.delta_alpha * sigma)
        return Radiance(rgb=rgb, alpha=alpha, sigma=sigma, features=features)

    def _folded_network(self) -> FoldedRadiance:
        """The radiance network with this scene's FiLM parameters folded in; kept between queries only when no
        graph is recorded (a graph must be built afresh each time) and while no weight has changed."""
        if torch.is_grad_enabled():
            self._folded = None
            return self.radiance_net.fold(self.freq, self.phase)
        tensors = (self.freq, self.phase, *self.radiance_net.parameters())
        key = tuple((t.data_ptr(), t._version) for t in tensors) + (torch.is_autocast_enabled(self.freq.device.type),)
        if self._folded is None or self._folded[0] != key:
            self._folded = (key, self.radiance_net.fold(self.freq, self.phase))
        return self._folded[1]

    def radiance(self, points: Tensor, dirs: Tensor) -> Radiance:
        """points (B, N, P, 3) on the N manifolds, dirs (B, P, 3) -> rgb (B, N, P, 3), alpha (B, N, P, 1), features."""
        B, N, P, _ = points.shape
        d = dirs.unsqueeze(1).expand(B, N, P, 3).reshape(B, N * P, 3)
        r = self.query(points.reshape(B, N * P, 3), d)
        shape = lambda x: None if x is None else x.reshape(B, N, P, x.shape[-1])  # noqa: E731
        return Radiance(rgb=shape(r.rgb), alpha=shape(r.alpha), sigma=shape(r.sigma), features=shape(r.features))

    def radiance_at(self, points: Tensor, dirs: Tensor, layers: Tensor) -> Radiance:
        """Radiance at any points (B, Q, 3) seen along dirs (B, Q, 3), whichever manifold ``layers`` (B, Q) names
        (the background plane included: GRAM colours every layer with the same network). It lets
        :class:`~zoo3d.render.ManifoldRenderer` query only the hits that can contribute."""
        return self.query(points, dirs)

    def mesh_field(self, points: Tensor) -> tuple[Tensor, float]:
        """points (B, P, 3) -> (alpha seen from the front (B, P), zero outside the manifolds' band; the level)."""
        dirs = torch.zeros_like(points)
        dirs[..., 2] = -1.0
        alpha = self.query(points, dirs).alpha[..., 0].float()
        s = self.scalar(points)
        in_band = (s <= self.levels.max()) & (s >= self.levels.min())
        return alpha * in_band, self.MESH_ALPHA_LEVEL

    def background_radiance(self, points: Tensor, dirs: Tensor) -> Radiance:
        """The same radiance network on the background plane: points, dirs (B, P, 3) -> rgb (B, P, 3), features."""
        r = self.query(points, dirs)
        return Radiance(rgb=r.rgb, features=r.features)
