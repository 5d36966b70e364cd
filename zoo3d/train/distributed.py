"""Data-parallel training across processes started by torchrun (``torch.distributed.run``).

Every process holds a full copy of the model and takes an equal share of the global batch. Each
optimiser phase runs its loss inside a :class:`~torch.nn.parallel.DistributedDataParallel` wrapper of
exactly the parameters that phase's optimiser steps, so DDP averages those gradients over the
processes during ``backward`` and every copy clips and steps with the same numbers. Rank 0 alone
writes metrics, sample grids and checkpoints. A one-process run touches none of this.

Why one DDP wrapper per optimiser whose forward *is* the phase's loss:

- Phase losses call their modules however they like (``generator.sample_z``, ``generator.lowres``,
  two discriminators in one loss): wrapping each ``nn.Module`` in DDP would only sync gradients
  that flow through ``DDP.forward``. Running the whole loss inside the wrapper's forward lets DDP
  see every use of the optimiser's parameters.
- Only the optimiser's parameters are registered, so frozen parts (a stage-1 network in stage 2,
  a generator while an encoder trains) and the other player of the GAN are never reduced.
- ``find_unused_parameters=True``: a phase may leave some of its optimiser's parameters out of a
  given step (a pose head, a progressive discriminator's faded-out input layer, a lazy R1 phase that
  shares the discriminator's optimiser but not its fake branch). DDP then finds them by walking the
  autograd graph from the loss and marks them ready, instead of waiting for gradients that never
  come. ``static_graph`` would be wrong here: the set of used parameters changes between the phases
  that share an optimiser and over a progressive curriculum.
- R1's double backward is safe: ``torch.autograd.grad(D(x), x, create_graph=True)`` inside the loss
  asks for input gradients only, which fires no parameter hook; the one ``loss.backward()`` that
  follows reaches every parameter's accumulator once (its first- and second-order parts summed by
  autograd before the hook), so each parameter is reduced exactly once per phase.

Buffers that a forward updates from the batch (StyleGAN's tracked ``w_avg``) are averaged over the
processes after every step (:class:`BufferSync`), which for running means equals the update a single
process would make from the whole batch. No model uses BatchNorm, so no SyncBatchNorm is needed.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import os
import re
import socket
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Iterator

import torch
from torch import Tensor

from zoo3d.errors import UserError

#: Seconds a collective may wait for the other processes before the run stops (env override).
TIMEOUT_ENV = "ZOO3D_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 600


class RankError(UserError):
    """A problem of one process (its GPU, its view of the run folder, a lost peer): every rank reports it."""


@contextmanager
def same_on_every_rank() -> Iterator[None]:
    """Errors raised inside come from what every process computes alike (the config, the run folder rank 0
    made, the checkpoint they all read): they are marked ``every_rank`` so only rank 0 reports them. Any other
    error of a process other than rank 0 is its own, and it reports it (``zoo3d train``)."""
    try:
        yield
    except UserError as exc:
        if not isinstance(exc, RankError):
            exc.every_rank = True
        raise


class PeerLost(RankError):
    """A collective failed because another process of the run died or stopped answering."""


@dataclass(frozen=True)
class World:
    """Where this process sits in the run: global ``rank`` of ``size``, ``local_rank`` on its node.

    ``backend`` is ``nccl`` or ``gloo`` once the process group is up ('' for one process);
    ``device`` is the device collectives use (this process's GPU with NCCL, the CPU with gloo).
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    backend: str = ""
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.size > 1

    def describe(self) -> str:
        where = f"local rank {self.local_rank} on {socket.gethostname()}, pid {os.getpid()}"
        return f"rank {self.rank} of {self.size} ({where})"

    # --------------------------------------------------------------- collectives
    # Each is a no-op (or the identity) in a one-process run, so callers need no branches.

    def barrier(self) -> None:
        if self.is_distributed:
            with collective(self, "barrier"):
                torch.distributed.barrier()

    def all_true(self, flags: Tensor) -> Tensor:
        """Element-wise AND of boolean ``flags`` over the processes (so every rank takes the same branch)."""
        if not self.is_distributed:
            return flags
        t = flags.to(self.device, torch.float32)
        with collective(self, "all_reduce"):
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
        return t.to(flags.device) > 0

    def agreed_signal(self, signum: int | None) -> int | None:
        """The stop signal any process received (SIGTERM wins over SIGINT), or None."""
        if not self.is_distributed:
            return signum
        t = torch.tensor([signum or 0], device=self.device, dtype=torch.int64)
        with collective(self, "all_reduce"):
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return int(t.item()) or None

    def mean_over_ranks(self, values: dict[str, float]) -> dict[str, float]:
        """Each key's mean over the processes that logged it (order kept from rank 0)."""
        if not self.is_distributed:
            return values
        gathered: list[Any] = [None] * self.size
        with collective(self, "all_gather_object"):
            torch.distributed.all_gather_object(gathered, values)
        keys = list(gathered[0]) + [k for g in gathered[1:] for k in g if k not in gathered[0]]
        return {k: sum(g[k] for g in gathered if k in g) / sum(k in g for g in gathered) for k in keys}

    def gather_to_main(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj``, in rank order, on rank 0 (None elsewhere)."""
        if not self.is_distributed:
            return [obj]
        out: list[Any] | None = [None] * self.size if self.is_main else None
        with collective(self, "gather_object"):
            torch.distributed.gather_object(obj, out, dst=0)
        return out

    def broadcast_from_main(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.is_distributed:
            return obj
        box = [obj if self.is_main else None]
        with collective(self, "broadcast_object_list"):
            torch.distributed.broadcast_object_list(box, src=0)
        return box[0]


@contextmanager
def collective(world: World, what: str) -> Iterator[None]:
    """Turn a failed collective (a dead or hung peer) into one sentence instead of a backend traceback."""
    try:
        yield
    except RuntimeError as exc:  # torch.distributed.DistError and plain backend RuntimeErrors
        raise peer_lost(world, exc, what) from None


@contextmanager
def stop_on_lost_peers(world: World) -> Iterator[None]:
    """Around the training loop: a communication failure inside a step (e.g. DDP's all-reduce during
    ``backward``) becomes :class:`PeerLost`; other errors pass unchanged."""
    try:
        yield
    except PeerLost:
        raise
    except RuntimeError as exc:
        if world.is_distributed and is_communication_error(exc):
            raise peer_lost(world, exc, "a training step") from None
        raise


def peer_lost(world: World, exc: BaseException, what: str = "a collective") -> PeerLost:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    first = re.sub(r"^\[[^\]]*\]\s*", "", first).split(". ")[0][:300]  # no source location, no advice
    return PeerLost(f"{world.describe()}: {what} failed because another process of the run exited or stopped "
                    f"answering ({first}); stopping. The launcher's report names the process that failed first.")


def is_communication_error(exc: BaseException) -> bool:
    """Whether an exception raised during a step came from the process group (e.g. inside DDP's backward)."""
    if isinstance(exc, getattr(torch.distributed, "DistError", ())):
        return True
    text = str(exc)
    # gloo's timeouts of a peer that stopped answering: "Timed out waiting 600000ms for recv operation to
    # complete" and, for an operation on a connection an earlier timeout closed, "Application timeout caused
    # pair closure" (neither names gloo)
    return isinstance(exc, RuntimeError) and any(s in text for s in (
        "gloo", "Gloo", "NCCL", "nccl", "Connection closed", "Connection reset", "Broken pipe", "ProcessGroup",
        "Timed out waiting", "pair closure"))


# ------------------------------------------------------------------------------- set-up

def env_int(name: str, default: int) -> int:
    """The integer in environment variable ``name`` (``default`` when unset or blank); RankError otherwise."""
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise RankError(f"Environment variable {name}={value!r} must be an integer.") from None


def env_world() -> World:
    """This process's place as torchrun describes it (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE).

    A process started without torchrun is rank 0 of 1. Nothing is initialised.
    """
    size = env_int("WORLD_SIZE", 1)
    rank = env_int("RANK", 0)
    if size < 1 or not 0 <= rank < size:
        raise RankError(f"RANK={rank} and WORLD_SIZE={size} do not describe a process of a run.")
    local_rank = env_int("LOCAL_RANK", rank if size > 1 else 0)
    return World(rank=rank, size=size, local_rank=local_rank,
                 local_size=env_int("LOCAL_WORLD_SIZE", size))


def timeout_seconds() -> int:
    return max(1, env_int(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))


def process_device(world: World, requested: str | torch.device | None) -> torch.device:
    """The device of this process: one GPU per local rank under CUDA, the CPU otherwise.

    With one process the request is resolved as usual (``auto``, ``cpu``, ``cuda:1`` ...).
    """
    from zoo3d.devices import resolve_device

    if not world.is_distributed:
        return resolve_device(requested)
    device = resolve_device(requested)
    if device.type != "cuda":
        return device
    if device.index is not None and world.local_size > 1:
        raise RankError(f"With {world.local_size} processes per node each one takes the GPU of its local rank; "
                        f"give --device cuda, not {device} (CUDA_VISIBLE_DEVICES chooses the GPUs).")
    count = torch.cuda.device_count()
    if world.local_rank >= count:
        raise RankError(f"{world.describe()} has no GPU: this node shows {count} GPU(s) to {world.local_size} "
                        f"processes; start at most {count} processes per node (--nproc-per-node / --nproc).")
    return torch.device("cuda", world.local_rank)


def init_world(requested_device: str | torch.device | None = None) -> tuple[World, torch.device]:
    """Join the run's process group (NCCL on CUDA, gloo on the CPU) and return this process's place and device.

    A process that torchrun did not start (``WORLD_SIZE`` unset or 1) is returned as rank 0 of 1 and
    joins nothing; one with ``WORLD_SIZE`` > 1 but no ``MASTER_ADDR``/``MASTER_PORT`` (a variable left in the
    environment, not torchrun) is refused in one sentence. Collectives time out after ``$ZOO3D_DIST_TIMEOUT``
    seconds (default 600), so a process whose peer hangs stops instead of waiting forever.
    """
    world = env_world()
    device = process_device(world, requested_device)
    if not world.is_distributed:
        return world, device
    dist = torch.distributed
    if not dist.is_available():
        raise RankError("This PyTorch build has no torch.distributed; multi-process training needs it.")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name, "").strip()]
        if missing:  # torchrun sets both for every process it starts; joining would fail without naming why
            raise RankError(f"WORLD_SIZE={world.size} says this process is one of {world.size}, but "
                            f"{' and '.join(missing)}, which torchrun sets, {'is' if len(missing) == 1 else 'are'} "
                            f"not set; unset WORLD_SIZE (and RANK) to train in one process, or start the processes "
                            f"with torchrun or zoo3d train --nproc.")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        try:
            dist.init_process_group(backend, timeout=timedelta(seconds=timeout_seconds()),
                                    device_id=device if device.type == "cuda" else None)
        except (RuntimeError, ValueError) as exc:
            raise peer_lost(world, exc, "joining the process group") from None
    else:
        backend = dist.get_backend()
    return dataclasses.replace(world, backend=backend, device=device if backend == "nccl" else torch.device("cpu")), \
        device


def shutdown_world(world: World) -> None:
    if world.is_distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


# ----------------------------------------------------------------------- batches and seeds

def process_batch(batch_size: int, world: World, scope: str, where: str) -> tuple[int, int]:
    """``(per-process, global)`` batch of a stage whose config says ``batch_size`` with ``scope``.

    ``global``: the batch is split evenly over the processes (an error names the stage when it cannot
    be); ``per_process``: every process takes ``batch_size`` and the global batch grows with the
    processes.
    """
    if scope == "per_process":
        return batch_size, batch_size * world.size
    if batch_size % world.size:
        raise UserError(f"{where} has a global batch of {batch_size}, which {world.size} processes cannot share "
                        f"evenly; use a batch size divisible by {world.size} or a process count that divides "
                        f"{batch_size} (or train.batch_scope=per_process).")
    return batch_size // world.size, batch_size


def stream_seed(seed: int, rank: int, *salt: int) -> int:
    """The seed of process ``rank``'s random stream: ``seed`` itself for rank 0 without salt (so a
    one-process run is unchanged), else a 63-bit hash of (seed, rank, salt...)."""
    if rank == 0 and not salt:
        return seed
    digest = hashlib.sha256(repr((int(seed), int(rank), *map(int, salt))).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# ------------------------------------------------------------------------------- gradients

def _in_parameter_strides(grad: Tensor, strides: tuple[int, ...]) -> Tensor:
    """``grad`` viewed with its parameter's ``strides`` where the two differ only on dimensions of size 1.

    The stride of a dimension of size 1 addresses nothing, and backward kernels leave it as they like: the weight
    gradient of a layer with one output, reached through a double backward (R1 through GRAM-HD's PatchGAN, whose last
    conv is 128 -> 1; StyleSDF's eikonal term through its SDF head, 48 -> 1) comes back as (16, 16, 4, 1) for a weight
    laid out (2048, 16, 4, 1). Autograd keeps such a gradient (it is contiguous), but DDP compares the strides with its
    bucket view's one by one and printed "Grad strides do not match bucket view strides" once in every process. The
    view is the same memory: no copy, the same numbers."""
    if grad.stride() == strides or any(a != b and n != 1 for a, b, n in zip(grad.stride(), strides, grad.shape)):
        return grad
    return grad.as_strided(grad.shape, strides)


class _OptimizerParameters(torch.nn.Module):
    """The parameters one optimiser steps, as a module for DDP; ``forward`` runs the phase's loss. Each parameter with
    a dimension of size 1 has its gradient viewed in its own strides (:func:`_in_parameter_strides`) while the module
    lives (:meth:`release`)."""

    def __init__(self, params: list[torch.nn.Parameter]):
        super().__init__()
        self.params = torch.nn.ParameterList(params)
        self.run_loss: Callable[[], Any] | None = None
        self._hooks = [p.register_hook(functools.partial(_in_parameter_strides, strides=p.stride()))
                       for p in params if p.dim() > 1 and 1 in p.shape]

    def release(self) -> None:
        """Remove the parameters' gradient hooks (the next stage's wrapper adds its own)."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def forward(self):
        result = self.run_loss()
        return result.loss, result.logs  # DDP looks for the graph's outputs among these


class GradientSync:
    """Runs each phase's loss so that its optimiser's gradients are averaged over the processes.

    :meth:`prepare` is called when a stage's optimisers are made; :meth:`loss` replaces a direct
    ``phase.loss(ctx)``. With one process it calls the loss directly and holds no wrapper.
    """

    def __init__(self, world: World):
        self.world = world
        self._wrappers: dict[str, Any] = {}
        self._keys: dict[str, tuple[int, ...]] = {}

    def prepare(self, params_by_optimizer: dict[str, list[torch.nn.Parameter]]) -> None:
        if not self.world.is_distributed:
            return
        from torch.nn.parallel import DistributedDataParallel

        keys = {name: tuple(id(p) for p in params) for name, params in params_by_optimizer.items()}
        if keys == self._keys:
            return  # same parameters (a rollback inside the stage): keep the wrappers and their buckets
        for wrapper in self._wrappers.values():
            wrapper.module.release()
        self._wrappers, self._keys = {}, {}
        gc.collect()  # drop the previous stage's reducers (and their autograd hooks) now
        with collective(self.world, "wrapping the optimisers' parameters in DistributedDataParallel"):
            for name, params in params_by_optimizer.items():
                # Construction also broadcasts rank 0's values, so every copy starts the stage identical.
                self._wrappers[name] = DistributedDataParallel(
                    _OptimizerParameters(params), find_unused_parameters=True)
        self._keys = keys

    def loss(self, optimizer: str, loss_fn: Callable, ctx, sync: bool = True):
        """``sync=False`` for every micro-batch but a step's last: their gradients accumulate locally and
        the last backward averages the sum (DDP's ``no_sync``)."""
        wrapper = self._wrappers.get(optimizer)
        if wrapper is None:
            return loss_fn(ctx)
        from zoo3d.core.model import LossResult

        wrapper.module.run_loss = lambda: loss_fn(ctx)
        try:
            with nullcontext() if sync else wrapper.no_sync():
                loss, logs = wrapper()
        finally:
            wrapper.module.run_loss = None
        return LossResult(loss=loss, logs=logs)


class BufferSync:
    """Averages what a step changed in floating-point buffers over the processes.

    ``begin`` remembers the buffers; ``end`` replaces each by ``old + mean over ranks of (new - old)``:
    buffers no step touches stay bit-identical, and a running mean updated from each process's share
    of the batch becomes the update from the whole batch.
    """

    def __init__(self, world: World, modules: dict[str, torch.nn.Module]):
        self.world = world
        self.buffers = [b for m in modules.values() for b in m.buffers() if b.is_floating_point()] \
            if world.is_distributed else []
        self._before: list[Tensor] = []

    def begin(self) -> None:
        if self.buffers:
            self._before = [b.detach().clone() for b in self.buffers]

    @torch.no_grad()
    def end(self) -> None:
        if not self.buffers or not self._before:
            return
        deltas = torch.cat([(b - old).reshape(-1).float() for b, old in zip(self.buffers, self._before)])
        flat = deltas.to(self.world.device)
        with collective(self.world, "all_reduce"):
            torch.distributed.all_reduce(flat)
        flat = (flat / self.world.size).to(deltas.device)
        offset = 0
        for b, old in zip(self.buffers, self._before):
            n = b.numel()
            b.copy_(old + flat[offset:offset + n].view_as(b).to(b.dtype))
            offset += n
        self._before = []
