"""The model plugin interface and its training recipe, which the shared engine runs.

A model plugin (what a :class:`zoo3d.specs.ModelSpec` factory resolves to) says how to
build its modules from a config and how to train them: a list of :class:`Stage` objects,
each a number of steps of one or more :class:`Phase` (e.g. a discriminator phase then a
generator phase), each phase computing a loss that one optimiser minimises. The engine
owns everything generic: devices, mixed precision, EMA, gradient clipping, checkpoints,
resume, NaN rollback, logging and sample grids.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.config import RunConfig, StageConfig
from zoo3d.errors import ConfigError, RecipeError


@dataclass
class OptimizerSpec:
    """An Adam optimiser over the parameters of named modules.

    ``modules`` are keys of the model's module dict, optionally dotted into sub-modules
    (``"generator.sr_net"``). ``grad_clip`` is a max global norm (None: no clipping). ``module_lr`` maps a
    dotted sub-module of those modules to its own learning rate (an Adam parameter group; the most specific
    path wins); the rest of the parameters train at ``lr``.
    """

    modules: list[str]
    lr: float
    betas: tuple[float, float] = (0.0, 0.9)
    eps: float = 1e-8
    weight_decay: float = 0.0
    grad_clip: float | None = None
    module_lr: dict[str, float] = field(default_factory=dict)


def lazy_corrected(spec: OptimizerSpec, every: int | None) -> OptimizerSpec:
    """StyleGAN2's lazy-regularisation correction (as StyleGAN2, EG3D and StyleSDF apply it) for an optimiser
    whose modules also get a regularisation phase every ``every`` steps: lr * c and betas ** c with
    c = every / (every + 1); unchanged when ``every`` is None (no such phase)."""
    if not every:
        return spec
    c = every / (every + 1)
    return dataclasses.replace(spec, lr=spec.lr * c, betas=(spec.betas[0] ** c, spec.betas[1] ** c),
                               module_lr={path: lr * c for path, lr in spec.module_lr.items()})


def stage_optimizers(stage: StageConfig, modules: dict[str, list[str]],
                     lazy_every: dict[str, int | None] | None = None) -> dict[str, OptimizerSpec]:
    """One Adam per role of ``modules`` (role -> module paths) with the stage config's learning rate for
    that role, its betas and clipping, and the entries of its ``module_lr`` that lie inside the role's
    modules; a role in ``lazy_every`` gets :func:`lazy_corrected`."""
    missing = sorted(set(modules) - set(stage.lr))
    if missing:
        raise ConfigError(f"Stage '{stage.name}' trains {missing} but its config gives no learning rate for them "
                         f"(stages.{stage.name}.lr has {sorted(stage.lr)}).")

    def inside(path: str, paths: list[str]) -> bool:
        return any(path == p or path.startswith(p + ".") for p in paths)

    stray = sorted(p for p in stage.module_lr if not any(inside(p, paths) for paths in modules.values()))
    if stray:
        trained = sorted(p for paths in modules.values() for p in paths)
        raise ConfigError(f"stages.{stage.name}.module_lr names {stray}, which no optimiser of stage "
                         f"'{stage.name}' trains (it trains {trained}).")
    if isinstance(stage.grad_clip, dict) and (unknown := sorted(set(stage.grad_clip) - set(modules))):
        raise ConfigError(f"stages.{stage.name}.grad_clip names {unknown}, which stage '{stage.name}' does not "
                         f"train (its optimisers: {sorted(modules)}).")
    lazy = lazy_every or {}
    return {role: lazy_corrected(OptimizerSpec(list(paths), lr=stage.lr[role], betas=tuple(stage.betas),
                                               grad_clip=stage.clip_for(role),
                                               module_lr={p: lr for p, lr in stage.module_lr.items()
                                                          if inside(p, paths)}), lazy.get(role))
            for role, paths in modules.items()}


@dataclass
class LossResult:
    """A phase's loss: ``loss`` is minimised; ``logs`` are scalars shown and written to metrics.jsonl."""

    loss: Tensor
    logs: dict[str, float] = field(default_factory=dict)


@dataclass
class Phase:
    """One optimisation step inside a training step: ``loss(ctx)`` minimised by ``optimizer``.

    ``every`` runs the phase only on steps divisible by it (e.g. lazy regularisation phases).
    """

    name: str
    optimizer: str
    loss: Callable[["StepContext"], LossResult]
    every: int = 1


@dataclass
class Stage:
    """A contiguous part of training.

    Attributes:
        name: shown in the progress display and stored in checkpoints.
        steps: number of training steps.
        phases: run in order at every step.
        optimizers: by name; phases refer to them.
        resolution: real-image resolution for this stage (None: the stage uses no real data).
        batch_size: real and fake images per step.
        frozen: module names (dotted allowed) whose parameters get no gradient in this stage.
        on_start: called once with the :class:`StepContext` before the first step of the stage
            (load a previous stage's weights, a sphere initialisation, ...). Not called again
            when a run resumes in the middle of the stage.
        ema: keep an EMA of the generator during this stage.
        ema_decay: that EMA's decay in this stage (None: the run's ``train.ema_decay``).
        keep_optimizer_state: each optimiser goes on with the previous stage's Adam moments and step count
            for the parameters the previous stage's optimiser of the same name trained (this stage's rates
            and betas apply); False: fresh optimisers.
    """

    name: str
    steps: int
    phases: list[Phase]
    optimizers: dict[str, OptimizerSpec]
    resolution: int | None = None
    batch_size: int = 8
    frozen: list[str] = field(default_factory=list)
    on_start: Callable[["StepContext"], None] | None = None
    ema: bool = True
    ema_decay: float | None = None
    keep_optimizer_state: bool = False

    @classmethod
    def from_config(cls, config: StageConfig, phases: list[Phase], optimizers: dict[str, OptimizerSpec],
                    **rest: Any) -> "Stage":
        """The stage a :class:`StageConfig` sizes (name, steps, batch size, EMA decay, whether it keeps the optimiser
        state, and its resolution when it gives one; ``rest`` may set the resolution the model decides)."""
        if config.resolution is not None:
            rest.setdefault("resolution", config.resolution)
        rest.setdefault("ema_decay", config.ema_decay)
        rest.setdefault("keep_optimizer_state", config.keep_optimizer_state)
        return cls(name=config.name, steps=config.steps, phases=phases, optimizers=optimizers,
                   batch_size=config.batch_size, **rest)


@dataclass
class RealBatch:
    """Real training images: images (B, 3, H, W) in [-1, 1] and their cameras (when the data has poses)."""

    images: Tensor
    cameras: Camera | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
    """What a phase's loss function gets from the engine.

    Attributes:
        modules: the model's modules by name (``generator`` always; discriminators, encoders ...).
        ema: the EMA copy of the generator (for sampling and for losses that need it), or None.
        config: the run config.
        stage: the current stage; ``stage_step`` counts from 0 inside it, ``step`` globally.
        real: the real batch for this step (None when the stage uses no real data).
        rng: a torch.Generator (on the CPU) for latents and cameras, checkpointed with the run.
        device: where the modules live.
        autocast: a context manager enabling mixed precision where the engine allows it.
        amp_dtype: the dtype ``autocast`` computes in (torch.bfloat16 or torch.float16), None without it.
        state: a dict the plugin may use for values that persist across steps (saved in checkpoints
            when they are tensors or plain numbers).
    """

    modules: dict[str, torch.nn.Module]
    config: RunConfig
    stage: Stage
    step: int
    stage_step: int
    device: torch.device
    real: RealBatch | None = None
    ema: torch.nn.Module | None = None
    rng: torch.Generator | None = None
    autocast: Callable[[], AbstractContextManager] = nullcontext
    state: dict[str, Any] = field(default_factory=dict)
    amp_dtype: torch.dtype | None = None

    @property
    def generator(self) -> torch.nn.Module:
        return self.modules["generator"]

    def module(self, name: str) -> torch.nn.Module:
        """The model's module ``name`` (a key of :meth:`ModelPlugin.build`'s dict); a clear error otherwise."""
        try:
            return self.modules[name]
        except KeyError:
            raise KeyError(f"The recipe asks for module '{name}', but the model has only: "
                           f"{', '.join(self.modules)}.") from None

    def sample_z(self, n: int) -> Tensor:
        return self.generator.sample_z(n, generator=self.rng, device=self.device)

    def sample_cameras(self, n: int) -> Camera:
        return self.generator.sample_cameras(n, generator=self.rng, device=self.device)


class ModelPlugin(ABC):
    """What a registered model provides. Subclass it in your plugin (see docs/plugins.md).

    Attributes:
        config_class: the model's :class:`RunConfig` subclass.
        requires_checkpoint: see below.
    """

    config_class: type[RunConfig] = RunConfig
    #: False for models that are fully defined by their config (the procedural ``oracle``):
    #: commands then build them instead of asking for a checkpoint.
    requires_checkpoint: bool = True

    @abstractmethod
    def build(self, config: RunConfig) -> dict[str, torch.nn.Module]:
        """All modules of the model by name; ``"generator"`` (a :class:`zoo3d.core.Generator`) is required."""

    @abstractmethod
    def stages(self, config: RunConfig) -> list[Stage]:
        """The training recipe."""

    def check_new_run(self, config: RunConfig, modules: dict[str, torch.nn.Module]) -> None:
        """Check what a new run's config names outside itself (another run's weights, a file) before the run
        folder or its ``config.yaml`` exists; ``modules`` are the freshly built ones (``build(config)``). Raise
        :class:`zoo3d.errors.UserError` in one sentence for what the run would refuse later. Called by ``zoo3d
        train`` for a new run only: a resume, ``sample`` and ``render`` do not call it. The default checks
        nothing."""

    def build_inverter(self, config: RunConfig, modules: dict[str, torch.nn.Module]):
        """An :class:`zoo3d.core.Inverter` for single-pass inversion, or None if the model has none."""
        return None

    def benchmark_generator(self, config: RunConfig, resolution: int | None = None) -> torch.nn.Module:
        """The generator of ``config`` with random weights, in the state a trained model renders in, for
        ``zoo3d bench`` (time and memory do not depend on the weights); its default output is
        ``resolution``² when given, and its parameters require grad as in the model's last training stage.
        The default is ``build(config)["generator"]`` and takes no resolution."""
        if resolution is not None:
            raise NotImplementedError(f"{type(self).__name__} builds benchmark generators only at its config's "
                                      f"resolution")
        return self.build(config)["generator"]

    #: True when :meth:`import_release` reads the authors' released checkpoints (``zoo3d import``).
    imports_releases: bool = False

    def import_release(self, release: Any, config: RunConfig):
        """Turn an authors' release, loaded by :func:`zoo3d.upstream.load_release`, into a
        :class:`zoo3d.upstream.ImportedRelease` for ``config`` (the chosen preset).

        Raise :class:`zoo3d.errors.UserError` in one sentence when the file is not this model's;
        call the file :data:`zoo3d.upstream.RELEASE_FILE` ("the release file") and ``zoo3d import``
        puts its path in its place. Shapes need not be checked here: ``zoo3d import`` compares the
        state with the generator built from the returned config.
        """
        raise NotImplementedError

    def release_settings(self, release: Any, config: RunConfig) -> dict[str, Any]:
        """The config settings ``release`` (as :meth:`import_release` takes it) shows in its tensors' shapes, as
        dotted keys and plain values (``{"generator.z_dim": 8}``: the mapping's input width), for a file trained at
        settings of its own. ``zoo3d import`` names the ones that differ from ``config`` as ``--set`` items in its
        refusal, once the release fits the config with them. Optional: the default reads nothing (``{}``)."""
        return {}


def build_modules(plugin: ModelPlugin, config: RunConfig) -> dict[str, torch.nn.Module]:
    """``plugin.build(config)``, as every command calls it. A ValueError from a module's constructor (a
    resolution a network cannot take) comes from the config the user gave: it is a :class:`ConfigError`, one
    sentence, instead of a traceback."""
    try:
        return plugin.build(config)
    except ValueError as exc:
        raise ConfigError(f"Invalid config: the model cannot be built with it: {str(exc).rstrip('.')}.") from None


def run_phase(phase: Phase, ctx: StepContext) -> LossResult:
    """``phase.loss(ctx)``, as the engine calls it: a return that is no :class:`LossResult`, or whose ``loss`` is no
    tensor, is a :class:`RecipeError` naming the phase and its stage (it failed on ``.loss`` with a traceback)."""
    result = phase.loss(ctx)
    what = (f"a {type(result).__name__}" if not isinstance(result, LossResult) else
            None if isinstance(result.loss, Tensor) else f"a LossResult whose loss is a {type(result.loss).__name__}")
    if what is not None:
        raise RecipeError(f"Phase '{phase.name}' of stage '{ctx.stage.name}' returned {what} from its loss; a phase's "
                          f"loss returns zoo3d.core.LossResult(loss=<a tensor to minimise>, logs={{name: number}}) "
                          f"(docs/plugins.md, The model interface).")
    return result


def resolve_module(modules: dict[str, torch.nn.Module], dotted: str) -> torch.nn.Module:
    """The module a recipe's dotted path names in ``modules`` (as :func:`build_modules` returns them):
    ``"generator.mapping"`` is ``modules["generator"].mapping``. A ValueError names the modules there are when the
    first part names none (a :class:`RecipeError`); an AttributeError (``get_submodule``'s) when a later part does not exist."""
    head, _, rest = dotted.partition(".")
    if head not in modules:
        raise RecipeError(f"The recipe names module '{dotted}', but the model has only: {', '.join(modules)}.")
    return modules[head].get_submodule(rest) if rest else modules[head]
