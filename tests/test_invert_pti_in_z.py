"""PTI (`--tune-steps`) is not reserved to generators with a W space: a generator inverted in z only (the engine's
stand-in) is fine-tuned on its pivot z as well, and the tuning lowers the reconstruction error it is run on."""

from __future__ import annotations

import json

from test_invert_cli import _zoo3d
from test_invert_cli import toy_image  # noqa: F401 (a fixture)


def test_a_z_only_generator_is_fine_tuned_by_pti(toy_image, tmp_path, capsys):
    psnr = {}
    for tune in (0, 40):
        out = tmp_path / f"tune{tune}"
        code, _, err = _zoo3d(capsys, "invert", str(toy_image), "--model", "toy_procedural", "--method", "optimize",
                              "--space", "z", "--pose", "0.1,0", "--steps", "5", "--tune-steps", str(tune),
                              "--frames", "1", "--out", str(out))
        assert code == 0, err
        psnr[tune] = json.loads((out / "sphere" / "metrics.json").read_text())["psnr"]
    assert psnr[40] > psnr[0] + 0.5, psnr
