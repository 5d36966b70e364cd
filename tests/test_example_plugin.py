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


def test_example_metric_takes_its_settings_from_the_command_line(example_site, tmp_path):
    env = {"PYTHONPATH": str(example_site), "ZOO3D_RUNS": str(tmp_path / "runs")}
    out = tmp_path / "mirror.json"
    run = run_cli("compare", "--models", "oracle,oracle_inconsistent", "--metric", "mirror_iou", "--instances", "2",
                  "--resolution", "32",
                  "--set", "mirror_iou.yaw=0.2", "--json", str(out), env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["protocol"]["metric_settings"]["mirror_iou"] == {"yaw": 0.2, "threshold": 0.5}
    iou = {name: row["mirror_iou"] for name, row in result["models"].items()}
    # The synthetic heads are mirror-symmetric shapes: the consistent oracle's silhouettes match, the warped ones not.
    assert iou["oracle"]["n"] == 2 and iou["oracle"]["mean"] > 0.99 and iou["oracle_inconsistent"]["mean"] < 0.95
    refused = run_cli("compare", "--models", "oracle", "--metric", "mirror_iou", "--set", "mirror_iou.yaw=2", env=env)
    assert refused.returncode != 0 and "config key 'yaw' in metric 'mirror_iou' settings" in refused.stderr
