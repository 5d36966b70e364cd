"""Checkpoint files: safetensors only, written atomically, never unpickled.

A checkpoint is one ``.safetensors`` file. Tensors are namespaced (``generator.*``,
``ema.*``, ``modules.<name>.*`` for every other module (``disc.<name>.*`` in format 1),
``optim.<name>.*``, ``rng.*``, ``state.*``); everything that is not a tensor (the config, optimiser hyper-parameters,
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

from zoo3d.errors import UserError, shown_name

FORMAT_VERSION = "2"
#: The namespace of the modules other than the generator (discriminators, encoders, ...); format 1 said ``disc``.
MODULES, FORMAT1_MODULES = "modules", "disc"
SUFFIX = ".safetensors"
LATEST = "latest"
CHECKPOINT_DIR = "checkpoints"
#: File suffixes of pickle-based formats, which zoo3d refuses to open (unpickling runs code).
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar"}
_STEP_NAME = re.compile(r"^step_(\d+)\.safetensors$")


class CheckpointError(UserError):
    """A checkpoint that cannot be used (missing, truncated, pickle, another model, ...)."""


class NonFiniteCheckpoint(CheckpointError):
    """A checkpoint with NaN or Inf in a weight: ``finding`` says which, the message adds what to do (``advice``)."""

    def __init__(self, finding: str, advice: str = "it cannot be used, take an earlier checkpoint"):
        super().__init__(f"{finding}; {advice}.")
        self.finding = finding


# ------------------------------------------------------------------------------- writing

def _cpu_copy(t: Tensor) -> Tensor:
    """A contiguous CPU copy that shares no storage (safetensors refuses aliased tensors)."""
    return t.detach().to("cpu", copy=True).contiguous()


def write_safetensors(tensors: dict[str, Tensor], metadata: dict[str, str], path: Path) -> Path:
    """Write ``tensors`` + ``metadata`` to ``path`` atomically (temp file, fsync, rename; see zoo3d.fileio)."""
    from safetensors.torch import save_file

    from zoo3d.fileio import atomic_path

    with atomic_path(path, "checkpoint") as tmp:
        try:
            save_file({k: _cpu_copy(v) for k, v in tensors.items()}, str(tmp), metadata=metadata)
        except Exception as exc:  # noqa: BLE001 - safetensors reports an I/O failure as its own exception type
            error = _as_os_error(exc, tmp)
            if error is exc:
                raise
            raise error from exc
        _order_metadata(tmp)
        os.chmod(tmp, _created_file_mode())  # safetensors creates 0600; a run's other files follow the umask
    return Path(path)


def _order_metadata(path: Path) -> None:
    """Rewrite the file's ``__metadata__`` in key order, in place. safetensors writes it from a hash map whose order
    changes from one write to the next, so two runs ending with the same tensors and metadata gave files that differ
    in their bytes (and in the sha256 that ``compare`` records as a model's provenance). The header keeps its
    length: the same JSON in another order is as long; should it not be, the file stays as written (still valid)."""
    with open(path, "r+b") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
        meta = header.pop("__metadata__", None)
        if not isinstance(meta, dict):
            return
        text = json.dumps({"__metadata__": dict(sorted(meta.items())), **header}, separators=(",", ":"),
                          ensure_ascii=False).encode()
        if len(text) <= size:
            fh.seek(8)
            fh.write(text + b" " * (size - len(text)))  # safetensors pads its header with spaces too


def _created_file_mode() -> int:
    """The permissions ``open(path, 'w')`` gives a new file under this process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _as_os_error(exc: Exception, path: Path) -> Exception:
    """safetensors' writer raises ``SafetensorError('... No space left on device (os error 28)')`` where Python
    would raise OSError; give it back as the OSError it reports, so a full disk is the one-sentence write error
    (``zoo3d.fileio``). Anything else is returned unchanged."""
    if isinstance(exc, OSError):
        return exc
    found = re.search(r"\(os error (\d+)\)", str(exc))
    if found is None:
        return exc
    code = int(found.group(1))
    return OSError(code, os.strerror(code), str(path))


def write_text_atomic(path: Path, text: str) -> None:
    from zoo3d.fileio import write_text_atomic as write

    write(path, text)


def checkpoint_name(step: int) -> str:
    return f"step_{step:09d}{SUFFIX}"


def set_latest(run_dir: Path, checkpoint: Path) -> None:
    """Point ``run_dir/latest`` (a one-line text file, relative path) at ``checkpoint``."""
    write_text_atomic(Path(run_dir) / LATEST, os.path.relpath(checkpoint, run_dir) + "\n")


def latest_pointer(run_dir: Path) -> Path | None:
    """The file ``run_dir/latest`` names (whether or not it exists), or None without a readable pointer."""
    pointer = Path(run_dir) / LATEST
    try:
        text = pointer.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return (Path(run_dir) / text).resolve() if text else None


def read_latest(run_dir: Path) -> Path | None:
    target = latest_pointer(run_dir)
    return target if target is not None and target.is_file() else None


def list_checkpoints(run_dir: Path) -> list[Path]:
    """The run's ``checkpoints/step_<N>.safetensors`` files, newest (highest step) first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_NAME.match(p.name)) and p.is_file()]
    return [p for _, p in sorted(found, reverse=True)]


def find_checkpoint(run_dir: Path) -> tuple[Path | None, str | None]:
    """The checkpoint a run continues from or is sampled from, and a note when it is not ``latest``'s.

    ``latest`` wins when it names a loadable checkpoint. When it is missing, dangling or names a
    truncated file, the newest loadable ``checkpoints/step_<N>.safetensors`` is used instead and
    the note says so. (None, None) when the run has no checkpoint at all; when its only
    checkpoints cannot be loaded, the error of the one ``latest`` names.
    """
    run_dir = Path(run_dir)
    named = latest_pointer(run_dir)
    why, latest_error = None, None
    if named is not None:
        try:
            read_metadata(named)
            return named, None
        except CheckpointError as exc:
            latest_error = exc if named.exists() else None
            why = f"'latest' names {_rel(named, run_dir)}, which " + (
                "does not exist" if not named.exists() else "cannot be loaded")
    elif (run_dir / LATEST).exists():
        why = "'latest' cannot be read"
    for candidate in list_checkpoints(run_dir):
        if named is not None and candidate.resolve() == named:
            continue
        try:
            read_metadata(candidate)
        except CheckpointError:
            continue
        lead = why or "the run has no 'latest' pointer"
        return candidate, f"{lead}; using the newest loadable checkpoint {_rel(candidate, run_dir)} instead."
    if latest_error is not None:  # nothing to fall back to: say what is wrong with the one there is
        raise latest_error
    return None, None


def checkpoint_before(run_dir: Path, path: Path) -> Path | None:
    """The run's newest ``checkpoints/step_<N>.safetensors`` below ``path``'s step whose header loads, or None."""
    own = _STEP_NAME.match(Path(path).name)
    below = int(own.group(1)) if own else None
    for candidate in list_checkpoints(run_dir):  # newest first
        if candidate.resolve() == Path(path).resolve() or \
                below is not None and int(_STEP_NAME.match(candidate.name).group(1)) >= below:
            continue
        try:
            read_metadata(candidate)
        except CheckpointError:
            continue
        return candidate
    return None


def _rel(path: Path, run_dir: Path) -> str:
    try:
        return f"'{Path(path).resolve().relative_to(Path(run_dir).resolve())}'"
    except ValueError:
        return f"'{path}'"


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
    """The entries of a checkpoint's ``tensors`` under ``prefix.`` (``ema``: the generator's EMA state dict), by
    their names without it (a plugin reads the weights of a model it builds on with it; docs/plugins.md)."""
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
    """Inverse of :func:`flatten_optimizer`: a state dict for ``Optimizer.load_state_dict``.

    The tensors are copies: ``load_state_dict`` keeps CPU tensors (and ``step`` on any device) as given, and
    Adam then updates them in place, which would change the checkpoint's tensors the caller still holds (the
    engine's NaN-rollback point)."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in unprefixed(f"optim.{name}", tensors).items():
        idx, _, field = key.partition(".")
        state.setdefault(int(idx), {})[field] = value.clone()
    for idx, entry in extra.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(entry)
    groups = []
    for g in extra["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


def regroup_optimizer_state(saved: dict[str, Any], saved_order: list[int] | None, current: dict[str, Any],
                            current_order: list[int]) -> dict[str, Any]:
    """A saved optimiser state dict moved onto the current optimiser's parameter groups.

    The groups change when a stage's ``module_lr`` does between save and resume. ``*_order`` give each state
    index's position in the optimiser's flat parameter list (None: the saved state had one group, so index ==
    position). The moments follow their parameters; the groups and their learning rates are the current
    ones."""
    saved_order = list(range(len(current_order))) if saved_order is None else saved_order
    if sorted(saved_order) != sorted(current_order):
        raise ValueError(f"the checkpoint's optimiser holds {len(saved_order)} parameters where this stage's "
                         f"holds {len(current_order)}")
    index = {position: i for i, position in enumerate(current_order)}
    state = {index[saved_order[int(i)]]: entry for i, entry in saved["state"].items()}
    return {"state": state, "param_groups": current["param_groups"]}


#: Format 1 (zoo3d 0.1) named the built-in recipes' optimisers by model; since format 2 every recipe names
#: them by role: ``generator`` and ``discriminator`` (also in a stage that trains a 2D decoder), ``encoder``,
#: ``detail``.
FORMAT1_OPTIMIZERS = {"G": "generator", "D": "discriminator", "decoder": "generator",
                      "decoder_discriminator": "discriminator", "E": "encoder", "R": "detail"}


def stored_optimizer_names(names: list[str], stored: dict[str, Any], format_version: str) -> dict[str, str]:
    """For each optimiser of the current stage, the name its state has in a checkpoint (absent: none stored).

    A format-1 checkpoint of a built-in model stored ``generator`` as ``G`` (or ``decoder``) and so on;
    an optimiser whose own name is not stored takes the one format 1 gave its role, when that is stored
    and is no other optimiser's own name.
    """
    found = {n: n for n in names if n in stored}
    if format_version == "1":
        for old, new in FORMAT1_OPTIMIZERS.items():
            if new in names and new not in found and old in stored and old not in names:
                found[new] = old
    return found


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

def looks_pickled(head: bytes) -> bool:
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
    shown = shown_name(str(path))  # a '\r' or ESC in the name, printed, would garble the line
    if not path.exists():
        raise CheckpointError(f"Checkpoint '{shown}' does not exist.")
    if path.is_dir():
        raise CheckpointError(f"'{shown}' is a folder, not a checkpoint file (give a run folder with a 'latest' "
                              f"pointer or a .safetensors file).")
    with open(path, "rb") as fh:
        head = fh.read(9)
    if path.suffix.lower() in PICKLE_SUFFIXES or looks_pickled(head):
        raise CheckpointError(f"'{shown}' is a pickle-based file; zoo3d loads only .safetensors checkpoints, "
                              f"because unpickling a file can run arbitrary code.")
    if len(head) == 9 and head[8:9] != b"{":  # a safetensors file: an 8-byte length, then its JSON header
        raise CheckpointError(f"'{shown}' is not a checkpoint: it does not begin with a safetensors header (give a "
                              f"run folder or a .safetensors file zoo3d wrote).")
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
        from zoo3d.invert.saved import HEADER_KEY, commands_for

        if HEADER_KEY in meta:
            raise CheckpointError(f"'{path}' is an inversion that zoo3d invert saved, not a checkpoint; render it with "
                                  f"{commands_for(path.parent)}.")
        raise CheckpointError(f"'{path}' is a safetensors file but not a zoo3d checkpoint (no 'zoo3d.model' "
                              f"in its metadata).")
    size = path.stat().st_size
    if keys and size < _expected_size(path):
        raise CheckpointError(f"Checkpoint '{path}' is truncated ({size} bytes on disk).")
    _check_metadata(path, meta)
    return meta


#: Metadata keys holding whole numbers >= 0, and keys holding JSON (the config: a JSON object).
INT_KEYS = ("zoo3d.step", "zoo3d.stage_index", "zoo3d.stage_step", "zoo3d.data_cursor", "zoo3d.world_size",
            "zoo3d.ema_updates", "zoo3d.total_rollbacks")
JSON_KEYS = ("zoo3d.config", "zoo3d.optim", "zoo3d.scaler", "zoo3d.state")


def _check_metadata(path: Path, meta: dict[str, str]) -> None:
    """Refuse metadata that the loaders would choke on, naming the key and its value."""
    for key in INT_KEYS:
        if key in meta:
            value = meta[key]
            if not (value.strip().isdigit() and value.strip().isascii()):
                raise CheckpointError(f"Checkpoint '{path}' has metadata {key} = {value[:40]!r}, which is not a "
                                      f"whole number >= 0; the file was not written by zoo3d or was edited.")
    for key in JSON_KEYS:
        if key in meta:
            try:
                value = json.loads(meta[key])
            except ValueError:
                value = None
            if not isinstance(value, dict):
                raise CheckpointError(f"Checkpoint '{path}' has metadata {key} that is not a JSON object; the file "
                                      f"was not written by zoo3d or was edited.")


def metadata_int(meta: dict[str, str], key: str, default: int = 0) -> int:
    """An integer metadata field (already checked by :func:`read_metadata`)."""
    return int(meta.get(key, default))


#: Tensors that must be finite: module weights, the EMA and optimiser state (rng.* and state.* may be anything).
FINITE_PREFIXES = ("generator.", "ema.", "modules.", "disc.", "optim.")


def check_finite(tensors: dict[str, Tensor], source: str) -> None:
    """Refuse a checkpoint with NaN or Inf in a weight, naming the first such tensor."""
    for name, t in tensors.items():
        if name.startswith(FINITE_PREFIXES) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise NonFiniteCheckpoint(f"Checkpoint '{source}' holds non-finite values (NaN or Inf) in tensor "
                                      f"'{name}' ({bad} of {t.numel()} values)")


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
    check_finite(tensors, str(path))
    return tensors, meta


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def modules_namespace(tensors: dict[str, Tensor]) -> str:
    """``modules``, or ``disc`` for a format-1 file (which has no ``modules.*`` tensor and some ``disc.*`` one)."""
    if any(k.startswith(MODULES + ".") for k in tensors):
        return MODULES
    return FORMAT1_MODULES if any(k.startswith(FORMAT1_MODULES + ".") for k in tensors) else MODULES


def restore_modules(modules: dict[str, torch.nn.Module], ema: torch.nn.Module | None,
                    tensors: dict[str, Tensor], source: str) -> None:
    """Load ``generator.*``, ``modules.<name>.*`` (format 1: ``disc.<name>.*``) and ``ema.*`` into the built
    modules (strictly)."""
    targets = [("generator", modules["generator"])]
    space = modules_namespace(tensors)
    targets += [(f"{space}.{n}", m) for n, m in modules.items() if n != "generator"]
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
