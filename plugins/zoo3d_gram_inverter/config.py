"""GRAMInverter's configuration. No upstream code exists: the paper (Deng, Wang, Shum, CVPR 2023, arXiv
2211.13901) is the specification, and every value it leaves open is a documented choice here.

Three stages, run in order by ``zoo3d train gram-inverter``:
1. ``efficient_gram``: Efficient GRAM trained as a GAN (GRAM's losses: non-saturating + R1 + pose).
2. ``encoder``: the image encoder to W+ (and pose) of the frozen Efficient GRAM.
3. ``detail``: the detail-manifold reconstructor, encoder and Efficient GRAM frozen.
"""

from __future__ import annotations

from pydantic import Field

from zoo3d.config import Config, RunConfig

from zoo3d_gram import DiscriminatorConfig, LossConfig, ManifoldConfig, OptimConfig, RenderConfig


class EfficientGramConfig(Config):
    """Efficient GRAM: GRAM's manifolds (geometry) + feature maps on the gridded manifolds from a StyleGAN2 CNN.

    A mapping network (``mapping_layers`` x ``w_dim``) maps z to w; a StyleGAN2 synthesis network
    (skip architecture, no noise inputs so that a W+ code fully determines the scene) generates one
    ``texture_resolution``² map with ``(num_levels + 1) * feature_dim`` channels: ``feature_dim`` per
    foreground manifold and for the background plane. A per-texel MLP (``decoder_hidden``) decodes
    features to radiance (rgb, alpha); alpha is zeroed where a level is not crossed by the gridding.
    Synthesis widths are ``min(channel_base / r, channel_max)`` at side r.
    ``extent``: half-width of the gridded square (GRAM-HD: fov/100 = 0.12).
    """

    resolution: int = Field(256, ge=8)
    texture_resolution: int = Field(256, ge=8)
    z_dim: int = Field(256, ge=1)
    w_dim: int = Field(256, ge=1)
    mapping_layers: int = Field(8, ge=1)
    feature_dim: int = Field(16, ge=4)
    channel_base: int = Field(16384, ge=8)
    channel_max: int = Field(512, ge=4)
    decoder_hidden: int = Field(64, ge=4)
    extent: float = Field(0.12, gt=0)
    truncation_samples: int = Field(10000, ge=1)
    manifold: ManifoldConfig = Field(default_factory=ManifoldConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)


class EncoderConfig(Config):
    """The coarse encoder E_w: residual CNN to 4x4, then W+ offsets from the mean w and (yaw, pitch).

    ``channels``: width at the input resolution, doubled per halving up to ``max_channels``.
    ``pose_head`` False: no pose estimate, so inversion then needs the input camera.
    """

    channels: int = Field(32, ge=4)
    max_channels: int = Field(256, ge=4)
    pose_head: bool = True


class DetailConfig(Config):
    """The detail-manifold reconstructor.

    A U-Net (``unet_channels`` at the input, ``unet_depth`` halvings) predicts a camera-space feature
    voxel of ``voxel_channels`` x ``voxel_depth`` x ``voxel_resolution``²; it is sampled at the texels of
    the manifolds gridded at ``lr_resolution`` (LR detail manifolds) through the input camera; a manifold
    super-resolution CNN (``sr_blocks`` RRDBs of width ``sr_channels``, pixel-shuffle x2 stages) lifts them
    to the coarse texture resolution and ``feature_dim`` channels (HR detail manifolds).
    """

    unet_channels: int = Field(32, ge=4)
    unet_depth: int = Field(4, ge=1)
    voxel_resolution: int = Field(64, ge=2)
    voxel_depth: int = Field(32, ge=2)
    voxel_channels: int = Field(16, ge=1)
    lr_resolution: int = Field(64, ge=2)
    sr_channels: int = Field(64, ge=4)
    sr_blocks: int = Field(2, ge=0)


class InverterLossConfig(Config):
    """Loss weights of stages 2 and 3.

    Encoder: ``rec_l1 * L1 + rec_perceptual * perceptual`` on real images at their camera, plus, on images
    sampled from the frozen generator, ``latent * MSE(W+)`` and ``pose * MSE(yaw, pitch)`` (also on real
    images when the data has poses). Detail: the same reconstruction at the input view, ``novel_view *``
    the masked L1 to the coarse render at a prior camera (mask = 1 - normal-aware visibility from the input
    camera), and ``depth *`` the weighted distance of the detailed render's layers to the coarse surface.
    ``perceptual``: ``auto`` (LPIPS when its weights are in the torch cache, else the MS-SSIM substitute).
    """

    rec_l1: float = Field(1.0, ge=0)
    rec_perceptual: float = Field(1.0, ge=0)
    latent: float = Field(1.0, ge=0)
    pose: float = Field(1.0, ge=0)
    novel_view: float = Field(1.0, ge=0)
    depth: float = Field(1.0, ge=0)
    perceptual: str = "auto"


class StageSteps(Config):
    """Steps, batch size and learning rate of one stage (Adam)."""

    steps: int = Field(1000, ge=0)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(1e-4, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)


class GramInverterConfig(RunConfig):
    model: str = "gram_inverter"
    generator: EfficientGramConfig = Field(default_factory=EfficientGramConfig)
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig)
    gan_loss: LossConfig = Field(default_factory=LossConfig)
    gan_optim: OptimConfig = Field(default_factory=lambda: OptimConfig(g_lr=2e-4, d_lr=2e-4, grad_clip=1.0))
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    detail: DetailConfig = Field(default_factory=DetailConfig)
    loss: InverterLossConfig = Field(default_factory=InverterLossConfig)
    encoder_stage: StageSteps = Field(default_factory=StageSteps)
    detail_stage: StageSteps = Field(default_factory=StageSteps)
