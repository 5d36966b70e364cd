"""Mixed-precision choices of the engine that a CPU can check: a step the fp16 GradScaler skipped leaves the
EMA alone (the weights did not move), and bf16 support is asked of the trainer's GPU, not the current one."""

from __future__ import annotations

import contextlib
from contextlib import nullcontext
from types import SimpleNamespace

import pytest
import torch

from toy_model import ToyConfig, ToyModel, toy_stage, use_toy
from zoo3d.train.engine import Trainer

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
