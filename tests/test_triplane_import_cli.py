"""``zoo3d import triplane`` through the real CLI: an EG3D network snapshot written by NVlabs/eg3d's code
(tests/fixtures/releases/eg3d_snapshot.pkl, narrowed widths) becomes a run that ``sample`` uses."""

from __future__ import annotations

import torch
from PIL import Image
from safetensors import safe_open

from conftest import FIXTURES, run_in_process as zoo3d
from zoo3d.upstream import load_release, module_state_dict

SNAPSHOT = FIXTURES / "releases" / "eg3d_snapshot.pkl"


def test_import_an_eg3d_snapshot_then_sample(in_tmp, capsys):
    code, out, err = zoo3d(capsys, "import", "eg3d", SNAPSHOT, "--preset", "tiny_eg3d", "--out", "run")
    assert code == 0, err
    assert "radius 2.7" in out and "ZX" in out
    with safe_open(str(in_tmp / "run" / "checkpoints" / "step_000000000.safetensors"), "pt") as fh:
        meta = fh.metadata()
        ema_const = fh.get_tensor("ema.backbone.const")
        noise = fh.get_tensor("generator.backbone.convs.3.noise.noise_const")
    assert meta["zoo3d.model"] == "triplane" and meta["zoo3d.imported_from"] == "eg3d_snapshot.pkl"
    upstream = module_state_dict(load_release(SNAPSHOT)["G_ema"])
    assert torch.equal(ema_const[0], upstream["backbone.synthesis.b4.const"])
    assert torch.equal(noise[0, 0], upstream["backbone.synthesis.b16.conv1.noise_const"])
    config = (in_tmp / "run" / "config.yaml").read_text()
    assert "third_plane: zx" in config and "sampling: eg3d" in config and "eval_noise: const" in config

    # random weights: the SR image is mostly below -1 (black), and the field is a fog of opacity 0.33 to 0.43 with
    # no surface (alpha >= 0.5, docs/rendering.md), so the depth row is all background: black, not the fog's alpha
    code, out, err = zoo3d(capsys, "sample", "run", "--seeds", "0-1", "--resolution", "32", "--depth",
                           "--out", "grid.png")
    assert code == 0, err
    grid = Image.open(in_tmp / "grid.png").convert("RGB")
    assert grid.size == (2 * 34 + 2, 2 * 34 + 2)
    assert set(grid.crop((2, 36, 34, 68)).tobytes()) == set(grid.crop((36, 36, 68, 68)).tobytes()) == {0}


def test_a_preset_that_does_not_fit_names_the_tensor_and_the_preset_that_does(in_tmp, capsys):
    code, _, err = zoo3d(capsys, "import", "triplane", SNAPSHOT, "--preset", "tiny", "--out", "run")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "'backbone.mapping.w_avg' has shape (16) where the preset needs (64)" in lines[0]
    assert "preset 'tiny_eg3d' fits it" in lines[0] and not (in_tmp / "run").exists()
