"""StyleSDF run configuration. Defaults are upstream's (royorel/StyleSDF, FFHQ); presets override them."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from zoo3d.cameras import CameraPrior
from zoo3d.config import Config, RunConfig


class StyleSDFRendererConfig(Config):
    """The SDF volume renderer (stage 1): mapping network + FiLM-SIREN SDF/colour MLP.

    ``near``/``far`` bound the rays (camera radius 1); the network sees ``p * 2 / (far - near)``
    so the box of half-size (far - near) / 2 = 0.12 maps to [-1, 1]^3. While training, samples move by one
    random offset per ray (StyleSDF's offset sampling, paper eq. 3).

    ``convention``: "zoo3d" samples bin centres along the unit ray and integrates over midpoint
    sections, with world-space view directions; "upstream" does what the authors' code does (and what
    imported checkpoints were trained with): samples at the bins' near edges on planes of constant
    camera depth, NeRF differences with a 1e10 last interval, and at inference the last sample
    taking the weight left over (``force_background``) and view directions in the camera frame
    (``static_viewdirs``).
    """

    z_dim: int = Field(256, ge=1)
    mapping_layers: int = Field(3, ge=1)
    depth: int = Field(8, ge=1, description="FiLM-SIREN layers of the SDF trunk")
    width: int = Field(256, ge=1)
    resolution: int = Field(64, ge=4, description="volume rendering resolution (the feature map size)")
    num_samples: int = Field(24, ge=2)
    near: float = 0.88
    far: float = 1.12
    sdf_sharpness_init: float = Field(0.1, gt=0, description="alpha of sigma = sigmoid(-d/alpha)/alpha")
    convention: Literal["zoo3d", "upstream"] = Field(
        "zoo3d", description="sample placement and integration: zoo3d's, or the authors' code's (imports)")


class StyleSDFDecoderConfig(Config):
    """Stage 2: the StyleGAN2-style 2D generator from the rendered feature map to the final image."""

    enabled: bool = True
    output_resolution: int = Field(1024, ge=8)
    w_dim: int = Field(512, ge=1)
    mapping_layers: int = Field(5, ge=1, description="PixelNorm + Linear(z->w) + 4 x Linear(w->w)")
    channel_multiplier: int = Field(2, ge=1)
    max_channels: int = Field(512, ge=1)


class StyleSDFDiscriminatorConfig(Config):
    """Stage 1: CoordConv residual D with a viewpoint head; stage 2: StyleGAN2 resnet D."""

    channel_scale: float = Field(1.0, gt=0, description="multiplies the CoordConv widths (128 @ 64 upstream)")
    max_channels: int = Field(400, ge=1)
    decoder_channel_base: int = Field(32768, ge=1)
    decoder_max_channels: int = Field(512, ge=1)


class StyleSDFLossConfig(Config):
    """Loss weights (stage 1 and 2)."""

    eikonal: float = Field(0.1, ge=0)
    min_surface: float = Field(0.05, ge=0)
    min_surface_beta: float = Field(100.0, gt=0)
    view: float = Field(15.0, ge=0, description="smooth-L1 viewpoint regression, D and G")
    r1: float = Field(10.0, ge=0, description="stage 1 R1 gamma, every D step")
    decoder_r1: float = Field(10.0, ge=0, description="stage 2 lazy R1 gamma")
    decoder_r1_every: int = Field(16, ge=1)


class StyleSDFScheduleConfig(Config):
    """Steps, batch sizes and optimisers of the three stages (sphere init, volume renderer, decoder)."""

    sphere_init_steps: int = Field(10000, ge=0)
    sphere_init_batch: int = Field(3, ge=1)
    sphere_init_lr: float = Field(2e-5, gt=0)
    renderer_steps: int = Field(200000, ge=0)
    renderer_batch: int = Field(24, ge=1)
    generator_lr: float = Field(2e-5, gt=0)
    discriminator_lr: float = Field(2e-4, gt=0)
    betas: tuple[float, float] = (0.0, 0.9)
    decoder_steps: int = Field(300000, ge=0)
    decoder_batch: int = Field(32, ge=1)
    decoder_lr: float = Field(0.002, gt=0)
    decoder_betas: tuple[float, float] = (0.0, 0.99)


class StyleSDFModelConfig(Config):
    renderer: StyleSDFRendererConfig = Field(default_factory=StyleSDFRendererConfig)
    decoder: StyleSDFDecoderConfig = Field(default_factory=StyleSDFDecoderConfig)
    discriminator: StyleSDFDiscriminatorConfig = Field(default_factory=StyleSDFDiscriminatorConfig)
    loss: StyleSDFLossConfig = Field(default_factory=StyleSDFLossConfig)
    schedule: StyleSDFScheduleConfig = Field(default_factory=StyleSDFScheduleConfig)
    sphere_radius: float = Field(0.06, gt=0, description="sphere-init target radius, world units ((far-near)/4)")


def _stylesdf_camera() -> CameraPrior:
    return CameraPrior(yaw_std=0.3, pitch_std=0.15, fov=12.0, radius=1.0)


class StyleSDFConfig(RunConfig):
    """A StyleSDF run: the shared sections plus ``stylesdf``."""

    model: str = "stylesdf"
    camera: CameraPrior = Field(default_factory=_stylesdf_camera)
    unread_train_keys: ClassVar[dict[str, str]] = {
        "steps": "stylesdf.schedule.sphere_init_steps, renderer_steps and decoder_steps",
        "batch_size": "stylesdf.schedule.sphere_init_batch, renderer_batch and decoder_batch"}
    stylesdf: StyleSDFModelConfig = Field(default_factory=StyleSDFModelConfig)
