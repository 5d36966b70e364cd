"""``train.micro_batch``: a step split into chunks of at most N images sums, weighted by size, to the step
on the whole batch (upstream GRAM's ``batch_split``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import distributed_harness as harness
from toy_model import ToyConfig, ToyModel, toy_stage, use_toy
from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.model import LossResult, OptimizerSpec, Phase, RealBatch, Stage, StepContext
from zoo3d.train.engine import Trainer, micro_batches

pytestmark = pytest.mark.usefixtures("single_thread")


class PerImage(ToyModel):
    """The stand-in with losses that are means of per-image terms and draw nothing at random (the latents
    come from the real images), so a split step must give the whole step's gradients."""

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[str, int, int]] = []

    def stages(self, config):
        main = config.stage("main")

        def fakes(ctx):
            z = ctx.real.images.mean(1).flatten(1)[:, :config.toy.z_dim]
            return ctx.generator(z, ctx.real.cameras).rgb

        def d_loss(ctx):
            self.seen.append(("D", ctx.stage.batch_size, len(ctx.real.images)))
            disc = ctx.modules["disc"]
            with torch.no_grad():
                fake = fakes(ctx)
            loss = F.softplus(disc(fake).logit).mean() + F.softplus(-disc(ctx.real.images).logit).mean()
            return LossResult(loss, {"d_real": disc(ctx.real.images).logit.mean().detach(), "kind": "d"})

        def g_loss(ctx):
            self.seen.append(("G", ctx.stage.batch_size, len(ctx.real.images)))
            return LossResult(F.softplus(-ctx.modules["disc"](fakes(ctx)).logit).mean())

        optim = {"G": OptimizerSpec(["generator"], main.lr["G"]), "D": OptimizerSpec(["disc"], main.lr["D"])}
        return [Stage("main", main.steps, [Phase("D", "D", d_loss), Phase("G", "G", g_loss)], optim,
                      config.toy.resolution, main.batch_size)]


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


def one_step(run_dir, micro_batch, batch_size=6, world=None, take_step=True):
    """One training step of :class:`PerImage` on ``batch_size`` images (the global batch): what each phase
    saw as (phase, stage batch, real images), the step's logs and the parameters after it (before it, if
    not ``take_step``)."""
    cfg = ToyConfig.model_validate({"train": {"checkpoint_every": 0, "micro_batch": micro_batch},
                                    "stages": [toy_stage(1, batch_size=batch_size).model_dump()]})
    plugin = PerImage()
    trainer = Trainer(plugin, cfg, run_dir, model_name="toy", device="cpu", progress=False, world=world)
    trainer._begin_stage(trainer.stages[0], fresh=True)
    logs = trainer._train_step(trainer.stages[0]) if take_step else {}
    params = {f"{m}.{n}": p.detach().clone() for m in ("generator", "disc")
              for n, p in trainer.modules[m].named_parameters()}
    return plugin.seen, logs, params


def test_a_split_step_is_the_whole_batch_step(toy):
    whole_seen, whole_logs, whole = one_step(toy / "a", None)
    split_seen, split_logs, split = one_step(toy / "b", 4)  # 6 images in chunks of at most 4: 3 + 3
    assert whole_seen == [("D", 6, 6), ("G", 6, 6)]
    assert split_seen == [("D", 3, 3), ("D", 3, 3), ("G", 3, 3), ("G", 3, 3)]
    for key in ("loss.D", "loss.G", "grad_norm.D", "grad_norm.G", "d_real"):
        assert float(split_logs[key]) == pytest.approx(float(whole_logs[key]), rel=1e-5, abs=1e-6), key
    assert split_logs["kind"] == "d"
    for name in whole:
        torch.testing.assert_close(split[name], whole[name], rtol=0, atol=2e-6, msg=name)


def test_a_split_step_on_two_processes_is_the_whole_batch_step(toy):
    """Each process cuts its 4 images into 2 + 2 and syncs gradients only at its last chunk (DDP's
    ``no_sync``): the step must still be one process's step on all 8 images, identical on both processes."""
    out = toy / "two"
    out.mkdir()
    proc = harness.launch_two([f"per_image:{out}:2"], timeout=300, ZOO3D_PLUGINS="toy_model")
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, _, whole = one_step(toy / "one", None, batch_size=8)
    ranks = [torch.load(out / f"params_rank{r}.pt") for r in (0, 1)]
    _, _, start = one_step(toy / "zero", None, batch_size=8, take_step=False)
    for name in whole:
        for params in ranks:
            torch.testing.assert_close(params[name], whole[name], rtol=0, atol=2e-6, msg=name)
    assert max((whole[n] - start[n]).abs().max().item() for n in whole) > 1e-4  # the step moved the weights


def test_micro_batches_cut_the_batch_and_weigh_each_chunk_by_its_size():
    cams = CameraPrior().sample(5, generator=torch.Generator().manual_seed(0))
    real = RealBatch(images=torch.arange(5.0).view(5, 1, 1, 1), cameras=cams,
                     extras={"index": torch.arange(5), "name": "heads", "scale": torch.tensor(2.0)})
    ctx = StepContext(modules={}, config=None, stage=Stage("s", 1, [], {}, 8, 5), step=0, stage_step=0,
                      device=torch.device("cpu"), real=real)
    assert micro_batches(ctx, None) == [(ctx, 1.0)] and micro_batches(ctx, 5) == [(ctx, 1.0)]
    chunks = micro_batches(ctx, 2)
    assert [(c.stage.batch_size, w) for c, w in chunks] == [(2, 0.4), (2, 0.4), (1, 0.2)]
    assert [c.real.images.flatten().tolist() for c, _ in chunks] == [[0.0, 1.0], [2.0, 3.0], [4.0]]
    assert [c.real.extras["index"].tolist() for c, _ in chunks] == [[0, 1], [2, 3], [4]]
    assert all(c.real.extras["name"] == "heads" and c.real.extras["scale"] == 2.0 for c, _ in chunks)
    torch.testing.assert_close(chunks[2][0].real.cameras.cam2world, cams.cam2world[4:5])
    assert isinstance(chunks[0][0].real.cameras, Camera)


def test_the_two_process_harness_runs_again_only_after_torchs_own_abort(tmp_path, monkeypatch):
    """The one retry is for a rank aborted inside torch (:data:`harness.ABORT_SIGNATURE`), from empty output
    folders; any other failure is returned at once."""
    import subprocess
    from types import SimpleNamespace

    out = tmp_path / "out"
    out.mkdir()
    answers, seen = [], []

    def run(cmd, **kw):
        seen.append(sorted(p.name for p in out.iterdir()))
        (out / "partial.pt").write_text("x")
        return answers.pop(0)

    monkeypatch.setattr(subprocess, "run", run)
    abort = SimpleNamespace(returncode=1, stderr=f"{harness.ABORT_SIGNATURE}\nrank 0 was killed by SIGABRT")
    answers[:] = [abort, SimpleNamespace(returncode=0, stderr="")]
    assert harness.launch_two([f"per_image:{out}:2"]).returncode == 0 and seen == [[], []]
    other = SimpleNamespace(returncode=1, stderr="AssertionError: steps differ")
    answers[:] = [other]
    assert harness.launch_two([f"per_image:{out}:2"]) is other and len(answers) == 0
    answers[:] = [abort, abort]
    assert harness.launch_two([f"per_image:{out}:2"]).returncode == 1 and not answers
