"""``train.micro_batch`` and running means: a buffer a loss moves once per forward pass (the tri-plane model's
``w_avg``, the truncation centre, updated from the discriminator phase's fakes) moves once a step, towards the
mean of the whole batch, however many chunks the step is cut into; as over processes (``BufferSync``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from toy_model import ToyConfig, ToyModel, toy_stage, use_toy
from zoo3d.core.model import LossResult, OptimizerSpec, Phase, Stage
from zoo3d.nn.mapping import MappingNetwork
from zoo3d.train.engine import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")

BETA = 0.9


class Tracking(ToyModel):
    """The stand-in whose discriminator phase maps latents taken from the real images (no random draw) through a
    mapping network that tracks its mean w, as the tri-plane recipe's fakes do; it records every w it mapped."""

    def __init__(self):
        super().__init__()
        self.ws: list[torch.Tensor] = []

    def build(self, config):
        modules = super().build(config)
        modules["disc"].mapping = MappingNetwork(config.toy.z_dim, 5, num_layers=2, w_avg_beta=BETA)
        modules["disc"].register_buffer("setting", torch.zeros(3))  # a value the loss writes, the same every pass
        return modules

    def stages(self, config):
        main = config.stage("main")

        def d_loss(ctx):
            disc = ctx.modules["disc"]
            z = ctx.real.images.mean(1).flatten(1)[:, :config.toy.z_dim]
            w = disc.mapping(z, update_w_avg=True)
            disc.setting.fill_(0.9)
            self.ws.append(w.detach().clone())
            loss = F.softplus(-disc(ctx.real.images).logit).mean() + w.square().mean()
            return LossResult(loss)

        def g_loss(ctx):
            z = ctx.real.images.mean(1).flatten(1)[:, :config.toy.z_dim]
            return LossResult(F.softplus(-ctx.modules["disc"](ctx.generator(z, ctx.real.cameras).rgb).logit).mean())

        optim = {"G": OptimizerSpec(["generator"], main.lr["G"]), "D": OptimizerSpec(["disc"], main.lr["D"])}
        return [Stage("main", main.steps, [Phase("D", "D", d_loss), Phase("G", "G", g_loss)], optim,
                      config.toy.resolution, main.batch_size)]


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


def one_step(run_dir, micro_batch):
    """One step on 6 images: the ws the discriminator phase mapped, and the modules' buffers after it."""
    cfg = ToyConfig.model_validate({"train": {"checkpoint_every": 0, "micro_batch": micro_batch},
                                    "stages": [toy_stage(1, batch_size=6).model_dump()]})
    plugin = Tracking()
    trainer = Trainer(plugin, cfg, run_dir, model_name="toy", device="cpu", progress=False)
    trainer._begin_stage(trainer.stages[0], fresh=True)
    start = trainer.modules["disc"].mapping.w_avg.clone()
    trainer._train_step(trainer.stages[0])
    buffers = {f"{m}.{n}": b.detach().clone() for m in ("generator", "disc")
               for n, b in trainer.modules[m].named_buffers()}
    return plugin.ws, start, buffers


@pytest.mark.parametrize("micro_batch", [3, 2, 4])  # 3 + 3, three of 2, 3 + 3 (near-equal chunks)
def test_a_running_mean_moves_once_a_step_towards_the_whole_batchs_mean(toy, micro_batch):
    ws, start, whole = one_step(toy / "whole", None)
    split_ws, split_start, split = one_step(toy / f"split{micro_batch}", micro_batch)
    assert len(ws) == 1 and len(split_ws) == -(-6 // micro_batch) and len(split_ws) > 1
    torch.testing.assert_close(torch.cat(split_ws), ws[0], rtol=0, atol=1e-6)  # the same ws, in chunks
    assert torch.equal(start, torch.zeros(5)) and torch.equal(split_start, start)
    # the mapping's update, w_avg <- mean(w) + beta (w_avg - mean(w)), taken once with the mean of all six ws
    want = torch.lerp(torch.cat(split_ws).mean(0), start, BETA)
    assert float(want.abs().max()) > 1e-3  # the step moved it: there is something to compare
    torch.testing.assert_close(split["disc.mapping.w_avg"], want, rtol=0, atol=1e-6)
    torch.testing.assert_close(whole["disc.mapping.w_avg"], want, rtol=0, atol=1e-6)
    for name, value in whole.items():  # every other buffer as the whole step left it
        torch.testing.assert_close(split[name], value, rtol=0, atol=1e-6, msg=name)
    # a value every chunk writes is that value, not a sum of thirds of it
    assert torch.equal(split["disc.setting"], torch.full((3,), 0.9)) and torch.equal(whole["disc.setting"],
                                                                                      split["disc.setting"])
