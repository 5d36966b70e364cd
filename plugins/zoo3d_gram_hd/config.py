"""GRAM-HD's configuration (defaults are the upstream FFHQ-256 values: JeffreyXiang/GRAM-HD ``configs.py``; Xiang et al., ICCV 2023, Sec. 4).

The stage-1 generator is GRAM's own :class:`zoo3d_gram.GeneratorConfig` at low resolution
(64² upstream) with 32-channel feature heads; stage 1 trains it with GRAM's recipe, stage 2 freezes
it and trains the feature heads and the two super-resolution networks.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from zoo3d.config import Config, RunConfig
from zoo3d_gram import DiscriminatorConfig as GramDiscriminatorConfig
from zoo3d_gram import GeneratorConfig as GramGeneratorConfig
from zoo3d_gram import LossConfig as GramLossConfig
from zoo3d_gram import OptimConfig as GramOptimConfig
from zoo3d_gram import RadianceConfig


def _lowres_default() -> GramGeneratorConfig:
    return GramGeneratorConfig(resolution=64, radiance=RadianceConfig(feature_dim=32))


class ForegroundSRConfig(Config):
    """The style-modulated RRDB net shared by all foreground manifolds (36 -> 4 channels).

    ``up_channels`` None: [64, 64] / [64, 64, 32] / [64, 64, 32, 16] for x4 / x8 / x16 (upstream).
    ``residual`` (off upstream and in the paper presets) starts the net as bicubic up-sampling of the LR
    rgba maps plus a zero-gain learned detail, so a run of a few dozen stage-2 steps keeps the LR colours.
    """

    nf: int = Field(64, ge=1)
    nb: int = Field(8, ge=0)
    gc: int = Field(32, ge=1)
    up_channels: list[int] | None = None
    style_hidden: int = Field(256, ge=1)
    last_kernel: int = Field(1, ge=1)
    residual: bool = False


class BackgroundSRConfig(Config):
    """The background RRDB net (rgb -> rgb, global bicubic residual); ``up_channels`` None: [64, 32, 16, 8][:n]."""

    nf: int = Field(64, ge=1)
    nb: int = Field(4, ge=0)
    gc: int = Field(32, ge=1)
    up_channels: list[int] | None = None


class GeneratorConfig(Config):
    """HR output ``resolution``; ``lowres`` is the stage-1 GRAM generator (its ``resolution`` is the LR side).

    ``extent`` is the half-width of the gridded square (GRAM-HD ties it to the fov: fov / 100 = 0.12).
    ``view_dependent_textures``: texels are coloured with the view direction from the current camera
    (upstream); False uses the frontal direction (0, 0, -1) for every texel.
    ``texture_align_corners``: how the HR maps are sampled. True (zoo3d) reads them at the texel centres
    where gridding placed them; False samples as GRAM-HD does (``grid_sample(align_corners=False)`` over
    corner-aligned gridding, half a texel off), which ``zoo3d import`` sets for the authors' weights.
    ``upsample_background_hits``: at HR, take the background-plane hits by upsampling the LR ones as
    GRAM-HD does (set by ``zoo3d import``), instead of intersecting each HR ray with the plane.
    """

    resolution: int = Field(256, ge=8)
    lowres: GramGeneratorConfig = Field(default_factory=_lowres_default)
    extent: float = Field(0.12, gt=0)
    view_dependent_textures: bool = True
    texture_align_corners: bool = True
    upsample_background_hits: bool = False
    foreground_sr: ForegroundSRConfig = Field(default_factory=ForegroundSRConfig)
    background_sr: BackgroundSRConfig = Field(default_factory=BackgroundSRConfig)

    @model_validator(mode="after")
    def _check_scale(self):
        lr, hr = self.lowres.resolution, self.resolution
        scale = hr // lr
        if hr % lr or scale < 2 or scale & (scale - 1):
            raise ValueError(f"resolution ({hr}) must be the low resolution ({lr}) times a power of two >= 2")
        if self.lowres.radiance.feature_dim < 1:
            raise ValueError("lowres.radiance.feature_dim must be >= 1 (GRAM-HD's feature heads; 32 upstream)")
        return self

    @property
    def scale(self) -> int:
        return self.resolution // self.lowres.resolution


class Stage1Config(Config):
    """Stage 1: GRAM at the low resolution with GRAM's own recipe (upstream GRAM64_FFHQ: batch 8/GPU on 8 GPUs,
    G lr 2e-5, D lr 2e-4, clip 0.3, gamma 1, pose 15/15, 100k steps). ``run``: take stage 1 from an existing
    ``gram`` (or ``gram_hd``) run folder or checkpoint instead of training it (its EMA weights are loaded)."""

    run: str | None = None
    steps: int = Field(100000, ge=0)
    batch_size: int = Field(64, ge=1)
    discriminator: GramDiscriminatorConfig = Field(default_factory=GramDiscriminatorConfig)
    loss: GramLossConfig = Field(default_factory=GramLossConfig)
    optim: GramOptimConfig = Field(default_factory=lambda: GramOptimConfig(grad_clip=0.3))


class HRDiscriminatorConfig(Config):
    """The HR CoordConv discriminator (pose head) and the PatchGAN; patch sizes None: GRAM-HD's rule
    ndf = min(64, 2^(14 - log2 R)), n_layers = max(3, log2 R - 6)."""

    max_channels: int = Field(400, ge=1)
    channel_scale: float = Field(1.0, gt=0)
    patch_ndf: int | None = Field(None, ge=1)
    patch_layers: int | None = Field(None, ge=1)


class Stage2LossConfig(Config):
    """Non-saturating + R1 (on logit + patch_lambda * mean patch logit) + pose (15/15) + patch (0.1) +
    cross-resolution consistency (12). Upstream r1_gamma / lambda_cons: 3/1, 5/3, 10/10 at 256/512/1024."""

    r1_gamma: float = Field(3.0, ge=0)
    lambda_pos: float = Field(15.0, ge=0)
    lambda_realpos: float = Field(15.0, ge=0)
    patch_lambda: float = Field(0.1, ge=0)
    lambda_cons: float = Field(1.0, ge=0)


class Stage2Config(Config):
    """Stage 2: stage 1 frozen; feature heads + SR nets against the HR and patch discriminators.
    Upstream: 4 images/GPU at 256² (2 at 512²/1024²) on 8 GPUs, Adam (0, 0.9), lr 2e-4 / 2e-4, clip 0.3."""

    steps: int = Field(100000, ge=0)
    batch_size: int = Field(32, ge=1)
    discriminator: HRDiscriminatorConfig = Field(default_factory=HRDiscriminatorConfig)
    loss: Stage2LossConfig = Field(default_factory=Stage2LossConfig)
    optim: GramOptimConfig = Field(default_factory=lambda: GramOptimConfig(g_lr=2e-4, d_lr=2e-4, grad_clip=0.3))


class GramHDConfig(RunConfig):
    model: str = "gram_hd"
    unread_train_keys: ClassVar[dict[str, str]] = {"steps": "stage1.steps and stage2.steps",
                                                   "batch_size": "stage1.batch_size and stage2.batch_size"}
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    stage1: Stage1Config = Field(default_factory=Stage1Config)
    stage2: Stage2Config = Field(default_factory=Stage2Config)
