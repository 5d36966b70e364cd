"""A map given to ``--set`` (``--set 'train={seed: 3}'``) means what the same map means in a preset or ``--config``
file: it merges into the section key by key, so the rest of the preset's section stays (it replaced the section,
and the run silently trained on the model's defaults for every key the map left out). A map given for one of a
stage's settings (``lr``, ``loss``, ``module_lr``, ``grad_clip``) is that whole setting, and a list of values is
replaced whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_config import ToyRunConfig

from zoo3d.config import load_run_config


@pytest.fixture
def presets(tmp_path):
    (tmp_path / "paper.yaml").write_text(
        "train:\n  ema_warmup: true\n  checkpoint_every: 5000\n  sample_seeds: [4, 5, 6]\n"
        "net:\n  hidden: 256\n  layers: 5\n"
        "stages:\n  - name: main\n    steps: 9\n    batch_size: 4\n    lr: {generator: 1.0e-3, discriminator: 2.0e-3}\n"
        "    grad_clip: {generator: 0.25, discriminator: 1.0}\n")
    return tmp_path


def _load(presets, overrides=(), config_file=None):
    return load_run_config(ToyRunConfig, "toy", presets, None if config_file else "paper", config_file,
                           list(overrides)).model_dump()


def test_a_section_map_from_set_keeps_the_preset_s_other_keys_as_one_key_at_a_time_does(presets, tmp_path):
    by_key = _load(presets, ["train.seed=3", "train.amp=false", "net.layers=2"])
    by_map = _load(presets, ["train={seed: 3, amp: false}", "net={layers: 2}"])
    file = tmp_path / "run.yaml"
    file.write_text("extends: paper\ntrain: {seed: 3, amp: false}\nnet: {layers: 2}\n")
    assert by_map == by_key == _load(presets, config_file=file)
    assert (by_map["train"]["ema_warmup"], by_map["train"]["checkpoint_every"], by_map["net"]["hidden"]) == \
        (True, 5000, 256)


def test_a_list_of_the_same_stages_from_set_merges_and_a_stage_s_lr_map_is_the_whole_setting(presets):
    """A stage's ``lr``, ``loss``, ``module_lr`` and ``grad_clip`` are settings whose map from ``--set`` is the whole
    of it (a missing role is then refused by the model, not taken from the preset)."""
    main = _load(presets, ["stages=[{name: main, steps: 2}]", "stages.main.lr={generator: 5.0e-4}"])["stages"][0]
    assert (main["steps"], main["batch_size"], main["lr"]) == (2, 4, {"generator": 5e-4})


def test_a_clip_map_is_still_the_whole_setting_and_a_list_of_values_is_replaced(presets):
    cfg = _load(presets, ["stages.main.grad_clip={generator: 0.5}", "train.sample_seeds=[1]"])
    assert cfg["stages"][0]["grad_clip"] == {"generator": 0.5}  # the discriminator unclipped, as from a file
    assert cfg["train"]["sample_seeds"] == [1]


def test_a_paper_preset_s_train_section_survives_a_set_map():
    """GRAM's ffhq256 averages with torch_ema's ramp and checkpoints every 5000 steps (its file says so); a
    ``--set 'train={seed: 3}'`` must not turn that back into the defaults."""
    from zoo3d.plugins import get_model_spec

    spec = get_model_spec("gram")
    stated = yaml.safe_load((Path(spec.presets_dir) / "ffhq256.yaml").read_text())["train"]
    cfg = load_run_config(spec.load().config_class, spec.name, spec.presets_dir, "ffhq256",
                          overrides=["train={seed: 3}"])
    assert cfg.train.seed == 3
    assert {k: getattr(cfg.train, k) for k in stated} == stated
