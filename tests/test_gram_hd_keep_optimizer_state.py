"""``keep_optimizer_state`` keeps Adam state parameter by parameter. GRAM-HD's stage 2 trains the feature heads and
the SR nets against the HR and patch discriminators, none of which stage 1 steps (it freezes the feature heads and
trains the LR GRAM against ``discriminator_lr``): the option would keep nothing there, yet it was taken without a
word, since both stages have a generator and a discriminator optimiser. It is refused, before the run folder exists,
as the option is where the stage before has no optimiser of its roles (test_train_stage_settings_apply.py)."""

from __future__ import annotations

import pytest

from conftest import one_line_error, run_in_process
from test_gram_hd_training import HD_SHRINK
from zoo3d.train.engine import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")

SHRINK = [a for s in HD_SHRINK for a in ("--set", s)]
REFUSAL = ("Error: stages.gram_hd.stage2.keep_optimizer_state: the stage before it, 'gram_hd.stage1', trains none of "
           "the parameters its optimisers (generator, discriminator) step, so there is no optimiser state to keep.")


def _stepped(trainer: Trainer, stage) -> dict[str, set[str]]:
    """Per role, the names of the parameters the stage's optimiser steps, found by walking the modules by name."""
    named = {f"{root}.{n}": p for root, m in trainer.modules.items() for n, p in m.named_parameters()}
    out = {}
    for role, spec in stage.optimizers.items():
        names = {n for n, p in named.items() if p.requires_grad and any(n.startswith(m + ".") for m in spec.modules)}
        out[role] = {n for n in names if not any(n.startswith(f + ".") for f in stage.frozen)}
    return out


def test_the_two_stages_step_disjoint_parameters_of_each_role(tmp_path):
    from zoo3d.config import load_run_config
    from zoo3d.plugins import get_model_spec
    from zoo3d_gram_hd.model import GramHDModel

    spec = get_model_spec("gram_hd")
    config = load_run_config(GramHDModel.config_class, spec.name, spec.presets_dir, None, None, list(HD_SHRINK),
                             default_preset=spec.default_preset)
    trainer = Trainer(GramHDModel(), config, tmp_path / "run", model_name="gram_hd", device="cpu", progress=False)
    first, second = (_stepped(trainer, s) for s in trainer.stages)
    assert set(first) == set(second) == {"generator", "discriminator"}
    assert all(first[r] and second[r] and not first[r] & second[r] for r in first)
    assert any(".feature_heads." in n for n in second["generator"])  # what stage 1 freezes, stage 2 trains


def test_keeping_stage_ones_optimiser_state_in_stage_two_is_refused_before_the_run_folder_exists(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_in_process(capsys, "train", "gram_hd", "--out", run, "--steps", "2", "--quiet", "--device",
                                  "cpu", *SHRINK, "--set", "stages.gram_hd.stage2.keep_optimizer_state=true")
    assert code == 2 and one_line_error(err) == REFUSAL
    assert not run.exists()
