"""The shared training engine: loop, losses, EMA, checkpoints, resume, NaN rollback, signals.

Submodules: ``engine`` (Trainer), ``launch`` (train_model, what ``zoo3d train`` runs, and the
``--nproc`` launcher), ``distributed`` (torchrun processes: batch shares, DDP gradient averaging),
``losses`` (shared GAN losses), ``checkpoint`` (safetensors files), ``ema``, ``data``
(resumable real batches), ``sampling`` (seeded renders), ``progress``, ``signals``.
Importing this package is cheap; the submodules import torch.
"""

_LAZY = {
    "Trainer": "zoo3d.train.engine",
    "TrainResult": "zoo3d.train.engine",
    "TrainingDiverged": "zoo3d.train.engine",
    "train_model": "zoo3d.train.launch",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo3d.train' has no attribute {name!r}")


__all__ = sorted(_LAZY)
