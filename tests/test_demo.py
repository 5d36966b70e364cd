"""``zoo3d demo``: trains gram-hd with its demo preset, then writes a turntable GIF and a sample grid."""

from __future__ import annotations

import yaml
from click.testing import CliRunner


def test_demo_trains_both_stages_and_prints_where_the_images_are(tmp_path):
    from PIL import Image

    from zoo3d.cli.main import cli

    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--steps", "2", "--frames", "3", "--device", "cpu"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    gif, grid = out / "turntable.gif", out / "samples.png"
    assert str(gif) in result.output and str(grid) in result.output
    assert getattr(Image.open(gif), "n_frames", 1) == 3
    # trained with GRAM-HD's demo preset: the tiny preset with a shorter stage 1
    stored = yaml.safe_load((out / "config.yaml").read_text())["stages"][0]["steps"]
    demo, tiny = (_preset("gram_hd", name).stages[0].steps for name in ("demo", "tiny"))
    assert stored == demo != tiny
    records = (out / "metrics.jsonl").read_text()
    assert "gram_hd.stage1" in records and "gram_hd.stage2" in records
    width, height = Image.open(grid).size
    assert width >= 8 * 64 and height >= 6 * 64  # 8 seeds x 3 yaws, HR rows with their LR rows

    # the grid is drawn without truncation: its first tile is seed 0 at psi = 1 (8-bit rounding apart)
    import numpy as np
    import torch

    from zoo3d.cameras import Camera
    from zoo3d.runs import load_model
    from zoo3d.train.sampling import seed_latents, yaw_rows

    gen = load_model(str(out), device="cpu").generator
    prior = gen.camera_prior
    cam = Camera.from_angles(torch.tensor([yaw_rows(prior)[0]]), prior.centre_pitch, prior.radius, prior.fov)
    tiles = {}
    with torch.no_grad():
        for psi in (1.0, 0.7):
            rgb = gen(seed_latents([0], gen.z_dim), cam, psi=psi).rgb[0]
            tiles[psi] = ((rgb.clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy()
    side = tiles[1.0].shape[0]
    first = np.asarray(Image.open(grid).convert("RGB"), dtype=np.float64)[2:2 + side, 2:2 + side]
    assert np.abs(first - tiles[1.0]).max() <= 1.0
    assert np.abs(first - tiles[0.7]).max() > 1.0

    # run again: the finished run is re-rendered, and the message says nothing was trained
    again = CliRunner().invoke(cli, ["demo", "--out", str(out), "--steps", "2", "--frames", "3", "--device", "cpu"],
                               catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "Continuing the demo run" in again.output and "already at step 2: nothing to train" in again.output
    assert "Trained" not in again.output


def _preset(model: str, name: str):
    from zoo3d.config import load_run_config
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec(model)
    return load_run_config(spec.load().config_class, spec.name, spec.presets_dir, name)


def test_demo_falls_back_to_the_default_preset_where_the_model_has_no_demo_preset(tmp_path):
    from zoo3d.cli.demo import demo_preset
    from zoo3d.specs import ModelSpec

    (tmp_path / "tiny.yaml").write_text("data: {spec: synthetic:heads}\n")
    spec = ModelSpec(name="demo_stand_in", factory="x:y", presets_dir=tmp_path, default_preset="tiny")
    assert demo_preset(spec) == "tiny"
    (tmp_path / "demo.yaml").write_text("data: {spec: synthetic:heads}\n")
    assert demo_preset(spec) == "demo"
