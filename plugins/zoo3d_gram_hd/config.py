"""GRAM-HD's configuration (defaults are the upstream FFHQ-256 values: JeffreyXiang/GRAM-HD ``configs.py``; Xiang et al., ICCV 2023, Sec. 4).

The stage-1 generator is GRAM's own :class:`zoo3d_gram.GeneratorConfig` at low resolution
(64² upstream) with 32-channel feature heads; stage 1 trains it with GRAM's recipe, stage 2 freezes
it and trains the feature heads and the two super-resolution networks.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from zoo3d.config import Config, GanLossConfig, RunConfig, StageConfig, deep_merge, with_stored_default
from zoo3d_gram import GeneratorConfig as GramGeneratorConfig
from zoo3d_gram import RadianceConfig


def _lowres_default() -> GramGeneratorConfig:
    return GramGeneratorConfig(resolution=64, radiance=RadianceConfig(feature_dim=32))


class ForegroundSRConfig(Config):
    """The style-modulated RRDB net shared by all foreground manifolds (36 -> 4 channels).

    ``up_channels`` None: [64, 64] / [64, 64, 32] / [64, 64, 32, 16] for x4 / x8 / x16 (upstream).
    ``residual`` (off upstream and in the paper presets) starts the net as an HR estimate plus a zero-gain
    learned detail, so a run of a few dozen stage-2 steps keeps the LR colours. Its value names that
    estimate, for the background net too: ``bicubic`` (or ``true``) up-samples the LR maps; ``field`` grids
    the stage-1 radiance field again at the HR side (every texel queried where it lies on its manifold),
    so the HR maps start with the detail the field holds between the LR texels, at the cost of querying
    it scale² times as often. ``kernels``: how the modulated convolutions store their kernels, "upstream"
    (as GRAM-HD's ``ModConv2D``, an ``nn.Conv2d``) or "equalized" (StyleGAN2's runtime-scaled form, which
    learns some 20-40 times slower at the same rate; runs stored before this key existed keep it).
    """

    nf: int = Field(64, ge=1)
    nb: int = Field(8, ge=0)
    gc: int = Field(32, ge=1)
    up_channels: list[int] | None = None
    style_hidden: int = Field(256, ge=1)
    last_kernel: int = Field(1, ge=1)
    residual: Literal[False, "bicubic", "field"] = False
    kernels: Literal["upstream", "equalized"] = "upstream"

    @field_validator("residual", mode="before")
    @classmethod
    def _true_is_bicubic(cls, value):
        """``true`` (the option before it named its estimate) is the bicubic one."""
        return "bicubic" if value is True else value


class BackgroundSRConfig(Config):
    """The background RRDB net (rgb -> rgb, global bicubic residual); ``up_channels`` None: [64, 32, 16, 8][:n]."""

    nf: int = Field(64, ge=1)
    nb: int = Field(4, ge=0)
    gc: int = Field(32, ge=1)
    up_channels: list[int] | None = None


class GeneratorConfig(Config):
    """HR output ``resolution``; ``lowres`` is the stage-1 GRAM generator (its ``resolution`` is the LR side).

    ``extent`` is the half-width of the gridded square; null (the default) takes GRAM-HD's rule, the camera
    prior's fov (degrees) / 100: 0.12 at the 12 degrees of every GRAM-HD configuration, about what a frontal
    camera sees at the far end of the rays (1.12 tan(6 deg) = 0.118), and wider with a wider fov.
    ``view_dependent_textures``: texels are coloured with the view direction from the current camera
    (upstream); False uses the frontal direction (0, 0, -1) for every texel.
    ``texture_align_corners``: how the HR maps are sampled. True (zoo3d) reads them at the texel centres
    where gridding placed them; False samples as GRAM-HD does (``grid_sample(align_corners=False)`` over
    corner-aligned gridding, half a texel off), which ``zoo3d import`` sets for the authors' weights.
    ``texture_filter``: ``bilinear`` reads the HR maps as GRAM-HD does (every paper preset); ``bicubic`` keeps
    more of their detail, since the maps hold about one texel a pixel (the tiny preset; docs/training.md).
    ``upsample_background_hits``: at HR, take the background-plane hits by upsampling the LR ones as
    GRAM-HD does (set by ``zoo3d import``), instead of intersecting each HR ray with the plane.
    ``lowres_run``: take ``lowres`` from an existing ``gram`` (or ``gram_hd``) run folder or checkpoint (its EMA
    weights, loaded when stage 2 begins) instead of training it: stage ``gram_hd.stage1`` is then skipped. A new
    run reads it before its folder exists (missing, another model or another architecture: refused); a resume
    does not read it again.
    """

    resolution: int = Field(256, ge=8)
    lowres: GramGeneratorConfig = Field(default_factory=_lowres_default)
    lowres_run: str | None = None
    extent: float | None = Field(None, gt=0)
    view_dependent_textures: bool = True
    texture_align_corners: bool = True
    texture_filter: Literal["bilinear", "bicubic"] = "bilinear"
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
        if self.lowres.manifold.background_z is None:
            raise ValueError("lowres.manifold.background_z must be a plane's z (GRAM-HD grids and super-resolves the "
                             "background plane's map; null, GRAM's CARLA setting, has no plane)")
        return self

    @property
    def scale(self) -> int:
        return self.resolution // self.lowres.resolution


class DiscriminatorConfig(Config):
    """All of GRAM-HD's discriminators: stage 1's LR CoordConv D (GRAM's, at ``generator.lowres.resolution``),
    stage 2's HR CoordConv D (pose head) and its PatchGAN.

    ``max_channels`` / ``channel_scale`` size both CoordConv Ds (``channel_scale`` < 1 narrows them: tiny
    presets only); ``lowres_max_channels`` / ``lowres_channel_scale`` give the LR one other widths (None:
    the same; every paper preset uses the same). Patch sizes None: GRAM-HD's rule
    ndf = min(64, 2^(14 - log2 R)), n_layers = max(3, log2 R - 6) at the HR side R.
    """

    max_channels: int = Field(400, ge=1)
    channel_scale: float = Field(1.0, gt=0)
    mbstd_group: int = Field(0, ge=0)  # both CoordConv Ds: 0 as upstream, > 0 a minibatch-stddev map
    lowres_max_channels: int | None = Field(None, ge=1)
    lowres_channel_scale: float | None = Field(None, gt=0)
    patch_ndf: int | None = Field(None, ge=1)
    patch_layers: int | None = Field(None, ge=1)


class LossConfig(GanLossConfig):
    """Stage 2's losses (paper eqs. 9-12): non-saturating + R1 (on logit + patch_lambda * mean patch logit, every
    D step) + pose MSE on fakes (lambda_pos) and reals (lambda_realpos) + patch terms (patch_lambda) +
    cross-resolution consistency (12) (lambda_cons). Upstream r1_gamma / lambda_cons: 3/1, 5/3, 10/10 at
    256/512/1024.

    Stage 1 (GRAM at the LR side) reads the adversarial weights only, with GRAM64's R1 weight 1 as its
    override (``stages`` entry ``gram_hd.stage1``, ``loss: {r1_gamma: 1.0}``).
    """

    r1_gamma: float = Field(3.0, ge=0)
    lambda_pos: float = Field(15.0, ge=0)
    lambda_realpos: float = Field(15.0, ge=0)
    patch_lambda: float = Field(0.1, ge=0)
    lambda_cons: float = Field(1.0, ge=0)


STAGE1 = "gram_hd.stage1"
STAGE2 = "gram_hd.stage2"


def _paper_stages() -> list[StageConfig]:
    """Upstream FFHQ-256. Stage 1 = GRAM64_FFHQ: batch 8/GPU on 8 GPUs, Adam (0, 0.9), G lr 2e-5, D lr 2e-4,
    clip 0.3, R1 1, 100k steps. Stage 2 = GRAMHD256: 4 images/GPU on 8 GPUs, lr 2e-4 / 2e-4, clip 0.3, 100k steps."""
    roles = ("generator", "discriminator")
    return [StageConfig(name=STAGE1, steps=100000, batch_size=64, lr=dict(zip(roles, (2e-5, 2e-4))),
                        betas=(0.0, 0.9), grad_clip=0.3, loss={"r1_gamma": 1.0}),
            StageConfig(name=STAGE2, steps=100000, batch_size=32, lr=dict(zip(roles, (2e-4, 2e-4))),
                        betas=(0.0, 0.9), grad_clip=0.3)]


class GramHDConfig(RunConfig):
    """A GRAM-HD run: ``generator``, ``discriminator``, ``loss`` (stage 2's) and the two stages
    ``gram_hd.stage1`` (GRAM at the LR side; skipped when ``generator.lowres_run`` is set) and
    ``gram_hd.stage2`` (super-resolution)."""

    model: str = "gram_hd"
    stage_names: ClassVar[tuple[str, ...]] = (STAGE1, STAGE2)
    stage_roles: ClassVar[dict[str, tuple[str, ...]]] = {STAGE1: ("generator", "discriminator"),
                                                         STAGE2: ("generator", "discriminator")}
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    stages: list[StageConfig] = Field(default_factory=_paper_stages)
    resolution_keys: ClassVar[str] = "generator.lowres.resolution and generator.resolution"
    ray_range_key: ClassVar[str] = "generator.lowres.render"
    scene_radius: ClassVar[str] = "GRAM-HD's scene: 1"

    def unread_keys(self) -> dict[str, str]:
        """With ``generator.lowres_run`` set, stage ``gram_hd.stage1`` and stage 1's discriminator widths: that run
        gives the LR GRAM, so neither is built or trained."""
        if self.generator.lowres_run is None:
            return {}
        why = (f"generator.lowres_run gives the LR GRAM, so stage {STAGE1} and its discriminator are not trained "
               f"(without generator.lowres_run they are)")
        return {f"stages.{STAGE1}": why, "discriminator.lowres_max_channels": why,
                "discriminator.lowres_channel_scale": why}

    @classmethod
    def upgrade_stored(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A config stored before the ``stages`` list (sections ``stage1`` / ``stage2``, and ``stages`` absent or
        empty) in today's shape; one stored before ``foreground_sr.kernels`` existed keeps the equalised kernels
        its checkpoint holds."""
        if not data.get("stages"):
            data = upgrade_two_section_config(data)
        return super().upgrade_stored(with_stored_default(data, "generator.foreground_sr.kernels", "equalized"))


# ------------------------------------------------------------------ configs stored in the older shape

#: ``stage1`` / ``stage2`` as the older shape's defaults had them (a stored config fills its gaps with these).
_OLD_STAGE1 = {"run": None, "steps": 100000, "batch_size": 64,
               "discriminator": {"max_channels": 400, "channel_scale": 1.0},
               "loss": {"r1_gamma": 1.0, "lambda_pos": 15.0, "lambda_realpos": 15.0},
               "optim": {"g_lr": 2e-5, "d_lr": 2e-4, "betas": [0.0, 0.9], "grad_clip": 0.3}}
_OLD_STAGE2 = {"steps": 100000, "batch_size": 32,
               "discriminator": {"max_channels": 400, "channel_scale": 1.0, "patch_ndf": None, "patch_layers": None},
               "loss": {"r1_gamma": 3.0, "lambda_pos": 15.0, "lambda_realpos": 15.0, "patch_lambda": 0.1,
                        "lambda_cons": 1.0},
               "optim": {"g_lr": 2e-4, "d_lr": 2e-4, "betas": [0.0, 0.9], "grad_clip": 0.3}}


def _old_stage(name: str, old: dict[str, Any], loss: dict[str, Any]) -> dict[str, Any]:
    optim = old["optim"]
    return {"name": name, "steps": old["steps"], "batch_size": old["batch_size"],
            "lr": {"generator": optim["g_lr"], "discriminator": optim["d_lr"]}, "betas": list(optim["betas"]),
            "grad_clip": optim["grad_clip"], "loss": loss}


def upgrade_two_section_config(data: dict[str, Any]) -> dict[str, Any]:
    """``stage1`` / ``stage2`` -> ``generator.lowres_run``, ``discriminator``, ``loss`` and ``stages``.

    stage2's discriminator and loss become the sections; stage 1's discriminator widths become the
    ``lowres_*`` keys where they differ, its R1 weight (and any other weight that differs) its loss override.
    """
    data = dict(data)
    s1 = deep_merge(_OLD_STAGE1, data.pop("stage1", None) or {})
    s2 = deep_merge(_OLD_STAGE2, data.pop("stage2", None) or {})
    d1, discriminator = s1["discriminator"], dict(s2["discriminator"])
    for key in ("max_channels", "channel_scale"):
        if d1[key] != discriminator[key]:
            discriminator[f"lowres_{key}"] = d1[key]
    loss = dict(s2["loss"])
    stage1_loss = {k: v for k, v in s1["loss"].items() if k == "r1_gamma" or v != loss[k]}
    data["generator"] = {**(data.get("generator") or {}), "lowres_run": s1["run"]}
    data["discriminator"], data["loss"] = discriminator, loss
    data["stages"] = [_old_stage(STAGE1, s1, stage1_loss), _old_stage(STAGE2, s2, {})]
    return data
