"""``zoo3d demo``: trains gram-hd with the tiny preset, then writes a turntable GIF and a sample grid."""

from __future__ import annotations

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
    records = (out / "metrics.jsonl").read_text()
    assert "gram_hd.stage1" in records and "gram_hd.stage2" in records
    width, height = Image.open(grid).size
    assert width >= 8 * 64 and height >= 6 * 64  # 8 seeds x 3 yaws, HR rows with their LR rows
