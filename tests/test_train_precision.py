"""Mixed-precision choices of the engine that a CPU can check: a step the fp16 GradScaler skipped leaves the
EMA alone (the weights did not move), a stage that keeps its Adams keeps their GradScalers, and bf16 support
is asked of the trainer's GPU, not the current one."""

from __future__ import annotations

import contextlib
import json
import shutil
from contextlib import nullcontext
from types import SimpleNamespace

import pytest
import torch

from toy_model import ToyConfig, ToyModel, toy_stage, use_toy
from zoo3d.launch import train_model
from zoo3d.train.engine import Trainer, TrainingDiverged

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


def _weights(module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_a_step_the_grad_scaler_skipped_does_not_move_the_ema(toy):
    """fp16 + GradScaler as on a GPU without bf16 (CPU GradScalers, no autocast): step 2's generator gradients
    are NaN, so its scaler skips the step and halves its scale; the EMA must stay where it was."""
    config = ToyConfig.model_validate({"train": {"checkpoint_every": 0, "ema_decay": 0.9},
                                       "toy": {"nan_at_step": 2, "nan_kind": "grad"},
                                       "stages": [toy_stage(4).model_dump()]})
    trainer = Trainer(ToyModel(), config, toy / "run", model_name="toy", device="cpu", progress=False)
    trainer.amp_dtype, trainer.autocast = torch.float16, nullcontext
    stage = trainer.stages[0]
    trainer.enter_stage(stage)
    assert sorted(trainer.scalers) == ["D", "G"]
    gen = trainer.modules["generator"]
    for _ in range(2):
        trainer.bench_step(stage)
    weights, ema, scale = _weights(gen), _weights(trainer.ema), trainer.scalers["G"].get_scale()
    assert not _same(ema, weights)  # an average that lags: an update would move it
    trainer.bench_step(stage)  # step 2: skipped by G's scaler
    assert trainer.scalers["G"].get_scale() < scale
    assert _same(_weights(gen), weights)
    assert _same(_weights(trainer.ema), ema)
    trainer.bench_step(stage)  # step 3 steps again, and so does the EMA
    assert not _same(_weights(gen), weights) and not _same(_weights(trainer.ema), ema)


def test_phases_are_told_the_dtype_autocast_computes_in(toy):
    """The shared GAN steps take R1's real pass out of fp16 autocast (zoo3d.train.gan): they read the dtype here."""
    config = ToyConfig.model_validate({"stages": [toy_stage(2).model_dump()]})
    trainer = Trainer(ToyModel(), config, toy / "run", model_name="toy", device="cpu", progress=False)
    assert trainer.amp_dtype is None and trainer._context(trainer.stages[0], real=None).amp_dtype is None
    for dtype in (torch.bfloat16, torch.float16):
        trainer.amp_dtype = dtype
        assert trainer._context(trainer.stages[0], real=None).amp_dtype is dtype


def _fp16_with_cpu_scalers(monkeypatch):
    """What ``_setup_precision`` picks on a GPU without bf16, with CPU GradScalers; the arithmetic stays fp32."""
    monkeypatch.setattr(Trainer, "_setup_precision", lambda self: setattr(self, "amp_dtype", torch.float16))
    monkeypatch.setattr(Trainer, "autocast", lambda self: nullcontext())


def _scalers(run, step: int) -> dict[str, tuple[float, int]]:
    from safetensors import safe_open

    with safe_open(str(run / "checkpoints" / f"step_{step:09d}.safetensors"), "pt") as fh:
        stored = json.loads(fh.metadata()["zoo3d.scaler"])
    return {name: (s["scale"], s["_growth_tracker"]) for name, s in stored.items()}


def test_a_stage_that_keeps_the_optimiser_state_keeps_its_grad_scalers(toy, monkeypatch):
    """Two stages of 3 steps; G's gradient is NaN at step 1, so G's scaler skips it and halves 65536 (its
    growth count starts again; D's counts every step). A second stage that keeps the Adams goes on with that
    scaler, also when resumed at the boundary; one that starts fresh Adams starts fresh scalers."""
    _fp16_with_cpu_scalers(monkeypatch)
    nan = ["toy.stages=2", "toy.nan_at_step=1", "toy.nan_kind=grad"]
    train_model("toy", out=toy / "fresh", overrides=nan, progress=False)
    train_model("toy", out=toy / "kept", overrides=nan + ["toy.keep_optimizer_state=true"], progress=False)
    end_of_first = {"G": (32768.0, 1), "D": (65536.0, 3)}
    assert _scalers(toy / "fresh", 3) == _scalers(toy / "kept", 3) == end_of_first
    assert _scalers(toy / "fresh", 6) == {"G": (65536.0, 3), "D": (65536.0, 3)}
    assert _scalers(toy / "kept", 6) == {"G": (32768.0, 4), "D": (65536.0, 6)}
    shutil.copytree(toy / "kept", toy / "resumed")
    (toy / "resumed" / "checkpoints" / "step_000000006.safetensors").unlink()
    (toy / "resumed" / "latest").write_text("checkpoints/step_000000003.safetensors\n")
    train_model("toy", out=toy / "resumed", resume=True, progress=False)
    assert _scalers(toy / "resumed", 6) == _scalers(toy / "kept", 6)


def test_bf16_support_is_asked_of_the_trainers_gpu(monkeypatch):
    """A stand-in CUDA with bf16 on GPU 1 only and GPU 0 current (``torch.cuda.is_bf16_supported`` asks
    the current device): ``--device cuda:1`` trains in bf16, ``cuda:0`` falls back to fp16."""
    current = [0]

    @contextlib.contextmanager
    def device(where):
        index = torch.device(where).index
        before = current[0]
        current[0] = before if index is None else index
        try:
            yield
        finally:
            current[0] = before

    monkeypatch.setattr(torch.cuda, "device", device)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: current[0] == 1)
    config = ToyConfig.model_validate({"train": {"amp": True}})
    picked = {}
    for name in ("cuda:1", "cuda:0", "cuda"):
        trainer = SimpleNamespace(device=torch.device(name), config=config)
        Trainer._setup_precision(trainer)
        picked[name] = trainer.amp_dtype
    assert picked == {"cuda:1": torch.bfloat16, "cuda:0": torch.float16, "cuda": torch.float16}
    assert current == [0]  # the current device is put back


def test_a_gradient_that_stays_nan_under_a_grad_scaler_ends_in_rollbacks_not_endless_skips(toy, monkeypatch):
    """G's gradient is NaN at every step. Its scaler skips steps 1 to 16, halving 65536 = 2¹⁶ down to 1; step 17's
    NaN gradient, taken at scale 1 and so not finite even unscaled, rolls the run back. Each rollback restores
    the start's scaler, so with ``max_nan_rollbacks`` = 1 the second failure at step 17 stops the run, where it
    used to end 'done' with G never moved and its scale at 65536 · 2⁻ⁿ."""
    _fp16_with_cpu_scalers(monkeypatch)
    monkeypatch.setattr(ToyModel, "_fault", _nan_gradient_always)
    with pytest.raises(TrainingDiverged,
                       match=r"non-finite gradient in phase 'G' at step 17 kept coming back after 1 "):
        train_model("toy", out=toy / "run", overrides=["stages.main.steps=60", "train.max_nan_rollbacks=1",
                                                       "train.checkpoint_every=0"], progress=False)
    events = [json.loads(line) for line in (toy / "run" / "metrics.jsonl").read_text().splitlines()
              if '"event"' in line]
    assert [(e["step"], e["phase"], e["what"], e["restored_step"]) for e in events] == [(17, "G", "gradient", 0)] * 2


def _nan_gradient_always(self, ctx, loss):
    p = next(ctx.generator.parameters())
    return loss + 0.0 * torch.sqrt(p - p.detach()).sum()  # a finite loss with a NaN gradient
