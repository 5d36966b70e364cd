"""The shared training engine: runs any model plugin's recipe (stages of phases).

The engine owns everything generic (devices, mixed precision, Adam, gradient clipping,
EMA, real batches, logging, sample grids, checkpoints, resume, NaN rollback, signals);
the plugin's :class:`zoo3d.core.Phase` loss functions own the maths. See docs/training.md.
Under torchrun the same loop runs in every process; what that changes (batch shares, gradient
averaging, rank-0 writes) lives in :mod:`zoo3d.train.distributed`; the steps each stage trains in
:mod:`zoo3d.train.schedule`; the checks that a micro-batch or a process's share keeps each minibatch-stddev group
in :mod:`zoo3d.train.batch_groups`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import signal
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo3d.config import RunConfig
from zoo3d.core.generator import Generator
from zoo3d.core.model import (ModelPlugin, OptimizerSpec, Stage, StepContext, build_modules, resolve_module,
                              run_phase)
from zoo3d.devices import device_label, resolve_device
from zoo3d.errors import ConfigError, PluginError, RecipeError, UserError, counted, tell
from zoo3d.fileio import append_line
from zoo3d.host_memory import keep_freed_host_memory
from zoo3d.train import checkpoint as ckpt
from zoo3d.train.batch_groups import check_micro_batch_groups, check_resumed_micro_batch, chunk_sizes
from zoo3d.train.data import BatchStream, build_dataset, small_dataset_note
from zoo3d.train.distributed import (BufferSync, GradientSync, World, process_batch, same_on_every_rank,
                                     stop_on_lost_peers, stream_seed)
from zoo3d.train.ema import copy_into_ema, make_ema, update_ema
from zoo3d.train.progress import TrainProgress
from zoo3d.train.sampling import sample_grid_images, yaw_rows
from zoo3d.train.schedule import split_steps, stage_ends, stages_ahead
from zoo3d.train.signals import SAME_STOP_S, StopRequest, stop_notice

METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"


class TrainingDiverged(UserError):
    """Losses or gradients stayed non-finite after the allowed number of rollbacks (decided by all processes
    together, so every one raises it)."""

    every_rank = True


class _NonFinite(Exception):
    def __init__(self, phase: str, what: str):
        super().__init__(f"non-finite {what} in phase '{phase}'")
        self.phase, self.what = phase, what


@dataclass
class TrainResult:
    """How a run ended: ``status`` is ``done`` or ``interrupted`` (then ``signal`` names it)."""

    run_dir: Path
    step: int
    status: str
    checkpoint: Path | None
    signal: str = ""
    rank: int = 0
    world_size: int = 1
    start_step: int = 0  # the step it began at (a resumed run's checkpoint): step - start_step were trained now
    complete: bool = False  # an interrupted run stopped at its last step: nothing is left for --resume to train
    device: str = ""  # where it trained: device_label's words ('cpu', 'cuda:0 (NVIDIA H100 80GB HBM3)')
    steps_cap: int | None = None  # the --steps it ran under (None: its recipe's length)
    recipe_steps: int = 0  # the steps of its recipe, uncapped

    @property
    def exit_status(self) -> int:
        """The shell's convention for a command stopped by a signal: 128 + its number (130 for SIGINT), 0 when
        the run finished, so scripts tell a stopped run from a finished one by the status alone."""
        if self.status != "interrupted":
            return 0
        import signal

        return 128 + int(getattr(signal, self.signal))


def check_batches_ahead(stages: list[Stage], lengths: list[int], world: World, scope: str, stage_index: int = 0,
                        step: int = 0) -> None:
    """Refuse a batch the processes cannot share in every stage still ahead (see
    :func:`zoo3d.train.schedule.stages_ahead`): a stage a resumed checkpoint finished, trained with fewer processes,
    does not count."""
    for s, _ in stages_ahead(stages, lengths, stage_index, step):
        process_batch(s.batch_size, world, scope, f"Stage '{s.name}'")


def _children_on_path(modules: dict[str, torch.nn.Module], dotted: str) -> str:
    """What a wrong dotted path could have named: the children of the deepest module it reaches."""
    parts = dotted.split(".")
    if parts[0] not in modules:
        return f"its modules are {', '.join(modules)}"
    depth, module = 1, modules[parts[0]]
    while depth < len(parts) and isinstance(getattr(module, parts[depth], None), torch.nn.Module):
        module, depth = getattr(module, parts[depth]), depth + 1
    children = [name for name, _ in module.named_children()]
    where = ".".join(parts[:depth])
    return f"'{where}' holds {', '.join(children)}" if children else f"'{where}' holds no sub-modules"


def check_stage_settings_apply(stages: list[Stage]) -> None:
    """A stage's ``ema_decay`` and ``keep_optimizer_state`` must have something to act on: a stage without an
    average of its own (the EMA follows its generator) has no decay to use, and a stage whose previous stage has
    no optimiser of its roles (or that is the first) has no state to keep. Either would be taken without a word."""
    for i, s in enumerate(stages):
        if s.ema_decay is not None and not s.ema:
            raise ConfigError(f"stages.{s.name}.ema_decay: stage '{s.name}' keeps no average of the generator "
                              f"(the EMA follows the generator there), so the decay would apply to nothing.")
        if s.keep_optimizer_state:
            before = stages[i - 1] if i else None
            if before is None:
                raise ConfigError(f"stages.{s.name}.keep_optimizer_state: '{s.name}' is the recipe's first stage, "
                                  f"so there is no optimiser state to keep.")
            if not set(s.optimizers) & set(before.optimizers):
                raise ConfigError(f"stages.{s.name}.keep_optimizer_state: the stage before it, '{before.name}', "
                                  f"has no optimiser of its roles ({', '.join(s.optimizers)}), so there is no "
                                  f"optimiser state to keep.")


def _stepped_parameters(stage: Stage, role: str, modules: dict[str, torch.nn.Module],
                        wanted_grad: dict[int, bool]) -> set[int]:
    """The ids of the parameters the stage's optimiser of ``role`` steps: its modules', less what the stage freezes
    and what the model builds fixed (as :meth:`Trainer._set_trainable` leaves them)."""
    frozen = {id(p) for name in stage.frozen for p in resolve_module(modules, name).parameters()}
    return {id(p) for mod in stage.optimizers[role].modules for p in resolve_module(modules, mod).parameters()
            if wanted_grad.get(id(p), True) and id(p) not in frozen}


def check_optimizers_train(stages: list[Stage], modules: dict[str, torch.nn.Module],
                           wanted_grad: dict[int, bool]) -> None:
    """Every optimiser of every stage steps some parameter: one whose modules the stage freezes (or the model builds
    fixed) is the sentence :meth:`Trainer._build_optimizers` gives, said before the run folder rather than when the
    stage begins."""
    for s in stages:
        for role, spec in s.optimizers.items():
            if not _stepped_parameters(s, role, modules, wanted_grad):
                raise RecipeError(no_trainable_parameters(role, s, spec))


def no_trainable_parameters(role: str, stage: Stage, spec: OptimizerSpec) -> str:
    """The sentence for an optimiser of ``stage`` left with nothing to train."""
    return (f"Optimizer '{role}' of stage '{stage.name}' has no trainable parameters (modules {spec.modules}, "
            f"frozen {stage.frozen}).")


def check_kept_state_shared(stages: list[Stage], modules: dict[str, torch.nn.Module],
                            wanted_grad: dict[int, bool]) -> None:
    """A stage that keeps the previous stage's Adam state must step some parameter that stage's optimiser of the same
    role stepped: state is kept parameter by parameter, so where the two stages train disjoint parts (GRAM-HD's
    super-resolution after its LR GRAM) nothing would be kept, without a word."""
    for before, s in zip(stages, stages[1:]):
        if not s.keep_optimizer_state:
            continue
        roles = [r for r in s.optimizers if r in before.optimizers]
        if roles and not any(_stepped_parameters(s, r, modules, wanted_grad)
                             & _stepped_parameters(before, r, modules, wanted_grad) for r in roles):
            raise ConfigError(f"stages.{s.name}.keep_optimizer_state: the stage before it, '{before.name}', trains "
                              f"none of the parameters its optimisers ({', '.join(roles)}) step, so there is no "
                              f"optimiser state to keep.")


def check_module_paths(stages: list[Stage], modules: dict[str, torch.nn.Module], model_name: str) -> None:
    """Every module an optimiser, a freeze or a ``module_lr`` entry names exists, checked before the run
    folder is made rather than when a later stage begins."""
    for s in stages:
        for path in [m for spec in s.optimizers.values() for m in spec.modules] + list(s.frozen):
            try:
                resolve_module(modules, path)
            except AttributeError:
                raise RecipeError(f"Stage '{s.name}' names module '{path}', which the model does not have.") from None
        for path in sorted({p for spec in s.optimizers.values() for p in spec.module_lr}):
            _check_module_lr_path(s, path, modules, model_name)


def check_module_lr_trains(stage: Stage, modules: dict[str, torch.nn.Module], wanted_grad: dict[int, bool]) -> None:
    """A ``module_lr`` path must hold a parameter its optimiser trains in the stage: one the stage freezes
    (GRAMInverter's fixed manifolds) or the model builds fixed would take the rate without a word, and
    nothing would train at it."""
    frozen = {id(p) for name in stage.frozen for p in resolve_module(modules, name).parameters()}
    for role, spec in stage.optimizers.items():  # trainable as built (_wanted_grad), not as another stage left them
        trained = _stepped_parameters(stage, role, modules, wanted_grad)
        for path in sorted(spec.module_lr):
            if not any(id(p) in trained for p in resolve_module(modules, path).parameters()):
                why = (f"stage '{stage.name}' freezes it (frozen: {', '.join(stage.frozen)})"
                       if any(id(p) in frozen for p in resolve_module(modules, path).parameters())
                       else f"stage '{stage.name}' trains no parameter of it")
                raise ConfigError(f"stages.{stage.name}.module_lr.{path}: {why}, so no parameter would "
                                  f"train at that rate.")


def _check_module_lr_path(stage: Stage, path: str, modules: dict[str, torch.nn.Module], model_name: str) -> None:
    """A ``module_lr`` path is the user's config key: a typo is their mistake, said as one sentence."""
    try:
        resolve_module(modules, path)
    except (AttributeError, ValueError):
        raise ConfigError(f"stages.{stage.name}.module_lr.{path}: model '{model_name}' has no module "
                          f"'{path}' ({_children_on_path(modules, path)}).") from None


def check_generator(modules: dict[str, torch.nn.Module], model_name: str) -> None:
    """Refuse ``build()``'s modules without a ``generator``, or with one that is no :class:`zoo3d.core.Generator`
    (the engine asks it for sample_z, sample_cameras, camera_prior, ...); the modules may live on the meta device."""
    if "generator" not in modules:
        raise RecipeError(f"Model '{model_name}': build() must return a 'generator' module.")
    if not isinstance(modules["generator"], Generator):
        raise RecipeError(f"Model '{model_name}': build()'s 'generator' is a {type(modules['generator']).__name__}, "
                          f"not a zoo3d.core.Generator; subclass it (docs/plugins.md, The model interface).")


def check_new_run_modules(stages: list[Stage], modules: dict[str, torch.nn.Module], model_name: str,
                          config: RunConfig, world: World, lengths: list[int],
                          wanted_grad: dict[int, bool] | None = None) -> None:
    """What a new run refuses in its stages once the modules are built (:meth:`Trainer.check_new_run`), in this
    order: a module path no module answers to, a stage setting with nothing to act on, an optimiser with nothing to
    train, a ``module_lr`` that nothing trains at, a ``train.micro_batch`` below a minibatch-stddev group
    (``lengths``: the steps each stage trains).
    ``modules`` as ``build()`` returned them; they may live on the meta device (``zoo3d train --nproc`` checks them
    once, before it starts the processes, without building the weights). ``wanted_grad``: which parameters the model
    builds trainable, by id (default: as ``modules`` hold them now)."""
    check_module_paths(stages, modules, model_name)
    check_stage_settings_apply(stages)
    if wanted_grad is None:
        wanted_grad = {id(p): p.requires_grad for m in modules.values() for p in m.parameters()}
    check_optimizers_train(stages, modules, wanted_grad)
    check_kept_state_shared(stages, modules, wanted_grad)
    for s in stages:
        check_module_lr_trains(s, modules, wanted_grad)
    check_micro_batch_groups(stages, lengths, modules, config.train.micro_batch, world, config.train.batch_scope)


def _param_groups(params: list[torch.nn.Parameter], spec: OptimizerSpec,
                  modules: dict[str, torch.nn.Module]) -> list[dict[str, Any]]:
    """Adam's parameter groups for ``params``: the parameters under a module of ``spec.module_lr`` train at
    its rate (the most specific path wins), the rest at ``spec.lr``; a group left empty (frozen) is dropped."""
    owner: dict[int, str] = {}
    for path in sorted(spec.module_lr, key=lambda p: p.count(".")):  # deeper paths overwrite their parents
        try:
            module = resolve_module(modules, path)
        except AttributeError:
            raise RecipeError(f"module_lr names '{path}', which is not a module of this model.") from None
        owner.update({id(p): path for p in module.parameters()})
    groups = [{"params": [p for p in params if id(p) not in owner]}]
    for path in sorted(spec.module_lr):
        groups.append({"params": [p for p in params if owner.get(id(p)) == path], "lr": spec.module_lr[path],
                       "module": path})
    return [g for g in groups if g["params"]]


def _group_order(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> list[int]:
    """For each parameter in the optimiser's state order (group by group), its index in ``params``."""
    index = {id(p): i for i, p in enumerate(params)}
    return [index[id(p)] for group in optimizer.param_groups for p in group["params"]]


def micro_batches(ctx: StepContext, most: int | None) -> list[tuple[StepContext, float]]:
    """``ctx`` split into near-equal chunks of at most ``most`` images (its stage's batch size and real
    batch cut alike), each with its share of the batch; ``[(ctx, 1.0)]`` when it fits whole."""
    batch = ctx.stage.batch_size
    sizes = chunk_sizes(batch, most)
    if len(sizes) == 1:
        return [(ctx, 1.0)]
    chunks, start = [], 0
    for size in sizes:
        part = slice(start, start + size)
        real = None if ctx.real is None else dataclasses.replace(
            ctx.real, images=ctx.real.images[part], cameras=None if ctx.real.cameras is None else ctx.real.cameras[part],
            extras={k: v[part] if isinstance(v, Tensor) and v.ndim and v.shape[0] == batch else v
                    for k, v in ctx.real.extras.items()})
        chunks.append((dataclasses.replace(ctx, stage=dataclasses.replace(ctx.stage, batch_size=size), real=real),
                       size / batch))
        start += size
    return chunks


class ChunkBuffers:
    """The floating-point buffers a split phase's losses update (a running mean such as the tri-plane mapping's
    ``w_avg``, moved once per forward pass) as the whole batch would update them.

    Each chunk starts from the buffers as the phase found them; at the end each buffer is moved by the chunks'
    changes weighted by chunk size. A running mean updated from every chunk in turn would move once per chunk
    (four chunks: four times as far a step); so it moves once, towards the mean of the whole batch, as
    :class:`~zoo3d.train.distributed.BufferSync` does over processes. A buffer every chunk leaves at one value (a
    flag or setting a loss writes) takes that value exactly; buffers of other types keep the last chunk's value.
    Nothing is copied for a phase that runs whole."""

    def __init__(self, modules: dict[str, torch.nn.Module], chunks: int):
        unique = {id(b): b for m in modules.values() for b in m.buffers() if b.is_floating_point()}  # shared: once
        self.buffers = list(unique.values()) if chunks > 1 else []
        self._start: list[Tensor] = []
        self._moved: list[Tensor] = []
        self._first: list[Tensor | None] = []  # where the first chunk left each buffer, while every chunk agrees

    @torch.no_grad()
    def begin_chunk(self, index: int) -> None:
        """Before chunk ``index``: remember the buffers (the first), or put them back as the phase found them."""
        if not self.buffers:
            return
        if index == 0:
            self._start = [b.detach().clone() for b in self.buffers]
            self._moved = [torch.zeros_like(b) for b in self.buffers]
            self._first = []
        else:
            for b, start in zip(self.buffers, self._start):
                b.copy_(start)

    @torch.no_grad()
    def end_chunk(self, weight: float) -> None:
        """After a chunk holding ``weight`` of the batch: add its change of every buffer, weighted."""
        first = not self._first
        for i, (b, start, moved) in enumerate(zip(self.buffers, self._start, self._moved)):
            moved.add_(b - start, alpha=weight)
            if first:
                self._first.append(b.detach().clone())
            elif self._first[i] is not None and not torch.equal(self._first[i], b):
                self._first[i] = None

    @torch.no_grad()
    def end(self) -> None:
        """After the phase's last chunk: every buffer at where it started plus the chunks' weighted changes (at the
        value every chunk left it at, where they agree)."""
        for b, start, moved, same in zip(self.buffers, self._start, self._moved, self._first):
            b.copy_(same if same is not None else start + moved)
        self._start, self._moved, self._first = [], [], []


def _add_weighted(total: dict[str, Any], logs: dict[str, Any], weight: float, first: bool) -> None:
    """Accumulate a chunk's logs into the step's: numbers and tensors as their weighted sum, anything else
    (a name, a flag) as the first chunk gave it (the run's log records then take flags as 0 or 1 and refuse the
    rest: :meth:`Trainer._accumulate`)."""
    for key, value in logs.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
            total.setdefault(key, value)
        elif first or key not in total:
            total[key] = value if weight == 1.0 else value * weight
        else:
            total[key] = total[key] + value * weight


def losses_first(record: dict[str, float]) -> dict[str, float]:
    """A metrics record's values with every phase's loss (``loss.<phase>``) first, in phase order, for the progress
    display, which shows the first few: a discriminator phase's half-dozen logs would otherwise hide the losses of
    the phases after it (GRAM's bar showed no generator loss)."""
    return {**{k: v for k, v in record.items() if k.startswith("loss.")}, **record}


def _scaled_step(scaler: torch.amp.GradScaler, opt: torch.optim.Optimizer) -> bool:
    """Step ``opt`` through its GradScaler; False when the scaler skipped the step (inf/NaN gradients), which
    it always answers by lowering its scale: the weights did not move, so the EMA must not either."""
    before = scaler.get_scale()
    scaler.step(opt)
    scaler.update()
    return scaler.get_scale() >= before


@contextmanager
def _rates_in_range(opt: torch.optim.Optimizer, stage: str, role: str, configs: list | tuple = ()):
    """A learning rate too large for the weights' type (1e39 past float32's largest number) stops Adam's step in
    torch's RuntimeError about an overflow, a traceback: said as the rate at fault instead, as ``configs`` (the run's
    stage configs) give it where the stage's is among them (the optimiser's own rate may be scaled from it: lazy
    regularisation's lr x c)."""
    try:
        yield
    except RuntimeError as exc:
        if "without overflow" not in str(exc):
            raise
        group = max(opt.param_groups, key=lambda g: g["lr"])
        dtype = str(group["params"][0].dtype).removeprefix("torch.")
        module = group.get("module")
        key = f"module_lr.{module}" if module else f"lr.{role}"
        given = next((c.module_lr.get(module) if module else c.lr.get(role) for c in configs if c.name == stage), None)
        error = ConfigError(f"stages.{stage}.{key}: Adam cannot step {dtype} weights at a learning rate of "
                            f"{group['lr'] if given is None else given:g} (its update overflows {dtype}); give a "
                            f"smaller one.")
        error.every_rank = True  # every process steps at the same rate: rank 0 says it once
        raise error from None


def _record_step(line: str) -> float:
    """The step of a metrics.jsonl line; +inf for a blank or cut-off line (dropped on resume)."""
    try:
        record = json.loads(line)
        return float(record.get("step", 0)) if isinstance(record, dict) else math.inf
    except (ValueError, TypeError):
        return math.inf


def _kept_record(line: str, step: int, rollback: bool, open_window: bool = False) -> bool:
    """Whether a metrics.jsonl line stays when the run goes back to ``step``: a step's record up to ``step``
    (before it, where the state of ``step`` has a log window open: no record of ``step`` preceded that state),
    and a rollback record written before that state was (it restored an earlier one) or, on a rollback,
    since (the earlier rollbacks to the same state, which its count goes on from)."""
    try:
        record = json.loads(line)
        restored = record["restored_step"] if isinstance(record, dict) and "event" in record else None
        if isinstance(restored, int):
            return restored < step or (rollback and restored == step)
    except (ValueError, TypeError, KeyError):
        pass
    return _record_step(line) < step if open_window else _record_step(line) <= step


def _mean_log_sums(per_rank: list[dict[str, list]]) -> dict[str, list]:
    """The processes' running log sums as one process's: each key's mean sum over the processes that have it."""
    out: dict[str, list] = {}
    for key in dict.fromkeys(k for sums in per_rank for k in sums):
        have = [sums[key] for sums in per_rank if key in sums]
        out[key] = [sum(h[0] for h in have) / len(have), *have[0][1:]]
    return out


class Trainer:
    """Trains one run of one model in ``run_dir``.

    Args:
        plugin: the model's :class:`ModelPlugin`.
        config: its validated run config.
        run_dir: the run folder (``config.yaml``, ``checkpoints/``, ``samples/``, ``metrics.jsonl``).
        model_name / plugin_version: written into checkpoint metadata.
        device: overrides ``config.train.device``.
        max_steps: cap on the total steps of the run (see :func:`split_steps`).
        progress: show the rich progress bar.
        world: this process's place in a multi-process run (:func:`zoo3d.train.distributed.init_world`);
            default: a one-process run.
        resume_at: (stage index, global step) of the checkpoint the run will resume from: the stages it finished
            are not asked to split their batch over this run's processes (default: a run from the start).
    """

    def __init__(self, plugin: ModelPlugin, config: RunConfig, run_dir: str | Path, *, model_name: str,
                 plugin_version: str = "", device: str | torch.device | None = None, max_steps: int | None = None,
                 progress: bool = True, world: World | None = None, resume_at: tuple[int, int] = (0, 0)):
        self.plugin, self.config, self.run_dir = plugin, config, Path(run_dir)
        self.model_name, self.plugin_version = model_name, plugin_version
        self.world = world or World()
        self.device = resolve_device(device if device is not None else config.train.device)
        if self.device.type == "cpu":
            keep_freed_host_memory()
        self.show_progress = progress and self.world.is_main
        self.stages: list[Stage] = list(plugin.stages(config))
        if not self.stages or sum(s.steps for s in self.stages) == 0:
            raise UserError(f"Model '{model_name}' has nothing to train (its recipe has no steps).")
        self._check_recipe()
        self.lengths = split_steps([s.steps for s in self.stages], max_steps)
        self.max_steps, self.recipe_steps = max_steps, sum(s.steps for s in self.stages)
        self.total_steps = sum(self.lengths)
        self.check_batches(*resume_at)  # before the build: a batch the processes cannot share is refused first
        self._setup_precision()

        torch.manual_seed(config.train.seed)
        self.modules: dict[str, torch.nn.Module] = build_modules(plugin, config)
        check_generator(self.modules, model_name)
        check_module_paths(self.stages, self.modules, self.model_name)
        for m in self.modules.values():
            m.to(self.device).train()
        self.ema = make_ema(self.modules["generator"])
        self.ema_updates = 0  # since the EMA was last made equal to the generator (``train.ema_warmup``)
        self._wanted_grad = {id(p): p.requires_grad for m in self.modules.values() for p in m.parameters()}
        rank = self.world.rank
        if rank:  # every process starts from the same weights, then draws its own noise
            torch.manual_seed(stream_seed(config.train.seed, rank))
        self.rng = torch.Generator().manual_seed(stream_seed(config.train.seed + 1, rank))
        self.sync = GradientSync(self.world)
        self._buffers = BufferSync(self.world, {})
        self._stage_view: tuple[Stage | None, Stage | None] = (None, None)  # (stage, what its phases see)
        self._batch = (0, 0)  # (per process, global) of the current stage
        self.state: dict[str, Any] = {}
        self.step = self.stage_index = self.stage_step = self.data_cursor = 0
        self.start_step = 0  # where this process began: a resumed run's checkpoint step
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self._params: dict[str, list[torch.nn.Parameter]] = {}
        self._trainable: set[int] = set()
        self._streams: dict[tuple[int, int], BatchStream] = {}
        self._datasets: dict[int, Any] = {}
        self._small_data_said = False  # a dataset smaller than a batch is said once a run
        self._pending_optim: tuple[dict[str, Tensor], dict[str, Any]] | None = None
        self._snapshot: tuple[dict[str, Tensor], dict[str, str]] | None = None
        self._rollbacks = self._total_rollbacks = 0
        self._log_sums: dict[str, list] = {}
        self._t_start = time.perf_counter()
        self.last_checkpoint: Path | None = None

    # ------------------------------------------------------------------ set-up
    def _check_recipe(self) -> None:
        for s in self.stages:
            for ph in s.phases:
                if ph.optimizer not in s.optimizers:
                    raise RecipeError(f"Stage '{s.name}', phase '{ph.name}' uses optimizer '{ph.optimizer}', "
                                     f"which the stage does not define ({', '.join(s.optimizers) or 'none'}).")

    def check_new_run(self) -> None:
        """Refuse, before a new run's folder is made, stage settings that would act on nothing (a ``module_lr`` of
        a module the stage does not train, an ``ema_decay`` or ``keep_optimizer_state`` with nothing to apply to) and
        a ``train.micro_batch`` whose chunks would break a minibatch-stddev group: :func:`check_new_run_modules` on
        this trainer's modules as built, which ``zoo3d train --nproc`` asks of modules built on the meta device.
        A resumed run is not asked: its stored config decides, and ``--resume`` takes no ``--set`` to change it."""
        check_new_run_modules(self.stages, self.modules, self.model_name, self.config, self.world, self.lengths,
                              self._wanted_grad)

    def _setup_precision(self) -> None:
        """bf16 autocast on CUDA when supported: fp32's exponent range, so no loss scaling, no skipped
        steps and R1's double backward stays stable; fp16 + GradScaler only on GPUs without bf16."""
        self.amp_dtype = None
        if self.device.type == "cuda" and self.config.train.amp:
            with torch.cuda.device(self.device):  # torch asks the current GPU; --device cuda:1 means that one
                bf16 = torch.cuda.is_bf16_supported()
            self.amp_dtype = torch.bfloat16 if bf16 else torch.float16

    def _ema_decay(self, stage: Stage) -> float:
        """The stage's own EMA decay where it sets one, else the run's."""
        return self.config.train.ema_decay if stage.ema_decay is None else stage.ema_decay

    def _update_ema(self, stage: Stage) -> None:
        """One EMA step after a generator step, at the decay of :meth:`_ema_decay` (ramped in with
        ``train.ema_warmup`` or ``train.ema_rampup``), or a copy in a stage without EMA."""
        if not stage.ema:
            self._reset_ema()
            return
        self.ema_updates += 1
        n, cfg = self.ema_updates, self.config.train
        decay = self._ema_decay(stage)
        if cfg.ema_warmup:
            decay = min(decay, (1 + n) / (10 + n))
        if cfg.ema_rampup is not None and decay > 0:
            ramped = (n - 1) * cfg.ema_rampup  # half-life in steps, capped as StyleGAN2-ADA caps it in images
            if ramped < math.log(0.5) / math.log(decay):
                decay = 0.5 ** (1 / ramped) if ramped > 0 else 0.0
        update_ema(self.ema, self.modules["generator"], decay)

    def _reset_ema(self) -> None:
        copy_into_ema(self.ema, self.modules["generator"])
        self.ema_updates = 0

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # ------------------------------------------------------------------ stages
    def _set_trainable(self, stage: Stage) -> None:
        frozen = {id(p) for name in stage.frozen for p in resolve_module(self.modules, name).parameters()}
        self._trainable = set()
        for m in self.modules.values():
            for p in m.parameters():
                p.requires_grad_(self._wanted_grad.get(id(p), True) and id(p) not in frozen)
                if p.requires_grad:
                    self._trainable.add(id(p))

    def _begin_stage(self, stage: Stage, fresh: bool) -> None:
        self._batch = process_batch(stage.batch_size, self.world, self.config.train.batch_scope,
                                    f"Stage '{stage.name}'")
        # Phases see their process's share as ctx.stage.batch_size.
        view = stage if self._batch[0] == stage.batch_size else dataclasses.replace(stage, batch_size=self._batch[0])
        self._stage_view = (stage, view)
        self._set_trainable(stage)
        if fresh and stage.on_start is not None:
            stage.on_start(self._context(stage, real=None))
            self._set_trainable(stage)
            self._reset_ema()
        self._build_optimizers(stage)
        self._generator_optimizers = {n for n, s in stage.optimizers.items()
                                      if any(m.split(".")[0] == "generator" for m in s.modules)}
        self.sync.prepare(self._params)
        self._buffers = BufferSync(self.world, self.modules)

    def _build_optimizers(self, stage: Stage) -> None:
        """The stage's Adams over its trainable parameters (:meth:`_set_trainable` first), going on from the
        previous stage's where it keeps their state, then the checkpoint's state where a resume holds one.
        Under fp16 each has a GradScaler, kept with the Adam it scales: a fresh one would start again at 65536
        and find the kept Adam's scale again only by skipping steps (down) or 2000 steps a doubling (up)."""
        previous = self.optimizers if stage.keep_optimizer_state else {}
        previous_scalers = self.scalers if stage.keep_optimizer_state else {}
        self.optimizers, self._params, self.scalers = {}, {}, {}
        for name, spec in stage.optimizers.items():
            params, seen = [], set()
            for mod in spec.modules:
                for p in resolve_module(self.modules, mod).parameters():
                    if id(p) in self._trainable and id(p) not in seen:
                        seen.add(id(p))
                        params.append(p)
            if not params:
                raise RecipeError(no_trainable_parameters(name, stage, spec))
            self._params[name] = params
            self.optimizers[name] = torch.optim.Adam(_param_groups(params, spec, self.modules), lr=spec.lr,
                                                     betas=tuple(spec.betas), eps=spec.eps,
                                                     weight_decay=spec.weight_decay)
            if self.amp_dtype == torch.float16:
                kept_scaler = previous_scalers.get(name)
                self.scalers[name] = kept_scaler if kept_scaler is not None else torch.amp.GradScaler(self.device.type)
            if name in previous:  # the moments and step counts go on; the rates and betas are this stage's
                kept = previous[name].state
                for p in params:
                    if p in kept:
                        self.optimizers[name].state[p] = kept[p]
        if self._pending_optim is not None:
            tensors, extra = self._pending_optim
            self._pending_optim = None
            stored = ckpt.stored_optimizer_names(list(self.optimizers), extra.get("optim", {}), extra["format"])
            for name, opt in self.optimizers.items():
                if name in stored:
                    saved = extra["optim"][stored[name]]
                    state = ckpt.unflatten_optimizer(stored[name], tensors, saved)
                    # onto this stage's groups, whose number and rates follow stages.*.module_lr as it is now
                    order = _group_order(opt, self._params[name])
                    state = ckpt.regroup_optimizer_state(state, saved.get("order"), opt.state_dict(), order)
                    opt.load_state_dict(state)
            for name, sc in self.scalers.items():
                if stored.get(name) in extra.get("scaler", {}):
                    sc.load_state_dict(extra["scaler"][stored[name]])

    def _context(self, stage: Stage, real) -> StepContext:
        if self._stage_view[0] is stage:
            stage = self._stage_view[1]
        return StepContext(modules=self.modules, config=self.config, stage=stage, step=self.step,
                           stage_step=self.stage_step, device=self.device, real=real, ema=self.ema, rng=self.rng,
                           autocast=self.autocast, state=self.state, amp_dtype=self.amp_dtype)

    def _real_batch(self, stage: Stage):
        if stage.resolution is None:
            return None
        res = int(stage.resolution)
        if res not in self._datasets:
            self._datasets[res] = build_dataset(self.config.data, res, camera_prior=self.config.camera,
                                                 seed=self.config.train.seed)
        batch = self._batch[1] or stage.batch_size
        key = (res, batch)
        stream = self._streams.get(key)
        if stream is None or stream.cursor != self.data_cursor:
            note = small_dataset_note(len(self._datasets[res]), self.config.data, batch, stage.name)
            if note is not None and self.world.is_main and not self._small_data_said:
                tell(note)
                self._small_data_said = True
            stream = BatchStream(self._datasets[res], batch, self.config.train.seed, self.data_cursor,
                                 self.config.data.num_workers, rank=self.world.rank, world_size=self.world.size,
                                 spec=self.config.data.spec)
            self._streams = {key: stream}
        batch = stream.next(self.device)
        self.data_cursor = stream.cursor
        return batch

    # ------------------------------------------------------------------ for benchmarks and profilers
    def enter_stage(self, stage: Stage) -> None:
        """Begin ``stage`` fresh (its ``on_start``, new optimisers), as :meth:`run` does before its first step."""
        self._begin_stage(stage, fresh=True)

    def bench_step(self, stage: Stage) -> None:
        """One training step of ``stage`` with the step counters advanced as :meth:`run` advances them, so that a
        phase with ``every`` > 1 (lazy regularisation) runs on its own steps only; no logs, grids or checkpoints."""
        self._train_step(stage)
        self.step += 1
        self.stage_step += 1

    # ------------------------------------------------------------------ one step
    def _train_step(self, stage: Stage) -> dict[str, Tensor | float]:
        real = self._real_batch(stage)
        ctx = self._context(stage, real)
        chunks = micro_batches(ctx, self.config.train.micro_batch)
        running = ChunkBuffers(self.modules, len(chunks))
        logs: dict[str, Tensor | float] = {}
        all_params = [p for m in self.modules.values() for p in m.parameters()]
        generator_stepped = False
        self._buffers.begin()
        try:
            for phase in stage.phases:
                if self.step % phase.every:
                    continue
                spec = stage.optimizers[phase.optimizer]
                opt, params = self.optimizers[phase.optimizer], self._params[phase.optimizer]
                mine = {id(p) for p in params}
                for p in all_params:  # only this phase's parameters collect gradients
                    p.requires_grad_(id(p) in mine)
                    p.grad = None
                scaler = self.scalers.get(phase.optimizer)
                loss, phase_logs = None, {}
                for i, (part, weight) in enumerate(chunks):
                    running.begin_chunk(i)
                    with self.autocast():  # gradients averaged over processes at the last chunk
                        result = self.sync.loss(phase.optimizer, functools.partial(run_phase, phase), part,
                                                sync=i == len(chunks) - 1)
                    part_loss = result.loss.float() if len(chunks) == 1 else result.loss.float() * weight
                    (scaler.scale(part_loss) if scaler is not None else part_loss).backward()
                    loss = part_loss.detach() if loss is None else loss + part_loss.detach()
                    _add_weighted(phase_logs, result.logs, weight, first=i == 0)
                    running.end_chunk(weight)
                running.end()  # running means moved once, by the whole batch, not once per chunk
                if scaler is not None:
                    scaler.unscale_(opt)
                grads = [p.grad for p in params if p.grad is not None]
                norm = torch.nn.utils.get_total_norm(grads) if grads else loss.new_zeros(())
                finite = torch.stack([loss.detach().isfinite(), norm.isfinite()])
                loss_ok, grad_ok = self.world.all_true(finite).tolist()  # every process rolls back, or none
                if not loss_ok:
                    raise _NonFinite(phase.name, "loss")
                if not grad_ok and (scaler is None or scaler.get_scale() <= 1.0):
                    # with a GradScaler, inf grads skip the step while the scale can still come down; at 1 or
                    # below the gradient is not finite even unscaled, and the run would otherwise skip forever
                    raise _NonFinite(phase.name, "gradient")
                if spec.grad_clip is not None and grads:
                    torch.nn.utils.clip_grads_with_norm_(params, spec.grad_clip, norm)
                with _rates_in_range(opt, stage.name, phase.optimizer, getattr(self.config, "stages", ())):
                    if scaler is not None:
                        stepped = _scaled_step(scaler, opt)
                    else:
                        opt.step()
                        stepped = True
                generator_stepped |= stepped and phase.optimizer in self._generator_optimizers
                logs[f"loss.{phase.name}"] = loss.detach()
                logs[f"grad_norm.{phase.name}"] = norm.detach()
                logs.update(phase_logs)
        finally:
            for p in all_params:
                p.requires_grad_(id(p) in self._trainable)
                p.grad = None
        self._buffers.end()
        if generator_stepped:
            self._update_ema(stage)
        return logs

    # ------------------------------------------------------------------ state
    def state_tensors(self) -> tuple[dict[str, Tensor], dict[str, str]]:
        """Everything needed to continue the run, as CPU tensors + flat string metadata."""
        tensors: dict[str, Tensor] = {}
        tensors.update(ckpt.prefixed("generator", self.modules["generator"].state_dict()))
        tensors.update(ckpt.prefixed("ema", self.ema.state_dict()))
        for name, m in self.modules.items():
            if name != "generator":
                tensors.update(ckpt.prefixed(f"{ckpt.MODULES}.{name}", m.state_dict()))
        optim_extra = {}
        for name, opt in self.optimizers.items():
            t, extra = ckpt.flatten_optimizer(name, opt)
            order = _group_order(opt, self._params[name])
            if order != list(range(len(order))):
                extra["order"] = order
            tensors.update(t)
            optim_extra[name] = extra
        tensors.update(ckpt.rng_tensors(self.device))
        tensors["rng.train"] = self.rng.get_state()
        plain_state = {}
        for k, v in self.state.items():
            if isinstance(v, Tensor):
                tensors[f"state.{k}"] = v
            elif isinstance(v, (int, float, str, bool)) or v is None:
                plain_state[k] = v
        tensors = {k: ckpt._cpu_copy(v) for k, v in tensors.items()}
        stage = self.stages[min(self.stage_index, len(self.stages) - 1)]
        meta = {
            "zoo3d.format_version": ckpt.FORMAT_VERSION,
            "zoo3d.model": self.model_name,
            "zoo3d.plugin_version": self.plugin_version,
            "zoo3d.config": self.config.model_dump_json(),
            "zoo3d.step": str(self.step),
            "zoo3d.stage": stage.name,
            "zoo3d.stage_index": str(self.stage_index),
            "zoo3d.stage_step": str(self.stage_step),
            "zoo3d.data_cursor": str(self.data_cursor),
            "zoo3d.world_size": str(self.world.size),
            "zoo3d.device": device_label(self.device),
            "zoo3d.steps_cap": "none" if self.max_steps is None else str(self.max_steps),
            "zoo3d.ema": "1",
            "zoo3d.ema_updates": str(self.ema_updates),
            "zoo3d.total_rollbacks": str(self._total_rollbacks),
            "zoo3d.optim": json.dumps(optim_extra),
            "zoo3d.scaler": json.dumps({n: s.state_dict() for n, s in self.scalers.items()}),
            "zoo3d.state": json.dumps(plain_state),
            "zoo3d.log_sums": json.dumps([self._pending_logs()]),
        }
        return tensors, meta

    def _pending_logs(self) -> dict[str, list]:
        """The logs summed since the last metrics record, as JSON ``{key: [sum, count, was a tensor]}``: a
        resumed run then averages the same steps into its next record as an uninterrupted one."""
        return {k: [float(s), n, isinstance(s, Tensor)] for k, (s, n) in self._log_sums.items()}

    def _restore_logs(self, meta: dict[str, str]) -> None:
        """This process's running log sums from ``zoo3d.log_sums`` (one entry per process that wrote it; with
        another number of processes, their mean). Checkpoints without it start an empty window."""
        try:
            per_rank = json.loads(meta.get("zoo3d.log_sums", "[]"))
            own = per_rank[self.world.rank] if len(per_rank) == self.world.size else _mean_log_sums(per_rank)
            self._log_sums = {k: [torch.tensor(s, dtype=torch.float32, device=self.device) if was_tensor else s, n]
                              for k, (s, n, was_tensor) in own.items()}
        except (ValueError, TypeError, AttributeError, IndexError):
            self._log_sums = {}

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, str], source: str = "snapshot", *,
                   from_file: bool = False) -> None:
        """Restore :meth:`state_tensors` output; optimisers are restored when their stage begins.

        ``from_file``: the state is a checkpoint (rank 0's streams under ``rng.*``, rank r's under
        ``rng.rank<r>.*``) rather than this process's own snapshot.
        """
        ckpt.restore_modules(self.modules, self.ema, tensors, source)
        streams = self._own_streams(tensors, meta) if from_file else tensors
        if streams is None:  # a rank the checkpoint's run did not have: fresh streams, salted by the step
            step = int(meta["zoo3d.step"])
            torch.manual_seed(stream_seed(self.config.train.seed, self.world.rank, step))
            self.rng.manual_seed(stream_seed(self.config.train.seed + 1, self.world.rank, step))
        else:
            ckpt.restore_rng(streams, self.device)
            if "rng.train" in streams:
                self.rng.set_state(streams["rng.train"].to(torch.uint8))
        self.state.clear()
        # copies: on the CPU .to() would hand out the snapshot's own tensors, which an in-place update would change
        self.state.update({k: v.to(self.device, copy=True) for k, v in ckpt.unprefixed("state", tensors).items()})
        self.state.update(json.loads(meta.get("zoo3d.state", "{}")))
        self.step = int(meta["zoo3d.step"])
        self.stage_index = int(meta.get("zoo3d.stage_index", 0))
        self.stage_step = int(meta.get("zoo3d.stage_step", 0))
        self.data_cursor = int(meta.get("zoo3d.data_cursor", 0))
        self.ema_updates = int(meta.get("zoo3d.ema_updates", 0))  # older files: 0 (both EMA ramps start again)
        self._restore_logs(meta)
        self._streams = {}
        self._pending_optim = (tensors, {"format": meta.get("zoo3d.format_version", "1"),
                                         "optim": json.loads(meta.get("zoo3d.optim", "{}")),
                                         "scaler": json.loads(meta.get("zoo3d.scaler", "{}"))})

    def _own_streams(self, tensors: dict[str, Tensor], meta: dict[str, str]) -> dict[str, Tensor] | None:
        """This process's RNG states in a checkpoint, as ``rng.*``; None if it has none for this rank."""
        rank = self.world.rank
        if rank == 0:
            return tensors
        if int(meta.get("zoo3d.world_size", "1")) != self.world.size:
            return None
        head = f"rng.rank{rank}."
        own = {"rng." + k[len(head):]: v for k, v in tensors.items() if k.startswith(head)}
        return own or None

    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/step_<N>.safetensors`` atomically, move ``latest``, prune old ones.

        Every process takes part: rank 0 gathers the others' RNG states (``rng.rank<r>.*``) and open log
        windows (``zoo3d.log_sums``, in rank order) and writes the file; all wait at a barrier until it is in place.
        """
        tensors, meta = self.state_tensors()
        path = self.run_dir / ckpt.CHECKPOINT_DIR / ckpt.checkpoint_name(self.step)
        gathered = self.world.gather_to_main(({k: v for k, v in tensors.items() if k.startswith("rng.")},
                                              self._pending_logs()))
        if self.world.is_main:
            written = dict(tensors)
            for rank, (own, _) in enumerate(gathered[1:], start=1):
                written.update({f"rng.rank{rank}.{k[len('rng.'):]}": v for k, v in own.items()})
            ckpt.write_safetensors(written, {**meta, "zoo3d.log_sums": json.dumps([logs for _, logs in gathered])},
                                   path)
            ckpt.set_latest(self.run_dir, path)
            ckpt.prune_checkpoints(self.run_dir, self.config.train.keep_checkpoints)
        self.world.barrier()
        self._snapshot, self._rollbacks = (tensors, meta), 0
        self.last_checkpoint = path
        return path

    def _rollback(self, err: _NonFinite, progress: TrainProgress) -> None:
        """Return to the last good state; stop after ``max_nan_rollbacks`` failures without progress."""
        failed_step = self.step + 1  # numbered like metrics records: the step that would have completed
        self._rollbacks += 1
        self._total_rollbacks += 1
        limit = self.config.train.max_nan_rollbacks
        tensors, meta = self._snapshot
        restored = int(meta["zoo3d.step"])
        diverged = self._rollbacks > limit
        if not diverged:  # the steps after the restored one are logged again as they are redone
            self._truncate_metrics(restored, rollback=True)
        self._write_metrics({"event": "nan_rollback", "step": failed_step, "phase": err.phase, "what": err.what,
                             "restored_step": restored, "rollback": self._rollbacks})
        if diverged:
            # with no checkpoint (a new run) --resume cannot continue it, and the same command refuses its folder
            where = (f"; the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint
                     else f"; no checkpoint had been written yet, so delete '{self.run_dir}' and start the run again")
            raise TrainingDiverged(
                f"Training diverged: {err} at step {failed_step} kept coming back after {limit} rollbacks{where} "
                f"(try a lower learning rate, a smaller R1 gamma or stronger gradient clipping).")
        stage_before = self.stage_index
        self.load_state(tensors, meta)
        if self.stage_index != stage_before:  # snapshots are taken inside the current stage
            raise RuntimeError("NaN rollback crossed a stage boundary")
        self._begin_stage(self.stages[self.stage_index], fresh=False)
        # A different latent/camera stream, so the same failing batch is not replayed verbatim.
        self.rng.manual_seed(stream_seed(self.config.train.seed + 1 + 7919 * self._total_rollbacks, self.world.rank))
        progress.log(f"Non-finite {err.what} in phase '{err.phase}' at step {failed_step}: "
                     f"rolled back to step {restored} ({self._rollbacks}/{limit}).", style="yellow")

    # ------------------------------------------------------------------ logging
    def _write_metrics(self, record: dict[str, Any]) -> None:
        if self.world.is_main:
            append_line(self.run_dir / METRICS_FILE, json.dumps(record), "metrics")

    def _accumulate(self, logs: dict[str, Tensor | float]) -> None:
        for k, v in logs.items():  # checked first: a text or a batch of values failed in float(), as a traceback
            if not (isinstance(v, (int, float)) or isinstance(v, Tensor) and v.numel() == 1):
                what = (f"a tensor of shape {tuple(v.shape)}" if isinstance(v, Tensor)
                        else f"{type(v).__name__} {v!r:.40}")
                raise PluginError(f"The phase log '{k}' is {what}, not a number; a phase's LossResult.logs hold "
                                  f"numbers or one-element tensors, which metrics.jsonl averages.")
        for k, v in logs.items():
            acc = self._log_sums.setdefault(k, [0.0, 0])
            acc[0] = acc[0] + (v.detach().float() if isinstance(v, Tensor) else float(v))
            acc[1] += 1

    def _flush_logs(self, stage: Stage, progress: TrainProgress | None) -> dict[str, float]:
        """Means since the last flush (over the processes too: the global batch's losses), to metrics.jsonl
        (``images_per_s`` 0 without ``progress``: a window that an earlier process trained, closed by this one)."""
        means = self.world.mean_over_ranks(self._window_means())
        self._log_sums.clear()
        rate = progress.images_per_second() if progress is not None else 0.0
        self._write_metrics({"step": self.step, "stage": stage.name,
                             "time_s": round(time.perf_counter() - self._t_start, 3),
                             "images_per_s": round(rate, 3), **means})
        return means

    def _window_means(self) -> dict[str, float]:
        """This process's means of the logs summed since the last metrics record (the open window)."""
        return {k: float(s) / n for k, (s, n) in self._log_sums.items()}

    def _truncate_metrics(self, step: int, rollback: bool = False, open_window: bool = False) -> None:
        """Drop the records written after the state of ``step`` (they will be written again): on resume from
        its checkpoint, and on a NaN rollback to it (see :func:`_kept_record`)."""
        path = self.run_dir / METRICS_FILE
        if not path.is_file() or not self.world.is_main:
            return
        kept = [line for line in path.read_text(errors="replace").splitlines()
                if _kept_record(line, step, rollback, open_window)]
        ckpt.write_text_atomic(path, "".join(line + "\n" for line in kept))

    def _grid_path(self) -> Path:
        """``samples/step_<N>.png`` of the current step."""
        return self.run_dir / SAMPLES_DIR / f"step_{self.step:09d}.png"

    def write_samples(self) -> Path:
        """``samples/step_<N>.png``: EMA generator, fixed seeds, rows at -yaw, frontal, +yaw."""
        gen = self.ema
        yaws = yaw_rows(gen.camera_prior)
        images = sample_grid_images(gen, self.config.train.sample_seeds, self.config.train.sample_truncation, yaws)
        from zoo3d.imageio import save_grid

        return save_grid(images, self._grid_path(), nrow=len(self.config.train.sample_seeds))

    def _draw_missing_final_grid(self) -> None:
        """A resume with nothing to train draws the run's final grid where it is missing: the run ended at this
        step, but writing its grid, the last thing a run writes, after its last checkpoint, failed (a full disk),
        and the sentence that stopped it sent the user to this resume."""
        if self.world.is_main and not self._grid_path().is_file():
            tell(f"{self.run_dir}: drew the run's final sample grid, {self.write_samples()}, which was missing.")

    # ------------------------------------------------------------------ the loop
    def _resume(self, path: str | Path) -> None:
        try:
            tensors, meta = ckpt.read_checkpoint(path, device="cpu")
        except ckpt.NonFiniteCheckpoint as exc:  # --resume takes no checkpoint: say how to reach the one before
            earlier = ckpt.checkpoint_before(self.run_dir, Path(path))
            folder = Path(path).parent  # named as the path is: the earlier one beside it
            advice = (f"--resume continues from the checkpoint before it, '{folder / earlier.name}', once it is moved "
                      f"out of '{folder}'" if earlier is not None else
                      "the run has no earlier checkpoint to continue from, so start a new run in another folder")
            raise ckpt.NonFiniteCheckpoint(exc.finding, f"the run cannot continue from it: {advice}") from None
        if "zoo3d.step" not in meta:  # a file sample can still read, but no point to continue a run from
            raise ckpt.CheckpointError(f"Checkpoint '{path}' has no 'zoo3d.step' in its metadata, so training "
                                       f"cannot continue from it; the file was not written by zoo3d or was edited.")
        self.load_state(tensors, meta, source=str(path), from_file=True)
        # the rollbacks before the checkpoint seed the streams of those after it (not restored by a rollback)
        self._total_rollbacks = int(meta.get("zoo3d.total_rollbacks", 0))
        written_by = int(meta.get("zoo3d.world_size", "1"))
        if written_by != self.world.size:
            self._check_world_change(path, written_by)
        else:  # the stages a run stopped by --steps before them was not checked for
            check_resumed_micro_batch(self.stages, self.lengths, self.modules, self.config, self.world,
                                      (self.stage_index, self.step), path, written_by)
        self.last_checkpoint = Path(path)
        # The rollback point: the checkpoint, with this process's own streams as they now stand.
        own_streams = {**ckpt.rng_tensors(self.device), "rng.train": self.rng.get_state()}
        self._snapshot = ({**tensors, **own_streams}, meta)
        # with a log window open in the checkpoint no record of its step was written before it: one there was
        # written after it (a window a later --steps closed at that step) and is written again
        self._truncate_metrics(self.step, open_window=bool(self._log_sums))

    def check_batches(self, stage_index: int | None = None, step: int | None = None) -> None:
        """Refuse a batch the processes cannot share in every stage still ahead of (``stage_index``, global
        ``step``), default where the run stands (a stage a resumed checkpoint finished, trained with fewer
        processes, does not count)."""
        check_batches_ahead(self.stages, self.lengths, self.world, self.config.train.batch_scope,
                            self.stage_index if stage_index is None else stage_index,
                            self.step if step is None else step)

    def _check_world_change(self, path: str | Path, written_by: int) -> None:
        """Resuming with another number of processes: allowed when the global batch stays, and said."""
        many = lambda n: counted(n, "process", "processes")
        if self.config.train.batch_scope == "per_process":
            raise UserError(f"'{path}' was written by {many(written_by)} with train.batch_scope=per_process; "
                            f"resuming with {many(self.world.size)} would change the global batch, so resume "
                            f"with {many(written_by)}.")
        check_resumed_micro_batch(self.stages, self.lengths, self.modules, self.config, self.world,
                                  (self.stage_index, self.step), path, written_by)
        ahead = stages_ahead(self.stages, self.lengths, self.stage_index, self.step)
        if self.world.is_main and ahead:
            stage = ahead[0][0]  # the stage the next step trains
            share, total = process_batch(stage.batch_size, self.world, "global", f"Stage '{stage.name}'")
            print(f"Resuming a run written by {many(written_by)} with {many(self.world.size)}: the global batch "
                  f"stays {total} ({share} per process) and the data order continues; latent and camera noise "
                  f"come from per-process streams of the new layout, so later steps differ from a "
                  f"continuation with {many(written_by)}.", file=sys.stderr)

    def run(self, resume_from: str | Path | None = None) -> TrainResult:
        """Train to the end of the last stage (or until SIGINT/SIGTERM) and return how it ended."""
        if resume_from is None:
            self.check_new_run()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with same_on_every_rank():
            if resume_from is not None:
                self._resume(resume_from)
                if not stages_ahead(self.stages, self.lengths, self.stage_index, self.step):
                    self.start_step = self.step  # at or past the cap: nothing to train
                    if self._log_sums:  # but the run ends here, inside a log window: its stage's last record
                        self._flush_logs(self.stages[min(self.stage_index, len(self.stages) - 1)], None)
                    self._draw_missing_final_grid()
                    return self._result("done")
            self.check_batches()
        self.start_step = self.step
        cfg, main = self.config.train, self.world.is_main
        with TrainProgress(self.total_steps, self.step, self.show_progress) as progress, \
                StopRequest(functools.partial(self._say_stopping, progress) if main else None,
                            same_stop_s=SAME_STOP_S if self.world.size > 1 else 0.0) as stop, \
                stop_on_lost_peers(self.world):
            ends = stage_ends(self.lengths)
            while self.stage_index < len(self.stages):
                stage, end = self.stages[self.stage_index], ends[self.stage_index]
                if self.step >= end:  # resumed from a checkpoint at or past this stage's end (or an empty stage)
                    if self._log_sums:  # stopped inside a log window that a new --steps makes this stage's last
                        self._flush_logs(stage, progress)
                    following = self.stages[self.stage_index + 1] if self.stage_index + 1 < len(self.stages) else None
                    if following is not None and following.keep_optimizer_state and (
                            self._pending_optim is not None or self.optimizers):
                        # its optimisers, with their stored state, go on into the next stage; the stage itself is
                        # not begun (its batch need not divide among this run's processes)
                        self._set_trainable(stage)
                        self._build_optimizers(stage)
                    self.stage_index, self.stage_step = self.stage_index + 1, 0
                    self._pending_optim = None
                    continue
                self._begin_stage(stage, fresh=self.stage_step == 0)
                if self._snapshot is None or int(self._snapshot[1]["zoo3d.stage_index"]) != self.stage_index:
                    self._snapshot, self._rollbacks = self.state_tensors(), 0
                while self.step < end:
                    try:
                        logs = self._train_step(stage)
                    except _NonFinite as err:
                        self._rollback(err, progress)
                        continue
                    self.step += 1
                    self.stage_step += 1
                    self._accumulate(logs)
                    progress.count(self._batch[1])  # this step's images count in the rate it logs
                    shown = None
                    if self.step % cfg.log_every == 0 or self.step == end:
                        shown = losses_first(self._flush_logs(stage, progress))
                    progress.advance(self.step, stage.name, losses=shown,
                                     window=lambda: losses_first(self._window_means()))
                    if self.step == end or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                        self.save_checkpoint()  # every stage ends with a checkpoint
                    sample_due = main and cfg.sample_every and self.step % cfg.sample_every == 0
                    if sample_due:
                        self.write_samples()
                    # a signal to any process stops them all; one during the writes above stops them here
                    signum = self.world.agreed_signal(stop.signum)
                    if signum:
                        path = self.last_checkpoint if self._saved_this_step() else self.save_checkpoint()
                        name = signal.Signals(signum).name
                        progress.log(f"Received {name}: saved {path} at step {self.step}.")
                        complete = not stages_ahead(self.stages, self.lengths, self.stage_index, self.step)
                        # the resumed run starts after this step, so its grid is drawn now (above, where due); after
                        # the run's last step no resumed run trains (or draws) anything, so the final grid is drawn too
                        if main and complete and not sample_due:
                            self.write_samples()
                        return self._result("interrupted", name, complete=complete)
                self.stage_index, self.stage_step = self.stage_index + 1, 0
            if main and not (cfg.sample_every and self.step % cfg.sample_every == 0):
                self.write_samples()
            # a signal after the last step's check (while the run's last checkpoint or its final grid was being
            # written) let both finish, the handler only noting it; the run ends as one stopped in its last step
            signum = self.world.agreed_signal(stop.signum)
            if signum:
                name = signal.Signals(signum).name
                progress.log(f"Received {name}: saved {self.last_checkpoint} at step {self.step}.")
                return self._result("interrupted", name, complete=True)
        return self._result("done")

    def _saved_this_step(self) -> bool:
        """Whether the run's newest checkpoint is this step's (a periodic or stage-end one, written before the step's
        signal check)."""
        return self.last_checkpoint is not None and self.last_checkpoint.name == ckpt.checkpoint_name(self.step)

    def _say_stopping(self, progress: TrainProgress, signum: int) -> None:
        """Rank 0's word on the first signal, as it arrives (under ``--nproc`` the launcher passes it on to every
        process: said once)."""
        progress.log(stop_notice(signum, finishing=self.step >= self.total_steps))

    def _result(self, status: str, signal_name: str = "", complete: bool = False) -> TrainResult:
        return TrainResult(self.run_dir, self.step, status, self.last_checkpoint, signal_name, rank=self.world.rank,
                           world_size=self.world.size, start_step=self.start_step, complete=complete,
                           device=device_label(self.device), steps_cap=self.max_steps, recipe_steps=self.recipe_steps)
