"""pi-GAN run configuration. Defaults are upstream's CelebA curriculum (marcoamonteiro/pi-GAN curriculums.py)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from zoo3d.cameras import CameraPrior
from zoo3d.config import Config, GanLossConfig, RayRange, RunConfig, StageConfig, with_stored_default


class PiGanRenderingConfig(RayRange):
    """Hierarchical volume rendering: ``num_steps`` stratified + ``num_steps`` importance samples.

    ``convention``: "zoo3d" samples bins of [near, far] (their centres at inference), integrates over
    midpoint sections and puts the pixel centres of an image of field of view ``fov`` at
    ``(j + 0.5) / W``; "upstream" does what the authors' code does (and what imported checkpoints were
    trained with): ``linspace(near, far)`` samples jittered by +-half a step, NeRF differences with a
    1e10 last interval, importance samples from the pdf between the coarse midpoints, and the NDC pixel
    grid whose *edge pixel centres* sit at the field of view. Upstream also jitters at inference;
    zoo3d renders its samples unjittered (and its importance samples deterministically) unless given
    draws, so a seed always gives the same image.
    """

    num_steps: int = Field(12, ge=2)
    hierarchical: bool = True
    density_activation: Literal["relu", "softplus"] = "relu"
    white_background: bool = False
    nerf_noise_steps: int = Field(5000, ge=0, description="density noise std max(0, 1 - step / N) while training")
    eval_last_back: bool = Field(True, description="at inference the last sample takes the weight left over "
                                                    "(the CelebA and Cats curricula's eval_last_back)")
    convention: Literal["zoo3d", "upstream"] = Field(
        "zoo3d", description="sample placement, integration and pixel grid: zoo3d's, or the authors' code's")


class PiGanGeneratorConfig(Config):
    """Mapping network + FiLM-SIREN NeRF (``SPATIALSIRENBASELINE``: points x 2 / box_size), and how it is rendered."""

    z_dim: int = Field(256, ge=1)
    mapping_hidden: int = Field(256, ge=1)
    mapping_layers: int = Field(3, ge=1)
    depth: int = Field(8, ge=1, description="FiLM-SIREN layers before the density head")
    width: int = Field(256, ge=1)
    box_size: float = Field(0.24, gt=0, description="UniformBoxWarp side: the network sees p * 2 / box_size")
    rendering: PiGanRenderingConfig = Field(default_factory=PiGanRenderingConfig)


class PiGanDiscriminatorConfig(Config):
    """zoo3d's CoordConv residual discriminator with a (yaw, pitch) head.

    ``progressive``: one ProgressiveCoordConvDiscriminator serves every stage's resolution, a new one fading
    in over ``fade_steps`` (required when the stages change resolution). ``channel_scale`` < 1 narrows it
    (tiny presets only).
    """

    max_channels: int = Field(400, ge=1)
    channel_scale: float = Field(1.0, gt=0)
    mbstd_group: int = Field(0, ge=0, description="0 as upstream; > 0 a minibatch-stddev map before the final conv")
    progressive: bool = False
    fade_steps: int = Field(10000, ge=0, description="fade-in of a new discriminator resolution")


class PiGanLossConfig(GanLossConfig):
    """Non-saturating GAN, R1 on reals, MSE pose regression of fakes (D and G), and the generator's top-k:
    it takes the max(0.99^(step / topk_interval), topk_min) most realistic fakes of each group of
    ``topk_group``, as upstream takes them within each of its ``batch_split`` sub-batches (CelebA: 56 / 2).
    A group is taken within what one forward pass sees (a process's share, a ``train.micro_batch`` chunk);
    null: all of it."""

    r1_gamma: float = Field(0.2, ge=0)
    lambda_pos: float = Field(15.0, ge=0)
    topk_interval: int = Field(2000, ge=1)
    topk_min: float = Field(0.6, gt=0, le=1)
    topk_group: int | None = Field(28, ge=1)


def stage_name(resolution: int) -> str:
    """The name of the curriculum stage at ``resolution`` (what checkpoints record)."""
    return f"res{resolution}"


def _celeba_stages() -> list[StageConfig]:
    return [StageConfig(name=stage_name(64), resolution=64, steps=200000, batch_size=56,
                        lr={"generator": 6e-5, "discriminator": 2e-4}, betas=(0.0, 0.9),
                        grad_clip={"generator": 5.0, "discriminator": 10.0})]  # G: 10 over 2 summed splits


def _celeba_camera() -> CameraPrior:
    return CameraPrior(yaw_std=0.3, pitch_std=0.155, fov=12.0, radius=1.0)


class PiGanConfig(RunConfig):
    """A pi-GAN run. ``stages`` is the curriculum: one stage per resolution, named ``res<resolution>``
    (one 64^2 stage for CelebA; 32 -> 64 -> 128 for CARLA), each training ``generator`` and ``discriminator``."""

    model: str = "pigan"
    camera: CameraPrior = Field(default_factory=_celeba_camera)
    generator: PiGanGeneratorConfig = Field(default_factory=PiGanGeneratorConfig)
    discriminator: PiGanDiscriminatorConfig = Field(default_factory=PiGanDiscriminatorConfig)
    loss: PiGanLossConfig = Field(default_factory=PiGanLossConfig)
    stages: list[StageConfig] = Field(default_factory=_celeba_stages)

    ray_range_key: ClassVar[str] = "generator.rendering"
    scene_radius: ClassVar[str] = "pi-GAN's scene: 1"

    @model_validator(mode="after")
    def _check_curriculum(self):
        if not self.stages:
            raise ValueError("stages: pi-GAN's curriculum needs at least one stage")
        for i, s in enumerate(self.stages):
            if s.resolution is None:
                raise ValueError(f"stages.{s.name}.resolution: every pi-GAN stage trains at a resolution of its own; "
                                 f"give one")
            if s.name != stage_name(s.resolution):
                raise ValueError(f"stages.{i}.name: a pi-GAN stage is named after its resolution: "
                                 f"'{stage_name(s.resolution)}' (got '{s.name}')")
            if set(s.lr) != {"generator", "discriminator"}:
                raise ValueError(f"stages.{s.name}.lr: give a learning rate for each of ['generator', "
                                 f"'discriminator'] (got {sorted(s.lr)})")
        resolutions = [s.resolution for s in self.stages]
        if len(set(resolutions)) > 1 and not self.discriminator.progressive:
            raise ValueError(f"stages change resolution ({resolutions}): set discriminator.progressive=true")
        return self

    @classmethod
    def upgrade_stored(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A config stored before pi-GAN's sections were split (everything under ``pigan``: ``network``,
        ``rendering``, ``training`` with its ``curriculum``), in today's shape; missing keys take the
        defaults of that time, which are today's but for ``eval_last_back`` (off before the key existed) and
        ``topk_group`` (the whole batch before it existed)."""
        if isinstance(data.get("pigan"), dict) and not data.get("stages"):  # (then stored empty, or absent)
            data = _upgrade_pigan_section(data)
        data = with_stored_default(data, "generator.rendering.eval_last_back", False)
        return super().upgrade_stored(with_stored_default(data, "loss.topk_group", None))


#: old ``pigan.training`` key -> (new section, key)
_MOVED_TRAINING_KEYS = {
    "progressive_discriminator": ("discriminator", "progressive"), "fade_steps": ("discriminator", "fade_steps"),
    "discriminator_max_channels": ("discriminator", "max_channels"),
    "discriminator_channel_scale": ("discriminator", "channel_scale"),
    "r1": ("loss", "r1_gamma"), "pose_lambda": ("loss", "lambda_pos"),
    "topk_interval": ("loss", "topk_interval"), "topk_min": ("loss", "topk_min")}
#: old ``pigan.training.curriculum`` entry defaults (the curriculum's default was one such entry)
_OLD_ENTRY = {"resolution": 64, "steps": 200000, "batch_size": 56, "generator_lr": 6e-5, "discriminator_lr": 2e-4}


def _upgrade_pigan_section(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k != "pigan"}
    old = dict(data["pigan"])
    generator = dict(old.pop("network", None) or {})
    if "rendering" in old:
        generator["rendering"] = old.pop("rendering")
    training = dict(old.pop("training", None) or {})
    sections: dict[str, dict[str, Any]] = {"generator": generator, "discriminator": {}, "loss": {}}
    for key, (section, new_key) in _MOVED_TRAINING_KEYS.items():
        if key in training:
            sections[section][new_key] = training.pop(key)
    betas = training.pop("betas", [0.0, 0.9])
    grad_clip = training.pop("grad_clip", 10.0)
    stages = []
    for entry in training.pop("curriculum", [{}]):
        e = {**_OLD_ENTRY, **entry}
        lr = {"generator": e.pop("generator_lr"), "discriminator": e.pop("discriminator_lr")}
        stages.append({"name": stage_name(e["resolution"]), **e, "lr": lr, "betas": betas, "grad_clip": grad_clip})
    out.update(sections, stages=stages)
    if training:  # keys that never existed: left where validation names them
        old["training"] = training
    if old:
        out["pigan"] = old
    return out
