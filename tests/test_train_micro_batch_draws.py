"""``train.micro_batch`` and random draws, as docs/training.md says: each chunk draws its own latents and cameras
from the run's stream in turn, so a split step trains on other draws than the whole step (the same in
distribution, not draw for draw)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from toy_model import ToyConfig, ToyModel, toy_stage, use_toy
from zoo3d.core.model import LossResult, OptimizerSpec, Phase, Stage
from zoo3d.train.engine import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")

ROOT = Path(__file__).resolve().parents[1]


class Drawing(ToyModel):
    """The stand-in whose discriminator phase draws its fakes' latents and cameras from ``ctx.rng``, recording the
    stream's state before its first draw and every draw."""

    def __init__(self):
        super().__init__()
        self.state: torch.Tensor | None = None
        self.draws: list[tuple[torch.Tensor, torch.Tensor]] = []

    def stages(self, config):
        main = config.stage("main")

        def d_loss(ctx):
            if self.state is None:
                self.state = ctx.rng.get_state()
            n = ctx.stage.batch_size
            z, cams = ctx.sample_z(n), ctx.sample_cameras(n)
            self.draws.append((z, cams.cam2world))
            with torch.no_grad():
                fake = ctx.generator(z, cams).rgb
            disc = ctx.modules["disc"]
            return LossResult(F.softplus(disc(fake).logit).mean() + F.softplus(-disc(ctx.real.images).logit).mean())

        optim = {"D": OptimizerSpec(["disc"], main.lr["D"])}
        return [Stage("main", main.steps, [Phase("D", "D", d_loss)], optim, config.toy.resolution, main.batch_size)]


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


def one_step(run_dir, micro_batch):
    cfg = ToyConfig.model_validate({"train": {"checkpoint_every": 0, "micro_batch": micro_batch},
                                    "stages": [toy_stage(1, batch_size=6).model_dump()]})
    plugin = Drawing()
    trainer = Trainer(plugin, cfg, run_dir, model_name="toy", device="cpu", progress=False)
    trainer._begin_stage(trainer.stages[0], fresh=True)
    trainer._train_step(trainer.stages[0])
    return plugin, trainer.modules["generator"]


def replay(state, generator, sizes):
    """The latents and cameras of chunks of ``sizes``, drawn in turn from a stream started at ``state``."""
    rng = torch.Generator()
    rng.set_state(state)
    out = []
    for n in sizes:
        z = torch.randn(n, generator.z_dim, generator=rng)
        out.append((z, generator.camera_prior.sample(n, generator=rng).cam2world))
    return out


def test_each_chunk_draws_its_latents_and_cameras_from_the_stream_in_turn(toy):
    whole, gen = one_step(toy / "whole", None)
    split, _ = one_step(toy / "split", 2)  # 6 images: three chunks of 2
    assert torch.equal(split.state, whole.state)  # both steps start from the same stream
    for drawn, want in ((whole.draws, replay(whole.state, gen, [6])), (split.draws, replay(split.state, gen, [2] * 3))):
        assert len(drawn) == len(want)
        for (z, c2w), (z_want, c2w_want) in zip(drawn, want):
            assert torch.equal(z, z_want) and torch.equal(c2w, c2w_want)
    # so the split step's fakes are other draws than the whole step's
    assert not torch.allclose(torch.cat([z for z, _ in split.draws]), whole.draws[0][0])


def test_training_md_says_a_split_step_draws_chunk_by_chunk():
    page = re.sub(r"\s*\n\s*", " ", (ROOT / "docs" / "training.md").read_text(encoding="utf-8"))
    section = page[page.index("**Micro-batches**"):]
    assert "Each chunk draws its own latents, cameras and noise, from the run's streams in turn" in section
    assert "not draw for draw" in section
