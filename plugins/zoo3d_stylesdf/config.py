"""StyleSDF run configuration. Defaults are upstream's (royorel/StyleSDF ``options.py`` and
``scripts/train_ffhq_*.sh``, FFHQ); presets override them."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from zoo3d.cameras import CameraPrior
from zoo3d.config import Config, GanLossConfig, RayRange, RunConfig, StageConfig


class StyleSDFRendererConfig(RayRange):
    """The SDF volume renderer: mapping network + FiLM-SIREN SDF/colour MLP.

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
    sdf_sharpness_init: float = Field(0.1, gt=0, description="alpha of sigma = sigmoid(-d/alpha)/alpha")
    convention: Literal["zoo3d", "upstream"] = Field(
        "zoo3d", description="sample placement and integration: zoo3d's, or the authors' code's (imports)")


class StyleSDFDecoderConfig(Config):
    """The StyleGAN2-style 2D generator from the rendered feature map to the final image (the ``decoder``
    stage trains it). ``enabled`` False builds no decoder: the model is the volume renderer alone, its images
    are the renders at ``renderer.resolution`` and the recipe stops after ``volume_renderer`` (the ``decoder``
    stage entry is then not read)."""

    enabled: bool = True
    output_resolution: int = Field(1024, ge=8)
    w_dim: int = Field(512, ge=1)
    mapping_layers: int = Field(5, ge=1, description="PixelNorm + Linear(z->w) + 4 x Linear(w->w)")
    channel_multiplier: int = Field(2, ge=1)
    max_channels: int = Field(512, ge=1)


class StyleSDFGeneratorConfig(Config):
    """The generator: the SDF volume renderer, the 2D decoder, and the sphere the SDF starts as
    (``sphere_radius``, world units, the ``sphere_init`` stage's target: (far - near) / 4 upstream)."""

    renderer: StyleSDFRendererConfig = Field(default_factory=StyleSDFRendererConfig)
    decoder: StyleSDFDecoderConfig = Field(default_factory=StyleSDFDecoderConfig)
    sphere_radius: float = Field(0.06, gt=0, description="sphere-init target radius, world units ((far-near)/4)")


class StyleSDFDiscriminatorConfig(Config):
    """The volume renderer's CoordConv residual D with a viewpoint head, and the decoder's StyleGAN2 resnet D
    (``decoder_*``)."""

    channel_scale: float = Field(1.0, gt=0, description="multiplies the CoordConv widths (128 @ 64 upstream)")
    max_channels: int = Field(400, ge=1)
    mbstd_group: int = Field(0, ge=0, description="CoordConv D: 0 as upstream, > 0 a minibatch-stddev map")
    decoder_channel_base: int = Field(32768, ge=1)
    decoder_max_channels: int = Field(512, ge=1)
    decoder_mbstd_group: int = Field(4, ge=1, description="StyleGAN2 D's minibatch-stddev group (upstream: 4, "
                                                         "capped by its --chunk)")


class StyleSDFLossConfig(GanLossConfig):
    """Loss weights. The adversarial ones (:class:`GanLossConfig`) as the ``volume_renderer`` stage uses them:
    R1 in every D step (``r1_gamma`` 10), smooth-L1 viewpoint regression of fakes for D and G (``lambda_pos``
    15); the ``decoder`` stage overrides them (lazy R1, no pose head: see :func:`default_stages`). The
    geometry terms of the volume renderer's G step: ``eikonal`` and ``min_surface``, exp(-beta |sdf|) with
    ``min_surface_beta``. ``g_reg_every``: upstream's path-length interval (``--g_reg_every`` 4, decoder stage).
    zoo3d runs no path-length term, but upstream's decoder Adam keeps its lazy correction (lr x k/(k+1), betas
    ^ k/(k+1): 0.0016 and (0, 0.992) for lr 0.002), so with it set the generator steps as upstream's do."""

    r1_gamma: float = Field(10.0, ge=0)
    lambda_pos: float = Field(15.0, ge=0)
    eikonal: float = Field(0.1, ge=0)
    min_surface: float = Field(0.05, ge=0)
    min_surface_beta: float = Field(100.0, gt=0)
    g_reg_every: int | None = Field(None, ge=1)


STAGE_NAMES = ("sphere_init", "volume_renderer", "decoder")


def default_stages() -> list[StageConfig]:
    """Upstream's recipe: the sphere initialisation (10k steps of batch 3), the volume renderer at 64^2
    (200k steps, batch 24, G 2e-5 / D 2e-4; its G optimiser goes on from the sphere fit's, as upstream's one
    ``g_optim`` does), then the decoder (300k steps, batch 32, lr 0.002, betas
    (0, 0.99), StyleGAN2's lazy R1: gamma 10 every 16 steps, and the G optimiser's correction for path
    length every 4; its D has no pose head)."""
    return [
        StageConfig(name="sphere_init", steps=10000, batch_size=3, lr={"generator": 2e-5}),
        StageConfig(name="volume_renderer", steps=200000, batch_size=24,
                    lr={"generator": 2e-5, "discriminator": 2e-4}, keep_optimizer_state=True),
        StageConfig(name="decoder", steps=300000, batch_size=32, lr={"generator": 0.002, "discriminator": 0.002},
                    betas=(0.0, 0.99), loss={"r1_gamma": 10.0, "r1_every": 16, "lambda_pos": 0.0, "g_reg_every": 4}),
    ]


def _stylesdf_camera() -> CameraPrior:
    return CameraPrior(yaw_std=0.3, pitch_std=0.15, fov=12.0, radius=1.0)


class StyleSDFConfig(RunConfig):
    """A StyleSDF run: the shared sections, ``generator``, ``discriminator``, ``loss`` and the three ``stages``."""

    model: str = "stylesdf"
    camera: CameraPrior = Field(default_factory=_stylesdf_camera)
    generator: StyleSDFGeneratorConfig = Field(default_factory=StyleSDFGeneratorConfig)
    discriminator: StyleSDFDiscriminatorConfig = Field(default_factory=StyleSDFDiscriminatorConfig)
    loss: StyleSDFLossConfig = Field(default_factory=StyleSDFLossConfig)
    stages: list[StageConfig] = Field(default_factory=default_stages)

    stage_names: ClassVar[tuple[str, ...]] = STAGE_NAMES
    stage_roles: ClassVar[dict[str, tuple[str, ...]]] = {
        "sphere_init": ("generator",), "volume_renderer": ("generator", "discriminator"),
        "decoder": ("generator", "discriminator")}
    resolution_keys: ClassVar[str] = "generator.renderer.resolution and generator.decoder.output_resolution"
    ray_range_key: ClassVar[str] = "generator.renderer"
    scene_radius: ClassVar[str] = "StyleSDF's scene: 1"


    @model_validator(mode="after")
    def _check_stylesdf_stages(self):
        """Refuse, rather than ignore, a pose loss in the decoder stage (its StyleGAN2 discriminator has no pose
        head)."""
        if self.stages and self.generator.decoder.enabled:
            loss = self.stage_loss("decoder")
            for key in ("lambda_pos", "lambda_realpos"):
                if getattr(loss, key) > 0:
                    raise ValueError(f"stages.decoder.loss.{key}: the decoder's StyleGAN2 discriminator has no "
                                     f"pose head, so the stage has no pose loss; set it to 0 "
                                     f"(got {getattr(loss, key)})")
        return self

    @classmethod
    def upgrade_stored(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A config stored before the ``stages`` shape (everything under ``stylesdf:``), in today's shape."""
        if "stylesdf" in data and "stages" not in data:
            data = upgrade_stylesdf_section(data)
        return super().upgrade_stored(data)


#: the old ``stylesdf.schedule`` and ``stylesdf.loss`` defaults, for stored configs that left a key out
_OLD_SCHEDULE = {"sphere_init_steps": 10000, "sphere_init_batch": 3, "sphere_init_lr": 2e-5,
                 "renderer_steps": 200000, "renderer_batch": 24, "generator_lr": 2e-5, "discriminator_lr": 2e-4,
                 "betas": [0.0, 0.9], "decoder_steps": 300000, "decoder_batch": 32, "decoder_lr": 0.002,
                 "decoder_betas": [0.0, 0.99]}
_OLD_LOSS = {"eikonal": 0.1, "min_surface": 0.05, "min_surface_beta": 100.0, "view": 15.0, "r1": 10.0,
             "decoder_r1": 10.0, "decoder_r1_every": 16}


def upgrade_stylesdf_section(data: dict[str, Any]) -> dict[str, Any]:
    """``stylesdf: {renderer, decoder, discriminator, loss, schedule, sphere_radius}`` -> ``generator``,
    ``discriminator``, ``loss`` and ``stages`` (every old key mapped; old defaults where one is absent)."""
    data = dict(data)
    old = dict(data.pop("stylesdf") or {})
    s = {**_OLD_SCHEDULE, **(old.get("schedule") or {})}
    loss = {**_OLD_LOSS, **(old.get("loss") or {})}
    generator = {k: old[k] for k in ("renderer", "decoder", "sphere_radius") if k in old}
    data["generator"] = generator
    if "discriminator" in old:
        data["discriminator"] = old["discriminator"]
    data["loss"] = {"r1_gamma": loss["r1"], "lambda_pos": loss["view"], "eikonal": loss["eikonal"],
                    "min_surface": loss["min_surface"], "min_surface_beta": loss["min_surface_beta"]}
    data["stages"] = [
        {"name": "sphere_init", "steps": s["sphere_init_steps"], "batch_size": s["sphere_init_batch"],
         "lr": {"generator": s["sphere_init_lr"]}, "betas": s["betas"]},
        {"name": "volume_renderer", "steps": s["renderer_steps"], "batch_size": s["renderer_batch"],
         "lr": {"generator": s["generator_lr"], "discriminator": s["discriminator_lr"]}, "betas": s["betas"]},
        {"name": "decoder", "steps": s["decoder_steps"], "batch_size": s["decoder_batch"],
         "lr": {"generator": s["decoder_lr"], "discriminator": s["decoder_lr"]}, "betas": s["decoder_betas"],
         "loss": {"r1_gamma": loss["decoder_r1"], "r1_every": loss["decoder_r1_every"], "lambda_pos": 0.0,
                  "g_reg_every": None}},  # trained with the uncorrected G optimiser: resumed so
    ]
    return data
