"""GRAMInverter's configuration. No upstream code exists: the paper (Deng, Wang, Shum, CVPR 2023, arXiv
2211.13901) is the specification, and every value it leaves open is a documented choice here.

Three stages, run in order by ``zoo3d train gram-inverter`` (the ``stages`` entries, by name):
1. ``gram_inverter.efficient_gram``: Efficient GRAM trained as a GAN (GRAM's losses: non-saturating + R1 +
   pose), optimiser roles ``generator`` and ``discriminator``.
2. ``gram_inverter.encoder``: the image encoder to W+ (and pose) of the frozen Efficient GRAM (``encoder``).
3. ``gram_inverter.detail``: the detail-manifold reconstructor, encoder and Efficient GRAM frozen (``detail``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from zoo3d.config import Config, RunConfig, StageConfig

from zoo3d_gram import DiscriminatorConfig, LossConfig, ManifoldConfig, RenderConfig

EFFICIENT_GRAM = "gram_inverter.efficient_gram"
ENCODER = "gram_inverter.encoder"
DETAIL = "gram_inverter.detail"


class EfficientGramConfig(Config):
    """Efficient GRAM: GRAM's manifolds (geometry) + feature maps on the gridded manifolds from a StyleGAN2 CNN.

    A mapping network (``mapping_layers`` x ``w_dim``) maps z to w; a StyleGAN2 synthesis network
    (skip architecture, no noise inputs so that a W+ code fully determines the scene) generates one
    ``texture_resolution``² map with ``(num_levels + 1) * feature_dim`` channels: ``feature_dim`` per
    foreground manifold and for the background plane. A per-texel MLP (``decoder_hidden``) decodes
    features to radiance (rgb, alpha); alpha is zeroed where a level is not crossed by the gridding.
    Synthesis widths are ``min(channel_base / r, channel_max)`` at side r.
    ``extent``: half-width of the gridded square; null (the default) takes GRAM-HD's rule, the camera prior's fov
    (degrees) / 100: 0.12 at the 12 degrees of every preset.
    ``depth_slices``: None: the synthesis network outputs one feature group per level, each level's
    texture independent of the others. K: it outputs a feature volume of K slices spaced evenly over the
    gridded depth range (z from 1 - far to 1 - near), and each level's texel takes the features at its own
    3D point (linear in z between the two nearest slices), so that features are a function of position in
    space, as GRAM's radiance is and as the detail branch samples its voxel onto the manifolds.
    ``feature_planes``: True: it outputs three axis-aligned feature planes (XY, XZ, YZ) spanning the gridded
    cube, EG3D's tri-plane, and each level's texel takes the mean of the three planes' features at its own
    3D point (exclusive with ``depth_slices``).
    ``background_from_volume``: True (with ``depth_slices``): the background plane takes the feature volume
    at its depth (linear between the two nearest slices) instead of a feature group of its own, as GRAM's
    one radiance network colours its plane where it lies; the network then outputs ``depth_slices`` groups.
    ``learn_manifolds``: whether the efficient-GRAM stage trains the manifold predictor. False keeps it at
    GRAM's geometric init (nested spheres), as GRAM-HD's texture stage keeps its stage-1 manifolds.
    ``texture_filter``: how the decoded radiance maps are read where a ray meets a level: ``bilinear`` (every
    paper preset; the paper does not say) or ``bicubic``, which keeps more of a map holding about a texel a
    pixel (GRAM-HD's ``texture_filter``; docs/rendering.md).
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
    extent: float | None = Field(None, gt=0)
    depth_slices: int | None = Field(None, ge=2)
    feature_planes: bool = False
    background_from_volume: bool = False
    learn_manifolds: bool = True
    texture_filter: Literal["bilinear", "bicubic"] = "bilinear"
    truncation_samples: int = Field(10000, ge=1)
    manifold: ManifoldConfig = Field(default_factory=ManifoldConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)

    @model_validator(mode="after")
    def _one_feature_layout(self) -> "EfficientGramConfig":
        if self.feature_planes and self.depth_slices is not None:
            raise ValueError("feature_planes and depth_slices are two layouts of the features: set one")
        if self.background_from_volume and self.depth_slices is None:
            raise ValueError("background_from_volume reads the feature volume: it needs depth_slices")
        return self


class GramInverterDiscriminatorConfig(DiscriminatorConfig):
    """The efficient-GRAM stage's discriminator; the paper does not say which, so both candidates are here.

    ``architecture: gram`` (default): GRAM's CoordConv residual D with a (yaw, pitch) head, whose pose
    losses tie the fakes to their cameras (``max_channels``, ``channel_scale``, ``mbstd_group`` as GRAM's).
    ``architecture: stylegan2``: the residual StyleGAN2 D that EG3D pairs with a StyleGAN2 synthesis
    network, widths ``min(channel_base / r, channel_max)``, minibatch stddev over groups of
    ``max(mbstd_group, 1)`` (StyleGAN2: 4); ``conditioned`` gives it EG3D's camera conditioning (the
    camera label through a ``mapping_layers``-layer mapping network, projected onto the features), which
    stands in for the pose losses: this D has no pose head, so ``lambda_pos`` / ``lambda_realpos`` do
    nothing. A conditioned D needs real images with poses.
    """

    architecture: Literal["gram", "stylegan2"] = "gram"
    channel_base: int = Field(32768, ge=8)
    channel_max: int = Field(512, ge=4)
    mapping_layers: int = Field(8, ge=1)
    conditioned: bool = True

    @property
    def camera_conditioned(self) -> bool:
        """Whether the D built from this section reads the cameras (only the StyleGAN2 D can)."""
        return self.architecture == "stylegan2" and self.conditioned


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


class GramInverterLossConfig(LossConfig):
    """Loss weights of all three stages.

    Efficient GRAM stage: GRAM's adversarial weights (``r1_gamma``, ``r1_every``, ``lambda_pos``,
    ``lambda_realpos``, with GRAM's defaults). Encoder: ``rec_l1 * L1 + rec_perceptual * perceptual`` on
    real images at their camera, plus, on images sampled from the frozen generator, ``latent * MSE(W+)``
    and ``pose * MSE(yaw, pitch)`` (also on real images when the data has poses). Detail: the same
    reconstruction at the input view, ``novel_view *`` the masked L1 to the coarse render at a prior camera
    (mask = 1 - normal-aware visibility from the input camera), and ``depth *`` the weighted distance of
    the detailed render's layers to the coarse surface. ``perceptual``: ``auto`` (LPIPS when its weights
    are in the torch cache, else the MS-SSIM substitute), ``lpips`` (refused without the weights) or ``ms-ssim``
    (the substitute always); another value is refused when the config is read, not when the encoder stage starts.
    """

    rec_l1: float = Field(1.0, ge=0)
    rec_perceptual: float = Field(1.0, ge=0)
    latent: float = Field(1.0, ge=0)
    pose: float = Field(1.0, ge=0)
    novel_view: float = Field(1.0, ge=0)
    depth: float = Field(1.0, ge=0)
    perceptual: Literal["auto", "lpips", "ms-ssim"] = "auto"


def paper_stages() -> list[StageConfig]:
    """The ffhq256 recipe (no public code: steps, batches and learning rates are this project's choices;
    the GAN stage's Adam is GRAM's, betas (0, 0.9), clipping both gradients at norm 1, as upstream GRAM's
    configuration reads; GRAM's own ffhq256 preset clips its generator's batch-mean gradient at 0.25, upstream
    summing that gradient over four splits, which a model without public code has no reason to copy)."""
    return [
        StageConfig(name=EFFICIENT_GRAM, steps=100_000, batch_size=16,
                    lr={"generator": 2e-4, "discriminator": 2e-4}, betas=(0.0, 0.9), grad_clip=1.0),
        StageConfig(name=ENCODER, steps=200_000, batch_size=8, lr={"encoder": 1e-4}, betas=(0.9, 0.999)),
        StageConfig(name=DETAIL, steps=200_000, batch_size=4, lr={"detail": 1e-4}, betas=(0.9, 0.999)),
    ]


#: what a config stored before ``stages`` existed left to its defaults (train.steps/batch_size,
#: ``gan_optim``'s factory, ``encoder_stage``/``detail_stage``'s fields, ``gan_loss``'s fields)
_OLD_TRAIN = {"steps": 1000, "batch_size": 8}
_OLD_GAN_OPTIM = {"g_lr": 2e-4, "d_lr": 2e-4, "betas": (0.0, 0.9), "grad_clip": 1.0}
_OLD_STAGE = {"steps": 1000, "batch_size": 8, "lr": 1e-4, "betas": (0.9, 0.999)}
_OLD_GAN_LOSS = {"r1_gamma": 1.0, "lambda_pos": 15.0, "lambda_realpos": 15.0}
_OLD_SECTIONS = ("gan_loss", "gan_optim", "encoder_stage", "detail_stage")


def _upgrade_old_shape(data: dict[str, Any]) -> dict[str, Any]:
    """A config of the shape before ``stages`` (``gan_loss``, ``gan_optim``, ``encoder_stage``,
    ``detail_stage`` and the GAN stage's ``train.steps``/``train.batch_size``) in today's shape."""
    data = dict(data)
    train = {**_OLD_TRAIN, **(data.get("train") or {})}
    optim = {**_OLD_GAN_OPTIM, **(data.pop("gan_optim", None) or {})}
    stages = [{"name": EFFICIENT_GRAM, "steps": train["steps"], "batch_size": train["batch_size"],
               "lr": {"generator": optim["g_lr"], "discriminator": optim["d_lr"]},
               "betas": list(optim["betas"]), "grad_clip": optim["grad_clip"]}]
    for name, key, role in ((ENCODER, "encoder_stage", "encoder"), (DETAIL, "detail_stage", "detail")):
        old = {**_OLD_STAGE, **(data.pop(key, None) or {})}
        stages.append({"name": name, "steps": old["steps"], "batch_size": old["batch_size"],
                       "lr": {role: old["lr"]}, "betas": list(old["betas"]), "grad_clip": None})
    data["loss"] = {**_OLD_GAN_LOSS, **(data.pop("gan_loss", None) or {}), **(data.get("loss") or {})}
    data["stages"] = stages
    return data


class GramInverterConfig(RunConfig):
    """A GRAMInverter run: the four kinds of module it builds, one loss section, the three stages."""

    model: str = "gram_inverter"
    generator: EfficientGramConfig = Field(default_factory=EfficientGramConfig)
    discriminator: GramInverterDiscriminatorConfig = Field(default_factory=GramInverterDiscriminatorConfig)
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    detail: DetailConfig = Field(default_factory=DetailConfig)
    loss: GramInverterLossConfig = Field(default_factory=GramInverterLossConfig)
    stages: list[StageConfig] = Field(default_factory=paper_stages)

    stage_names: ClassVar[tuple[str, ...]] = (EFFICIENT_GRAM, ENCODER, DETAIL)
    stage_roles: ClassVar[dict[str, tuple[str, ...]]] = {EFFICIENT_GRAM: ("generator", "discriminator"),
                                                         ENCODER: ("encoder",), DETAIL: ("detail",)}
    resolution_keys: ClassVar[str] = "generator.resolution"
    ray_range_key: ClassVar[str] = "generator.render"
    scene_radius: ClassVar[str] = "GRAM's scene: 1"


    @classmethod
    def upgrade_stored(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A config stored in the shape before ``stages`` (recognised by an absent or empty ``stages``, or by
        an old section) in today's shape."""
        if not data.get("stages") or any(key in data for key in _OLD_SECTIONS):
            data = _upgrade_old_shape(data)
        return super().upgrade_stored(data)
