"""The digest benchmark records carry (``zoo3d.benchmarks.source``), against its documented definition written out:
sha256 over, package by package in name order and file by file in path order, ``"<package>/<relative path>\\0"``,
the file's bytes and ``"\\0"``, for every .py/.yaml/.yml/.json file outside ``__pycache__``."""

from __future__ import annotations

import hashlib
import os
import platform
import types
from pathlib import Path

import pytest
import torch

import zoo3d
import zoo3d.benchmarks.source as source
from zoo3d.benchmarks.source import package_roots, source_digest


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _expected(packages: dict[str, tuple[Path, list[str]]]) -> str:
    """The definition, with each package's source files listed by hand."""
    h = hashlib.sha256()
    for name in sorted(packages):
        root, files = packages[name]
        for rel in sorted(files, key=lambda r: Path(r).parts):
            h.update(f"{name}/{rel}".encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return h.hexdigest()


@pytest.fixture
def two_packages(tmp_path):
    alpha, beta = tmp_path / "a" / "alpha", tmp_path / "b" / "beta"
    _write(alpha, {"__init__.py": "x = 1\n", "conf/b.yml": "lr: 2\n", "conf/a.yaml": "steps: 2\n",
                   "card.json": '{"n": 1}\n', "notes.txt": "not code\n", "README.md": "# alpha\n",
                   "__pycache__/stale.py": "old\n", "sub/__pycache__/m.json": "{}\n", "mod.pyc": "bytecode",
                   "folder.py/inner.py": "y = 2\n"})
    _write(beta, {"m.py": "z = 3\n"})
    sources = {"alpha": (alpha, ["__init__.py", "card.json", "conf/a.yaml", "conf/b.yml", "folder.py/inner.py"]),
               "beta": (beta, ["m.py"])}
    return {"beta": beta, "alpha": alpha}, sources


def test_the_digest_is_the_documented_hash_of_every_source_file_in_order(two_packages):
    roots, sources = two_packages
    before = source_digest(roots)
    assert before == _expected(sources)
    assert source_digest({}) == hashlib.sha256(b"").hexdigest()  # no package: nothing hashed
    # what the definition implies: other files, caches and bytecode leave it; any source file's bytes move it
    for rel in ("notes.txt", "README.md", "__pycache__/stale.py", "mod.pyc", "new.cfg", "data/x.png"):
        _write(roots["alpha"], {rel: "changed\n"})
        assert source_digest(roots) == before, rel
    for rel in ("conf/b.yml", "card.json", "folder.py/inner.py"):
        path = roots["alpha"] / rel
        path.write_text(path.read_text() + " ")
        assert source_digest(roots) != before, rel
        before = source_digest(roots)


def test_without_roots_it_hashes_the_installed_packages(monkeypatch, two_packages):
    roots, sources = two_packages
    monkeypatch.setattr(source, "package_roots", lambda: roots)
    assert source_digest() == _expected(sources)


def test_package_roots_are_zoo3d_and_the_top_package_of_every_entry_point(monkeypatch, tmp_path):
    _write(tmp_path, {"pkgdemo/__init__.py": "", "pkgdemo/sub/__init__.py": "", "pkgdemo/sub/plugin.py": "",
                      "pkgother/__init__.py": "", "onefile_mod.py": ""})
    monkeypatch.syspath_prepend(str(tmp_path))
    asked = []

    def entry_points(*, group):
        asked.append(group)
        return [types.SimpleNamespace(value=v) for v in
                ("pkgdemo.sub.plugin:register", "pkgother:factory", "pkgdemo:again", "onefile_mod:x",
                 "absent_package_nowhere:y")]

    monkeypatch.setattr(source.metadata, "entry_points", entry_points)
    roots = package_roots()
    # a single-file module or a package not installed has no folder to hash
    assert roots == {"pkgdemo": tmp_path / "pkgdemo", "pkgother": tmp_path / "pkgother",
                     "zoo3d": Path(zoo3d.__file__).parent}
    assert asked == ["zoo3d"]


def _cpuinfo(text):
    def fake_open(path, *a, **k):
        assert path == "/proc/cpuinfo"
        if text is None:
            raise OSError("no such file")
        import io

        return io.StringIO(text)

    return fake_open


def test_environment_records_python_torch_the_cpu_threads_cores_and_digest(monkeypatch):
    monkeypatch.setattr(source, "source_digest", lambda: "d1g35t")
    monkeypatch.setattr(source, "open", _cpuinfo("processor\t: 0\nvendor_id\t: V\nmodel name\t: Chip X: rev 2 @ 3GHz\n"
                                                 "model name\t: second\n"), raising=False)
    env = source.environment("cpu")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert env == {"python": platform.python_version(), "torch": torch.__version__, "cpu": "Chip X: rev 2 @ 3GHz",
                   "torch_threads": torch.get_num_threads(), "usable_cores": cores, "source_digest": "d1g35t"}


@pytest.mark.parametrize("cpuinfo", [None, "processor\t: 0\nflags\t: fpu\n"])
def test_without_a_model_name_the_cpu_is_the_platforms(monkeypatch, cpuinfo):
    monkeypatch.setattr(source, "source_digest", lambda: "d")
    monkeypatch.setattr(source, "open", _cpuinfo(cpuinfo), raising=False)
    monkeypatch.setattr(platform, "processor", lambda: "")
    monkeypatch.setattr(platform, "machine", lambda: "m68k")
    assert source.environment("cpu")["cpu"] == "m68k"
    monkeypatch.setattr(platform, "processor", lambda: "proc")
    assert source.environment("cpu")["cpu"] == "proc"


def test_a_cuda_device_adds_the_cuda_version_and_that_cards_name(monkeypatch):
    monkeypatch.setattr(source, "source_digest", lambda: "d")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: f"card of {device}")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    env = source.environment("cuda:1")
    assert env["gpu"] == "card of cuda:1" and env["cuda"] == torch.version.cuda and "cuda" in env
    assert "gpu" not in source.environment("cpu") and "cuda" not in source.environment("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # asked for, not there: nothing to name
    assert "gpu" not in source.environment("cuda")
