"""The training engine around its step: recipe checks, stage set-up, the loop's schedule, logs, checkpoint
state, resume, rollback, and the parts a multi-process run changes (against a stand-in world whose peers do
exactly what this process does).

Every run here is a few steps of the test stand-in (``tests/toy_model.py``), tens of milliseconds each.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

import pytest
import torch

from toy_model import ToyModel, one_thread, toy_config, use_toy
from zoo3d.core.model import LossResult, OptimizerSpec, Phase, Stage, resolve_module
from zoo3d.errors import UserError
from zoo3d.train import checkpoint as ckpt
from zoo3d.train import engine
from zoo3d.train.distributed import GradientSync, World, stream_seed
from zoo3d.train.engine import Trainer, TrainingDiverged, _record_step
from zoo3d.train.schedule import split_steps
from zoo3d.train.signals import stop_notice


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        yield tmp_path


def _records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


class Recipe(ToyModel):
    """The stand-in with a recipe given by the test: ``make(config, phases) -> list[Stage]``.

    Its phases record what they saw: (phase, step, stage_step, stage name, stage batch, real batch size).
    """

    def __init__(self, make=None, build=None):
        super().__init__()
        self.make, self.built = make, build
        self.seen: list[tuple] = []
        self.faults: dict[int, int] = {}  # step -> how many more times its G loss is NaN

    def build(self, config):
        return self.built(config) if self.built else super().build(config)

    def phases(self, config, log=None):
        def d_loss(ctx):
            self.seen.append(("D", ctx.step, ctx.stage_step, ctx.stage.name, ctx.stage.batch_size,
                              None if ctx.real is None else len(ctx.real.images)))
            n = ctx.stage.batch_size
            with torch.no_grad():
                fakes = ctx.generator(ctx.sample_z(n), ctx.sample_cameras(n)).rgb
            disc = ctx.modules["disc"]
            real = ctx.real.images if ctx.real is not None else -fakes
            loss = torch.nn.functional.softplus(disc(fakes).logit).mean() + \
                torch.nn.functional.softplus(-disc(real).logit).mean()
            return LossResult(loss, dict(log(ctx) if log else {}))

        def g_loss(ctx):
            self.seen.append(("G", ctx.step, ctx.stage_step, ctx.stage.name, ctx.stage.batch_size, None))
            n = ctx.stage.batch_size
            fakes = ctx.generator(ctx.sample_z(n), ctx.sample_cameras(n)).rgb
            loss = torch.nn.functional.softplus(-ctx.modules["disc"](fakes).logit).mean()
            if self.faults.get(ctx.step, 0) > 0:
                self.faults[ctx.step] -= 1
                loss = loss * float("nan")
            return LossResult(loss)

        return [Phase("D", "D", d_loss), Phase("G", "G", g_loss)]

    def optimizers(self, config, **g):
        main = config.stage("main")
        return {"G": OptimizerSpec(["generator"], main.lr["G"], **g), "D": OptimizerSpec(["disc"], main.lr["D"])}

    def stages(self, config):
        if self.make is not None:
            return self.make(self, config)
        main = config.stage("main")
        return [Stage("main", main.steps, self.phases(config), self.optimizers(config), config.toy.resolution,
                      main.batch_size)]


def _trainer(plugin, run_dir, steps=4, world=None, max_steps=None, progress=False, **train) -> Trainer:
    train.setdefault("checkpoint_every", 0)
    return Trainer(plugin, toy_config(steps, **train), run_dir, model_name="toy", plugin_version="9.9",
                   device="cpu", max_steps=max_steps, progress=progress, world=world)


# ------------------------------------------------------------------------------------------ small functions

def testresolve_module_follows_dotted_paths_and_names_what_exists():
    gen = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Sequential(torch.nn.Linear(3, 1)))
    disc = torch.nn.Linear(1, 1)
    modules = {"generator": gen, "disc": disc}
    assert resolve_module(modules, "generator") is gen
    assert resolve_module(modules, "generator.1.0") is gen[1][0]
    assert resolve_module(modules, "disc") is disc
    with pytest.raises(ValueError) as err:
        resolve_module(modules, "encoder.net")
    assert str(err.value) == "The recipe names module 'encoder.net', but the model has only: generator, disc."
    with pytest.raises(AttributeError):
        resolve_module(modules, "generator.7")


@pytest.mark.parametrize("line,step", [('{"step": 12, "loss": 1}', 12.0), ('{"event": "x"}', 0.0), ("", math.inf),
                                       ('{"step": 3, "lo', math.inf), ("[4]", math.inf), ('{"step": null}', math.inf),
                                       ('{"step": "7"}', 7.0), ("5", math.inf)])
def test_record_step_reads_a_metrics_line_and_drops_what_cannot_be_read(line, step):
    assert _record_step(line) == step


# ------------------------------------------------------------------------------------------ construction

def test_the_recipe_is_checked_before_anything_is_built(toy):
    def bad_optimizer(self, config):
        return [Stage("main", 2, [Phase("D", "E", None)], {"G": OptimizerSpec(["generator"], 1e-3),
                                                          "D": OptimizerSpec(["disc"], 1e-3)}, 16, 4)]

    with pytest.raises(ValueError) as err:
        _trainer(Recipe(bad_optimizer), toy / "run")
    assert str(err.value) == "Stage 'main', phase 'D' uses optimizer 'E', which the stage does not define (G, D)."

    def no_optimizers(self, config):
        return [Stage("main", 2, [Phase("D", "E", None)], {}, 16, 4)]

    with pytest.raises(ValueError) as err:
        _trainer(Recipe(no_optimizers), toy / "run")
    assert str(err.value) == "Stage 'main', phase 'D' uses optimizer 'E', which the stage does not define (none)."

    for stages in ([], [Stage("a", 0, [], {}), Stage("b", 0, [], {})]):
        with pytest.raises(UserError) as err:
            _trainer(Recipe(lambda self, config, s=stages: s), toy / "run")
        assert str(err.value) == "Model 'toy' has nothing to train (its recipe has no steps)."


def test_module_paths_of_every_stage_are_checked_at_construction(toy):
    def later_stage_names_a_missing_module(self, config):
        ok = Stage("first", 1, self.phases(config), self.optimizers(config), 16, 4)
        return [ok, dataclasses.replace(ok, name="second", frozen=["generator.net.9"])]

    with pytest.raises(ValueError) as err:
        _trainer(Recipe(later_stage_names_a_missing_module), toy / "run")
    assert str(err.value) == "Stage 'second' names module 'generator.net.9', which the model does not have."

    def optimizer_names_a_missing_module(self, config):
        optim = {**self.optimizers(config), "D": OptimizerSpec(["disc", "disc.conv.7"], 1e-3)}
        return [Stage("first", 1, self.phases(config), optim, 16, 4)]

    with pytest.raises(ValueError) as err:
        _trainer(Recipe(optimizer_names_a_missing_module), toy / "run")
    assert str(err.value) == "Stage 'first' names module 'disc.conv.7', which the model does not have."

    with pytest.raises(ValueError) as err:
        _trainer(Recipe(build=lambda config: {"gen": torch.nn.Linear(1, 1)}), toy / "run")
    assert str(err.value) == "Model 'toy': build() must return a 'generator' module."


def test_construction_seeds_the_build_and_the_latent_stream(toy):
    trainer = _trainer(Recipe(), toy / "run", seed=7)
    torch.manual_seed(7)
    again = ToyModel().build(toy_config(4, seed=7))
    for name in ("generator", "disc"):
        for a, b in zip(trainer.modules[name].parameters(), again[name].parameters()):
            assert torch.equal(a, b)
    assert trainer.rng.initial_seed() == 8  # stream_seed(seed + 1, rank 0) is seed + 1
    assert trainer.modules["generator"].training and trainer.modules["disc"].training
    assert trainer.ema is not trainer.modules["generator"] and not trainer.ema.training
    assert (trainer.step, trainer.stage_index, trainer.stage_step, trainer.data_cursor) == (0, 0, 0, 0)
    assert trainer.state == {} and trainer.last_checkpoint is None and trainer.total_steps == 4
    assert trainer.amp_dtype is None and trainer.device == torch.device("cpu")
    with trainer.autocast():
        assert not torch.is_autocast_enabled("cpu")  # no mixed precision on the CPU


def test_max_steps_splits_the_stages(toy):
    def two(self, config):
        s = Stage("first", 6, self.phases(config), self.optimizers(config), 16, 4)
        return [s, dataclasses.replace(s, name="second", steps=3)]

    trainer = _trainer(Recipe(two), toy / "run", max_steps=4)
    assert trainer.lengths == [2, 2] and trainer.total_steps == 4  # one each, the spare 2 by 5:2 (largest remainder)
    trainer = _trainer(Recipe(two), toy / "run")
    assert trainer.lengths == [6, 3] and trainer.total_steps == 9


# ------------------------------------------------------------------------------------------ stages

def test_a_stage_freezes_its_modules_and_builds_adam_from_its_specs(toy):
    def frozen(self, config):
        optim = {"G": OptimizerSpec(["generator", "generator.net.2"], 3e-3, betas=(0.25, 0.75), eps=1e-6,
                                    weight_decay=0.125),
                 "D": OptimizerSpec(["disc.conv", "disc"], 2e-3)}
        return [Stage("main", 2, self.phases(config), optim, 16, 4, frozen=["generator.net.0", "disc.head"])]

    trainer = _trainer(Recipe(frozen), toy / "run")
    gen, disc = trainer.modules["generator"], trainer.modules["disc"]
    gen.net[2].bias.requires_grad_(False)  # a parameter the model itself keeps fixed stays fixed
    trainer._wanted_grad[id(gen.net[2].bias)] = False
    trainer._begin_stage(trainer.stages[0], fresh=True)
    wanted = [gen.net[2].weight]
    assert [p.requires_grad for p in gen.parameters()] == [False, False, True, False]
    assert [p.requires_grad for p in disc.parameters()] == [True, True, True, True, False, False]
    g, d = trainer.optimizers["G"], trainer.optimizers["D"]
    assert [list(group["params"]) for group in g.param_groups] == [wanted]  # once, though named twice
    assert [list(group["params"]) for group in d.param_groups] == [list(disc.conv.parameters())]
    assert isinstance(g, torch.optim.Adam) and isinstance(d, torch.optim.Adam)
    group = g.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (3e-3, (0.25, 0.75), 1e-6, 0.125)
    group = d.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (2e-3, (0.0, 0.9), 1e-8, 0.0)
    assert trainer._params == {"G": wanted, "D": list(disc.conv.parameters())}
    assert trainer._generator_optimizers == {"G"} and trainer.scalers == {}


def test_an_optimizer_left_without_trainable_parameters_is_refused(toy):
    def all_frozen(self, config):
        return [Stage("main", 2, self.phases(config), self.optimizers(config), 16, 4, frozen=["disc"])]

    trainer = _trainer(Recipe(all_frozen), toy / "run")
    with pytest.raises(ValueError) as err:
        trainer.run()
    assert str(err.value) == ("Optimizer 'D' of stage 'main' has no trainable parameters (modules ['disc'], "
                              "frozen ['disc']).")


def test_on_start_runs_once_per_fresh_stage_and_the_ema_follows_what_it_did(toy):
    calls = []

    def on_start(ctx):
        calls.append((ctx.stage.name, ctx.step, ctx.stage_step, ctx.real))
        with torch.no_grad():
            for p in ctx.generator.parameters():
                p.fill_(0.5)
        ctx.generator.net[2] = torch.nn.Linear(32, 4)  # a new layer (a loaded network, say) is trained
        ctx.generator.net[2].bias.requires_grad_(False)  # even when what made it left it fixed

    def staged(self, config):
        s = Stage("first", 2, self.phases(config), self.optimizers(config), 16, 4, ema=False)
        return [s, dataclasses.replace(s, name="second", on_start=on_start)]

    plugin = Recipe(staged)
    trainer = _trainer(plugin, toy / "run")
    trainer._begin_stage(trainer.stages[1], fresh=False)
    assert calls == []
    trainer._begin_stage(trainer.stages[1], fresh=True)
    assert calls == [("second", 0, 0, None)]
    gen = trainer.modules["generator"]
    assert [torch.equal(a, b) for a, b in zip(trainer.ema.parameters(), gen.parameters())] == [True] * 4
    assert torch.equal(gen.net[0].weight, torch.full_like(gen.net[0].weight, 0.5))
    assert trainer.optimizers["G"].param_groups[0]["params"] == list(gen.parameters())
    assert all(p.requires_grad for p in gen.parameters())


def test_the_loop_runs_each_stage_with_its_length_and_context(toy):
    starts = []

    def staged(self, config):
        s = Stage("first", 2, self.phases(config), self.optimizers(config), 16, 4)
        empty = dataclasses.replace(s, name="empty", steps=0, on_start=lambda ctx: starts.append("empty"))
        return [s, empty, dataclasses.replace(s, name="third", steps=3, resolution=None, batch_size=2)]

    plugin = Recipe(staged)
    result = _trainer(plugin, toy / "a" / "b" / "run", log_every=2).run()  # the run folder's parents are made
    (toy / "a" / "b" / "run").rename(toy / "run")
    assert starts == []  # an empty stage is not begun
    assert (result.status, result.step, result.signal, result.rank, result.world_size) == ("done", 5, "", 0, 1)
    assert result.run_dir == toy / "a" / "b" / "run"
    assert [s[:5] for s in plugin.seen if s[0] == "D"] == [("D", 0, 0, "first", 4), ("D", 1, 1, "first", 4),
                                                          ("D", 2, 0, "third", 2), ("D", 3, 1, "third", 2),
                                                          ("D", 4, 2, "third", 2)]
    assert [s[5] for s in plugin.seen if s[0] == "D"] == [4, 4, None, None, None]  # no real data without a resolution
    records = _records(toy / "run")
    # every log_every steps and at the end of each stage, with the means since the last record
    assert [(r["step"], r["stage"]) for r in records] == [(2, "first"), (4, "third"), (5, "third")]
    assert sorted(p.name for p in (toy / "run" / "checkpoints").iterdir()) == [
        "step_000000002.safetensors", "step_000000005.safetensors"]  # every stage ends with a checkpoint
    assert result.checkpoint == toy / "a" / "b" / "run" / "checkpoints" / "step_000000005.safetensors"
    assert ckpt.read_latest(toy / "run") == toy / "run" / "checkpoints" / "step_000000005.safetensors"
    assert sorted(p.name for p in (toy / "run" / "samples").iterdir()) == ["step_000000005.png"]


def test_samples_and_checkpoints_follow_their_intervals(toy):
    plugin = Recipe()
    _trainer(plugin, toy / "run", steps=5, sample_every=2, checkpoint_every=2, keep_checkpoints=5).run()
    assert sorted(p.name for p in (toy / "run" / "samples").iterdir()) == [
        "step_000000002.png", "step_000000004.png", "step_000000005.png"]  # and the run's last step
    assert sorted(p.name for p in (toy / "run" / "checkpoints").iterdir()) == [
        f"step_00000000{s}.safetensors" for s in (2, 4, 5)]
    _trainer(Recipe(), toy / "run2", steps=4, sample_every=2, checkpoint_every=4, keep_checkpoints=1).run()
    assert sorted(p.name for p in (toy / "run2" / "samples").iterdir()) == ["step_000000002.png", "step_000000004.png"]
    assert [p.name for p in (toy / "run2" / "checkpoints").iterdir()] == ["step_000000004.safetensors"]


def test_a_sample_grid_is_the_ema_generator_at_the_sample_seeds(toy):
    from PIL import Image

    from zoo3d.train.sampling import sample_grid_images, yaw_rows

    trainer = _trainer(Recipe(), toy / "run", sample_seeds=[3, 1], sample_truncation=0.5)
    trainer.step = 12
    with torch.no_grad():
        for p in trainer.ema.parameters():
            p.mul_(-1)  # the EMA differs from the generator
    path = trainer.write_samples()
    assert path == toy / "run" / "samples" / "step_000000012.png"
    grid = torch.tensor(__import__("numpy").array(Image.open(path)), dtype=torch.float32)
    images = sample_grid_images(trainer.ema, [3, 1], 0.5, yaw_rows(trainer.ema.camera_prior))
    n, _, h, w = images.shape
    assert n == 6 and grid.shape[:2] == (3 * h + 4 * 2, 2 * w + 3 * 2)  # rows of len(sample_seeds), 2 px padding
    expected = ((images.clamp(-1, 1) + 1) * 127.5)
    first = grid[2:2 + h, 2:2 + w].permute(2, 0, 1)
    assert (first - expected[0]).abs().max() <= 1.0
    other = sample_grid_images(trainer.modules["generator"], [3, 1], 0.5, yaw_rows(trainer.ema.camera_prior))
    assert ((other[0].clamp(-1, 1) + 1) * 127.5 - first).abs().max() > 5  # not the trained generator's


# ------------------------------------------------------------------------------------------ logs

def test_logged_values_are_means_since_the_last_record(toy):
    def log(ctx):
        return {"tensor": torch.tensor(float(ctx.step)), "number": 10 * ctx.step, "only_odd": 1.0} if ctx.step % 2 \
            else {"tensor": torch.tensor(float(ctx.step)), "number": 10 * ctx.step}

    def recipe(self, config):
        return [Stage("main", 5, self.phases(config, log), self.optimizers(config), 16, 4)]

    _trainer(Recipe(recipe), toy / "run", log_every=3).run()
    records = _records(toy / "run")
    assert [(r["step"], r["tensor"], r["number"]) for r in records] == [(3, 1.0, 10.0), (5, 3.5, 35.0)]
    assert [r.get("only_odd") for r in records] == [1.0, 1.0]
    assert [r["stage"] for r in records] == ["main", "main"]
    for r in records:
        assert list(r)[:4] == ["step", "stage", "time_s", "images_per_s"] and r["time_s"] > 0 < r["images_per_s"]
        assert math.isfinite(r["loss.D"]) and math.isfinite(r["grad_norm.G"])


def test_a_record_s_image_rate_counts_the_images_of_the_step_it_logs(toy):
    _trainer(Recipe(), toy / "run", steps=2, log_every=1).run()
    first, second = _records(toy / "run")
    assert first["images_per_s"] > 0 and second["images_per_s"] > 0  # not 0 for the first step's record
    assert first["images_per_s"] == pytest.approx(4 / first["time_s"], rel=0.5)  # 4 images in about that time


def test_resume_drops_the_records_written_after_the_checkpoint(toy):
    _trainer(Recipe(), toy / "run", steps=3, checkpoint_every=2, keep_checkpoints=5).run()
    path = toy / "run" / "metrics.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines) + '\n{"step": 2, "event": "x"}\n{"step": 3, "cut\n\n')
    trainer = _trainer(Recipe(), toy / "run", steps=3)
    trainer._resume(toy / "run" / "checkpoints" / "step_000000002.safetensors")
    assert path.read_text() == lines[0] + "\n" + lines[1] + "\n" + '{"step": 2, "event": "x"}\n'
    assert trainer.last_checkpoint == toy / "run" / "checkpoints" / "step_000000002.safetensors"
    assert trainer.step == 2


# ------------------------------------------------------------------------------------------ state

def test_the_checkpoint_state_holds_every_module_optimizer_stream_and_plain_value(toy):
    def two(self, config):
        s = Stage("first", 2, self.phases(config), self.optimizers(config), 16, 4)
        return [s, dataclasses.replace(s, name="second")]

    config = toy_config(4, checkpoint_every=0)
    trainer = Trainer(Recipe(two), config, toy / "run", model_name="toy", plugin_version="9.9", device="cpu",
                      progress=False)
    trainer.run()
    trainer.state.update({"count": 3, "ratio": 0.5, "name": "x", "flag": True, "none": None, "list": [1],
                          "t": torch.arange(3.0)})
    trainer.data_cursor = 17
    tensors, meta = trainer.state_tensors()
    gen, disc = trainer.modules["generator"], trainer.modules["disc"]
    expected_keys = ({f"generator.{k}" for k in gen.state_dict()} | {f"ema.{k}" for k in trainer.ema.state_dict()}
                     | {f"modules.disc.{k}" for k in disc.state_dict()} | {"rng.torch", "rng.train", "state.t"}
                     | {k for name, opt in trainer.optimizers.items() for k in ckpt.flatten_optimizer(name, opt)[0]})
    assert set(tensors) == expected_keys
    assert torch.equal(tensors["state.t"], torch.arange(3.0)) and tensors["state.t"] is not trainer.state["t"]
    assert torch.equal(tensors["rng.train"], trainer.rng.get_state())
    assert torch.equal(tensors["modules.disc.head.weight"], disc.head.weight)
    optim = {name: ckpt.flatten_optimizer(name, opt)[1] for name, opt in trainer.optimizers.items()}
    assert meta == {
        "zoo3d.format_version": "2", "zoo3d.model": "toy", "zoo3d.plugin_version": "9.9",
        "zoo3d.config": config.model_dump_json(), "zoo3d.step": "4", "zoo3d.stage": "second",
        "zoo3d.stage_index": "2", "zoo3d.stage_step": "0", "zoo3d.data_cursor": "17", "zoo3d.world_size": "1",
        "zoo3d.device": "cpu", "zoo3d.steps_cap": "none", "zoo3d.ema": "1", "zoo3d.ema_updates": "4", "zoo3d.total_rollbacks": "0", "zoo3d.optim": json.dumps(optim),
        "zoo3d.scaler": "{}",
        "zoo3d.state": json.dumps({"count": 3, "ratio": 0.5, "name": "x", "flag": True, "none": None}),
        "zoo3d.log_sums": "[{}]",  # the run ended on a logged step: no window is open
    }
    assert json.loads(meta["zoo3d.optim"])["G"]["param_groups"][0]["lr"] == 5e-3


def test_load_state_restores_counters_streams_and_plain_state(toy):
    trainer = _trainer(Recipe(), toy / "run")
    trainer.state.update({"n": 2, "t": torch.ones(2)})
    trainer.step, trainer.stage_step, trainer.data_cursor = 3, 3, 12
    torch.manual_seed(11)
    trainer.rng.manual_seed(12)
    tensors, meta = trainer.state_tensors()
    expected_torch, expected_train = torch.rand(3), torch.rand(3, generator=trainer.rng)
    other = _trainer(Recipe(), toy / "other")
    other.state["stale"] = 1
    other.load_state(tensors, meta)
    assert (other.step, other.stage_index, other.stage_step, other.data_cursor) == (3, 0, 3, 12)
    assert set(other.state) == {"n", "t"} and other.state["n"] == 2 and torch.equal(other.state["t"], torch.ones(2))
    assert torch.equal(torch.rand(3), expected_torch)
    assert torch.equal(torch.rand(3, generator=other.rng), expected_train)
    for a, b in zip(other.modules["disc"].parameters(), trainer.modules["disc"].parameters()):
        assert torch.equal(a, b)
    assert other._pending_optim[1] == {"format": "2", "optim": json.loads(meta["zoo3d.optim"]), "scaler": {}}
    # a file of an older layout without the counters, the optimiser and the plain state starts them at zero
    old = {k: v for k, v in meta.items() if k in ("zoo3d.step",)}
    other.load_state(tensors, old)
    assert (other.step, other.stage_index, other.stage_step, other.data_cursor) == (3, 0, 0, 0)
    assert other._pending_optim[1] == {"format": "1", "optim": {}, "scaler": {}}
    assert set(other.state) == {"t"}


def test_resume_continues_like_an_uninterrupted_run_from_every_checkpoint(toy):
    straight = _trainer(Recipe(), toy / "a", steps=4, checkpoint_every=2)
    straight.run()
    resumed = _trainer(Recipe(), toy / "b", steps=2, checkpoint_every=2)
    resumed.run()
    again = _trainer(Recipe(), toy / "b", steps=4, checkpoint_every=2)
    assert again.run(resume_from=toy / "b" / "checkpoints" / "step_000000002.safetensors").step == 4
    a, b = _records(toy / "a"), _records(toy / "b")
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    assert [{k: v for k, v in r.items() if k not in ("time_s", "images_per_s")} for r in a] == \
        [{k: v for k, v in r.items() if k not in ("time_s", "images_per_s")} for r in b]
    for k, v in straight.optimizers["G"].state_dict()["state"][0].items():
        assert torch.equal(v, again.optimizers["G"].state_dict()["state"][0][k])  # Adam's moments came back
    assert again.last_checkpoint == toy / "b" / "checkpoints" / "step_000000004.safetensors"


def test_resuming_from_the_checkpoint_that_ended_a_stage_starts_the_next_one_fresh(toy):
    starts = []

    def two(self, config):
        s = Stage("first", 2, self.phases(config), self.optimizers(config), 16, 4)
        return [s, dataclasses.replace(s, name="second", on_start=lambda ctx: starts.append(ctx.step))]

    _trainer(Recipe(two), toy / "run", checkpoint_every=0).run()
    assert starts == [2]
    trainer = _trainer(Recipe(two), toy / "run")
    trainer.run(resume_from=toy / "run" / "checkpoints" / "step_000000002.safetensors")
    assert starts == [2, 2] and trainer.step == 4
    assert [s[:4] for s in trainer.plugin.seen if s[0] == "D"] == [("D", 2, 0, "second"), ("D", 3, 1, "second")]
    # the second stage's optimisers start fresh: Adam's step counters count that stage's steps only
    assert [int(s["step"]) for s in trainer.optimizers["G"].state_dict()["state"].values()] == [2, 2, 2, 2]


# ------------------------------------------------------------------------------------------ rollback

def test_a_rollback_restores_the_snapshot_draws_new_noise_and_says_so(toy, monkeypatch):
    plugin = Recipe()
    plugin.faults = {2: 1}
    trainer = _trainer(plugin, toy / "run", steps=4, checkpoint_every=2, seed=5)
    logged = []
    monkeypatch.setattr(engine.TrainProgress, "log", lambda self, message, style=None: logged.append((message, style)))
    trainer.run()
    assert logged == [("Non-finite loss in phase 'G' at step 3: rolled back to step 2 (1/3).", "yellow")]
    events = [r for r in _records(toy / "run") if "event" in r]
    assert events == [{"event": "nan_rollback", "step": 3, "phase": "G", "what": "loss", "restored_step": 2,
                       "rollback": 1}]
    assert [s[1] for s in plugin.seen if s[0] == "D"] == [0, 1, 2, 2, 3]
    assert trainer.rng.initial_seed() == stream_seed(5 + 1 + 7919, 0)  # not the stream that failed


def test_the_rollback_limit_counts_failures_since_the_last_checkpoint(toy):
    plugin = Recipe()
    plugin.faults = {1: 3}
    trainer = _trainer(plugin, toy / "run", steps=4, max_nan_rollbacks=2)
    with pytest.raises(TrainingDiverged) as err:
        trainer.run()
    assert str(err.value) == (
        "Training diverged: non-finite loss in phase 'G' at step 2 kept coming back after 2 rollbacks; no "
        f"checkpoint had been written yet, so delete '{toy / 'run'}' and start the run again (try a lower learning "
        "rate, a smaller R1 gamma or stronger gradient clipping).")  # the same command then refuses the folder
    events = [r for r in _records(toy / "run") if "event" in r]
    assert [(e["rollback"], e["restored_step"]) for e in events] == [(1, 0), (2, 0), (3, 0)]
    plugin = Recipe()
    plugin.faults = {1: 2, 3: 2}  # two failures, a checkpoint at step 2, two more: within a limit of 2
    trainer = _trainer(plugin, toy / "run2", steps=4, max_nan_rollbacks=2, checkpoint_every=2)
    assert trainer.run().status == "done"
    events = [r for r in _records(toy / "run2") if "event" in r]
    assert [(e["step"], e["rollback"], e["restored_step"]) for e in events] == [(2, 1, 0), (2, 2, 0), (4, 1, 2),
                                                                                 (4, 2, 2)]
    assert trainer.rng.initial_seed() == stream_seed(1 + 4 * 7919, 0)  # salted by every rollback of the run
    plugin = Recipe()
    plugin.faults = {3: 5}
    trainer = _trainer(plugin, toy / "run3", steps=4, max_nan_rollbacks=1, checkpoint_every=2)
    with pytest.raises(TrainingDiverged) as err:
        trainer.run()
    assert str(err.value).endswith(f"after 1 rollbacks; the last good checkpoint is "
                                   f"{toy / 'run3' / 'checkpoints' / 'step_000000002.safetensors'} (try a lower "
                                   f"learning rate, a smaller R1 gamma or stronger gradient clipping).")


# ------------------------------------------------------------------------------------------ signals

def test_a_signal_during_a_step_ends_the_run_after_it_with_a_checkpoint(toy, monkeypatch):
    import signal

    plugin = Recipe()
    logged = []
    monkeypatch.setattr(engine.TrainProgress, "log", lambda self, message, style=None: logged.append(message))
    log = lambda ctx: signal.raise_signal(signal.SIGINT) or {} if ctx.step == 1 else {}  # noqa: E731

    def recipe(self, config):
        return [Stage("main", 6, self.phases(config, log), self.optimizers(config), 16, 4)]

    trainer = _trainer(Recipe(recipe), toy / "run", steps=6, sample_every=1)
    before = signal.getsignal(signal.SIGINT)
    result = trainer.run()
    path = toy / "run" / "checkpoints" / "step_000000002.safetensors"
    assert (result.status, result.signal, result.step, result.checkpoint) == ("interrupted", "SIGINT", 2, path)
    assert logged == [stop_notice(signal.SIGINT, finishing=False), f"Received SIGINT: saved {path} at step 2."]
    assert ckpt.read_latest(toy / "run") == path
    # step 2's grid is drawn too: the resumed run starts after step 2 and would never draw it
    assert sorted(p.name for p in (toy / "run" / "samples").iterdir()) == ["step_000000001.png", "step_000000002.png"]
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


# ------------------------------------------------------------------------------------------ several processes

@dataclass(frozen=True)
class MirrorWorld(World):
    """Rank ``rank`` of ``size`` processes whose peers do exactly what this one does (no process group):
    collectives answer as they would then, and ``signal_at`` plays a signal another process received."""

    signal_at: tuple[int, int] | None = None  # (call number, signal)
    calls: list = dataclasses.field(default_factory=list, compare=False)

    def barrier(self):
        self.calls.append("barrier")

    def all_true(self, flags):
        return flags

    def agreed_signal(self, signum):
        self.calls.append("signal")
        if self.signal_at is not None and self.calls.count("signal") == self.signal_at[0]:
            return self.signal_at[1]
        return signum

    def mean_over_ranks(self, values):
        return values

    def gather_to_main(self, obj):
        return [obj] * self.size if self.is_main else None


class RecordedProgress:
    def __init__(self, total, start, enabled):
        RecordedProgress.made = (total, start, enabled)
        self.advanced = RecordedProgress.advanced = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def count(self, images):
        self.images = images

    def advance(self, step, stage, images=0, losses=None, window=None):
        self.advanced.append((step, stage, self.images + images, None if losses is None else sorted(losses)))

    def images_per_second(self):
        return 2.123456

    def log(self, message, style=None):
        pass


@pytest.fixture
def two_processes(toy, monkeypatch):
    """Gradients and buffers as in one process (the mirror's peers hold the same ones)."""
    from zoo3d.train.distributed import BufferSync

    monkeypatch.setattr(engine, "GradientSync", lambda world: GradientSync(World()))
    monkeypatch.setattr(engine, "BufferSync", lambda world, modules: BufferSync(World(), modules))
    monkeypatch.setattr(engine, "TrainProgress", RecordedProgress)
    return toy


class RealRecipe(Recipe):
    def phases(self, config, log=None):
        phases = super().phases(config, log)
        d_loss = phases[0].loss

        def recorded(ctx):
            self.reals = getattr(self, "reals", []) + [ctx.real.images.clone()]
            return d_loss(ctx)

        return [dataclasses.replace(phases[0], loss=recorded), phases[1]]


def test_each_process_takes_its_share_of_the_global_batch(two_processes):
    one = RealRecipe()
    _trainer(one, two_processes / "one", steps=2, log_every=2).run()
    assert RecordedProgress.advanced == [(1, "main", 4, None), (2, "main", 4, ["grad_norm.D", "grad_norm.G",
                                                                               "loss.D", "loss.G"])]
    shares = []
    for rank in (0, 1):
        plugin = RealRecipe()
        result = _trainer(plugin, two_processes / f"rank{rank}", steps=2, log_every=2,
                          world=MirrorWorld(rank=rank, size=2)).run()
        assert (result.rank, result.world_size, result.status) == (rank, 2, "done")
        assert [s[4] for s in plugin.seen] == [2, 2, 2, 2]  # the phases see this process's share
        assert [s[2] for s in RecordedProgress.advanced] == [4, 4]  # the bar counts the global batch
        assert RecordedProgress.made == (2, 0, False)
        shares.append(plugin.reals)
    for step in range(2):  # the two shares are the one-process batch
        torch.testing.assert_close(torch.cat([shares[0][step], shares[1][step]]), one.reals[step], rtol=0, atol=0)


def test_per_process_batches_grow_the_global_batch(two_processes):
    plugin = Recipe()
    _trainer(plugin, two_processes / "run", steps=1, batch_scope="per_process", world=MirrorWorld(rank=0, size=2)).run()
    assert [s[4] for s in plugin.seen] == [4, 4] and RecordedProgress.advanced[0][2] == 8


def test_rank_zero_writes_and_keeps_every_process_stream(two_processes):
    world = MirrorWorld(rank=0, size=2)
    trainer = _trainer(Recipe(), two_processes / "run", steps=2, world=world, sample_every=1, progress=True)
    assert RecordedProgress.made is not None and trainer.show_progress
    trainer.run()
    assert RecordedProgress.made == (2, 0, True)
    tensors, meta = ckpt.read_checkpoint(two_processes / "run" / "checkpoints" / "step_000000002.safetensors")
    assert meta["zoo3d.world_size"] == "2"
    own = {k: v for k, v in tensors.items() if k.startswith("rng.") and not k.startswith("rng.rank")}
    assert set(own) == {"rng.torch", "rng.train"}
    assert {k for k in tensors if k.startswith("rng.rank")} == {"rng.rank1.torch", "rng.rank1.train"}
    for k in own:
        assert torch.equal(tensors["rng.rank1." + k[4:]], own[k])
    assert [p.name for p in (two_processes / "run" / "samples").iterdir()] != []
    assert world.calls.count("barrier") == 1 and len(_records(two_processes / "run")) == 2
    assert [r["images_per_s"] for r in _records(two_processes / "run")] == [2.123, 2.123]  # the bar's rate


def test_other_ranks_draw_their_own_noise_and_write_nothing(two_processes):
    world = MirrorWorld(rank=1, size=2)
    trainer = _trainer(Recipe(), two_processes / "run", steps=2, world=world, seed=3, sample_every=1,
                       checkpoint_every=1, progress=True)
    assert not trainer.show_progress
    assert torch.initial_seed() == stream_seed(3, 1) and trainer.rng.initial_seed() == stream_seed(4, 1)
    torch.manual_seed(3)
    same_start = ToyModel().build(toy_config(2, seed=3))["generator"]
    for a, b in zip(trainer.modules["generator"].parameters(), same_start.parameters()):
        assert torch.equal(a, b)  # every process starts from the same weights
    result = trainer.run()
    assert result.checkpoint == two_processes / "run" / "checkpoints" / "step_000000002.safetensors"
    assert not (two_processes / "run" / "checkpoints").exists() and not (two_processes / "run" / "samples").exists()
    assert not (two_processes / "run" / "metrics.jsonl").exists()
    assert world.calls.count("barrier") == 2  # it waits for rank 0's writes all the same


def test_a_signal_any_process_received_stops_this_one(two_processes):
    world = MirrorWorld(rank=0, size=2, signal_at=(2, 15))
    result = _trainer(Recipe(), two_processes / "run", steps=5, world=world).run()
    assert (result.status, result.signal, result.step) == ("interrupted", "SIGTERM", 2)
    assert result.checkpoint == two_processes / "run" / "checkpoints" / "step_000000002.safetensors"


def test_only_rank_zero_says_as_a_signal_arrives_that_the_run_stops_after_the_step(two_processes, monkeypatch):
    """Under --nproc the launcher passes the signal on to every process: it is said once, not once per process."""
    import signal

    log = lambda ctx: signal.raise_signal(signal.SIGINT) or {} if ctx.step == 1 else {}  # noqa: E731

    def recipe(self, config):
        return [Stage("main", 4, self.phases(config, log), self.optimizers(config), 16, 4)]

    logged = {}
    for rank in (0, 1):
        said = logged[rank] = []
        monkeypatch.setattr(RecordedProgress, "log", lambda self, message, style=None: said.append(message))
        result = _trainer(Recipe(recipe), two_processes / f"rank{rank}", steps=4,
                          world=MirrorWorld(rank=rank, size=2)).run()
        assert (result.status, result.step) == ("interrupted", 2)
    assert stop_notice(signal.SIGINT, finishing=False) == logged[0][0]
    assert [m for m in logged[1] if not m.startswith("Received SIGINT: saved")] == []


@pytest.mark.parametrize("size, passed_on", [(2, []), (1, [15])])
def test_a_scheduler_signal_and_the_launchers_copy_of_it_stop_a_process_once_with_a_checkpoint(two_processes, size,
                                                                                               passed_on):
    """A scheduler's SIGTERM reaches every process of the job and the launcher passes its own on too: the second,
    soon after the first, ended the process at once, without a checkpoint. A run of one process has no launcher's
    copy: there a second signal, however soon, goes through at once (a user's Ctrl-C twice)."""
    import signal

    def log(ctx):
        if ctx.step == 1:
            signal.raise_signal(signal.SIGTERM)  # the scheduler's
            signal.raise_signal(signal.SIGTERM)  # the launcher's copy
        return {}

    def recipe(self, config):
        return [Stage("main", 4, self.phases(config, log), self.optimizers(config), 16, 4)]

    seen = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))  # in place of the default action
    try:
        result = _trainer(Recipe(recipe), two_processes / "run", steps=4, world=MirrorWorld(rank=0, size=size)).run()
    finally:
        signal.signal(signal.SIGTERM, before)
    assert seen == passed_on  # the previous handler's, in place of the default action's end of the process
    assert (result.status, result.signal, result.step) == ("interrupted", "SIGTERM", 2)
    assert result.checkpoint == two_processes / "run" / "checkpoints" / "step_000000002.safetensors"


def test_a_batch_the_processes_cannot_share_is_refused_before_the_build(toy):
    built = []
    plugin = Recipe(build=lambda config: built.append(1) or ToyModel().build(config))
    with pytest.raises(UserError) as err:
        _trainer(plugin, toy / "run", world=MirrorWorld(rank=0, size=3))
    assert str(err.value).startswith("Stage 'main' has a global batch of 4, which 3 processes cannot share evenly")
    assert built == []


def test_own_streams_are_this_ranks_entries_of_a_checkpoint_of_the_same_layout(toy):
    a, b, c, d = (torch.full((2,), float(i)) for i in range(4))
    tensors = {"rng.torch": a, "rng.rank1.torch": b, "rng.rank1.train": c, "rng.rank2.torch": d, "x": a}
    rank1 = _trainer(Recipe(), toy / "run", world=MirrorWorld(rank=1, size=3), batch_scope="per_process")
    assert rank1._own_streams(tensors, {"zoo3d.world_size": "3"}) == {"rng.torch": b, "rng.train": c}
    assert rank1._own_streams(tensors, {"zoo3d.world_size": "2"}) is None
    assert rank1._own_streams(tensors, {}) is None  # written by one process
    assert rank1._own_streams({"rng.torch": a}, {"zoo3d.world_size": "3"}) is None
    rank0 = _trainer(Recipe(), toy / "run", world=MirrorWorld(rank=0, size=3), batch_scope="per_process")
    assert rank0._own_streams(tensors, {"zoo3d.world_size": "5"}) is tensors


def test_resuming_with_another_process_count_keeps_the_global_batch_and_says_so(two_processes, capsys):
    _trainer(Recipe(), two_processes / "run", steps=4, checkpoint_every=2, seed=2).run()
    path = two_processes / "run" / "checkpoints" / "step_000000002.safetensors"
    capsys.readouterr()
    rank1 = _trainer(Recipe(), two_processes / "run", steps=4, seed=2, world=MirrorWorld(rank=1, size=2))
    rank1._resume(path)
    assert capsys.readouterr().err == ""  # only rank 0 says it
    # rank 1 had no stream in a one-process file: fresh ones, salted by the step
    assert torch.initial_seed() == stream_seed(2, 1, 2) and rank1.rng.initial_seed() == stream_seed(3, 1, 2)
    assert rank1.step == 2 and rank1.last_checkpoint == path
    rank0 = _trainer(Recipe(), two_processes / "run", steps=4, seed=2, world=MirrorWorld(rank=0, size=2))
    rank0._resume(path)
    assert capsys.readouterr().err == (
        "Resuming a run written by 1 process with 2 processes: the global batch stays 4 (2 per process) and the "
        "data order continues; latent and camera noise come from per-process streams of the new layout, so "
        "later steps differ from a continuation with 1 process.\n")
    per_process = _trainer(Recipe(), two_processes / "run", steps=4, world=MirrorWorld(rank=0, size=2),
                           batch_scope="per_process")
    with pytest.raises(UserError) as err:
        per_process._resume(path)
    assert str(err.value) == (f"'{path}' was written by 1 process with train.batch_scope=per_process; resuming "
                              f"with 2 processes would change the global batch, so resume with 1 process.")


def test_loss_scalers_are_made_saved_and_restored_with_fp16(toy):
    """fp16 autocast (CUDA without bf16) gives each optimiser a GradScaler, whose state a checkpoint keeps;
    the CPU's GradScaler stands in for CUDA's here."""
    trainer = _trainer(Recipe(), toy / "run")
    trainer.amp_dtype = torch.float16
    trainer._begin_stage(trainer.stages[0], fresh=True)
    assert set(trainer.scalers) == {"G", "D"}
    assert all(isinstance(sc, torch.amp.GradScaler) and sc.is_enabled() for sc in trainer.scalers.values())
    tensors, meta = trainer.state_tensors()
    scalers = json.loads(meta["zoo3d.scaler"])
    assert scalers == {n: sc.state_dict() for n, sc in trainer.scalers.items()} and scalers["G"]["scale"] == 65536.0
    scalers["G"]["scale"] = 64.0
    del scalers["D"]
    other = _trainer(Recipe(), toy / "other")
    other.amp_dtype = torch.float16
    other.load_state(tensors, {**meta, "zoo3d.scaler": json.dumps(scalers)})
    other._begin_stage(other.stages[0], fresh=False)
    assert other.scalers["G"].get_scale() == 64.0 and other.scalers["D"].get_scale() == 65536.0
    with other.autocast():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.float16


# ------------------------------------------------------------------------------------------ data, files, sources

class CountedStreams:
    """``engine.BatchStream`` recorded: the arguments of every stream the engine opens (workers run in this
    process here, whatever the config asks)."""

    def __init__(self, monkeypatch):
        from zoo3d.train.data import BatchStream

        self.opened = []

        def make(dataset, batch, seed, cursor, num_workers, rank, world_size, spec):
            self.opened.append((batch, seed, cursor, num_workers, rank, world_size))
            return BatchStream(dataset, batch, seed, cursor, 0, rank=rank, world_size=world_size, spec=spec)

        monkeypatch.setattr(engine, "BatchStream", make)


def test_real_batches_come_from_one_dataset_per_resolution_and_one_stream_until_a_rollback(toy, monkeypatch):
    built = []

    def build_dataset(data, res, camera_prior, seed):
        built.append((data, res, camera_prior, seed))
        from toy_model import make_sphere_dataset

        return make_sphere_dataset(resolution=res)

    monkeypatch.setattr(engine, "build_dataset", build_dataset)
    streams = CountedStreams(monkeypatch)

    def two(self, config):
        s = Stage("first", 3, self.phases(config), self.optimizers(config), 16, 4)
        return [s, dataclasses.replace(s, name="second", steps=2)]

    plugin = RealRecipe(two)
    plugin.faults = {3: 1}
    config = toy_config(5, checkpoint_every=0, seed=4)
    config.data.num_workers = 2
    Trainer(plugin, config, toy / "run", model_name="toy", device="cpu", progress=False).run()
    assert built == [(config.data, 16, config.camera, 4)]  # once for both stages at 16 px
    # one stream, kept into the second stage (same resolution and batch), reopened at the restored cursor
    assert streams.opened == [(4, 4, 0, 2, 0, 1), (4, 4, 12, 2, 0, 1)]
    d_steps = [s[1] for s in plugin.seen if s[0] == "D"]
    assert d_steps == [0, 1, 2, 3, 3, 4]
    torch.testing.assert_close(plugin.reals[3], plugin.reals[4], rtol=0, atol=0)  # the failed step's batch again


def test_per_process_batches_give_each_process_the_stage_batch_of_real_images(two_processes):
    plugin = Recipe()
    _trainer(plugin, two_processes / "run", steps=1, batch_scope="per_process", world=MirrorWorld(rank=0, size=2)).run()
    assert [s[5] for s in plugin.seen if s[0] == "D"] == [4]


def test_metrics_go_to_the_run_folder_named_as_metrics(toy, monkeypatch):
    written = []
    append = engine.append_line
    monkeypatch.setattr(engine, "append_line", lambda path, line, what: written.append((path, what)) or
                        append(path, line, what))
    _trainer(Recipe(), toy / "run", steps=1).run()
    assert written == [(toy / "run" / "metrics.jsonl", "metrics")]


def test_time_in_the_records_is_since_the_trainer_was_made(toy, monkeypatch):
    import types

    clock = types.SimpleNamespace(now=50.0)
    monkeypatch.setattr(engine, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))

    def log(ctx):
        clock.now += 0.12345
        return {}

    def recipe(self, config):
        return [Stage("main", 3, self.phases(config, log), self.optimizers(config), 16, 4)]

    _trainer(Recipe(recipe), toy / "run", steps=3, log_every=1).run()
    assert [r["time_s"] for r in _records(toy / "run")] == [0.123, 0.247, 0.37]  # in ms


def test_a_module_mismatch_names_the_snapshot_or_the_checkpoint_file(toy):
    from zoo3d.train.checkpoint import CheckpointError

    trainer = _trainer(Recipe(), toy / "run", steps=2, checkpoint_every=2)
    trainer.run()
    tensors, meta = trainer.state_tensors()
    del tensors["generator.net.0.bias"]
    with pytest.raises(CheckpointError) as err:
        _trainer(Recipe(), toy / "other").load_state(tensors, meta)
    assert str(err.value).startswith("Checkpoint 'snapshot' does not fit the model's 'generator' module")
    path = toy / "run" / "checkpoints" / "step_000000002.safetensors"
    tensors, meta = ckpt.read_checkpoint(path)
    tensors["ema.net.0.bias"] = torch.zeros(5)
    ckpt.write_safetensors(tensors, meta, path)
    with pytest.raises(CheckpointError) as err:
        _trainer(Recipe(), toy / "other").run(resume_from=path)
    assert str(err.value).startswith(f"Checkpoint '{path}' does not fit the model's 'ema' module")


def test_load_state_restores_the_ema_and_the_stage(toy):
    def two(self, config):
        s = Stage("first", 2, self.phases(config), self.optimizers(config), 16, 4)
        return [s, dataclasses.replace(s, name="second")]

    trainer = _trainer(Recipe(two), toy / "run")
    with torch.no_grad():
        for p in trainer.ema.parameters():
            p.add_(1.0)
    trainer.stage_index, trainer.step = 1, 3
    tensors, meta = trainer.state_tensors()
    other = _trainer(Recipe(two), toy / "other")
    other.load_state(tensors, meta)
    assert other.stage_index == 1 and other.step == 3
    for a, b in zip(other.ema.parameters(), trainer.ema.parameters()):
        assert torch.equal(a, b)


def test_another_rank_restores_its_own_snapshot_streams(two_processes):
    rank1 = _trainer(Recipe(), two_processes / "run", world=MirrorWorld(rank=1, size=2))
    torch.manual_seed(21)
    rank1.rng.manual_seed(22)
    tensors, meta = rank1.state_tensors()
    expected = torch.rand(2), torch.rand(2, generator=rank1.rng)
    rank1.load_state(tensors, meta)  # a rollback's snapshot, not a file: its streams are this rank's own
    assert torch.equal(torch.rand(2), expected[0]) and torch.equal(torch.rand(2, generator=rank1.rng), expected[1])


def test_a_rollback_inside_a_stage_does_not_start_it_again(toy):
    starts = []

    def recipe(self, config):
        return [Stage("main", 4, self.phases(config), self.optimizers(config), 16, 4,
                      on_start=lambda ctx: starts.append(ctx.step))]

    plugin = Recipe(recipe)
    plugin.faults = {2: 1}
    _trainer(plugin, toy / "run", steps=4, checkpoint_every=2).run()
    assert starts == [0] and [r["step"] for r in _records(toy / "run") if "event" in r] == [3]


def test_a_snapshot_of_another_stage_is_refused(toy):
    from zoo3d.train.engine import _NonFinite
    from zoo3d.train.progress import TrainProgress

    def two(self, config):
        s = Stage("first", 2, self.phases(config), self.optimizers(config), 16, 4)
        return [s, dataclasses.replace(s, name="second")]

    trainer = _trainer(Recipe(two), toy / "run")
    trainer.run_dir.mkdir()
    trainer._snapshot = trainer.state_tensors()
    trainer.stage_index = 1
    with pytest.raises(RuntimeError) as err:
        trainer._rollback(_NonFinite("G", "loss"), TrainProgress(4, enabled=False))
    assert str(err.value) == "NaN rollback crossed a stage boundary"


def test_resume_reads_the_metrics_file_leniently_and_only_on_rank_zero(two_processes):
    _trainer(Recipe(), two_processes / "run", steps=3, checkpoint_every=2, keep_checkpoints=5).run()
    path = two_processes / "run" / "metrics.jsonl"
    with open(path, "ab") as fh:
        fh.write(b'{"step": 3, "cut": "\xc3')  # a record cut inside a UTF-8 character
    before = path.read_bytes()
    checkpoint = two_processes / "run" / "checkpoints" / "step_000000002.safetensors"
    _trainer(Recipe(), two_processes / "run", steps=3, world=MirrorWorld(rank=1, size=2))._resume(checkpoint)
    assert path.read_bytes() == before  # only rank 0 rewrites it
    _trainer(Recipe(), two_processes / "run", steps=3)._resume(checkpoint)
    assert [r["step"] for r in _records(two_processes / "run")] == [1, 2]
    path.unlink()
    _trainer(Recipe(), two_processes / "run", steps=3)._resume(checkpoint)  # no metrics file: nothing to cut
    assert not path.exists()


def test_resuming_a_multi_process_run_in_one_process_says_so(two_processes, capsys):
    _trainer(Recipe(), two_processes / "run", steps=2, checkpoint_every=1, world=MirrorWorld(rank=0, size=2)).run()
    capsys.readouterr()
    _trainer(Recipe(), two_processes / "run", steps=2)._resume(two_processes / "run" / "checkpoints" /
                                                              "step_000000001.safetensors")
    assert capsys.readouterr().err.startswith("Resuming a run written by 2 processes with 1 process: the global "
                                              "batch stays 4 (4 per process)")


def test_a_checkpoint_without_a_process_count_was_written_by_one_process(toy, capsys):
    _trainer(Recipe(), toy / "run", steps=2, checkpoint_every=1).run()
    path = toy / "run" / "checkpoints" / "step_000000001.safetensors"
    tensors, meta = ckpt.read_checkpoint(path)
    del meta["zoo3d.world_size"]
    ckpt.write_safetensors(tensors, meta, path)
    capsys.readouterr()
    trainer = _trainer(Recipe(), toy / "run", steps=2)
    trainer._resume(path)
    assert trainer.step == 1 and capsys.readouterr().err == ""


def test_resuming_in_a_later_stage_with_another_process_count_names_that_stages_batch(two_processes, capsys):
    def two(self, config):
        s = Stage("first", 2, self.phases(config), self.optimizers(config), 16, 4)
        return [s, dataclasses.replace(s, name="second", batch_size=8)]

    _trainer(Recipe(two), two_processes / "run", steps=4, checkpoint_every=3, keep_checkpoints=5).run()
    capsys.readouterr()
    _trainer(Recipe(two), two_processes / "run", steps=4, world=MirrorWorld(rank=0, size=2))._resume(
        two_processes / "run" / "checkpoints" / "step_000000003.safetensors")
    assert "the global batch stays 8 (4 per process)" in capsys.readouterr().err


def test_phases_see_the_trainers_modules_ema_stream_and_state(toy):
    seen = []

    def log(ctx):
        seen.append((ctx.modules, ctx.ema, ctx.rng, ctx.state, ctx.config, ctx.device, ctx.autocast))
        assert ctx.stage is trainer.stages[0]  # in one process, the recipe's own stage
        return {}

    def recipe(self, config):
        return [Stage("main", 1, self.phases(config, log), self.optimizers(config), 16, 4)]

    trainer = _trainer(Recipe(recipe), toy / "run", steps=1)
    trainer.run()
    [(modules, ema, rng, state, config, device, autocast)] = seen
    assert modules is trainer.modules and ema is trainer.ema and rng is trainer.rng and state is trainer.state
    assert config is trainer.config and device == torch.device("cpu") and autocast == trainer.autocast
    assert [s[3:5] for s in trainer.plugin.seen if s[0] == "D"] == [("main", 4)]


def test_other_ranks_write_no_final_samples(two_processes):
    _trainer(Recipe(), two_processes / "run", steps=2, world=MirrorWorld(rank=1, size=2), sample_every=0).run()
    assert not (two_processes / "run" / "samples").exists()


def test_each_sample_grid_is_drawn_once(toy, monkeypatch):
    drawn = []
    monkeypatch.setattr(Trainer, "write_samples", lambda self: drawn.append(self.step))
    _trainer(Recipe(), toy / "run", steps=4, sample_every=2).run()
    assert drawn == [2, 4]  # the last step's grid is not drawn again at the end
    drawn.clear()
    _trainer(Recipe(), toy / "run2", steps=3, sample_every=0).run()
    assert drawn == [3]


def test_errors_inside_a_step_pass_unchanged_unless_a_peer_was_lost(toy, two_processes):
    from zoo3d.train.distributed import PeerLost

    def failing(message):
        def log(ctx):
            raise RuntimeError(message)

        return lambda self, config: [Stage("main", 2, self.phases(config, log), self.optimizers(config), 16, 4)]

    with pytest.raises(RuntimeError) as err:
        _trainer(Recipe(failing("shapes differ")), toy / "run").run()
    assert str(err.value) == "shapes differ"
    with pytest.raises(RuntimeError) as err:
        _trainer(Recipe(failing("gloo: connection closed")), toy / "run1").run()
    assert type(err.value) is RuntimeError  # one process: nothing to lose
    with pytest.raises(PeerLost) as err:
        _trainer(Recipe(failing("gloo: connection closed")), toy / "run2", world=MirrorWorld(rank=0, size=2)).run()
    assert "a training step failed because another process" in str(err.value)


@pytest.mark.parametrize("lengths,cap,expected", [([0, 5, 5], 2, [0, 1, 1]), ([1, 5], 3, [1, 2]),
                                                  ([2, 20], 6, [1, 5])])
def test_split_steps_skips_empty_stages_and_shares_the_rest_by_steps_beyond_the_first(lengths, cap, expected):
    """Spare steps go by (length - 1): [2, 20] capped at 6 is 1 + 1 each, the spare 4 shared 1 : 19."""
    assert split_steps(lengths, cap) == expected


def test_the_device_argument_wins_over_the_config(toy):
    config = toy_config(2)
    config.train.device = "meta"  # a device every torch has, so the choice shows
    trainer = Trainer(Recipe(), config, toy / "run", model_name="toy")
    assert trainer.device == torch.device("meta") and trainer.show_progress  # progress is on by default
    assert all(p.device.type == "meta" for m in trainer.modules.values() for p in m.parameters())
    trainer = Trainer(Recipe(), config, toy / "run", model_name="toy", device="cpu")
    assert trainer.device == torch.device("cpu")
    _, meta = trainer.state_tensors()
    assert meta["zoo3d.plugin_version"] == ""


def test_parameters_the_model_builds_fixed_stay_fixed(toy):
    def build(config):
        modules = ToyModel().build(config)
        modules["generator"].net[2].bias.requires_grad_(False)
        return modules

    trainer = _trainer(Recipe(build=build), toy / "run", steps=2)
    bias = trainer.modules["generator"].net[2].bias
    before = bias.detach().clone()
    trainer.run()
    assert not bias.requires_grad and torch.equal(bias, before)
    assert all(p is not bias for p in trainer.optimizers["G"].param_groups[0]["params"])


def test_an_optimizer_of_a_generator_part_moves_the_ema(toy):
    def part(self, config):
        optim = {**self.optimizers(config), "G": OptimizerSpec(["generator.net"], 5e-3)}
        return [Stage("main", 1, self.phases(config), optim, 16, 4)]

    trainer = _trainer(Recipe(part), toy / "run", steps=1, ema_decay=0.5)
    start = [p.detach().clone() for p in trainer.ema.parameters()]
    trainer.run()
    assert trainer._generator_optimizers == {"G"}
    assert any(not torch.equal(a, b) for a, b in zip(trainer.ema.parameters(), start))


def test_a_run_resumed_mid_stage_goes_on_into_the_next_stage(toy):
    def two(self, config):
        s = Stage("first", 2, self.phases(config), self.optimizers(config), 16, 4)
        return [s, dataclasses.replace(s, name="second")]

    _trainer(Recipe(two), toy / "a", steps=4).run()
    _trainer(Recipe(two), toy / "b", steps=4, checkpoint_every=1, keep_checkpoints=5).run()
    resumed = _trainer(Recipe(two), toy / "b", steps=4)
    assert resumed.run(resume_from=toy / "b" / "checkpoints" / "step_000000001.safetensors").step == 4
    assert [r["loss.D"] for r in _records(toy / "a")] == [r["loss.D"] for r in _records(toy / "b")]


def test_optimizer_states_of_a_format_1_checkpoint_are_found_by_their_old_names(toy):
    trainer = _trainer(Recipe(), toy / "run", steps=2)
    trainer.run()
    tensors, meta = trainer.state_tensors()

    class Renamed(Recipe):
        def optimizers(self, config, **g):
            old = super().optimizers(config, **g)
            return {"generator": old["G"], "discriminator": old["D"]}

        def phases(self, config, log=None):
            return [dataclasses.replace(p, optimizer={"G": "generator", "D": "discriminator"}[p.optimizer])
                    for p in super().phases(config, log)]

    other = _trainer(Renamed(), toy / "other", steps=2)
    other.load_state(tensors, {**meta, "zoo3d.format_version": "1"})
    other._begin_stage(other.stages[0], fresh=False)
    for new, old in (("generator", "G"), ("discriminator", "D")):
        got, want = other.optimizers[new].state_dict()["state"], trainer.optimizers[old].state_dict()["state"]
        assert got.keys() == want.keys() and all(torch.equal(got[i]["exp_avg"], want[i]["exp_avg"]) for i in got)


def test_a_stage_at_another_resolution_reads_its_own_images(toy):
    def two(self, config):
        s = Stage("first", 1, self.phases(config), self.optimizers(config), 16, 4)
        return [s, dataclasses.replace(s, name="second", resolution=8)]

    plugin = RealRecipe(two)
    _trainer(plugin, toy / "run", steps=2).run()
    assert [tuple(r.shape) for r in plugin.reals] == [(4, 3, 16, 16), (4, 3, 8, 8)]


@pytest.mark.parametrize("count, rank, said", [(3, 0, 1), (3, 1, 0), (4, 0, 0)])
def test_a_dataset_smaller_than_the_batch_is_said_once_by_the_first_process(toy, monkeypatch, capsys, count, rank,
                                                                           said):
    from toy_model import SphereDataset

    monkeypatch.setattr(engine, "build_dataset", lambda data, res, **_: SphereDataset(res, count=count))
    monkeypatch.setattr(engine, "GradientSync", lambda world: GradientSync(World()))

    def two(self, config):  # a second stage at another resolution opens another dataset and stream
        s = Stage("first", 2, self.phases(config), self.optimizers(config), 16, 4)
        return [s, dataclasses.replace(s, name="second", resolution=8)]

    _trainer(Recipe(two), toy / "run", steps=4, world=MirrorWorld(rank=rank, size=2)).run()  # data.mirror off
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: dataset")]
    assert notes == [f"note: dataset 'toy:spheres' holds 3 images, fewer than the batch of 4 of stage 'first', so "
                     "every batch holds each image about 1.33 times, from consecutive epochs (each in its own "
                     "order)."] * said
