"""What the parity scripts need to run the authors' code on a CPU, in this process only.

* :func:`stub_modules` puts empty stand-ins for packages the authors' modules import at the top but
  never use on the paths the scripts run (mesh rendering: ``pytorch3d``, ``trimesh``; plotting:
  ``matplotlib``). Touching anything in a stand-in fails loudly.
* :func:`cpu_only_extensions` replaces ``torch.utils.cpp_extension.load`` by a function returning a
  placeholder, so StyleSDF's ``op`` package (which compiles its CUDA kernels when imported) imports;
  on CPU tensors ``op.fused_leaky_relu`` and ``op.upfirdn2d`` then take the authors' own pure-torch
  branches (``F.leaky_relu(x + b) * scale`` and ``upfirdn2d_native``). No kernel of theirs is replaced.
* :class:`Options`: a dict with attribute access, the shape of the ``Munch`` option objects they take.
"""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
import types
from pathlib import Path


class Options(dict):
    """``opt.key`` and ``opt["key"]`` alike (what ``munch.Munch`` gives the authors' code)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


class _Unavailable:
    """Any attribute of a stubbed package: fine to import by name, an error to use."""

    def __init__(self, name: str):
        self._name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self._name} is stubbed out by tools/parity/_shims.py and cannot be used here")

    def __getattr__(self, attr):
        return _Unavailable(f"{self._name}.{attr}")


def stub_modules(*names: str) -> None:
    """Register empty modules (and their parents) under ``names`` unless the real ones import."""
    for name in names:
        try:
            __import__(name)
            continue
        except ImportError:
            pass
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            full = ".".join(parts[:i])
            if full in sys.modules:
                continue
            module = types.ModuleType(full)
            module.__spec__ = importlib.machinery.ModuleSpec(full, None)
            module.__path__ = []  # a package, so submodules can hang below it
            module.__getattr__ = lambda attr, _full=full: _Unavailable(f"{_full}.{attr}")
            sys.modules[full] = module
            if i > 1:
                setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], module)


def cpu_only_extensions() -> None:
    """Make ``torch.utils.cpp_extension.load`` a no-op (see the module doc)."""
    import torch.utils.cpp_extension as ext

    ext.load = lambda name, *args, **kwargs: _Unavailable(f"compiled extension {name}")


def checkout(env_var: str) -> Path:
    """The authors' checkout named by ``env_var``, put first on ``sys.path``."""
    value = os.environ.get(env_var)
    if not value or not Path(value).is_dir():
        sys.exit(f"Set {env_var} to a local checkout of the authors' repository (it is not a folder: {value!r}).")
    path = Path(value).resolve()
    sys.path.insert(0, str(path))
    return path


def upstream_commit(path: Path) -> str:
    """The checkout's commit: ``git rev-parse HEAD``, else the first word of a ``COMMIT`` file."""
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    commit_file = path / "COMMIT"
    if commit_file.is_file():
        return commit_file.read_text().split()[0]
    sys.exit(f"Cannot tell the commit of {path}: it is not a git checkout and has no COMMIT file.")


def subset(x, step: int = 4, axes: tuple[int, int] = (-2, -1)):
    """Every ``step``-th pixel (starting at ``step // 2``) along two axes: how per-sample intermediates
    are kept small in the fixtures."""
    import torch

    index = [slice(None)] * x.dim()
    for a in axes:
        index[a] = slice(step // 2, None, step)
    return x[tuple(index)].contiguous()


def save_fixture(path: Path, tensors: dict, metadata: dict) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().float().contiguous() for k, v in tensors.items()}, str(path),
              metadata={k: str(v) for k, v in metadata.items()})
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {len(tensors)} tensors)")
