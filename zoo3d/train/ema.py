"""Exponential moving average of the generator's weights (what samples and evaluation use)."""

from __future__ import annotations

import copy

import torch


def make_ema(generator: torch.nn.Module) -> torch.nn.Module:
    """A frozen, eval-mode copy of ``generator`` that will hold the average."""
    ema = copy.deepcopy(generator).eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: torch.nn.Module, generator: torch.nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * generator`` for trained parameters.

    Parameters that are not trained right now (``requires_grad`` False, e.g. a frozen stage-1
    network) and all buffers are copied exactly, so the average never drifts from weights
    that do not move.
    """
    ema_params = dict(ema.named_parameters())
    trained, fixed_src, fixed_dst = [], [], []
    for name, p in generator.named_parameters():
        target = ema_params[name]
        if p.requires_grad:
            trained.append((target, p))
        else:
            fixed_dst.append(target)
            fixed_src.append(p)
    if trained:
        dst, src = zip(*trained)
        torch._foreach_lerp_(list(dst), list(src), 1.0 - decay)
    for d, s in zip(fixed_dst, fixed_src):
        d.copy_(s)
    ema_buffers = dict(ema.named_buffers())
    for name, b in generator.named_buffers():
        ema_buffers[name].copy_(b)


@torch.no_grad()
def copy_into_ema(ema: torch.nn.Module, generator: torch.nn.Module) -> None:
    """Make the EMA equal to the generator (stage starts, stages without EMA)."""
    update_ema(ema, generator, decay=0.0)


@torch.no_grad()
def take_averages(module: torch.nn.Module, averaged: torch.nn.Module) -> None:
    """Load ``averaged`` (the EMA's copy of ``module``) into ``module``'s parameters.

    For a stage's ``on_start`` that freezes an earlier stage's network: the authors' multi-stage recipes
    continue from that network's average, not from its last raw weights, and the engine then sets the EMA
    equal to the generator, so without this the average would be lost.
    """
    dst, src = dict(module.named_parameters()), dict(averaged.named_parameters())
    shapes = {n: tuple(p.shape) for n, p in dst.items()}
    if shapes != {n: tuple(p.shape) for n, p in src.items()}:  # checked first: copy_ would broadcast, and a
        raise ValueError("take_averages: the average is not a copy of the network "  # partial load would stay
                         f"({len(src)} parameters against {len(dst)}, or their names or shapes differ)")
    for name, p in dst.items():
        p.copy_(src[name])
