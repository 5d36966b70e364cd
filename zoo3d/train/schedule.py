"""The steps each stage of a recipe trains: a ``--steps`` cap shared among the stages (:func:`split_steps`), the step
at which each stage ends, and the stages a run resumed from a checkpoint still has ahead. The engine, the launcher and
the minibatch-stddev group checks (:mod:`zoo3d.train.batch_groups`) read the schedule from here."""

from __future__ import annotations

import itertools
import math

from zoo3d.core.model import Stage


def stage_ends(lengths: list[int]) -> list[int]:
    """The step at which each stage ends: stage i trains while the run's step is below ``ends[i]``. A run resumed
    under another ``--steps`` keeps these ends (its stage goes on to the new end, or is done when its checkpoint
    lies past it), so the run stops at its cap and never goes back to an earlier stage."""
    return list(itertools.accumulate(lengths))


def lengths_ahead(lengths: list[int], stage_index: int = 0, step: int = 0) -> list[int]:
    """``lengths`` with 0 for every stage a run at global ``step`` in stage ``stage_index`` (a checkpoint's) no longer
    trains: those before that stage and those whose end the run has reached."""
    return [n if i >= stage_index and step < end else 0 for i, (n, end) in enumerate(zip(lengths, stage_ends(lengths)))]


def stages_ahead(stages: list[Stage], lengths: list[int], stage_index: int = 0, step: int = 0):
    """(stage, steps) of every stage a run at global ``step`` in stage ``stage_index`` (a checkpoint's) still
    trains: from that stage on, without stages of no steps and those whose end the run has reached."""
    return [(s, n) for s, n in zip(stages, lengths_ahead(lengths, stage_index, step)) if n]


def split_steps(lengths: list[int], cap: int | None) -> list[int]:
    """Stage lengths under a cap on the total (``--steps N``).

    Below the full length every non-empty stage keeps at least one step (while N allows, in
    stage order) and the rest is shared in proportion to what each stage has beyond that step (its length - 1;
    largest remainders first), so a short smoke run still passes through every stage.
    """
    total = sum(lengths)
    if cap is None or cap >= total:
        return list(lengths)
    out = [0] * len(lengths)
    live = [i for i, n in enumerate(lengths) if n > 0]
    if cap <= len(live):
        for i in live[:cap]:
            out[i] = 1
        return out
    for i in live:
        out[i] = 1
    spare = cap - len(live)
    weights = {i: lengths[i] - 1 for i in live}
    wsum = sum(weights.values())
    shares = {i: spare * weights[i] / wsum for i in live}
    for i in live:
        out[i] += int(math.floor(shares[i]))
    left = cap - sum(out)
    for i in sorted(live, key=lambda i: shares[i] - math.floor(shares[i]), reverse=True)[:left]:
        out[i] += 1
    return out
