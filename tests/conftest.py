"""Shared test set-up: small, deterministic, CPU unless a test is marked ``cuda``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # pragma: no cover
        has_cuda = False
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_plugin_host(monkeypatch):
    """Every test sees plugins loaded from scratch, without the caller's ZOO3D_* variables."""
    monkeypatch.delenv("ZOO3D_PLUGINS", raising=False)
    monkeypatch.delenv("ZOO3D_DISABLE_PLUGINS", raising=False)
    from zoo3d.plugins import reset_host

    reset_host()
    yield
    reset_host()


@pytest.fixture
def single_thread():
    """One intra-op thread for tests on tiny tensors, where thread hand-off would dominate the run time."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def heads_32px():
    """``synthetic:heads`` items 0-95 at 32 px, rendered once for the image-metric tests (an item's image
    does not depend on how many the dataset holds, so each test slices the draws it needs)."""
    from zoo3d.data.synthetic import SyntheticHeads

    return SyntheticHeads(32, count=96, cache=False).render(range(96))["image"]


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """The toy model (tests/toy_model.py) registered as a plugin, commands run from ``tmp_path`` and runs kept under
    ``tmp_path / "runs"``. A test file that needs more (one thread, torchrun's variables cleared) has its own."""
    from toy_model import use_toy

    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Commands run from ``tmp_path`` and write their runs under ``tmp_path / "runs"``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    return tmp_path


def benchmark_script(name: str, module_name: str | None = None):
    """``benchmarks/NAME.py`` loaded as a module (the folder is no package), fresh on each call, as
    ``module_name`` (default ``name``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(module_name or name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_line_error(err: str) -> str:
    """The one ``Error: ...`` line a refused command prints (asserting there is nothing else, no traceback)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt during the test, as at a terminal: a shell that starts the suite in the
    background (`make test &`, nohup) leaves SIGINT ignored, and a test of what Ctrl-C does would see nothing."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def builtin_commands():
    """Every leaf command of the ``zoo3d`` group (``data check``, not ``data``), for checks over all their options."""
    import click

    from zoo3d.cli.main import cli

    def leaves(group, ctx):
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            yield from leaves(command, ctx) if isinstance(command, click.Group) else [command]

    return list(leaves(cli, click.Context(cli)))


def metrics_by_step(run_dir: Path) -> dict[int, dict]:
    """A run's logged records by step, without events and without the wall-clock fields."""
    import json

    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "event" not in rec:
            out[rec["step"]] = {k: v for k, v in rec.items() if k not in ("time_s", "images_per_s")}
    return out


def preset_config(model: str, preset: str | None):
    """A model's run config read from its preset ``preset`` as ``zoo3d train --preset`` reads it, or its config
    class's defaults for None (the paper recipe the classes default to)."""
    from zoo3d.config import load_run_config
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec(model)
    config_class = spec.load().config_class
    return config_class() if preset is None else load_run_config(config_class, spec.name, spec.presets_dir, preset)


def load_tiny_config(model: str, *overrides: str):
    """A model's run config from its tiny preset with ``--set``-style overrides, as ``zoo3d train`` reads it."""
    from zoo3d.config import load_run_config
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec(model)
    return load_run_config(spec.load().config_class, spec.name, spec.presets_dir, "tiny", None, list(overrides))


def run_in_process(capsys, *args) -> tuple[int, str, str]:
    """Run ``zoo3d ARGS`` in this process (arguments may be paths); returns (exit code, stdout, stderr)."""
    from zoo3d.cli.main import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def run_cli(*args: str, env: dict | None = None, cwd: str | Path | None = None, timeout: int = 300):
    """Run the real ``zoo3d`` console entry point in a subprocess (as a user would)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO3D_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "zoo3d.cli.main", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


def reference_weights(alphas, eps: float) -> list[float]:
    """Front-to-back compositing weights in Python floats: w_i = a_i * prod_{j<i} (1 - a_j + eps).

    ``eps`` is the transmittance guard of the renderer under test (NeuS's 1e-7, the volume renderer's 1e-10).
    """
    out, transmittance = [], 1.0
    for a in alphas:
        out.append(a * transmittance)
        transmittance *= 1.0 - a + eps
    return out
