"""GRAMInverter's ``loss.perceptual`` names one of the three losses ``zoo3d.invert.losses.PerceptualLoss`` builds
(``auto``, ``lpips``, ``ms-ssim``). The encoder stage builds it only when it starts, after the efficient-GRAM stage has
trained, so another value is refused when the config is read, not with a traceback a stage later."""

from __future__ import annotations

import pytest
from test_gram_inverter_model import MICRO, micro_config

from zoo3d.errors import UserError
from zoo3d.invert.losses import PerceptualLoss

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("kind", ["auto", "lpips", "ms-ssim"])
def test_the_config_takes_each_name_the_loss_knows(kind):
    _, cfg = micro_config(f"loss.perceptual={kind}")
    assert cfg.loss.perceptual == kind


def test_ms_ssim_builds_the_substitute():
    _, cfg = micro_config("loss.perceptual=ms-ssim")
    assert PerceptualLoss(cfg.loss.perceptual).name == "ms-ssim-substitute"


@pytest.mark.parametrize("kind", ["msssim", "LPIPS", "ssim"])
def test_a_name_the_loss_would_reject_is_refused_when_the_config_is_read(kind):
    with pytest.raises(ValueError, match="unknown perceptual loss"):
        PerceptualLoss(kind)  # what the encoder stage met at its first step
    with pytest.raises(UserError, match=f"Invalid value '{kind}' for config key 'loss.perceptual': input should be "
                                        "'auto', 'lpips' or 'ms-ssim'"):
        micro_config(f"loss.perceptual={kind}")


def test_training_with_a_misspelt_perceptual_loss_stops_with_status_2_before_a_step(tmp_path, capsys):
    from zoo3d.cli.main import main

    run = tmp_path / "run"
    args = ["train", "gram_inverter", "--preset", "tiny", "--out", str(run), "--quiet", "--device", "cpu"]
    for s in [*MICRO, "loss.perceptual=msssim", "stages.gram_inverter.efficient_gram.steps=1",
              "stages.gram_inverter.encoder.steps=1", "stages.gram_inverter.detail.steps=0"]:
        args += ["--set", s]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "'loss.perceptual': input should be 'auto', 'lpips' or 'ms-ssim'" in err and "Traceback" not in err
    assert not list(run.glob("checkpoints/*.safetensors"))
