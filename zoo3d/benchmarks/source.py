"""Which zoo3d code a benchmark ran: a digest of the imported source, not a checkout's git HEAD.

A copy of the tree on another machine (a GPU host, a wheel installed into a scratch folder) may carry
a stale ``.git`` or none, so its ``git rev-parse HEAD`` can name a commit that did not run. The digest
hashes the files Python actually imports (the ``zoo3d`` package and every package that registers in
zoo3d's entry-point group: the built-in plugins and any third-party ones), so the same command on two
machines gives the same digest exactly when they ran the same code.
"""

from __future__ import annotations

import hashlib
import importlib.util
from importlib import metadata
from pathlib import Path

from zoo3d.plugins import ENTRY_POINT_GROUP

#: file kinds that decide what runs: code, presets and packaged configs
SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".json")


def package_roots() -> dict[str, Path]:
    """Top-level package name -> its folder, for zoo3d and every package in its entry-point group."""
    names = {"zoo3d"} | {ep.value.split(":")[0].split(".")[0]
                         for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    roots = {}
    for name in sorted(names):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            roots[name] = Path(next(iter(spec.submodule_search_locations)))
    return roots


def source_digest(roots: dict[str, Path] | None = None) -> str:
    """sha256 over every source file's package-relative path and bytes, in sorted order."""
    h = hashlib.sha256()
    for name, root in sorted((roots if roots is not None else package_roots()).items()):
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES
                           and "__pycache__" not in p.parts):
            h.update(f"{name}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def environment(device: str) -> dict:
    """Where a benchmark ran: Python, torch (and CUDA), the device's name, the CPU, the threads torch uses and the
    cores the process may use, and the digest of the code."""
    import platform
    import sys

    import torch

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            name = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), name)
    except OSError:
        pass
    from zoo3d.benchmarks.zoo import usable_cores

    env = {"python": sys.version.split()[0], "torch": torch.__version__, "cpu": name,
           "torch_threads": torch.get_num_threads(), "usable_cores": usable_cores(), "source_digest": source_digest()}
    if device.startswith("cuda") and torch.cuda.is_available():
        env.update(cuda=torch.version.cuda, gpu=torch.cuda.get_device_name(torch.device(device)))
    return env


if __name__ == "__main__":  # `python -m zoo3d.benchmarks.source`: the digest of this machine's zoo3d
    print(source_digest())
