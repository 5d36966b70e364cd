"""The shared training engine: loop, losses, EMA, checkpoints, resume, NaN rollback, signals.

Submodules: ``engine`` (Trainer), ``distributed`` (torchrun processes: batch shares, DDP gradient
averaging), ``losses`` (shared GAN losses), ``gan`` (the shared adversarial steps), ``checkpoint``
(safetensors files), ``ema``, ``data`` (resumable real batches), ``sampling`` (seeded renders),
``progress``, ``signals``.
Importing this package is cheap; the submodules import torch. What ``zoo3d train`` runs around the
engine (config, run folder, lock, ``--nproc``) is :mod:`zoo3d.launch`, beside :mod:`zoo3d.runs`.
"""

_LAZY = {
    "Trainer": "zoo3d.train.engine",
    "TrainResult": "zoo3d.train.engine",
    "TrainingDiverged": "zoo3d.train.engine",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo3d.train' has no attribute {name!r}")


__all__ = sorted(_LAZY)
