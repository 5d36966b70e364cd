"""Checkpoint files: safetensors only, written atomically, never unpickled.

A checkpoint is one ``.safetensors`` file. Tensors are namespaced (``generator.*``,
``ema.*``, ``disc.<name>.*`` for every other module, ``optim.<name>.*``, ``rng.*``,
``state.*``); everything that is not a tensor (the config, optimiser hyper-parameters,
the step, the stage) lives in the flat str->str ``__metadata__`` under ``zoo3d.*`` keys.

Writes go to a temporary file in the same folder, are fsynced, then renamed over the
final name, so a crash mid-write leaves the previous checkpoint and the ``latest``
pointer untouched.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo3d.errors import UserError

FORMAT_VERSION = "1"
SUFFIX = ".safetensors"
LATEST = "latest"
CHECKPOINT_DIR = "checkpoints"
#: File suffixes of pickle-based formats, which zoo3d refuses to open (unpickling runs code).
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar"}
_STEP_NAME = re.compile(r"^step_(\d+)\.safetensors$")


class CheckpointError(UserError):
    """A checkpoint that cannot be used (missing, truncated, pickle, another model, ...)."""


# ------------------------------------------------------------------------------- writing

def _cpu_copy(t: Tensor) -> Tensor:
    """A contiguous CPU copy that shares no storage (safetensors refuses aliased tensors)."""
    return t.detach().to("cpu", copy=True).contiguous()


def write_safetensors(tensors: dict[str, Tensor], metadata: dict[str, str], path: Path) -> Path:
    """Write ``tensors`` + ``metadata`` to ``path`` atomically (temp file, fsync, rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file({k: _cpu_copy(v) for k, v in tensors.items()}, str(tmp), metadata=metadata)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def checkpoint_name(step: int) -> str:
    return f"step_{step:09d}{SUFFIX}"


def set_latest(run_dir: Path, checkpoint: Path) -> None:
    """Point ``run_dir/latest`` (a one-line text file, relative path) at ``checkpoint``."""
    write_text_atomic(Path(run_dir) / LATEST, os.path.relpath(checkpoint, run_dir) + "\n")


def read_latest(run_dir: Path) -> Path | None:
    pointer = Path(run_dir) / LATEST
    if not pointer.is_file():
        return None
    target = (Path(run_dir) / pointer.read_text().strip()).resolve()
    return target if target.is_file() else None


def prune_checkpoints(run_dir: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest ``step_*`` checkpoints (never the one ``latest`` names)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    found = sorted((int(m.group(1)), p) for p in folder.glob(f"step_*{SUFFIX}") if (m := _STEP_NAME.match(p.name)))
    latest = read_latest(run_dir)
    removed = []
    for _, p in found[:-keep] if keep > 0 else found:
        if latest is not None and p.resolve() == latest:
            continue
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed


# -------------------------------------------------------------- flattening state dicts

def prefixed(prefix: str, state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"{prefix}.{k}": v for k, v in state.items() if isinstance(v, Tensor)}


def unprefixed(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    head = prefix + "."
    return {k[len(head):]: v for k, v in tensors.items() if k.startswith(head)}


def flatten_optimizer(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """An optimiser's state dict as tensors ``optim.<name>.<param>.<key>`` plus JSON-able extras."""
    sd = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{name}.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(name: str, tensors: dict[str, Tensor], extra: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer`: a state dict for ``Optimizer.load_state_dict``."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in unprefixed(f"optim.{name}", tensors).items():
        idx, _, field = key.partition(".")
        state.setdefault(int(idx), {})[field] = value
    for idx, entry in extra.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(entry)
    groups = []
    for g in extra["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


def rng_tensors(device: torch.device) -> dict[str, Tensor]:
    """The process RNG states that training consumes (torch CPU, and the CUDA device if used)."""
    out = {"rng.torch": torch.get_rng_state()}
    if device.type == "cuda":
        out["rng.cuda"] = torch.cuda.get_rng_state(device)
    return out


def restore_rng(tensors: dict[str, Tensor], device: torch.device) -> None:
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"].to(torch.uint8), device)


# ------------------------------------------------------------------------------- reading

def _looks_pickled(head: bytes) -> bool:
    """torch.save zip archives start with 'PK'; raw pickles with PROTO (0x80) then a protocol number.

    A safetensors file starts with its 8-byte little-endian header length followed by '{', so its
    first byte may be anything (0x80 included): it is recognised by the '{' at offset 8 instead.
    """
    if len(head) > 8 and head[8:9] == b"{":
        return False
    return head[:2] == b"PK" or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))


def check_checkpoint_file(path: str | Path) -> Path:
    """Refuse anything that is not a readable safetensors file, with one sentence saying why."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint '{path}' does not exist.")
    if path.is_dir():
        raise CheckpointError(f"'{path}' is a folder, not a checkpoint file (give a run folder with a 'latest' "
                              f"pointer or a .safetensors file).")
    with open(path, "rb") as fh:
        head = fh.read(9)
    if path.suffix.lower() in PICKLE_SUFFIXES or _looks_pickled(head):
        raise CheckpointError(f"'{path}' is a pickle-based file; zoo3d loads only .safetensors checkpoints, "
                              f"because unpickling a file can run arbitrary code.")
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``__metadata__`` of a checkpoint, read from its header only (no tensors loaded)."""
    from safetensors import safe_open

    path = check_checkpoint_file(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            keys = list(fh.keys())
    except Exception as exc:  # safetensors raises its own error types for every header problem
        raise CheckpointError(f"Checkpoint '{path}' is truncated or corrupt ({_first_line(exc)}).") from None
    if "zoo3d.model" not in meta:
        raise CheckpointError(f"'{path}' is a safetensors file but not a zoo3d checkpoint (no 'zoo3d.model' "
                              f"in its metadata).")
    size = path.stat().st_size
    if keys and size < _expected_size(path):
        raise CheckpointError(f"Checkpoint '{path}' is truncated ({size} bytes on disk).")
    return meta


def _expected_size(path: Path) -> int:
    """Header length + header + the end offset of the last tensor, read from the file header."""
    import struct

    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    return 8 + n + max(ends, default=0)


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[dict[str, Tensor], dict[str, str]]:
    """All tensors (on ``device``) and the metadata of a checkpoint; clear errors for bad files."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    try:
        tensors = load_file(str(path), device=str(device))
    except Exception as exc:
        raise CheckpointError(f"Checkpoint '{path}' is truncated or corrupt ({_first_line(exc)}).") from None
    return tensors, meta


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def restore_modules(modules: dict[str, torch.nn.Module], ema: torch.nn.Module | None,
                    tensors: dict[str, Tensor], source: str) -> None:
    """Load ``generator.*``, ``disc.<name>.*`` and ``ema.*`` into the built modules (strictly)."""
    targets = [("generator", modules["generator"])]
    targets += [(f"disc.{n}", m) for n, m in modules.items() if n != "generator"]
    if ema is not None and any(k.startswith("ema.") for k in tensors):
        targets.append(("ema", ema))
    for prefix, module in targets:
        state = unprefixed(prefix, tensors)
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            missing, unexpected = _key_mismatch(module, state)
            detail = "; ".join(x for x in (missing, unexpected) if x) or _first_line(exc)
            raise CheckpointError(f"Checkpoint '{source}' does not fit the model's '{prefix}' module ({detail}); "
                                  f"was it written with a different config or version?") from None


def _key_mismatch(module: torch.nn.Module, state: dict[str, Tensor]) -> tuple[str, str]:
    own = set(module.state_dict())
    missing = sorted(own - set(state))
    unexpected = sorted(set(state) - own)
    fmt = lambda label, keys: f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}" if keys else ""
    if not missing and not unexpected:
        return "tensor shapes differ", ""
    return fmt("missing", missing), fmt("unexpected", unexpected)
