"""The tri-plane model's configuration (defaults = EG3D's FFHQ 512 config, rescaled to zoo3d's scene).

Scene scale. EG3D puts cameras at radius 2.7 with a ~13.4 deg fov and the tri-plane cube at
[-0.5, 0.5]^3 (``box_warp`` = 1), marching rays over [2.25, 3.3]. zoo3d trains every model on
the same cameras (radius 1, fov 12 deg, the head inside [-0.12, 0.12]^3, a background plane at
z = -0.12), so the cube becomes [-0.125, 0.125]^3 (``box_warp`` = 0.25, every length of it x 0.25)
and the rays run over zoo3d's shared interval [0.88, 1.12], which spans the cube as upstream's
[2.25, 3.3] spans its cube. Densities are per world unit, so the decoder's density is multiplied
by ``UPSTREAM_BOX_WARP / box_warp`` to keep the opacity of a given ray segment what it is upstream.
Every network hyperparameter is EG3D's.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from zoo3d.cameras import EG3D_LABEL_DIM
from zoo3d.config import Config, GanLossConfig, RayRange, RunConfig, StageConfig, with_stored_default

UPSTREAM_BOX_WARP = 1.0  # EG3D FFHQ/AFHQ: tri-plane cube [-0.5, 0.5]^3 in EG3D units
CAMERA_DIM = EG3D_LABEL_DIM  # the EG3D camera label D is conditioned on


class TriplaneGeneratorConfig(RayRange):
    """Generator: mapping -> StyleGAN2 backbone -> 3 planes -> decoder -> volume rendering -> SR.

    Attributes:
        z_dim, w_dim: latent and style sizes (512). mapping_layers: 2 (EG3D ``--map-depth``).
        gen_pose_cond: condition the mapping on the camera (GPC); without it upstream feeds zeros.
        c_scale: multiplier of the conditioning camera vector (1).
        plane_resolution, plane_channels: each plane is plane_channels x R x R (32 x 256 x 256);
            the backbone outputs 3 * plane_channels channels.
        channel_base, channel_max: StyleGAN2 widths min(channel_base / res, channel_max).
        decoder_hidden: the decoder's hidden width (64); decoder_lr_mul (1).
        box_warp: side of the tri-plane cube in world units (see the module doc).
        num_samples, num_importance: stratified + importance samples per ray (48 + 48).
        near, far: ray interval in world units.
        neural_resolution: resolution of the volume-rendered feature image (64); the ``finetune`` stage fades
            it to ``loss.finetune_neural_resolution`` (EG3D: 128).
        resolution: output resolution of the super-resolution module (512).
        sr_input_resolution: the SR module first resizes the neural render to this (128 for 512 output).
        sr_channels: widths of the two SR synthesis blocks ((256, 128) for 512; (128, 64) for 128/256).
        sr_conv_clamp: EG3D's ``conv_clamp`` in the SR layers (256; it comes with their fp16 training).
        backbone_conv_clamp: ``conv_clamp`` in the backbone's layers (None; EG3D sets 256 only when it trains
            the backbone in fp16, ``--g_num_fp16_res`` > 0).

    Upstream compatibility (defaults are zoo3d's; ``zoo3d import`` sets EG3D's for an imported model):
        third_plane: "yz" (the axis-aligned plane) or "zx" (EG3D's projection slip).
        sampling: "sections" (zoo3d's VolumeRenderer) or "eg3d" (EG3D's sample placement, interval
            quadrature and smoothed importance pdf).
        density_scale: multiplies the decoder's density to express it per world unit; None =
            ``UPSTREAM_BOX_WARP / box_warp`` (zoo3d's scaled scene), 1 for a model in EG3D's own units.
        white_background: composite the feature image over 1 (EG3D's ShapeNet ``white_back``).
        eval_noise: backbone noise in eval mode: "none" or "const" (the fixed noise buffers; EG3D's
            ``noise_mode='const'``).
    """

    z_dim: int = Field(512, ge=1)
    w_dim: int = Field(512, ge=1)
    mapping_layers: int = Field(2, ge=1)
    gen_pose_cond: bool = True
    c_scale: float = 1.0
    plane_resolution: int = Field(256, ge=4)
    plane_channels: int = Field(32, ge=3)
    channel_base: int = Field(32768, ge=1)
    channel_max: int = Field(512, ge=1)
    decoder_hidden: int = Field(64, ge=1)
    decoder_lr_mul: float = Field(1.0, gt=0)
    box_warp: float = Field(0.25, gt=0)
    num_samples: int = Field(48, ge=2)
    num_importance: int = Field(48, ge=0)
    neural_resolution: int = Field(64, ge=4)
    resolution: int = Field(512, ge=4)
    sr_input_resolution: int = Field(128, ge=4)
    sr_channels: tuple[int, int] = (256, 128)
    sr_conv_clamp: float | None = Field(256.0, gt=0)
    backbone_conv_clamp: float | None = Field(None, gt=0)
    third_plane: Literal["yz", "zx"] = "yz"
    sampling: Literal["sections", "eg3d"] = "sections"
    density_scale: float | None = Field(None, gt=0)
    white_background: bool = False
    eval_noise: Literal["none", "const"] = "none"

    @model_validator(mode="after")
    def _check(self) -> "TriplaneGeneratorConfig":
        factor = self.resolution / self.sr_input_resolution
        if factor not in (2, 4):
            raise ValueError(f"resolution / sr_input_resolution must be 2 or 4 (EG3D's SR modules), "
                             f"got {self.resolution} / {self.sr_input_resolution}")
        return self


class TriplaneDiscriminatorConfig(Config):
    """EG3D's dual discriminator: a StyleGAN2 residual D on 6 channels with camera-conditioned projection.

    Attributes:
        channel_base, channel_max: widths (32768, 512). mapping_layers: layers of the camera mapping (8).
        mbstd_group_size: minibatch-stddev group (4). c_noise: Gaussian corruption of the camera label
            in units of its per-dimension batch std (``disc_c_noise``, 0 for FFHQ).
        conv_clamp: the output clamp of its fromRGB and 3x3 convs (256: EG3D's ``train.py`` sets it whenever D has
            fp16 layers, ``--d_num_fp16_res`` 4 by default, and it clamps in fp32 too); None = none.
    """

    channel_base: int = Field(32768, ge=1)
    channel_max: int = Field(512, ge=1)
    mapping_layers: int = Field(8, ge=1)
    mbstd_group_size: int = Field(4, ge=1)
    c_noise: float = Field(0.0, ge=0)
    conv_clamp: float | None = Field(256.0, gt=0)


class TriplaneLossConfig(GanLossConfig):
    """EG3D's loss weights and training schedules (the adversarial names are :class:`GanLossConfig`'s).

    Attributes:
        r1_gamma: R1 weight (1 for FFHQ 512; upstream advises larger for small batches).
        r1_every: lazy R1 interval (16); EG3D always regularises lazily.
        density_reg: weight of the density smoothness L1 (0.25); density_reg_every: lazy interval (4).
        density_reg_points: points per instance (1000). density_reg_perturb: std of the perturbation in
            EG3D's length units (0.004; the points are drawn over EG3D's [-1, 1]^3, see
            ``regularizers.density_regularization``).
        gpc_prob: probability of swapping the conditioning camera with another sample's (0.5 for FFHQ).
        gpc_fade_steps: steps over which the swap probability fades from 1 to ``gpc_prob``
            (EG3D: 1000 kimg at batch 32 = 31250 steps).
        blur_sigma: initial Gaussian blur of D's image input in pixels (10);
        blur_fade_steps: steps over which it fades to 0 (EG3D: 200 kimg x batch/32 = 6250 steps).
        finetune_neural_resolution: the neural rendering resolution the ``finetune`` stage fades to from
            ``generator.neural_resolution`` (EG3D's ``--neural_rendering_resolution_final``, 128), linearly
            over ``neural_resolution_fade_steps`` of that stage (EG3D: 1000 kimg = 31250 steps). Like the
            other schedules it is EG3D's loss's; it is not a stage ``resolution``, which sizes the real images
            (those stay at ``generator.resolution``; D's raw half is downsampled to the neural resolution).

    ``lambda_pos`` and ``lambda_realpos`` stay 0: EG3D's dual discriminator conditions on the camera
    instead of regressing it.
    """

    r1_gamma: float = Field(1.0, ge=0)
    r1_every: int = Field(16, ge=1)
    density_reg: float = Field(0.25, ge=0)
    density_reg_every: int = Field(4, ge=1)
    density_reg_points: int = Field(1000, ge=1)
    density_reg_perturb: float = Field(0.004, ge=0)
    gpc_prob: float = Field(0.5, ge=0, le=1)
    gpc_fade_steps: int = Field(31250, ge=0)
    blur_sigma: float = Field(10.0, ge=0)
    blur_fade_steps: int = Field(6250, ge=0)
    finetune_neural_resolution: int = Field(128, ge=4)
    neural_resolution_fade_steps: int = Field(31250, ge=0)

    @model_validator(mode="after")
    def _no_pose_loss(self) -> "TriplaneLossConfig":
        for key in ("lambda_pos", "lambda_realpos"):
            if getattr(self, key):
                raise ValueError(f"{key} must be 0: the tri-plane model's dual discriminator has no pose head "
                                 f"(it is conditioned on the camera instead)")
        return self


def eg3d_stages() -> list[StageConfig]:
    """EG3D's FFHQ 512 recipe: the ``gan`` stage at the generator's neural rendering resolution (25000 kimg at
    batch 32 = 781250 steps), then the ``finetune`` stage that fades it to ``loss.finetune_neural_resolution``
    (0 steps: none, EG3D's ffhq512-64 model). Adam with lr 0.0025 (G) and 0.002 (D), betas (0, 0.99), both
    corrected for their lazy regularisation phases as StyleGAN2 does."""
    lr = {"generator": 0.0025, "discriminator": 0.002}
    return [StageConfig(name="gan", steps=781250, batch_size=32, lr=lr, betas=(0.0, 0.99)),
            StageConfig(name="finetune", steps=0, batch_size=32, lr=lr, betas=(0.0, 0.99))]


#: zoo3d 0.1's defaults of the keys that moved into ``stages`` (its stored configs are complete dumps, so these
#: only fill in a stored config written by hand).
_OLD_LOSS_DEFAULTS = {"g_lr": 0.0025, "d_lr": 0.002, "betas": [0.0, 0.99], "finetune_steps": 0}
_OLD_TRAIN_DEFAULTS = {"steps": 1000, "batch_size": 8}


class TriplaneConfig(RunConfig):
    """A tri-plane run: the shared sections, ``generator``, ``discriminator``, ``loss`` and the stages
    ``gan`` and ``finetune`` (each with its steps, batch size, ``lr`` of ``generator`` and ``discriminator``,
    and betas)."""

    model: str = "triplane"
    generator: TriplaneGeneratorConfig = Field(default_factory=TriplaneGeneratorConfig)
    discriminator: TriplaneDiscriminatorConfig = Field(default_factory=TriplaneDiscriminatorConfig)
    loss: TriplaneLossConfig = Field(default_factory=TriplaneLossConfig)
    stages: list[StageConfig] = Field(default_factory=eg3d_stages)

    stage_names: ClassVar[tuple[str, ...]] = ("gan", "finetune")
    stage_roles: ClassVar[dict[str, tuple[str, ...]]] = {"gan": ("generator", "discriminator"),
                                                         "finetune": ("generator", "discriminator")}
    resolution_keys: ClassVar[str] = "generator.resolution and loss.finetune_neural_resolution"
    # zoo3d's scene is EG3D's scaled by 0.25, so EG3D's 2.7 is 1 here (see the module doc)
    ray_range_key: ClassVar[str] = "generator"
    scene_radius: ClassVar[str] = ("zoo3d's scene: 1; EG3D's FFHQ scene, at 2.7, sets generator.box_warp, near, far "
                                   "and density_scale to 1, 2.25, 3.3 and 1")


    @classmethod
    def upgrade_stored(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A config of zoo3d 0.1 (no ``stages``; learning rates, betas and ``finetune_steps`` in ``loss``, the
        ``gan`` stage sized by ``train.steps`` / ``train.batch_size``, which the fine-tune stage shared). One stored
        before ``discriminator.conv_clamp`` existed resumes without the clamp its discriminator was trained without."""
        data = with_stored_default(data, "discriminator.conv_clamp", None)
        if "stages" not in data:
            loss = dict(data.get("loss") or {})
            old = {k: loss.pop(k, v) for k, v in _OLD_LOSS_DEFAULTS.items()}
            train = {**_OLD_TRAIN_DEFAULTS, **(data.get("train") or {})}
            lr = {"generator": old["g_lr"], "discriminator": old["d_lr"]}
            stages = [{"name": name, "steps": steps, "batch_size": train["batch_size"], "lr": lr,
                       "betas": list(old["betas"])}
                      for name, steps in (("gan", train["steps"]), ("finetune", old["finetune_steps"]))]
            data = {**data, "loss": loss, "stages": stages}
        return super().upgrade_stored(data)
