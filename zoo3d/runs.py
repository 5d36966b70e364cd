"""Run folders and trained models: where runs live, resolving ``RUN|CKPT|MODEL``, loading a model.

A run folder holds ``config.yaml``, ``checkpoints/step_<N>.safetensors``, ``samples/``,
``metrics.jsonl`` and ``latest`` (a text file naming the newest checkpoint). Runs are
created under the runs root (``$ZOO3D_RUNS``, else ``./runs``) as ``<model>-<YYYYmmdd-HHMMSS>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from zoo3d.errors import UserError

CONFIG_FILE = "config.yaml"
LATEST = "latest"


def runs_root() -> Path:
    return Path(os.environ.get("ZOO3D_RUNS") or "runs")


def new_run_dir(model: str, root: Path | None = None) -> Path:
    """A fresh ``<root>/<model>-<YYYYmmdd-HHMMSS>`` folder (``-2``, ``-3``... if taken)."""
    root = Path(root) if root is not None else runs_root()
    base = f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = root / base, 1
    while path.exists():
        n += 1
        path = root / f"{base}-{n}"
    path.mkdir(parents=True)
    return path


def _run_model(run_dir: Path) -> str | None:
    cfg = run_dir / CONFIG_FILE
    try:
        data = yaml.safe_load(cfg.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    return data.get("model") if isinstance(data, dict) else None


def find_runs(model: str, root: Path | None = None) -> list[Path]:
    """Runs of ``model`` (any spelling or alias) under the root that have a checkpoint, newest first."""
    from zoo3d.train.checkpoint import read_latest

    root = Path(root) if root is not None else runs_root()
    if not root.is_dir():
        return []
    wanted = _canonical(model)
    found = []
    for d in root.iterdir():
        name = _run_model(d) if d.is_dir() else None
        if name is None or _canonical(name) != wanted:
            continue
        latest = read_latest(d)
        if latest is not None:
            found.append((latest.stat().st_mtime, d))
    return [d for _, d in sorted(found, key=lambda t: t[0], reverse=True)]


def _canonical(name: str) -> str:
    from zoo3d.plugins import get_host
    from zoo3d.specs import normalize_name

    spec = get_host().models.owner(name)
    return spec.key if spec is not None else normalize_name(name)


def _is_model_name(ref: str) -> bool:
    from zoo3d.plugins import get_host

    return not Path(ref).exists() and get_host().models.owner(ref) is not None


def resolve_checkpoint(ref: str) -> Path:
    """A checkpoint file from a run folder (its ``latest``), a ``.safetensors`` file, or a model name (its newest run)."""
    from zoo3d.train.checkpoint import check_checkpoint_file, read_latest

    path = Path(ref)
    if path.is_dir():
        latest = read_latest(path)
        if latest is None:
            raise UserError(f"Run folder '{path}' has no checkpoint yet (no valid 'latest' pointer).")
        return latest
    if path.exists():
        return check_checkpoint_file(path)
    if _is_model_name(ref):
        runs = find_runs(ref)
        if not runs:
            from zoo3d.plugins import get_model_spec

            name = get_model_spec(ref).name
            raise UserError(f"No run of model '{name}' found under {runs_root()}/; train one with "
                            f"`zoo3d train {name}`.")
        return read_latest(runs[0])
    raise UserError(f"'{ref}' is neither a run folder, a checkpoint file nor a registered model name.")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class LoadedModel:
    """A model ready to sample: ``generator`` is the EMA copy when asked for, in eval mode."""

    spec: Any
    plugin: Any
    config: Any
    modules: dict
    generator: Any
    checkpoint: Path | None
    sha256: str | None
    step: int


def load_model(ref: str | None, model: str | None = None, device: str = "auto", ema: bool = True) -> LoadedModel:
    """Load a trained model from ``ref`` (run folder, checkpoint, model name), or build a checkpoint-free one.

    ``model``, when given, must match the checkpoint's model; with ``ref=None`` it names the
    model, which is built from its default preset when its plugin has ``requires_checkpoint=False``
    and otherwise loaded from its newest run.
    """
    from zoo3d.config import load_run_config
    from zoo3d.devices import resolve_device
    from zoo3d.plugins import get_model_spec
    from zoo3d.train.checkpoint import CheckpointError, read_checkpoint, read_metadata, restore_modules
    from zoo3d.train.ema import make_ema

    if ref is None and model is None:
        raise UserError("Give a run folder, a checkpoint file or a model name.")
    dev = resolve_device(device)
    name = model if ref is None else (ref if _is_model_name(ref) else None)
    if name is not None:
        spec = get_model_spec(name)
        plugin = spec.load()
        if not plugin.requires_checkpoint and (model is None or _canonical(model) == spec.key):
            if not find_runs(spec.name):
                config = load_run_config(plugin.config_class, spec.name, spec.presets_dir,
                                         default_preset=spec.default_preset)
                modules = {k: m.to(dev).eval() for k, m in plugin.build(config).items()}
                return LoadedModel(spec, plugin, config, modules, modules["generator"], None, None, 0)
        ref = ref or spec.name
    path = resolve_checkpoint(ref)
    meta = read_metadata(path)
    stored = meta["zoo3d.model"]
    try:
        spec = get_model_spec(stored)
    except UserError:
        raise CheckpointError(f"Checkpoint '{path}' holds model '{stored}', which is not installed "
                              f"(see `zoo3d models`).") from None
    if model is not None and _canonical(model) != spec.key:
        raise CheckpointError(f"Checkpoint '{path}' holds model '{spec.name}', not '{model}'.")
    plugin = spec.load()
    try:
        config = plugin.config_class.model_validate(json.loads(meta["zoo3d.config"]))
    except Exception as exc:
        raise CheckpointError(f"Checkpoint '{path}' has a config that model '{spec.name}' no longer accepts "
                              f"({str(exc).splitlines()[0]}).") from None
    tensors, meta = read_checkpoint(path, device="cpu")
    modules = plugin.build(config)
    restore_modules(modules, None, tensors, str(path))
    ema_module = None
    if ema:  # a copy of the loaded generator, then the stored average on top when there is one
        ema_module = make_ema(modules["generator"])
        stored_ema = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
        if stored_ema:
            try:
                ema_module.load_state_dict(stored_ema, strict=True)
            except RuntimeError:
                raise CheckpointError(f"Checkpoint '{path}' has an EMA generator that does not fit model "
                                      f"'{spec.name}'.") from None
    modules = {k: m.to(dev).eval() for k, m in modules.items()}
    generator = ema_module.to(dev).eval() if ema_module is not None else modules["generator"]
    return LoadedModel(spec, plugin, config, modules, generator, path, file_sha256(path),
                       int(meta.get("zoo3d.step", 0)))
