"""The engine's optimisation wiring against closed forms: EMA, lazy phases, gradient clipping, the data RNG.

A recipe on the test stand-in records what the engine does (which phase ran at which step, the
generator's weights before each generator phase, the gradients each optimiser steps with) and the
records are compared with what the recipe asked for.
"""

from __future__ import annotations

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from toy_model import ToyConfig, ToyModel, one_thread, toy_config, use_toy
from zoo3d.core.model import LossResult, OptimizerSpec, Phase, Stage
from zoo3d.train import losses
from zoo3d.train.engine import Trainer


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().double().flatten() for p in module.parameters()])


class WiredToy(ToyModel):
    """The stand-in with a separate lazy R1 phase, optional G clipping and records of every phase call."""

    def __init__(self, r1_every: int = 3, g_clip: float | None = None, ema: bool = True, g_lr: float | None = None,
                 g_every: int = 1, g_first: bool = False):
        super().__init__()
        self.g_first = g_first
        self.faults: dict[tuple[str, int], str] = {}  # (phase, step) -> "loss" or "grad", injected once
        self.r1_every, self.g_clip, self.ema, self.g_lr, self.g_every = r1_every, g_clip, ema, g_lr, g_every
        self.contexts: list[tuple[str, int, int]] = []  # (stage name, step, stage_step) seen by the D phase
        self.calls: list[tuple[str, int]] = []
        self.generator_before_g: list[torch.Tensor] = []

    def _fault(self, phase, ctx, loss):
        kind = self.faults.pop((phase, ctx.step), None)
        if kind == "loss":
            return loss * float("nan")
        if kind == "grad":
            p = next(ctx.modules["disc" if phase == "D" else "generator"].parameters())
            return loss + 0.0 * torch.sqrt(p - p.detach()).sum()  # finite loss, NaN gradient
        return loss

    def stages(self, config):
        t, main = config.toy, config.stage("main")

        def fake(ctx):
            return ctx.generator(ctx.sample_z(main.batch_size), ctx.sample_cameras(main.batch_size)).rgb

        def d_loss(ctx):
            self.calls.append(("D", ctx.step))
            self.contexts.append((ctx.stage.name, ctx.step, ctx.stage_step))
            with torch.no_grad():
                fakes = fake(ctx)
            disc = ctx.modules["disc"]
            return LossResult(self._fault("D", ctx, losses.discriminator_loss(disc(ctx.real.images).logit,
                                                                              disc(fakes).logit)))

        def r1_loss(ctx):
            self.calls.append(("R1", ctx.step))
            real = ctx.real.images.detach().requires_grad_(True)
            return LossResult(losses.r1_penalty(ctx.modules["disc"](real).logit, real, 1.0, self.r1_every))

        def g_loss(ctx):
            self.calls.append(("G", ctx.step))
            self.generator_before_g.append(_flat(ctx.generator))
            # scaled up so the raw gradient norm is far above any clip used here
            return LossResult(self._fault("G", ctx, 100.0 * losses.generator_loss(ctx.modules["disc"](fake(ctx)).logit)))

        optim = {"G": OptimizerSpec(["generator"], self.g_lr or main.lr["G"], grad_clip=self.g_clip),
                 "D": OptimizerSpec(["disc"], main.lr["D"])}
        phases = [Phase("D", "D", d_loss), Phase("R1", "D", r1_loss, every=self.r1_every)]
        g_phase = Phase("G", "G", g_loss, every=self.g_every)
        phases = [g_phase, *phases] if self.g_first else [*phases, g_phase]
        return [Stage.from_config(main, phases, optim, resolution=t.resolution, ema=self.ema)]


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        yield tmp_path


def _train(plugin: WiredToy, run_dir, steps: int, decay: float = 0.8, stage_decay: float | None = None) -> Trainer:
    cfg = toy_config(steps, ema_decay=decay, checkpoint_every=0)
    cfg.stage("main").ema_decay = stage_decay
    trainer = Trainer(plugin, cfg, run_dir, model_name="toy", device="cpu", progress=False)
    assert trainer.run().status == "done"
    return trainer


@pytest.mark.parametrize("run_decay, stage_decay, decay", [(0.8, None, 0.8), (0.5, None, 0.5), (0.8, 0.5, 0.5)],
                         ids=["run_0.8", "run_0.5", "stage_0.5_over_run_0.8"])
def test_ema_after_n_steps_equals_its_closed_form(toy, run_decay, stage_decay, decay):
    """EMA_N = d^N w_0 + sum_k (1 - d) d^(N - k) w_k, w_k the generator after step k; d is the stage's
    ``ema_decay`` where it sets one, else ``train.ema_decay``."""
    plugin = WiredToy()
    trainer = _train(plugin, toy / "run", steps=6, decay=run_decay, stage_decay=stage_decay)
    weights = plugin.generator_before_g + [_flat(trainer.modules["generator"])]  # w_0 .. w_N
    n = len(weights) - 1
    assert n == 6
    expected = decay ** n * weights[0]
    for k in range(1, n + 1):
        expected = expected + (1 - decay) * decay ** (n - k) * weights[k]
    got = _flat(trainer.ema)
    assert (weights[-1] - weights[0]).abs().max() > 1e-3  # the generator moved: the check has teeth
    torch.testing.assert_close(got, expected, rtol=0, atol=2e-6)


def test_the_ema_moves_only_on_steps_where_the_generator_stepped(toy):
    """G every 2 steps, before D: the average takes one term per generator update, none for D-only steps."""
    decay = 0.7
    plugin = WiredToy(g_every=2, g_first=True)
    trainer = _train(plugin, toy / "run", steps=5, decay=decay)
    weights = plugin.generator_before_g + [_flat(trainer.modules["generator"])]  # w_0 .. w_3 (G at steps 0, 2, 4)
    assert [s for name, s in plugin.calls if name == "G"] == [0, 2, 4]
    n = len(weights) - 1
    expected = decay ** n * weights[0]
    for k in range(1, n + 1):
        expected = expected + (1 - decay) * decay ** (n - k) * weights[k]
    torch.testing.assert_close(_flat(trainer.ema), expected, rtol=0, atol=2e-6)
    assert plugin.contexts == [("main", s, s) for s in range(5)]  # the phases see their stage and step


def _warmed_up(weights: list[torch.Tensor], decay: float) -> torch.Tensor:
    """torch_ema's average: e_0 = w_0, e_n = d_n e_(n-1) + (1 - d_n) w_n with d_n = min(d, (1 + n) / (10 + n))."""
    ema = weights[0]
    for n, w in enumerate(weights[1:], start=1):
        d = min(decay, (1 + n) / (10 + n))
        ema = d * ema + (1 - d) * w
    return ema


def test_ema_warmup_ramps_the_decay_in_per_update_as_torch_ema(toy):
    """With ``train.ema_warmup`` the n-th generator update averages at min(d, (1 + n) / (10 + n)): n counts
    updates, not steps (G every 2 steps here), and the ramp reaches d = 0.75 only at n = 26."""
    decay = 0.75
    plugin = WiredToy(g_every=2, g_first=True)
    cfg = toy_config(9, ema_decay=decay, checkpoint_every=0, ema_warmup=True)
    trainer = Trainer(plugin, cfg, toy / "run", model_name="toy", device="cpu", progress=False)
    assert trainer.run().status == "done"
    weights = plugin.generator_before_g + [_flat(trainer.modules["generator"])]  # w_0 .. w_5 (G at 0, 2, 4, 6, 8)
    assert len(weights) == 6 and trainer.ema_updates == 5
    expected = _warmed_up(weights, decay)
    torch.testing.assert_close(_flat(trainer.ema), expected, rtol=0, atol=2e-6)
    flat = decay ** 5 * weights[0] + sum((1 - decay) * decay ** (5 - k) * weights[k] for k in range(1, 6))
    assert (expected - flat).abs().max() > 1e-3  # the ramp is not the constant decay: the check has teeth


def test_ema_rampup_caps_the_half_life_as_eg3d(toy):
    """StyleGAN2-ADA / EG3D: the n-th update's half-life is min(H, (n - 1) r) steps (H = decay's), so the first
    update copies the generator and the decay reaches 0.75 (H = 2.41 steps) after n - 1 > H / r = 4.8 steps."""
    import math

    decay, rampup = 0.75, 0.5
    plugin = WiredToy()
    cfg = toy_config(8, ema_decay=decay, checkpoint_every=0, ema_rampup=rampup)
    trainer = Trainer(plugin, cfg, toy / "run", model_name="toy", device="cpu", progress=False)
    assert trainer.run().status == "done"
    weights = plugin.generator_before_g + [_flat(trainer.modules["generator"])]  # w_0 .. w_8
    half_life = math.log(0.5) / math.log(decay)
    ema = weights[0]
    for n, w in enumerate(weights[1:], start=1):
        capped = min(half_life, (n - 1) * rampup)
        d = 0.5 ** (1 / capped) if capped > 0 else 0.0
        ema = d * ema + (1 - d) * w
    torch.testing.assert_close(_flat(trainer.ema), ema, rtol=0, atol=2e-6)
    flat = decay ** 8 * weights[0] + sum((1 - decay) * decay ** (8 - k) * weights[k] for k in range(1, 9))
    assert (ema - flat).abs().max() > 1e-3  # the ramp matters here: the check has teeth


def test_ema_warmup_and_rampup_are_not_both_set():
    with pytest.raises(ValueError, match="two ramps of the EMA's decay; set one"):
        toy_config(2, ema_warmup=True, ema_rampup=0.05)


def test_ema_warmup_count_survives_a_resume(toy):
    """The update count is in the checkpoint: a run resumed at step 4 averages as the uninterrupted one."""
    def run(run_dir, steps, resume_from=None):
        cfg = toy_config(steps, ema_decay=0.9, checkpoint_every=4, ema_warmup=True)
        trainer = Trainer(WiredToy(), cfg, run_dir, model_name="toy", device="cpu", progress=False)
        result = trainer.run(resume_from)
        return trainer, result

    straight, _ = run(toy / "straight", 8)
    first, stopped = run(toy / "resumed", 4)
    assert first.ema_updates == 4
    resumed, _ = run(toy / "resumed", 8, resume_from=stopped.checkpoint)
    assert resumed.ema_updates == straight.ema_updates == 8
    torch.testing.assert_close(_flat(resumed.ema), _flat(straight.ema), rtol=0, atol=1e-7)


def test_a_stage_without_ema_keeps_the_ema_equal_to_the_generator(toy):
    trainer = _train(WiredToy(ema=False), toy / "run", steps=3)
    assert torch.equal(_flat(trainer.ema), _flat(trainer.modules["generator"]))


def test_a_lazy_phase_runs_exactly_every_k_steps(toy):
    plugin = WiredToy(r1_every=3)
    _train(plugin, toy / "run", steps=7)
    assert [s for name, s in plugin.calls if name == "R1"] == [0, 3, 6]
    assert [s for name, s in plugin.calls if name == "D"] == list(range(7))
    assert [s for name, s in plugin.calls if name == "G"] == list(range(7))
    # within a step the phases run in recipe order
    assert plugin.calls[:4] == [("D", 0), ("R1", 0), ("G", 0), ("D", 1)]
    import json

    records = [json.loads(line) for line in (toy / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss.R1" in r] == [1, 4, 7]  # records count completed steps


def test_the_training_benchmark_times_a_lazy_phase_at_its_own_frequency(toy):
    """``zoo3d bench train``'s timing advances the step counter as training does: R1 every 3 steps runs on
    steps 0, 3, 6 of the warm-up and timed steps, and the count timed is a whole number of its period."""
    from zoo3d.benchmarks.train import lazy_period, time_stage

    plugin = WiredToy(r1_every=3)
    trainer = Trainer(plugin, toy_config(20, checkpoint_every=0), toy / "run", model_name="toy", device="cpu",
                      progress=False)
    stage = trainer.stages[0]
    trainer.enter_stage(stage)
    assert lazy_period(stage) == 3
    seconds, timed = time_stage(trainer, stage, warmup=2, timed=4, device=torch.device("cpu"))
    assert timed == 6 and seconds > 0
    assert [s for name, s in plugin.calls if name == "R1"] == [0, 3, 6]
    assert [s for name, s in plugin.calls if name == "D"] == list(range(8))


def test_the_training_benchmark_times_every_model_that_trains_inverters_included():
    from zoo3d.benchmarks.train import trained_models
    from zoo3d.plugins import get_host

    timed = {spec.name for spec, _ in trained_models()}
    trainable = {s.name for s in get_host().models if "tiny" in s.presets() and s.load().requires_checkpoint}
    assert timed == trainable
    assert {"gram", "gram_hd", "gram_inverter", "pigan", "stylesdf", "triplane"} <= timed
    assert not timed & {"oracle", "oracle_inconsistent"}


def _step_gradient_norms(monkeypatch):
    """Record, for every optimiser step, the global norm of the gradients it is about to apply."""
    seen: list[tuple[torch.optim.Optimizer, float]] = []

    def hook(optimizer, args, kwargs):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        seen.append((optimizer, float(torch.nn.utils.get_total_norm(grads))))

    handle = register_optimizer_step_pre_hook(hook)
    return seen, handle


def test_gradient_clipping_bounds_the_global_norm_it_steps_with(toy, monkeypatch):
    import json

    clip = 1e-3
    seen, handle = _step_gradient_norms(monkeypatch)
    try:
        trainer = _train(WiredToy(g_clip=clip), toy / "run", steps=3)
    finally:
        handle.remove()
    g_opt, d_opt = trainer.optimizers["G"], trainer.optimizers["D"]
    g_norms = [n for opt, n in seen if opt is g_opt]
    d_norms = [n for opt, n in seen if opt is d_opt]
    assert len(g_norms) == 3 and len(d_norms) == 3 + 1  # D and R1 at step 0, then D only (R1 every 3)
    records = [json.loads(line) for line in (toy / "run" / "metrics.jsonl").read_text().splitlines()]
    raw = [r["grad_norm.G"] for r in records]
    assert min(raw) > 100 * clip  # far above the clip, so clipping must act
    for n in g_norms:
        assert n == pytest.approx(clip, rel=1e-4)  # scaled onto the bound, not below it
    # an optimiser without grad_clip steps with the raw gradient: the logged norm
    d_logged = [r["grad_norm.D"] for r in records]
    assert [d_norms[0], d_norms[2], d_norms[3]] == pytest.approx(d_logged, rel=1e-5)


def test_clipping_keeps_the_gradient_direction(toy, monkeypatch):
    """Clipping scales the whole gradient by one factor: the first G step of a clipped run applies the
    unclipped run's first gradient times clip / its global norm."""
    grads: dict[str, list[torch.Tensor]] = {}

    def record(tag):
        def hook(optimizer, args, kwargs):
            if optimizer.param_groups[0]["params"][0].shape == trainer_g_shape[0]:
                grads.setdefault(tag, []).append(
                    torch.cat([p.grad.flatten() for g in optimizer.param_groups for p in g["params"]]).clone())
        return hook

    trainer_g_shape = [next(ToyModel().build(ToyConfig())["generator"].parameters()).shape]
    for tag, clip in (("free", None), ("clipped", 1e-3)):
        handle = register_optimizer_step_pre_hook(record(tag))
        try:
            _train(WiredToy(g_clip=clip), toy / tag, steps=1)
        finally:
            handle.remove()
    free, clipped = grads["free"][0], grads["clipped"][0]
    torch.testing.assert_close(clipped, free * (1e-3 / free.norm()), rtol=1e-4, atol=1e-12)


def test_loading_real_batches_leaves_the_process_rng_alone():
    """Models draw noise from the process RNG; a data loader opened mid-epoch on resume must not shift it."""
    from zoo3d.train.data import BatchStream

    data = [{"image": torch.full((3, 2, 2), float(i))} for i in range(5)]
    torch.manual_seed(0)
    before = torch.get_rng_state()
    stream = BatchStream(data, 2, seed=0, cursor=3)
    batches = [stream.next(torch.device("cpu")).images[:, 0, 0, 0].tolist() for _ in range(4)]
    assert torch.equal(torch.get_rng_state(), before)
    again = BatchStream(data, 2, seed=0, cursor=3)
    assert [again.next(torch.device("cpu")).images[:, 0, 0, 0].tolist() for _ in range(4)] == batches


@pytest.mark.parametrize("phase,kind,what", [("G", "loss", "loss"), ("D", "grad", "gradient")])
def test_a_non_finite_loss_or_gradient_is_rolled_back_and_named(toy, phase, kind, what):
    import json

    plugin = WiredToy()
    plugin.faults[(phase, 2)] = kind
    cfg = toy_config(4, checkpoint_every=2)
    trainer = Trainer(plugin, cfg, toy / "run", model_name="toy", device="cpu", progress=False)
    assert trainer.run().status == "done"
    events = [r for r in map(json.loads, (toy / "run" / "metrics.jsonl").read_text().splitlines()) if "event" in r]
    assert events == [{"event": "nan_rollback", "step": 3, "phase": phase, "what": what, "restored_step": 2,
                       "rollback": 1}]
