"""The minibatch-stddev group checks: a micro-batch, or a process's share of a batch, must keep each group of a
minibatch-stddev layer (:class:`zoo3d.nn.discriminators.MinibatchStd`) of a module a stage trains, as StyleGAN2-ADA
and EG3D refuse a ``--batch-gpu`` below ``--mbstd-group``: a chunk of one image has a standard deviation of 0, and
the split step would no longer be the whole step in distribution. A new run is checked by
:func:`check_micro_batch_groups`, a resume (with another number of processes, or into stages a run stopped by
``--steps`` was not checked for) by :func:`check_resumed_micro_batch`; both say what keeps the groups. See
docs/training.md (Micro-batches)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from zoo3d.config import RunConfig
from zoo3d.core.model import Stage, resolve_module
from zoo3d.errors import ConfigError, UserError, counted
from zoo3d.train.distributed import World, process_batch
from zoo3d.train.schedule import lengths_ahead, stage_ends


def chunk_sizes(batch: int, most: int | None) -> list[int]:
    """The images of each chunk :func:`zoo3d.train.engine.micro_batches` cuts ``batch`` into: near-equal chunks of
    at most ``most``, the larger first (``[batch]`` when it fits whole or ``most`` is None)."""
    if most is None or batch <= most:
        return [batch]
    count = -(-batch // most)
    return [batch // count + (i < batch % count) for i in range(count)]


@dataclass(frozen=True)
class BrokenGroup:
    """Where a ``train.micro_batch`` cuts a minibatch-stddev group (:func:`broken_group`): the chunks of ``smallest``
    images of stage ``stage``'s share of ``share``, where module ``module`` groups ``group``; ``need``: the smallest
    micro-batch that keeps the group, None for a share grouped one image at a time (no micro-batch helps it);
    ``above``: whether every larger micro-batch keeps it too."""

    stage: str
    share: int
    smallest: int
    group: int
    module: str
    need: int | None
    above: bool = True


def broken_group(stages: list[Stage], lengths: list[int], modules: dict[str, torch.nn.Module],
                 micro_batch: int | None, world: World, scope: str) -> BrokenGroup | None:
    """The first minibatch-stddev group that ``micro_batch`` (None: none) breaks, or that a share grouped one image
    at a time leaves alone (see :func:`check_micro_batch_groups`), or None."""
    from zoo3d.nn.discriminators import MinibatchStd, mbstd_group

    for s, steps in zip(stages, lengths):
        if not steps:  # a stage the run does not train (its batch need not even be shared)
            continue
        share = process_batch(s.batch_size, world, scope, f"Stage '{s.name}'")[0]
        chunks = chunk_sizes(share, micro_batch)
        for path in dict.fromkeys(m for spec in s.optimizers.values() for m in spec.modules):
            group = max((m.group_size for m in resolve_module(modules, path).modules()
                         if isinstance(m, MinibatchStd)), default=0)
            if group < 2:
                continue
            keep = min(group, share)  # a share smaller than a group is grouped whole, split or not

            def keeps(sizes: list[int]) -> bool:  # whole groups, and no pass grouped one image at a time
                return min(sizes) >= keep and all(mbstd_group(n, group) > 1 for n in sizes)

            if keeps(chunks):
                continue
            if mbstd_group(share, group) == 1:  # the share itself: no micro-batch helps
                return BrokenGroup(s.name, share, min(chunks), group, path, None)
            need = next(m for m in range(keep, share + 1) if keeps(chunk_sizes(share, m)))
            above = all(keeps(chunk_sizes(share, m)) for m in range(need, share + 1))
            bad = min(chunks) if min(chunks) < keep else next(n for n in chunks if mbstd_group(n, group) == 1)
            return BrokenGroup(s.name, share, bad, keep, path, need, above)
    return None


def _lone_image(broken: BrokenGroup, world: World) -> str:
    """What a share grouped one image at a time by a minibatch-stddev layer is (a share of one image, or of a prime
    number above the group), said for :func:`check_micro_batch_groups` and :func:`check_resumed_micro_batch`."""
    images = counted(broken.share, "image")
    takes = f"gives each of its {world.size} processes {images}" if world.size > 1 else f"trains on a batch of {images}"
    if broken.share == 1:
        return (f"stage '{broken.stage}' {takes}, alone in the group of {broken.group} that '{broken.module}' takes "
                f"its minibatch standard deviation over (0 for one image)")
    return (f"stage '{broken.stage}' {takes}, which '{broken.module}' takes its minibatch standard deviation over in "
            f"groups of 1 (a group divides the images and holds at most {broken.group}; 0 for one image)")


def _cut(broken: BrokenGroup) -> str:
    """How a micro-batch's chunks of ``broken.smallest`` images break the group (:func:`check_micro_batch_groups`)."""
    if broken.smallest < broken.group:
        return (f"into chunks of {broken.smallest}, fewer than the {broken.group} images that '{broken.module}' groups "
                f"for its minibatch standard deviation")
    return (f"into chunks of {broken.smallest}, which '{broken.module}' takes its minibatch standard deviation over in "
            f"groups of 1 (a group divides the images and holds at most {broken.group}; 0 for one image)")


def _counts_that_keep(stages: list[Stage], lengths: list[int], modules: dict[str, torch.nn.Module],
                      micro_batch: int | None, scope: str, most: int) -> list[int]:
    """The process counts up to ``most`` whose shares keep every minibatch-stddev group (:func:`broken_group`)."""
    def keeps(size: int) -> bool:
        try:
            return broken_group(stages, lengths, modules, micro_batch, World(size=size, local_size=size), scope) is None
        except UserError:  # a count that does not divide a batch
            return False

    return [n for n in range(1, most + 1) if keeps(n)]


def _lone_image_remedy(stages: list[Stage], lengths: list[int], modules: dict[str, torch.nn.Module],
                       broken: BrokenGroup, micro_batch: int | None, scope: str, world: World) -> str:
    """How a new run gives each process a share grouped two images or more at a time: fewer processes, or a larger
    batch (:func:`_larger_batch`)."""
    fewer = ""
    if world.size > 1 and scope == "global":
        counts = _counts_that_keep(stages, lengths, modules, micro_batch, scope, world.size - 1)
        fewer = f"train it with {_processes(counts)}, or " if counts else ""
    stage = next(s for s in stages if s.name == broken.stage)
    return f"{fewer}{_larger_batch(stage, modules, broken, micro_batch, scope, world)}"


def _larger_batch(stage: Stage, modules: dict[str, torch.nn.Module], broken: BrokenGroup, micro_batch: int | None,
                  scope: str, world: World) -> str:
    """A batch for ``stage`` that keeps its groups under ``micro_batch`` with ``world``'s processes. Without a
    micro-batch any even share is grouped whole; with one, the smallest batch above the stage's whose chunks keep the
    groups is searched for (a share of 2 cut into chunks of 1 would be refused in turn), and where the micro-batch
    breaks every such batch, the smallest batch grouped whole is named with the micro-batch that keeps it."""
    key = f"stages.{stage.name}.batch_size"
    per = world.size if scope == "global" else 1  # the batch holds this many shares
    if micro_batch is None:
        return f"give an even {key}" if per == 1 else f"give a {key} that is a multiple of {2 * per}"

    def cut(batch: int, micro: int | None) -> BrokenGroup | None:
        return broken_group([dataclasses.replace(stage, batch_size=batch)], [1], modules, micro, world, scope)

    top = stage.batch_size + 2 * per * (broken.share + max(broken.group, micro_batch))
    shared = range(stage.batch_size + per - stage.batch_size % per, top + 1, per)
    fits = next((b for b in shared if cut(b, micro_batch) is None), None)
    if fits is not None:
        return f"give {key}={fits}"
    whole = next(b for b in shared if cut(b, None) is None)  # an even share is, below top
    need = cut(whole, micro_batch)
    return f"give {key}={whole} with train.micro_batch={need.need}{' or more' * need.above}"


def _processes(counts: list[int]) -> str:
    """``1 process``, ``1 or 2 processes``, ``1, 3 or 4 processes``."""
    listed = [str(n) for n in counts]
    return f"{' or '.join([', '.join(listed[:-1]), listed[-1]] if len(listed) > 1 else listed)} " \
           f"process{'es' * (counts != [1])}"


def check_micro_batch_groups(stages: list[Stage], lengths: list[int], modules: dict[str, torch.nn.Module],
                             micro_batch: int | None, world: World, scope: str) -> None:
    """A ``train.micro_batch`` that cuts a stage's batch (each process's share) into chunks smaller than a group of a
    minibatch-stddev layer (:class:`zoo3d.nn.discriminators.MinibatchStd`) of a module the stage trains is refused,
    in the stages that train (``lengths``: the steps of each under the run's ``--steps``). The layer groups the
    images of one forward pass, so a chunk of one image has std 0 and the split step would no longer be the whole
    step in distribution. A share of one image (a batch of 4 over 4 processes), split or not, is refused alike, naming
    the process counts and batch that give each process two or more. StyleGAN2-ADA and EG3D refuse a ``--batch-gpu``
    below ``--mbstd-group`` alike."""
    broken = broken_group(stages, lengths, modules, micro_batch, world, scope)
    if broken is not None and broken.need is None:
        lone = _lone_image(broken, world)
        raise ConfigError(f"{lone[:1].upper()}{lone[1:]}; "
                          f"{_lone_image_remedy(stages, lengths, modules, broken, micro_batch, scope, world)} "
                          f"(StyleGAN2-ADA and EG3D refuse a --batch-gpu below --mbstd-group alike).")
    if broken is not None:
        batch = f"{'per-process ' * (world.size > 1)}batch of {broken.share}"
        raise ConfigError(f"train.micro_batch={micro_batch} cuts the {batch} of stage '{broken.stage}' {_cut(broken)}; "
                          f"give train.micro_batch={broken.need}{' or more' * broken.above} (StyleGAN2-ADA and EG3D "
                          f"refuse a --batch-gpu below --mbstd-group alike).")


def check_resumed_micro_batch(stages: list[Stage], lengths: list[int], modules: dict[str, torch.nn.Module],
                              config: RunConfig, world: World, at: tuple[int, int], path: str | Path,
                              written_by: int) -> None:
    """A resume of checkpoint ``path`` (written by ``written_by`` processes, at ``at``: its stage index and global
    step) with ``world``'s processes, whose shares the run's ``train.micro_batch`` cuts into chunks smaller than a
    minibatch-stddev group in a stage still ahead, is refused as a new run with those shares would be
    (:func:`check_micro_batch_groups`). A resume keeps the run's ``train.micro_batch``, so the sentence names the
    process counts, up to the larger of the two, that keep every group. With the checkpoint's own count the stage in
    progress goes on as it was trained; the stages it has not begun are asked, as a run stopped by ``--steps`` before
    them was never asked about them."""
    micro_batch, scope = config.train.micro_batch, config.train.batch_scope
    ahead = lengths_ahead(lengths, *at)
    index, step = at
    if written_by == world.size and step > stage_ends(lengths)[index] - lengths[index]:
        ahead[index] = 0
    broken = broken_group(stages, ahead, modules, micro_batch, world, scope)
    if broken is None:
        return
    most = max(world.size, written_by)
    counts = _counts_that_keep(stages, ahead, modules, micro_batch, scope, most)
    none = f"no count of processes up to {most} keeps the groups: " if most > 1 else ""
    remedy = (f"resume it with {_processes(counts)}" if counts else
              f"{none}start a new run with a larger train.micro_batch" if broken.need is not None else
              f"{none}start a new run with another batch")
    if broken.need is None:
        raise UserError(f"'{path}' trains on with {counted(world.size, 'process', 'processes')}, and "
                        f"{_lone_image(broken, world)}; {remedy} (StyleGAN2-ADA and EG3D refuse a "
                        f"--batch-gpu below --mbstd-group alike).")
    batch = f"{'per-process ' * (world.size > 1)}batch of {broken.share}"
    raise UserError(f"'{path}' trains on with train.micro_batch={micro_batch}, which cuts the {batch} of stage "
                    f"'{broken.stage}' with {counted(world.size, 'process', 'processes')} {_cut(broken)}; a resume "
                    f"keeps the run's train.micro_batch, so {remedy}.")
