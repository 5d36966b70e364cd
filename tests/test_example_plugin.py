"""The example third-party package installs, registers through its entry point and trains with the engine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, run_cli


@pytest.fixture(scope="module")
def example_site(tmp_path_factory):
    target = tmp_path_factory.mktemp("example_site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(REPO / "examples" / "zoo3d-example-plugin")],
        check=True, capture_output=True, text=True, timeout=240,
    )
    return target


def test_example_plugin_trains_and_samples_through_the_cli(example_site, tmp_path):
    env = {"PYTHONPATH": str(example_site)}
    models = {m["name"]: m for m in json.loads(run_cli("models", "--json", env=env).stdout)}
    assert models["blobs"]["source"] == "zoo3d-example-plugin" and models["blobs"]["status"] == "ok"
    assert models["blobs"]["presets"] == ["tiny"]
    run = tmp_path / "run"
    train = run_cli("train", "gaussian-blobs", "--steps", "2", "--out", str(run),
                    "--set", "generator.resolution=16", "--set", "generator.num_samples=8",
                    "--set", "stages.gan.batch_size=2",
                    env=env)
    assert train.returncode == 0, train.stdout + train.stderr
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records and all(abs(r["loss.discriminator"]) < 1e3 and abs(r["loss.generator"]) < 1e3 for r in records)
    sample = run_cli("sample", str(run), "--seeds", "0-1", "--out", str(tmp_path / "grid.png"), env=env)
    assert sample.returncode == 0, sample.stdout + sample.stderr
    assert (tmp_path / "grid.png").stat().st_size > 0
    info = run_cli("blobs-info", env=env)
    assert info.returncode == 0 and "Gaussian blobs" in info.stdout
