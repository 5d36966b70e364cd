"""pi-GAN run configuration. Defaults are upstream's CelebA curriculum (marcoamonteiro/pi-GAN curriculums.py)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from zoo3d.cameras import CameraPrior
from zoo3d.config import Config, RunConfig


class PiGanNetworkConfig(Config):
    """Mapping network + FiLM-SIREN NeRF (``SPATIALSIRENBASELINE``: points x 2 / box_size)."""

    z_dim: int = Field(256, ge=1)
    mapping_hidden: int = Field(256, ge=1)
    mapping_layers: int = Field(3, ge=1)
    depth: int = Field(8, ge=1, description="FiLM-SIREN layers before the density head")
    width: int = Field(256, ge=1)
    box_size: float = Field(0.24, gt=0, description="UniformBoxWarp side: the network sees p * 2 / box_size")


class PiGanRenderingConfig(Config):
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
    near: float = 0.88
    far: float = 1.12
    density_activation: Literal["relu", "softplus"] = "relu"
    white_background: bool = False
    nerf_noise_steps: int = Field(5000, ge=0, description="density noise std max(0, 1 - step / N) while training")
    eval_last_back: bool = Field(False, description="at inference the last sample takes the weight left over "
                                                    "(the CelebA and Cats curricula's eval_last_back)")
    convention: Literal["zoo3d", "upstream"] = Field(
        "zoo3d", description="sample placement, integration and pixel grid: zoo3d's, or the authors' code's")


class PiGanStageConfig(Config):
    """One resolution of the progressive curriculum."""

    resolution: int = Field(64, ge=4)
    steps: int = Field(200000, ge=0)
    batch_size: int = Field(56, ge=1)
    generator_lr: float = Field(6e-5, gt=0)
    discriminator_lr: float = Field(2e-4, gt=0)


class PiGanTrainingConfig(Config):
    """Losses, optimisers and the curriculum (one entry = fixed resolution; several = progressive growing)."""

    curriculum: list[PiGanStageConfig] = Field(default_factory=lambda: [PiGanStageConfig()])
    progressive_discriminator: bool = False
    fade_steps: int = Field(10000, ge=0, description="fade-in of a new discriminator resolution")
    betas: tuple[float, float] = (0.0, 0.9)
    r1: float = Field(0.2, ge=0)
    pose_lambda: float = Field(15.0, ge=0, description="MSE pose regression of fakes, D and G")
    grad_clip: float | None = Field(10.0, gt=0)
    topk_interval: int = Field(2000, ge=1, description="G uses the top max(0.99^(step/N), topk_min) fakes")
    topk_min: float = Field(0.6, gt=0, le=1)
    discriminator_max_channels: int = Field(400, ge=1)
    discriminator_channel_scale: float = Field(1.0, gt=0)


class PiGanModelConfig(Config):
    network: PiGanNetworkConfig = Field(default_factory=PiGanNetworkConfig)
    rendering: PiGanRenderingConfig = Field(default_factory=PiGanRenderingConfig)
    training: PiGanTrainingConfig = Field(default_factory=PiGanTrainingConfig)


def _celeba_camera() -> CameraPrior:
    return CameraPrior(yaw_std=0.3, pitch_std=0.155, fov=12.0, radius=1.0)


class PiGanConfig(RunConfig):
    """A pi-GAN run: the shared sections plus ``pigan``."""

    model: str = "pigan"
    camera: CameraPrior = Field(default_factory=_celeba_camera)
    unread_train_keys: ClassVar[dict[str, str]] = {
        "steps": "the steps of every entry of pigan.training.curriculum",
        "batch_size": "the batch_size of every entry of pigan.training.curriculum"}
    pigan: PiGanModelConfig = Field(default_factory=PiGanModelConfig)
