"""GRAM's configuration sections (defaults are the upstream FFHQ values: microsoft/GRAM ``configs.py`` FFHQ_default; Deng et al., CVPR 2022, Sec. 3-4).

Importable by other plugins (GRAM-HD's stage 1 is this generator at 64²).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from zoo3d.config import Config, GanLossConfig, RayRange, RunConfig, StageConfig


class ManifoldConfig(Config):
    """The shared manifold predictor s(x) and its level sets.

    Points are warped as ``x = p * 2 / box_size - center`` (UniformBoxWarp), so ``center`` is in
    warped units ((0, 0, -1.5) = world (0, 0, -0.18)). The MLP is ``layers`` ReLU Linear layers of
    width ``hidden`` then Linear(hidden, 1); the geometric init sets every output weight to
    ``init_scale * sqrt(pi / hidden)`` so that s ~ init_scale * |x| (concentric spheres).
    Levels are ``linspace(level_start, level_end, num_levels)``; ``background_z`` is the world z of
    the opaque background plane (None: no plane).
    """

    hidden: int = Field(128, ge=1)
    layers: int = Field(3, ge=1)
    box_size: float = Field(0.24, gt=0)
    center: tuple[float, float, float] = (0.0, 0.0, -1.5)
    init_scale: float = 10.0
    init_radius: float = 0.0
    num_levels: int = Field(23, ge=1)
    level_start: float = 23.0
    level_end: float = 8.0
    background_z: float | None = -0.12


class RadianceConfig(Config):
    """The FiLM-SIREN radiance generator and its pi-GAN mapping network.

    ``feature_dim`` > 0 adds summed per-layer feature heads (GRAM-HD uses 32). ``delta_alpha`` is
    the constant interval of ``alpha = 1 - exp(-delta_alpha * sigma)``. ``truncation_samples``
    latents are averaged for the truncation trick (GRAM's get_avg_w). ``autocast`` False keeps the
    network in fp32 under the engine's mixed precision (upstream trained in fp16; bf16 rounds SIREN
    arguments by ~0.1 rad). ``box_size`` is the radiance network's own UniformBoxWarp side (points are
    scaled by 2 / box_size); None uses the manifold predictor's (GRAM's CARLA setting uses 2).
    """

    z_dim: int = Field(256, ge=1)
    mapping_hidden: int = Field(256, ge=1)
    mapping_layers: int = Field(3, ge=1)
    hidden: int = Field(256, ge=1)
    num_layers: int = Field(8, ge=2)
    feature_dim: int = Field(0, ge=0)
    freq_scale: float = 15.0
    freq_bias: float = 30.0
    delta_alpha: float = Field(0.04, gt=0)
    truncation_samples: int = Field(10000, ge=1)
    autocast: bool = True
    box_size: float | None = Field(None, gt=0)


class RenderConfig(RayRange):
    """Ray sampling for the level-crossing search (ManifoldRenderer).

    ``align_corners`` casts rays on the authors' pixel grid (edge pixel centres on the image borders)
    instead of zoo3d's pixel centres; ``zoo3d import`` sets it so a converted release renders the
    authors' images. ``white_background`` adds 1 - (accumulated alpha) to the colour (GRAM's CARLA).
    """

    num_samples: int = Field(64, ge=2)
    chunk: int = Field(65536, ge=1)
    align_corners: bool = False
    white_background: bool = False


class GeneratorConfig(Config):
    resolution: int = Field(256, ge=4)
    manifold: ManifoldConfig = Field(default_factory=ManifoldConfig)
    radiance: RadianceConfig = Field(default_factory=RadianceConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)


class DiscriminatorConfig(Config):
    """GRAM's CoordConv residual discriminator; ``channel_scale`` < 1 narrows it (tiny presets only)."""

    max_channels: int = Field(400, ge=1)
    channel_scale: float = Field(1.0, gt=0)
    mbstd_group: int = Field(0, ge=0)  # 0 as upstream; > 0 a minibatch-stddev map (docs/training.md ablation)


class LossConfig(GanLossConfig):
    """Non-saturating GAN + R1 (every step) + pose MSE on fakes (lambda_pos) and reals (lambda_realpos)."""

    r1_gamma: float = Field(1.0, ge=0)
    lambda_pos: float = Field(15.0, ge=0)
    lambda_realpos: float = Field(15.0, ge=0)


def gram_stage(**update: Any) -> StageConfig:
    """GRAM's one training stage: Adam (0, 0.9) at G 2e-5 / D 2e-4 with the global gradient norm clipped
    as upstream FFHQ_default clips it (1, the generator's gradient summed over 4 splits: 0.25 on the batch
    mean); ``update`` changes fields (the steps and batch default to 1000 and 8)."""
    values = dict(name="gram", steps=1000, batch_size=8, lr={"generator": 2e-5, "discriminator": 2e-4},
                  betas=(0.0, 0.9), grad_clip={"generator": 0.25, "discriminator": 1.0})
    return StageConfig(**{**values, **update})


class GramConfig(RunConfig):
    model: str = "gram"
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    stages: list[StageConfig] = Field(default_factory=lambda: [gram_stage()])

    stage_names: ClassVar[tuple[str, ...]] = ("gram",)
    stage_roles: ClassVar[dict[str, tuple[str, ...]]] = {"gram": ("generator", "discriminator")}
    resolution_keys: ClassVar[str] = "generator.resolution"
    ray_range_key: ClassVar[str] = "generator.render"
    scene_radius: ClassVar[str] = "GRAM's scene: 1"


    @classmethod
    def upgrade_stored(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A config stored before GRAM's stage was in ``stages`` (absent, or stored empty): the stage's length
        and batch were ``train.steps`` and ``train.batch_size``, its optimiser settings the ``optim`` section
        (``g_lr``, ``d_lr``, ``betas``, ``grad_clip``); a key the stored config left out takes the default
        it had then."""
        if not data.get("stages"):
            data = dict(data)
            train, optim = data.get("train"), data.pop("optim", None)
            train, optim = (x if isinstance(x, dict) else {} for x in (train, optim))
            stage = gram_stage().model_dump(mode="json")
            stage.update({k: train[k] for k in ("steps", "batch_size") if k in train})
            stage["lr"] = {"generator": optim.get("g_lr", stage["lr"]["generator"]),
                           "discriminator": optim.get("d_lr", stage["lr"]["discriminator"])}
            stage["grad_clip"] = 1.0  # one clip for both then
            stage.update({k: optim[k] for k in ("betas", "grad_clip") if k in optim})
            data["stages"] = [stage]
        return super().upgrade_stored(data)
