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

from zoo3d.errors import CRLF, UserError, shown_name

CONFIG_FILE = "config.yaml"
LATEST = "latest"


def runs_root() -> Path:
    """``$ZOO3D_RUNS`` (a leading ``~`` is the home folder: a quoted one in a job script reaches zoo3d as it is),
    else ``./runs``."""
    root = os.environ.get("ZOO3D_RUNS") or "runs"
    if root.endswith("\r"):  # set from a .env file or script with Windows line endings: a folder 'runs\r' was made
        raise UserError(f"$ZOO3D_RUNS '{shown_name(root)}' {CRLF}")
    return Path(root).expanduser()


def new_run_dir(model: str, root: Path | None = None) -> Path:
    """A fresh ``<root>/<model>-<YYYYmmdd-HHMMSS>`` folder (``-2``, ``-3``... if taken, also by a run starting now)."""
    from zoo3d.fileio import storage_reason

    root = Path(root) if root is not None else runs_root()
    base = f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = root / base, 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = root / f"{base}-{n}"
        except OSError as exc:  # a root that is a file fails here, as 'not a directory'
            if root.exists() and not root.is_dir():
                raise UserError(f"Runs root '{shown_name(str(root))}' is a file, not a folder (set ZOO3D_RUNS or give "
                                f"--out).") from None
            raise UserError(f"Cannot create run folder '{shown_name(str(path))}' under the runs root "
                            f"'{shown_name(str(root))}': "
                            f"{storage_reason(exc)}.") from None


#: What a run folder holds; any of it means the folder already holds a run.
RUN_ARTEFACTS = (CONFIG_FILE, "checkpoints", "metrics.jsonl", LATEST, "samples")


def run_contents(run_dir: Path) -> list[str]:
    """The run artefacts present in ``run_dir`` (config, checkpoints, metrics, latest, samples), as short labels."""
    run_dir = Path(run_dir)
    found = []
    for name in RUN_ARTEFACTS:
        p = run_dir / name
        if not (p.exists() or p.is_symlink()):
            continue
        if p.is_dir():
            n = sum(1 for _ in p.iterdir())
            if n == 0:
                continue
            found.append(f"{name}/ ({n} file{'s' if n != 1 else ''})")
        else:
            found.append(name)
    return found


def holds_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` already holds (part of) a run, judged by what is there, not only by ``latest``."""
    return bool(run_contents(run_dir))


def run_above(folder: Path) -> Path | None:
    """The run whose ``checkpoints/`` or ``samples/`` folder ``folder`` is (given where the run was meant, reached by
    tab completion), else None. The folder above is a run where it holds the run's checkpoints
    (``checkpoints/step_<N>.safetensors``, also with nothing else of the run kept) or a ``config.yaml`` naming a model:
    a folder of photos named ``samples/``, beside other files or another tool's ``config.yaml``, is no run's."""
    from zoo3d.train.checkpoint import CHECKPOINT_DIR, list_checkpoints

    folder = Path(folder)
    if folder.name not in (CHECKPOINT_DIR, "samples"):
        return None
    run = folder.parent
    return run if list_checkpoints(run) or _run_model(run) is not None else None


class RunLockedError(UserError):
    """Another process is writing to the run folder."""


LOCK_FILE = ".lock"


class RunLock:
    """An exclusive lock on a run folder: one process trains (or resumes) a run at a time.

    The lock is ``flock`` on ``<run>/.lock``, which the kernel releases when the process ends in
    any way (kill -9 included), so a lock whose process is gone never blocks: the next run simply
    takes it. The file records who holds it (pid, host, command, start time) for the message a
    refused run prints. Where ``flock`` does not exist the file is created exclusively and a lock
    whose pid is no longer running on this host is treated as stale.
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            info = {}
        if not isinstance(info, dict) or not info.get("pid"):
            return "another zoo3d process"
        cmd = f", `{info['command']}`" if info.get("command") else ""
        since = f" since {info['started']}" if info.get("started") else ""
        return f"another zoo3d process (pid {info['pid']} on {info.get('host', '?')}{cmd}{since})"

    def _refuse(self) -> RunLockedError:
        return RunLockedError(f"Run folder '{self.run_dir}' is in use by {self._holder()}; wait for it to finish "
                              f"or choose another --out.")

    def _record(self) -> bytes:
        import shlex
        import socket
        import sys

        return json.dumps({"pid": os.getpid(), "host": socket.gethostname(),  # the command as a shell reads it
                           "command": shlex.join(["zoo3d", *sys.argv[1:]])[:200],
                           "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode()

    def acquire(self) -> "RunLock":
        from zoo3d.fileio import storage_reason

        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._fd = self._lock_flock() if _HAVE_FLOCK else self._lock_exclusive()
            os.ftruncate(self._fd, 0)
            os.write(self._fd, self._record())
        except RunLockedError:
            raise
        except OSError as exc:
            self.release()
            raise UserError(f"Cannot create or lock run folder '{self.run_dir}': {storage_reason(exc)}.") from None
        _HELD_FDS.add(self._fd)
        return self

    def refuse_if_held(self) -> None:
        """Raise :class:`RunLockedError` when another process holds the lock; otherwise take it and let it go."""
        try:
            self.acquire()
        except RunLockedError:
            raise
        except UserError:  # an unwritable folder: whoever asked says what is wrong with it
            return
        self.release()

    def _lock_flock(self) -> int:
        import fcntl

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._refuse() from None
            except BaseException:
                os.close(fd)
                raise
            try:  # the holder may have removed the file between our open and flock: lock the current one
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)

    def _lock_exclusive(self) -> int:
        from zoo3d.fileio import _pid_alive

        for _ in range(3):
            try:
                return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                try:
                    info = json.loads(self.path.read_text() or "{}")
                except (OSError, ValueError):
                    info = {}
                import socket

                pid = info.get("pid") if isinstance(info, dict) else None
                if pid and info.get("host") == socket.gethostname() and not _pid_alive(int(pid)):
                    self.path.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                raise self._refuse() from None
        raise self._refuse()

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # unlinked while still locked, so no one can lock the old file
        except OSError:
            pass
        _HELD_FDS.discard(self._fd)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


try:
    import fcntl as _fcntl  # noqa: F401

    _HAVE_FLOCK = True
except ImportError:  # pragma: no cover - Windows
    _HAVE_FLOCK = False

#: Descriptors of the run locks this process holds. A forked child (a data loader worker) closes its
#: copies at once, so a killed run's lock is not kept alive by children that outlive it for a moment;
#: closing a copy leaves the parent's lock in place.
_HELD_FDS: set[int] = set()


def _close_held_in_child() -> None:
    for fd in list(_HELD_FDS):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_FDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_in_child)


def _run_model(run_dir: Path) -> str | None:
    """The model of the run in ``run_dir``, by its ``config.yaml``, or, where that file is gone or cannot be read as a
    config (an edit left half done: not YAML, empty, a list), by its newest checkpoint's header; None for a folder
    that is no zoo3d run."""
    cfg = run_dir / CONFIG_FILE
    try:
        data = yaml.safe_load(cfg.read_text())
    except (OSError, ValueError, yaml.YAMLError):  # ValueError: a file that is not UTF-8 text (another tool's)
        return _checkpoint_model(run_dir)
    if not isinstance(data, dict):  # no config at all, as --resume refuses it ("must hold a mapping")
        return _checkpoint_model(run_dir)
    model = data.get("model")
    return model if isinstance(model, str) else None  # another tool's config (a `model:` mapping) names no model


def _checkpoint_model(run_dir: Path) -> str | None:
    """The model named in the header of ``run_dir``'s newest checkpoint, or None (no checkpoint, or none zoo3d's)."""
    from zoo3d.train.checkpoint import CheckpointError, read_metadata

    newest = _newest_checkpoint(run_dir)
    try:
        return read_metadata(newest)["zoo3d.model"] if newest is not None else None
    except (CheckpointError, OSError):
        return None


def _newest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint ``latest`` names, or where it is gone or dangling the highest-step file in ``checkpoints/``;
    None without either (no header is read)."""
    from zoo3d.train.checkpoint import list_checkpoints, read_latest

    return read_latest(run_dir) or next(iter(list_checkpoints(run_dir)), None)


def find_runs(model: str, root: Path | None = None) -> list[Path]:
    """Runs of ``model`` (any spelling or alias) under the root that have a checkpoint, newest first."""
    from zoo3d.plugins import model_key

    root = Path(root) if root is not None else runs_root()
    if not root.is_dir():
        return []
    wanted = model_key(model)
    found = []
    for d in root.iterdir():
        name = _run_model(d) if d.is_dir() else None
        if name is None or model_key(name) != wanted:
            continue
        newest = _newest_checkpoint(d)
        if newest is not None:
            found.append((newest.stat().st_mtime, d))
    return [d for _, d in sorted(found, key=lambda t: t[0], reverse=True)]



def _is_model_name(ref: str) -> bool:
    from zoo3d.plugins import get_host

    return not Path(ref).exists() and get_host().models.owner(ref) is not None


def resolve_checkpoint(ref: str | os.PathLike) -> Path:
    """A checkpoint file from a run folder (its ``latest``), a ``.safetensors`` file, or a model name (its newest run);
    ``ref`` is text or a path (``pathlib.Path``)."""
    from zoo3d.train.checkpoint import check_checkpoint_file

    ref = os.fspath(ref)  # a Path read as its text: one that does not exist is refused as that text is
    path = Path(ref).expanduser()  # --ckpt=~/runs/x: no shell expands a ~ after '='
    if path.is_dir():
        return run_checkpoint(path)
    if path.exists():
        return check_checkpoint_file(path)
    if _is_model_name(ref):
        return newest_run_checkpoint(ref)
    if _has_checkpoint_suffix(ref):
        raise UserError(f"Checkpoint file '{shown_name(ref)}' does not exist.")
    if _has_separator(ref):
        raise UserError(f"Run folder or checkpoint '{shown_name(ref)}' does not exist.")
    raise UserError(f"'{shown_name(ref)}' is neither a run folder, a checkpoint file nor a registered model name."
                    + _unknown_model_hint(ref))


def _has_checkpoint_suffix(ref: str) -> bool:
    """``ref`` ends like a checkpoint file: zoo3d's ``.safetensors`` or a pickle's ``.pt``, ``.ckpt``, ..."""
    from zoo3d.train.checkpoint import PICKLE_SUFFIXES, SUFFIX

    return Path(ref).suffix.lower() in PICKLE_SUFFIXES | {SUFFIX}


def _has_separator(ref: str) -> bool:
    """``ref`` holds a path separator, so it is a path (``runs/gram-1``, ``./gram``), never a model name."""
    return any(sep and sep in ref for sep in ("/", os.sep, os.altsep))


def _unknown_model_hint(ref: str) -> str:
    """For a ``ref`` that reads as a model name, what ``Unknown model`` says: the closest name and the
    plugins that failed to load, one of which may provide it."""
    from zoo3d.plugins import get_host

    if Path(ref).suffix or len(Path(ref).parts) != 1:
        return ""
    try:
        get_host().models.get(ref)
    except UserError as unknown:
        return f" {unknown}"
    return ""


def newest_run_checkpoint(model: str) -> Path:
    """The checkpoint of ``model``'s newest run under the runs root (never a folder of that name here)."""
    runs = find_runs(model)
    if not runs:
        from zoo3d.plugins import get_model_spec

        name = get_model_spec(model).name
        raise UserError(f"No run of model '{name}' found under {runs_root()}/; train one with "
                        f"`zoo3d train {name}`.")
    return run_checkpoint(runs[0])


def run_checkpoint(run_dir: Path) -> Path:
    """The checkpoint of a run folder: its ``latest``, or (with a note on stderr) its newest loadable one."""
    from zoo3d.errors import tell
    from zoo3d.train.checkpoint import find_checkpoint

    path, note = find_checkpoint(run_dir)
    if path is None:
        _refuse_a_folder_of_checkpoints(Path(run_dir))
        what = ", ".join(run_contents(run_dir)) or "nothing"
        raise UserError(f"Run folder '{run_dir}' has no checkpoint yet (none that loads; it holds: {what}).")
    if note:
        tell(f"{run_dir}: {note}")
    return path


def _refuse_a_folder_of_checkpoints(folder: Path) -> None:
    """A folder given as a run that is part of one (a run's ``checkpoints/`` or ``samples/``, reached by tab
    completion: :func:`run_above`) or holds checkpoint files itself (a folder of downloaded ones) was refused as a run
    that "holds: nothing": say what it is and which file or folder to give instead."""
    from zoo3d.invert.saved import INVERSION_FILE, commands_for
    from zoo3d.train.checkpoint import SUFFIX, list_checkpoints

    if (folder / INVERSION_FILE).is_file():  # an image's folder that zoo3d invert wrote: its file is no checkpoint
        raise UserError(f"'{folder}' is an image's folder that zoo3d invert wrote, not a run; render its inversion "
                        f"with {commands_for(folder)}.")
    run = run_above(folder)
    part = f"'{folder}' is the {folder.name} folder of run '{run}'"
    if run is not None and (newest := list_checkpoints(run)):
        raise UserError(f"{part}; give the run folder (its latest checkpoint) or one checkpoint file, such as "
                        f"'{newest[0]}'.")
    held = sorted((p for p in folder.glob(f"*{SUFFIX}") if p.is_file()), key=lambda p: (p.stat().st_mtime, p.name))
    if held:
        raise UserError(f"'{folder}' holds checkpoint files but no run (no config.yaml, checkpoints/ or latest); "
                        f"give one checkpoint file, such as '{held[-1]}'.")
    if run is not None:
        raise UserError(f"{part}, which has no checkpoint yet (it holds: {', '.join(run_contents(run))}).")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(repr=False)
class LoadedModel:
    """A model ready to sample: ``generator`` is the EMA copy when asked for, in eval mode, and no parameter of it
    or of ``modules`` requires grad (a render keeps no autograd graph; call ``requires_grad_(True)`` to train on).

    It is also a model the evaluation harness takes (``zoo3d.eval.compare_models``, a metric's ``evaluate``):
    ``name`` is the registered model's name, as :class:`zoo3d.eval.EvalModel` has it.
    """

    spec: Any
    plugin: Any
    config: Any
    modules: dict
    generator: Any
    checkpoint: Path | None
    sha256: str | None
    step: int

    @property
    def name(self) -> str:
        """The model's registered name (``spec.name``)."""
        return self.spec.name

    def __repr__(self) -> str:
        """One line, as a notebook shows the value of ``load_model(...)``: the model, its step, its checkpoint, its
        generator's class, device and dtype (the dataclass's own repr printed every module, some 140 lines for GRAM)."""
        gen = self.generator
        where = ", ".join(f"{k}={getattr(gen, k)}" for k in ("device", "dtype") if hasattr(gen, k))
        return (f"LoadedModel(name={self.name!r}, step={self.step}, "
                f"checkpoint={None if self.checkpoint is None else str(self.checkpoint)!r}, "
                f"generator={type(gen).__name__}({where}))")


def build_untrained(plugin, config) -> dict:
    """The modules ``config`` defines, initialised from its run seed as training initialises them.

    "Fully defined by its config": the random initialisation comes from ``train.seed``, not from whatever
    the process drew before, and the process RNG is left as it was; built in float32 whatever torch's default dtype.
    """
    import torch

    from zoo3d.core.model import build_modules
    from zoo3d.devices import float32_default

    with torch.random.fork_rng(devices=[]), float32_default():
        torch.manual_seed(config.train.seed)
        return build_modules(plugin, config)


def load_model(ref: str | os.PathLike | None, model: str | None = None, device: str = "auto",
               ema: bool = True) -> LoadedModel:
    """Load a trained model from ``ref`` (run folder, checkpoint, model name, as text or a ``pathlib.Path``), or build a
    checkpoint-free one; returns a :class:`LoadedModel` (``generator``, ``step``, ``checkpoint``, ``modules``).

    ``model``, when given, must match the checkpoint's model; with ``ref=None`` it names the
    model, which is built from its default preset when its plugin has ``requires_checkpoint=False``
    and otherwise loaded from its newest run. The process's random stream is left as it was.
    """
    import torch

    from zoo3d.config import load_run_config
    from zoo3d.core.model import build_modules
    from zoo3d.devices import float32_default, resolve_device
    from zoo3d.plugins import get_model_spec, model_key
    from zoo3d.train.checkpoint import CheckpointError, metadata_int, read_checkpoint, read_metadata, restore_modules
    from zoo3d.train.ema import make_ema

    if ref is None and model is None:
        raise UserError("Give a run folder, a checkpoint file or a model name.")
    ref = None if ref is None else os.fspath(ref)
    dev = resolve_device(device)
    name = model if ref is None else (ref if _is_model_name(ref) else None)
    if name is not None:
        spec = get_model_spec(name)
        if ref is not None and model is not None and model_key(model) != spec.key:
            # two model names that disagree: the newest run of the first was searched for (and for a model that
            # needs none, its absence reported with `zoo3d train`, which has nothing to train for it)
            raise UserError(f"'{ref}' names model '{spec.name}', not '{model}'; name the model once.")
        plugin = spec.load()
        if not plugin.requires_checkpoint and (model is None or model_key(model) == spec.key):
            if not find_runs(spec.name):
                config = load_run_config(plugin.config_class, spec.name, spec.presets_dir,
                                         default_preset=spec.default_preset)
                built = build_untrained(plugin, config)
                modules = {k: m.to(dev).eval().requires_grad_(False) for k, m in built.items()}
                return LoadedModel(spec, plugin, config, modules, modules["generator"], None, None, 0)
    # a model named without a run: its newest run under the runs root, even where a folder here has its name
    path = newest_run_checkpoint(spec.name) if ref is None else resolve_checkpoint(ref)
    meta = read_metadata(path)
    stored = meta["zoo3d.model"]
    try:
        spec = get_model_spec(stored)
    except UserError:
        raise CheckpointError(f"Checkpoint '{path}' holds model '{stored}', which is not installed "
                              f"(see `zoo3d models`).") from None
    if model is not None and model_key(model) != spec.key:
        raise CheckpointError(f"Checkpoint '{path}' holds model '{spec.name}', not '{model}'.")
    plugin = spec.load()
    config = config_from_checkpoint(plugin, spec.name, meta, path)
    tensors, meta = read_checkpoint(path, device="cpu")
    # the random initialisation is read over: the caller's stream stays; float32, the checkpoint's, whatever dtype
    # the caller made torch's default
    with torch.random.fork_rng(devices=[]), float32_default():
        modules = build_modules(plugin, config)
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
    modules = {k: m.to(dev).eval().requires_grad_(False) for k, m in modules.items()}  # to sample: no graph kept
    generator = ema_module.to(dev).eval() if ema_module is not None else modules["generator"]
    return LoadedModel(spec, plugin, config, modules, generator, path, file_sha256(path),
                       metadata_int(meta, "zoo3d.step"))


def config_from_checkpoint(plugin, model_name: str, meta: dict[str, str], path: Path):
    """The run config stored in a checkpoint, validated by the model's config class (one-sentence errors)."""
    from zoo3d.config_base import format_validation_error
    from zoo3d.train.checkpoint import CheckpointError

    data = json.loads(meta.get("zoo3d.config", "{}"))  # read_metadata checked it is a JSON object
    data = plugin.config_class.upgrade_stored(data)
    try:
        return plugin.config_class.model_validate(data)
    except Exception as exc:  # noqa: BLE001 - pydantic or the model's own validators
        detail = (format_validation_error(exc, plugin.config_class, data) if hasattr(exc, "errors")
                  else str(exc).splitlines()[0])
        raise CheckpointError(f"Checkpoint '{path}' has a config that model '{model_name}' no longer accepts "
                              f"({detail.rstrip('.')}).") from None
