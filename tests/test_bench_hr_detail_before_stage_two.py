"""benchmarks/hr_detail.py scores a super-resolution model's HR images against its LR render. A GRAM-HD checkpoint of
stage 1 (its run's first checkpoints, or a demo stopped early) renders its LR GRAM alone: the script said it was "not
a super-resolution model", of GRAM-HD itself; it says the checkpoint is from before the super-resolution stage."""

from __future__ import annotations

import pytest

from conftest import benchmark_script
from test_gram_hd_consistency import toy_generator
from zoo3d_gram_hd.generator import GramHDGenerator


def _hr_detail():
    return benchmark_script("hr_detail")


def test_a_gram_hd_generator_before_stage_two_is_said_to_be_one_and_after_it_gives_both_images():
    hr_detail = _hr_detail()
    gen = GramHDGenerator(toy_generator().config).eval()
    with pytest.raises(SystemExit) as stop:
        hr_detail.hr_and_lr_images(gen, 2, 1.0)
    assert str(stop.value) == ("this checkpoint is from before the super-resolution stage began, so it renders the LR "
                               "GRAM alone and has no HR output; give a checkpoint of stage 2")
    gen.super_resolve.fill_(True)
    hr, lr = hr_detail.hr_and_lr_images(gen, 2, 1.0)
    assert hr.shape[-2:] == gen.hr_resolution and lr.shape[-2:] == gen.lr_resolution


def test_a_model_without_an_lr_render_is_still_said_to_be_no_super_resolution_model():
    hr_detail = _hr_detail()
    with pytest.raises(SystemExit) as stop:
        hr_detail.hr_and_lr_images(GramHDGenerator(toy_generator().config).lowres.eval(), 1, 1.0)  # GRAM
    assert "not a super-resolution model" in str(stop.value)
