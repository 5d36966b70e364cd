"""A sub-module's own learning rate inside its optimiser (``stages.<name>.module_lr``), as upstream GRAM
trains CARLA's manifold predictor at 2e-6 beside the generator's 2e-5."""

from __future__ import annotations

import pytest
import torch

from conftest import one_line_error, run_in_process
from toy_model import ToyConfig, ToyModel, toy_stage, use_toy
from zoo3d.config import StageConfig, apply_overrides, load_run_config
from zoo3d.core.model import stage_optimizers
from zoo3d.errors import ConfigError
from zoo3d.plugins import get_model_spec
from zoo3d.train.engine import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path

SLOW_LR, ROLE_LR = 1e-5, 5e-3


def _toy(run_dir, steps=1, module_lr=None, **train) -> Trainer:
    stage = toy_stage(steps, lr_g=ROLE_LR).model_dump() | {"module_lr": module_lr or {}}
    cfg = ToyConfig.model_validate({"train": {"checkpoint_every": 0, **train}, "stages": [stage]})
    return Trainer(ToyModel(), cfg, run_dir, model_name="toy", device="cpu", progress=False)


def test_set_and_yaml_give_dotted_module_paths():
    data = apply_overrides({"stages": [{"name": "gram", "steps": 1, "batch_size": 1, "lr": {"generator": 1.0}}]},
                           ["stages.gram.module_lr.generator.manifold=2e-6"])
    assert StageConfig(**data["stages"][0]).module_lr == {"generator.manifold": 2e-6}
    flat = StageConfig(name="s", steps=1, batch_size=1, lr={"g": 1.0}, module_lr={"generator.manifold": 3e-6})
    assert flat.module_lr == {"generator.manifold": 3e-6}
    with pytest.raises(ValueError):
        StageConfig(name="s", steps=1, batch_size=1, lr={"g": 1.0}, module_lr={"generator.manifold": 0.0})
    spec = get_model_spec("gram")
    cfg = load_run_config(spec.load().config_class, spec.name, spec.presets_dir, "tiny", None,
                          ["stages.gram.module_lr.generator.manifold=2e-6"])
    assert cfg.stage("gram").module_lr == {"generator.manifold": 2e-6}


def test_stage_optimizers_give_each_role_its_own_modules_rates():
    stage = StageConfig(name="s", steps=1, batch_size=1, lr={"generator": 1e-3, "discriminator": 2e-3},
                        module_lr={"generator.manifold": 1e-4, "discriminator.b1": 3e-4})
    specs = stage_optimizers(stage, {"generator": ["generator"], "discriminator": ["discriminator"]},
                             lazy_every={"discriminator": 4})
    assert specs["generator"].module_lr == {"generator.manifold": 1e-4}
    assert specs["discriminator"].module_lr == pytest.approx({"discriminator.b1": 3e-4 * 4 / 5})  # lazy-corrected
    stray = stage.model_copy(update={"module_lr": {"decoder.net": 1e-4}})
    with pytest.raises(ConfigError, match=r"module_lr names \['decoder.net'\], which no optimiser"):
        stage_optimizers(stray, {"generator": ["generator"], "discriminator": ["discriminator"]})


def test_one_adam_step_moves_each_group_by_its_own_rate(toy):
    """Adam's first step (beta1 = 0) moves every parameter by lr * g / (|g| + eps), i.e. by its group's lr."""
    trainer = _toy(toy / "run", module_lr={"generator.net.2": SLOW_LR})
    net = trainer.modules["generator"].net
    before = [p.detach().clone() for p in net.parameters()]
    trainer.run()
    moved = [(p.detach() - b).abs().max().item() for p, b in zip(net.parameters(), before)]
    assert moved[0] == pytest.approx(ROLE_LR, rel=1e-2) and moved[1] == pytest.approx(ROLE_LR, rel=1e-2)
    assert moved[2] == pytest.approx(SLOW_LR, rel=1e-2) and moved[3] == pytest.approx(SLOW_LR, rel=1e-2)
    groups = trainer.optimizers["G"].param_groups
    assert [(g.get("module"), g["lr"], len(g["params"])) for g in groups] == [
        (None, ROLE_LR, 2), ("generator.net.2", SLOW_LR, 2)]


def test_a_path_that_is_no_module_is_named_before_the_run_folder_is_made(toy):
    with pytest.raises(ConfigError) as err:
        _toy(toy / "run", module_lr={"generator.nett": SLOW_LR})
    assert str(err.value) == ("stages.main.module_lr.generator.nett: model 'toy' has no module 'generator.nett' "
                              "('generator' holds net).")
    assert not (toy / "run").exists()


def test_a_mistyped_path_leaves_no_folder_that_would_block_the_corrected_run(toy, capsys):
    run = toy / "run"
    code, _, err = run_in_process(capsys, "train", "toy", "--out", run, "--steps", "1", "--quiet",
                                  "--set", "stages.main.module_lr.generator.net.7=1e-5")
    assert code == 2
    assert one_line_error(err) == "Error: stages.main.module_lr.generator.net.7: model 'toy' has no module " \
                                  "'generator.net.7' ('generator.net' holds 0, 1, 2)."
    assert not (run / "config.yaml").exists() and not (run / "metrics.jsonl").exists()
    code, _, err = run_in_process(capsys, "train", "toy", "--out", run, "--steps", "1", "--quiet",
                                  "--set", "stages.main.module_lr.generator.net.2=1e-5")
    assert code == 0, err
    assert (run / "config.yaml").is_file()


@pytest.mark.parametrize("saved,loaded", [(None, {"generator.net.0": SLOW_LR}), ({"generator.net.0": SLOW_LR}, None),
                                          # the last sub-module: the order of the parameters stays, the groups
                                          # do not (the resume failed, or kept the stored rate)
                                          (None, {"generator.net.2": SLOW_LR}), ({"generator.net.2": SLOW_LR}, None),
                                          ({"generator.net.0": SLOW_LR}, {"generator.net.0": 10 * SLOW_LR})])
def test_moments_follow_their_parameters_when_the_groups_change_on_resume(toy, saved, loaded):
    first = _toy(toy / "a", steps=2, module_lr=saved, checkpoint_every=2)
    first.run()
    gen = first.modules["generator"]
    moments = {n: first.optimizers["G"].state[p]["exp_avg_sq"] for n, p in gen.named_parameters()}

    again = _toy(toy / "b", steps=2, module_lr=loaded)
    again._resume(toy / "a" / "checkpoints" / "step_000000002.safetensors")
    again._begin_stage(again.stages[0], fresh=False)
    opt = again.optimizers["G"]
    for n, p in again.modules["generator"].named_parameters():
        torch.testing.assert_close(opt.state[p]["exp_avg_sq"], moments[n], rtol=0, atol=0, msg=n)
    rates = {g.get("module"): g["lr"] for g in opt.param_groups}
    assert rates == {None: ROLE_LR, **(loaded or {})}


def test_the_carla_preset_trains_the_manifold_predictor_at_upstreams_rate():
    """microsoft/GRAM configs.py CARLA: sampling_network_lr 2e-6 beside gen_lr 2e-5."""
    spec = get_model_spec("gram")
    plugin = spec.load()
    cfg = load_run_config(plugin.config_class, spec.name, spec.presets_dir, "carla", None, [])
    generator = plugin.stages(cfg)[0].optimizers["generator"]
    assert (generator.lr, generator.module_lr) == (2e-5, {"generator.manifold": 2e-6})
