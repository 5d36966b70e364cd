"""The built wheel works outside the source checkout: presets and model cards travel inside it.

The wheel is built from a copy of the packaged files (pyproject.toml, README.md, zoo3d/, plugins/),
installed with ``pip install --no-deps`` into a fresh virtual environment whose only other paths are
the directories this interpreter takes its dependencies from (torch, pydantic, ...), minus anything
of an installed zoo3d (an editable install's finder and metadata), and its ``zoo3d`` command is run
from an unrelated folder: ``zoo3d models``, a 2-step ``zoo3d train gram`` and a 2-step ``zoo3d demo``
(both shrunk with ``--set`` so the test stays short).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import REPO

PACKAGED = ("pyproject.toml", "README.md", "zoo3d", "plugins")
TINY_DATA = "synthetic:heads?count=4"
GRAM_SHRINK = ["resolution=16", "manifold.hidden=16", "manifold.num_levels=4", "radiance.z_dim=8",
               "radiance.mapping_hidden=16", "radiance.hidden=16", "radiance.num_layers=3",
               "radiance.truncation_samples=16", "render.num_samples=6"]


def _is_zoo3d_install(entry: Path) -> bool:
    name = entry.name.lower()
    return name.startswith(("zoo3d-", "zoo3d_", "__editable__")) and not name.startswith("zoo3d_example")


def _dependency_paths(farm: Path) -> list[str]:
    """This interpreter's site directories, each without zoo3d: a folder that holds an installed zoo3d is
    replaced by a folder of links to everything else in it."""
    stdlib = {Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "platstdlib")}
    paths = []
    for i, entry in enumerate(sys.path):
        p = Path(entry).resolve() if entry else None
        if p is None or not p.is_dir() or p in stdlib or p.parent in stdlib or p == REPO or REPO in p.parents:
            continue
        if p.name not in ("site-packages", "dist-packages"):
            continue
        if any(_is_zoo3d_install(child) for child in p.iterdir()):
            filtered = farm / str(i)
            filtered.mkdir(parents=True)
            for child in p.iterdir():
                if not _is_zoo3d_install(child) and not child.name.endswith(".pth"):
                    (filtered / child.name).symlink_to(child)
            p = filtered
        paths.append(str(p))
    return paths


def _run(args: list[str], *, cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin folder, environment for its commands, an empty working folder outside the checkout)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in PACKAGED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(REPO / name, source / name)
    dist = root / "dist"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ZOO3D_", "PYTHON"))}
    _run([sys.executable, "-c", "import sys, setuptools.build_meta as b; b.build_wheel(sys.argv[1])", str(dist)],
         cwd=source, env=base)
    wheels = list(dist.glob("zoo3d-*.whl"))
    assert len(wheels) == 1, wheels

    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root, env=base)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=root, env=base).stdout.strip())
    (site / "_zoo3d_test_dependencies.pth").write_text("\n".join(_dependency_paths(root / "deps")) + "\n")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile",
          "--disable-pip-version-check", "--quiet", str(wheels[0])], cwd=root, env=base)
    shutil.rmtree(source)  # nothing of the build is left to import from

    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    env = {**base, "PATH": f"{bindir}{os.pathsep}{base.get('PATH', '')}", "ZOO3D_RUNS": str(elsewhere / "runs"),
           "OMP_NUM_THREADS": "1"}
    return bindir, env, elsewhere


def test_installed_packages_come_from_the_wheel(installed):
    bindir, env, cwd = installed
    code = ("import json, zoo3d, zoo3d_gram, zoo3d_gram_hd; "
            "print(json.dumps([zoo3d.__file__, zoo3d_gram.__file__, zoo3d_gram_hd.__file__]))")
    files = json.loads(_run([str(bindir / "python"), "-c", code], cwd=cwd, env=env).stdout)
    venv = bindir.parent.resolve()
    for f in files:
        assert venv in Path(f).resolve().parents, f"{f} is not the installed wheel's"


def test_installed_models_list_their_presets_and_cards(installed):
    bindir, env, cwd = installed
    rows = json.loads(_run([str(bindir / "zoo3d"), "models", "--json"], cwd=cwd, env=env).stdout)
    by_name = {r["name"]: r for r in rows}
    for name in ("gram", "gram_hd", "gram_inverter", "triplane", "stylesdf", "pigan", "oracle"):
        assert "tiny" in by_name[name]["presets"], (name, by_name[name]["presets"])
        assert by_name[name]["paper"] or name.startswith("oracle"), name
    assert {"ffhq256", "cats256", "carla"} <= set(by_name["gram"]["presets"])


def test_installed_zoo3d_trains_gram_and_runs_the_demo(installed):
    bindir, env, cwd = installed
    zoo3d = str(bindir / "zoo3d")
    engine = ["--set", "train.sample_seeds=[0]"]
    gram = [a for s in GRAM_SHRINK for a in ("--set", f"generator.{s}")]
    done = _run([zoo3d, "train", "gram", "--steps", "2", "--device", "cpu", "--data", TINY_DATA, "--out", "gram-run",
                 *engine, *gram], cwd=cwd, env=env)
    assert (cwd / "gram-run" / "checkpoints" / "step_000000002.safetensors").is_file(), done.stdout

    hd = [a for s in GRAM_SHRINK for a in ("--set", f"generator.lowres.{s}")]
    hd += ["--set", "generator.resolution=32", "--set", "generator.lowres.radiance.feature_dim=4",
           "--set", f"data.spec={TINY_DATA}"]
    done = _run([zoo3d, "demo", "--steps", "2", "--frames", "2", "--device", "cpu", "--out", "demo-run", *engine,
                 *hd], cwd=cwd, env=env)
    assert (cwd / "demo-run" / "turntable.gif").is_file() and (cwd / "demo-run" / "samples.png").is_file()
    assert "Turntable:" in done.stdout
