"""TEST STAND-IN, not a zoo3d model: a tiny 3D-aware GAN of coloured spheres for engine tests.

The generator maps z to a colour and a radius and renders a soft-edged sphere at the origin
(analytic ray-sphere distance, so depth is exact); the dataset holds random coloured
spheres seen from cameras of the prior; the discriminator is a two-layer CNN. It runs a
training step in milliseconds on a CPU. It also injects faults on request (``toy.nan_at_step``)
for the rollback tests. Loaded with ``ZOO3D_PLUGINS=toy_model`` (``tests/`` on the path).
"""

from __future__ import annotations

import contextlib
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from zoo3d import hookimpl
from zoo3d.cameras import Camera, CameraPrior
from zoo3d.config import Config, DataConfig, RunConfig, StageConfig, TrainConfig
from zoo3d.core import Discriminator, DiscriminatorOutput, Generator, RenderOutput
from zoo3d.core.model import LossResult, ModelPlugin, OptimizerSpec, Phase, Stage
from zoo3d.specs import DatasetSpec, ModelSpec
from zoo3d.train import losses


#: Sphere centre, off the origin so that views from different yaws differ.
CENTRE = (0.03, 0.0, 0.0)


def render_spheres(colour: torch.Tensor, radius: torch.Tensor, cameras: Camera, resolution: tuple[int, int]):
    """Spheres of ``colour`` (B, 3) in [-1, 1] and ``radius`` (B,) at CENTRE, on a black background."""
    h, w = resolution
    origins, dirs = cameras.rays(h, w)  # (B, HW, 3)
    origins = origins - torch.tensor(CENTRE, dtype=origins.dtype, device=origins.device)
    t_close = -(origins * dirs).sum(-1)  # distance along the ray to the point nearest the centre
    miss = (origins + t_close[..., None] * dirs).norm(dim=-1)
    r = radius[:, None]
    alpha = torch.sigmoid((r - miss) / (0.08 * r))
    depth = t_close - torch.sqrt((r ** 2 - miss ** 2).clamp_min(0))
    rgb = alpha[..., None] * colour[:, None, :] + (1 - alpha[..., None]) * -1.0
    to_img = lambda x: x.reshape(x.shape[0], h, w, -1).permute(0, 3, 1, 2)
    return RenderOutput(rgb=to_img(rgb), depth=to_img(depth[..., None]), alpha=to_img(alpha[..., None]))


class ToyGenerator(Generator):
    def __init__(self, z_dim: int, resolution: int, camera_prior: CameraPrior):
        super().__init__()
        self.z_dim, self.resolution, self.camera_prior = z_dim, (resolution, resolution), camera_prior
        self.net = nn.Sequential(nn.Linear(z_dim, 32), nn.LeakyReLU(0.2), nn.Linear(32, 4))

    def represent(self, z, psi=1.0):
        h = self.net(z * psi)  # the latent mean is 0, so truncation scales z towards it
        return {"colour": torch.tanh(h[:, :3]), "radius": 0.04 + 0.05 * torch.sigmoid(h[:, 3])}

    def render(self, representation, cameras, resolution=None):
        return render_spheres(representation["colour"], representation["radius"], cameras,
                              resolution or self.resolution)


class ToyDiscriminator(Discriminator):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 16, 3, 2, 1),
                                  nn.LeakyReLU(0.2))
        self.head = nn.Linear(16, 1)

    def forward(self, images, cameras=None):
        return DiscriminatorOutput(logit=self.head(self.conv(images).mean((2, 3))))


class ToySection(Config):
    z_dim: int = 8
    resolution: int = 16
    r1_gamma: float = 1.0
    r1_interval: int = Field(1, ge=1)
    stages: int = Field(1, ge=1, le=2)
    keep_optimizer_state: bool = False  # the second stage's (toy.stages=2)
    nan_at_step: int | None = None
    nan_times: int = 1
    nan_kind: Literal["loss", "grad"] = "loss"


TOY_TRAIN = {"log_every": 1, "sample_every": 0, "checkpoint_every": 3, "sample_seeds": [0, 1, 2]}


def toy_stage(steps: int = 6, batch_size: int = 4, lr_g: float = 5e-3, lr_d: float = 5e-3) -> StageConfig:
    """The toy's one configured stage (``toy.stages=2`` splits it in two halves)."""
    return StageConfig(name="main", steps=steps, batch_size=batch_size, lr={"G": lr_g, "D": lr_d})


def toy_config(steps: int = 6, **train) -> "ToyConfig":
    """A toy config of ``steps`` steps with ``train`` keys over the toy's defaults."""
    return ToyConfig.model_validate({"train": train, "stages": [toy_stage(steps).model_dump()]})


class ToyConfig(RunConfig):
    data: DataConfig = Field(default_factory=lambda: DataConfig(spec="toy:spheres", mirror=False))
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(**TOY_TRAIN))
    toy: ToySection = Field(default_factory=ToySection)
    stages: list[StageConfig] = Field(default_factory=lambda: [toy_stage()])
    stage_names = ("main",)

    @field_validator("train", mode="before")
    @classmethod
    def _toy_train_defaults(cls, value):
        """``--set train.x=...`` keeps the toy's small defaults for the other train keys."""
        return {**TOY_TRAIN, **value} if isinstance(value, dict) else value


class ToyModel(ModelPlugin):
    config_class = ToyConfig

    def __init__(self):
        self.faults_left: int | None = None  # lives outside the checkpointed state: a transient fault

    def build(self, config):
        t = config.toy
        return {"generator": ToyGenerator(t.z_dim, t.resolution, config.camera), "disc": ToyDiscriminator()}

    def _fault(self, ctx, loss):
        t = ctx.config.toy
        if t.nan_at_step is None or ctx.step != t.nan_at_step:
            return loss
        if self.faults_left is None:
            self.faults_left = t.nan_times
        if self.faults_left <= 0:
            return loss
        self.faults_left -= 1
        if t.nan_kind == "loss":
            return loss * float("nan")
        p = next(ctx.generator.parameters())
        return loss + 0.0 * torch.sqrt(p - p.detach()).sum()  # finite loss, NaN gradient

    def stages(self, config):
        t, main = config.toy, config.stage("main")

        def fake(ctx):
            z, cams = ctx.sample_z(main.batch_size), ctx.sample_cameras(main.batch_size)
            return ctx.generator(z, cams).rgb

        def d_loss(ctx):
            real = ctx.real.images.requires_grad_(ctx.step % t.r1_interval == 0)
            with torch.no_grad():
                fakes = fake(ctx)
            real_logit = ctx.modules["disc"](real).logit
            loss = losses.discriminator_loss(real_logit, ctx.modules["disc"](fakes).logit)
            logs = {"d_adv": loss.detach()}
            if real.requires_grad:
                r1 = losses.r1_penalty(real_logit, real, t.r1_gamma, t.r1_interval)
                loss = loss + r1
                logs["r1"] = r1.detach()
            return LossResult(loss, logs)

        def g_loss(ctx):
            loss = losses.generator_loss(ctx.modules["disc"](fake(ctx)).logit)
            return LossResult(self._fault(ctx, loss))

        def mark_start(ctx):
            ctx.state["stage_starts"] = ctx.state.get("stage_starts", 0) + 1

        optim = {"G": OptimizerSpec(["generator"], main.lr["G"], grad_clip=10.0, module_lr=main.module_lr),
                 "D": OptimizerSpec(["disc"], main.lr["D"])}
        phases = [Phase("D", "D", d_loss), Phase("G", "G", g_loss)]
        steps, batch = main.steps, main.batch_size
        if t.stages == 1:
            return [Stage("main", steps, phases, optim, t.resolution, batch)]
        first = steps // 2
        return [Stage("first", first, phases, optim, t.resolution, batch, on_start=mark_start),
                Stage("second", steps - first, phases, optim, t.resolution, batch, frozen=["generator.net.0"],
                      on_start=mark_start, keep_optimizer_state=t.keep_optimizer_state)]


class ProceduralToy(ToyModel):
    """The stand-in as a checkpoint-free model (like the procedural oracle)."""

    requires_checkpoint = False


def make_sphere_dataset(cfg=None, resolution: int = 16, **_):
    """Random coloured spheres from prior cameras: items as zoo3d.data gives them."""
    return SphereDataset(int(resolution))


#: Real spheres are reddish, so a learning generator visibly moves its colours towards this.
REAL_COLOUR = (0.7, -0.5, -0.5)


class SphereDataset(torch.utils.data.Dataset):
    def __init__(self, resolution: int, count: int = 32):
        g = torch.Generator().manual_seed(1234)
        self.colour = torch.tensor(REAL_COLOUR) + 0.15 * torch.randn(count, 3, generator=g)
        self.radius = 0.05 + 0.03 * torch.rand(count, generator=g)
        self.cameras = CameraPrior().sample(count, generator=g)
        with torch.no_grad():
            # in [-1, 1], as a dataset serves images: the last sphere's red is drawn past 1
            rgb = render_spheres(self.colour, self.radius, self.cameras, (resolution, resolution)).rgb
            self.images = rgb.clamp(-1, 1)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "camera": self.cameras[i].to_eg3d()[0], "index": i}


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(name="toy", factory="toy_model:ToyModel", summary="Test stand-in: coloured spheres."))
    register(ModelSpec(name="toy_other", factory="toy_model:ToyModel", summary="A second test stand-in name."))
    register(ModelSpec(name="toy_procedural", factory="toy_model:ProceduralToy", summary="Checkpoint-free stand-in."))


def use_toy(monkeypatch, runs_root):
    """Load this module as a plugin and keep runs under ``runs_root`` (for tests)."""
    from pathlib import Path

    from zoo3d.plugins import reset_host

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    monkeypatch.setenv("ZOO3D_PLUGINS", "toy_model")
    monkeypatch.setenv("ZOO3D_RUNS", str(runs_root))
    reset_host()


def signal_during_step(monkeypatch, at: int, signum: int | None = None) -> None:
    """``signum`` (default SIGINT) arrives while the engine trains step ``at`` (counted from 1, as checkpoints
    are): the run ends after that step, as a user's Ctrl-C or a scheduler's SIGTERM mid-step ends it."""
    import signal

    from zoo3d.train import engine

    step = engine.Trainer._train_step

    def signalled(self, stage):
        if self.step + 1 == at:
            signal.raise_signal(signal.SIGINT if signum is None else signum)
        return step(self, stage)

    monkeypatch.setattr(engine.Trainer, "_train_step", signalled)


@contextlib.contextmanager
def one_thread():
    """The toy's tensors are tiny: on a shared 2-core machine thread hand-offs cost more than the maths."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@hookimpl
def zoo3d_register_datasets(register):
    register(DatasetSpec(name="toy:spheres", factory="toy_model:make_sphere_dataset", summary="Test stand-in."))
