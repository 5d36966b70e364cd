"""StyleSDF generator: SDF volume rendering at 64^2 (stage 1), then an optional 2D decoder (stage 2)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.generator import Generator
from zoo3d.core.outputs import RenderOutput
from zoo3d.nn.resize import resize
from zoo3d.render.volume import VolumeRenderer

from .config import StyleSDFConfig
from .decoder import StyleSDFDecoder
from .latents import StyleSDFLatentSpaces
from .network import StyleSDFField, StyleSDFMapping, StyleSDFNetwork


class StyleSDFVolume(nn.Module):
    """The stage-1 trainable parts: mapping, SDF/colour network and the learnable sharpness alpha.

    alpha is a bare parameter, as upstream's ``sigmoid_beta`` (royorel/StyleSDF ``volume_renderer.py``: made
    ``nn.Parameter(0.1)`` and divided by in ``sdf_activation``, no abs, clamp or softplus): nothing keeps it
    positive. Training logs it as ``sdf_sharpness``: on the tiny preset (after a 300-step sphere fit, decoder off)
    it fell from 0.1 to 0.069 over the volume renderer's first 1300 steps, then faster (0.0045 per 100 steps
    around step 2000), then slower (0.0004 per 100 around step 2900), to 0.019 at step 3000, still above 0.
    Below 0 the densities turn negative, and a step just across 0 renders non-finite values that the engine's
    NaN rollback takes back (docs/rendering.md).
    """

    def __init__(self, z_dim: int, mapping_layers: int, depth: int, width: int, input_scale: float,
                 sharpness_init: float):
        super().__init__()
        self.mapping = StyleSDFMapping(z_dim, mapping_layers)
        self.network = StyleSDFNetwork(z_dim, depth, width, input_scale=input_scale)
        self.sdf_sharpness = nn.Parameter(torch.tensor(float(sharpness_init)))


class StyleSDFGenerator(StyleSDFLatentSpaces, Generator):
    """z (B, z_dim) -> StyleSDFField -> VolumeRenderer (sdf_mode "stylesdf") [-> decoder].

    Stage 1 renders rgb/features at ``renderer.resolution``. Once stage 2 has started
    (``decoder_active`` is set; it is saved with checkpoints), ``render`` feeds the rendered
    feature map and the style to the decoder and returns its high-resolution image with the raw
    volume render in ``RenderOutput.raw``; the model is then not strictly 3D-consistent.
    It is inverted in z, W (before the decoder renders) and W+ (:mod:`zoo3d_stylesdf.latents`).
    """

    def __init__(self, cfg: StyleSDFConfig):
        super().__init__()
        g = cfg.generator
        r = g.renderer
        self.z_dim = r.z_dim
        self.camera_prior: CameraPrior = cfg.camera
        self.render_resolution = (r.resolution, r.resolution)
        self.bounds = (r.far - r.near) / 2.0
        self.volume = StyleSDFVolume(r.z_dim, r.mapping_layers, r.depth, r.width, 1.0 / self.bounds,
                                     r.sdf_sharpness_init)
        # StyleSDF's offset sampling: one random offset per ray while training, evenly spaced samples.
        upstream = r.convention == "upstream"
        self.renderer = VolumeRenderer(num_samples=r.num_samples, num_importance=0, near=r.near, far=r.far,
                                       stratified=True, jitter="offset", sdf_mode="stylesdf",
                                       spacing="edges" if upstream else "bins",
                                       intervals="differences" if upstream else "sections",
                                       depth_along="axis" if upstream else "ray", eval_fill_last=upstream,
                                       eval_view_dirs="camera" if upstream else "world")
        self.decoder: StyleSDFDecoder | None = None
        if g.decoder.enabled:
            self.decoder = StyleSDFDecoder(r.width, r.z_dim, r.resolution, g.decoder)
        self.register_buffer("decoder_active", torch.zeros((), dtype=torch.bool))
        self._centres: tuple | None = None

    @property
    def resolution(self) -> tuple[int, int]:  # type: ignore[override]
        if self.decoder is not None and bool(self.decoder_active):
            return (self.decoder.output_resolution,) * 2
        return self.render_resolution

    @property
    def decoder_renders(self) -> bool:
        """Whether ``render`` decodes the volume render (the model has a decoder and stage 2 has begun)."""
        return self.decoder is not None and bool(self.decoder_active)

    @property
    def strictly_3d_consistent(self) -> bool:  # type: ignore[override]
        return not self.decoder_renders

    @torch.no_grad()
    def truncation_centres(self, num_samples: int = 10000, seed: int = 0) -> tuple[Tensor, Tensor | None]:
        """The truncation centres: mean renderer w (1, z_dim) and mean decoder w (1, w_dim) (None without a
        decoder) over ``num_samples`` fixed latents, as upstream's ``mean_latent`` (which draws fresh ones).
        Cached until the mapping weights change."""
        params = list(self.volume.mapping.parameters())
        if self.decoder is not None:
            params += list(self.decoder.mapping.parameters())
        key = (params[0].device, params[0].dtype, num_samples, seed, tuple(p._version for p in params))
        if self._centres is None or self._centres[0] != key:
            z = torch.randn(num_samples, self.z_dim, generator=torch.Generator().manual_seed(seed),
                            dtype=torch.float32).to(params[0])
            w = self.volume.mapping(z)
            dec = self.decoder.mapping(w).mean(0, keepdim=True) if self.decoder is not None else None
            self._centres = (key, (w.mean(0, keepdim=True), dec))
        return self._centres[1]

    def represent(self, z: Tensor, psi: float = 1.0) -> StyleSDFField:
        w = self.volume.mapping(z)
        if psi != 1.0:
            w = torch.lerp(self.truncation_centres()[0], w, psi)
        return self.field_of(w, psi=psi)

    def field_of(self, w: Tensor, psi: float = 1.0, decoder_ws: Tensor | None = None) -> StyleSDFField:
        """The scenes of renderer w (B, z_dim), or one per FiLM layer (B, depth + 1, z_dim); ``decoder_ws``
        (B, decoder num_ws, decoder w_dim): the decoder's own codes, read in place of its mapping of w."""
        return StyleSDFField(self.volume.network, w, self.volume.sdf_sharpness, self.bounds, psi=psi,
                             decoder_ws=decoder_ws)

    def render_volume(self, rep: StyleSDFField, cameras: Camera, resolution=None) -> RenderOutput:
        """The stage-1 render: rgb in [-1, 1], depth, alpha and the (B, width, h, w) feature map."""
        cameras = cameras.to(device=self.device, dtype=self.dtype)  # the renderer takes the field's as they come
        return self.renderer.render(rep, cameras, resolution or self.render_resolution)

    def render(self, rep: StyleSDFField, cameras: Camera, resolution: tuple[int, int] | None = None) -> RenderOutput:
        if not self.decoder_renders:
            return self.render_volume(rep, cameras, resolution)
        raw = self.render_volume(rep, cameras)
        # fresh noise while training; the fixed per-layer noise maps otherwise, so a seed renders the same every time
        noise_mode = "random" if self.training else "const"
        if rep.decoder_ws is not None:
            rgb = self.decoder.synthesis(rep.decoder_ws, raw.features, noise_mode=noise_mode)
        else:
            centre = self.truncation_centres()[1] if rep.psi != 1.0 else None
            rgb = self.decoder(raw.features, rep.w, noise_mode=noise_mode, psi=rep.psi, centre=centre)
        if resolution is not None:
            rgb = resize(rgb, tuple(resolution))
        return RenderOutput(rgb=rgb, raw=raw)
