"""The training engine on the test stand-in model: resume, rollback, stages, signals, learning."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import metrics_by_step
from toy_model import REAL_COLOUR, one_thread, use_toy
from zoo3d.launch import train_model

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        yield tmp_path


def test_resume_continues_exactly_like_an_uninterrupted_run(toy):
    straight = train_model("toy", out=toy / "a", progress=False)
    assert straight.step == 6
    first = train_model("toy", out=toy / "b", steps=3, progress=False)
    assert first.step == 3
    resumed = train_model("toy", out=toy / "b", resume=True, progress=False)
    assert resumed.step == 6
    a, b = metrics_by_step(toy / "a"), metrics_by_step(toy / "b")
    assert sorted(b) == [1, 2, 3, 4, 5, 6]
    for step in (4, 5, 6):
        assert a[step] == b[step], step
    assert a[4]["loss.D"] != a[5]["loss.D"]  # the comparison is not between constants


def test_resume_across_a_stage_boundary_calls_on_start_once(toy):
    from safetensors import safe_open

    train_model("toy", out=toy / "a", overrides=["toy.stages=2"], progress=False)
    # Resume a copy from the checkpoint that ended stage one (step 3).
    shutil.copytree(toy / "a", toy / "b")
    (toy / "b" / "checkpoints" / "step_000000006.safetensors").unlink()
    (toy / "b" / "latest").write_text("checkpoints/step_000000003.safetensors\n")
    train_model("toy", out=toy / "b", resume=True, progress=False)
    a, b = metrics_by_step(toy / "a"), metrics_by_step(toy / "b")
    assert [a[s] for s in (4, 5, 6)] == [b[s] for s in (4, 5, 6)]
    assert a[4]["stage"] == "second"
    for run in ("a", "b"):
        with safe_open(str(toy / run / "checkpoints" / "step_000000006.safetensors"), "pt") as fh:
            assert json.loads(fh.metadata()["zoo3d.state"])["stage_starts"] == 2


def _adam_steps(run: Path, step: int) -> dict[str, float]:
    from safetensors import safe_open

    with safe_open(str(run / "checkpoints" / f"step_{step:09d}.safetensors"), "pt") as fh:
        return {k: fh.get_tensor(k).item() for k in fh.keys() if k.startswith("optim.") and k.endswith(".step")}


def test_a_stage_that_keeps_the_optimiser_state_goes_on_with_the_moments_and_resumes_so(toy, monkeypatch):
    """pi-GAN's curriculum keeps one Adam through its resolutions: the second stage's optimisers go on counting
    from the first stage's steps (bias correction and moments included), also when resumed at the boundary."""
    keep = ["toy.stages=2", "toy.keep_optimizer_state=true"]
    train_model("toy", out=toy / "fresh", overrides=["toy.stages=2"], progress=False)
    train_model("toy", out=toy / "a", overrides=keep, progress=False)
    assert set(_adam_steps(toy / "fresh", 6).values()) == {3.0}  # new optimisers at the stage boundary
    assert set(_adam_steps(toy / "a", 6).values()) == {6.0}
    shutil.copytree(toy / "a", toy / "b")  # resumed from the checkpoint that ended stage one (step 3)
    (toy / "b" / "checkpoints" / "step_000000006.safetensors").unlink()
    (toy / "b" / "latest").write_text("checkpoints/step_000000003.safetensors\n")
    from zoo3d.train import engine

    begun = []  # the finished stage's optimisers are rebuilt, the stage is not begun: its batch may not divide
    monkeypatch.setattr(engine, "process_batch", lambda b, w, scope, what: begun.append(what) or (b, b))
    train_model("toy", out=toy / "b", resume=True, progress=False)
    assert "Stage 'first'" not in begun and "Stage 'second'" in begun
    fresh, a, b = metrics_by_step(toy / "fresh"), metrics_by_step(toy / "a"), metrics_by_step(toy / "b")
    assert [a[s] for s in (4, 5, 6)] == [b[s] for s in (4, 5, 6)]
    assert _adam_steps(toy / "b", 6) == _adam_steps(toy / "a", 6)
    assert [fresh[s] for s in (1, 2, 3)] == [a[s] for s in (1, 2, 3)]
    assert fresh[5]["loss.D"] != a[5]["loss.D"]  # the kept moments change the second stage's steps


def test_frozen_modules_do_not_move_in_their_stage(toy):
    from zoo3d.runs import load_model

    train_model("toy", out=toy / "a", overrides=["toy.stages=2"], progress=False)
    end_of_first = load_model(str(toy / "a" / "checkpoints" / "step_000000003.safetensors"), ema=False)
    final = load_model(str(toy / "a"), ema=False)
    g0, g1 = end_of_first.modules["generator"].net, final.modules["generator"].net
    assert torch.equal(g0[0].weight, g1[0].weight)  # frozen in stage two
    assert not torch.equal(g0[2].weight, g1[2].weight)  # trained in stage two


def test_transient_nan_is_rolled_back_and_logged(toy):
    for kind in ("loss", "grad"):
        run = toy / kind
        result = train_model("toy", out=run, overrides=["toy.nan_at_step=4", f"toy.nan_kind={kind}"],
                             progress=False)
        assert result.status == "done" and result.step == 6
        events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
                  if "event" in json.loads(line)]
        assert len(events) == 1
        assert events[0]["event"] == "nan_rollback" and events[0]["what"] == ("loss" if kind == "loss" else "gradient")
        assert events[0]["step"] == 5 and events[0]["restored_step"] == 3  # toy.nan_at_step counts from 0
        final = metrics_by_step(run)[6]
        assert all(v == v and abs(v) != float("inf") for k, v in final.items() if isinstance(v, float))


def test_a_rollback_restores_a_state_tensor_a_phase_changes_in_place(toy):
    """``ctx.state`` tensors are restored from copies: on the CPU a restored tensor used to be the snapshot's
    own, so a phase's in-place update changed the snapshot and a second rollback (or one after a resume)
    restored the changed value."""
    from safetensors import safe_open

    from toy_model import ToyModel, toy_config
    from zoo3d.core.model import Phase
    from zoo3d.train.engine import Trainer

    class Counting(ToyModel):
        def stages(self, config):
            stages = super().stages(config)
            for stage in stages:
                g = stage.phases[1]

                def g_loss(ctx, inner=g.loss):
                    ctx.state.setdefault("g_calls", torch.zeros(())).add_(1)
                    return inner(ctx)
                stage.phases[1] = Phase(g.name, g.optimizer, g_loss, g.every)
            return stages

    def calls(run: Path) -> float:
        with safe_open(str(run / "checkpoints" / "step_000000008.safetensors"), "pt") as fh:
            return fh.get_tensor("state.g_calls").item()

    for times in (1, 2, 3):
        cfg = toy_config(8, checkpoint_every=3, log_every=1, max_nan_rollbacks=5)
        cfg = cfg.model_copy(update={"toy": cfg.toy.model_copy(update={"nan_at_step": 4, "nan_times": times})})
        run = toy / f"rolled{times}"
        Trainer(Counting(), cfg, run, model_name="toy", progress=False).run()
        assert calls(run) == 8.0, times  # one count per generator step kept, whatever was rolled back
    run = toy / "resumed"
    cfg = toy_config(8, checkpoint_every=3, log_every=1, max_nan_rollbacks=5)
    cfg = cfg.model_copy(update={"toy": cfg.toy.model_copy(update={"nan_at_step": 4})})
    Trainer(Counting(), cfg, run, model_name="toy", progress=False, max_steps=3).run()
    Trainer(Counting(), cfg, run, model_name="toy", progress=False).run(
        resume_from=run / "checkpoints" / "step_000000003.safetensors")
    assert calls(run) == 8.0


def test_repeated_nan_stops_with_a_clear_message(toy):
    from zoo3d.train.engine import TrainingDiverged

    with pytest.raises(TrainingDiverged) as err:
        train_model("toy", out=toy / "a", overrides=["toy.nan_at_step=4", "toy.nan_times=100",
                                                     "train.max_nan_rollbacks=2"],
                    progress=False)
    message = str(err.value)
    assert "step 5" in message and "2 rollbacks" in message and "step_000000003" in message
    events = [line for line in (toy / "a" / "metrics.jsonl").read_text().splitlines() if "nan_rollback" in line]
    assert len(events) == 3


def test_the_toy_gan_learns_the_real_colour(toy):
    """The generator's mean colour moves towards the reddish real data."""
    from zoo3d.runs import load_model
    from zoo3d.train.sampling import seed_latents

    result = train_model("toy", out=toy / "a", overrides=["stages.main.steps=60", "train.checkpoint_every=0"],
                         progress=False)
    target = torch.tensor(REAL_COLOUR)

    def colour_error(model):
        z = seed_latents(range(64), 8)
        return (model.generator.represent(z)["colour"].mean(0) - target).norm().item()

    from toy_model import ToyModel

    untrained = ToyModel().build(load_model(str(result.checkpoint)).config)["generator"]
    torch.manual_seed(0)
    before = colour_error(type("M", (), {"generator": untrained}))
    after = colour_error(load_model(str(result.checkpoint), ema=False))
    assert after < 0.6 * before, (before, after)
    d_losses = [rec["loss.D"] for rec in metrics_by_step(toy / "a").values()]
    assert max(d_losses) - min(d_losses) > 0.05


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO3D_")}
    env.update(ZOO3D_PLUGINS="toy_model", OMP_NUM_THREADS="1", PYTHONPATH=f"{TESTS}{os.pathsep}{env.get('PYTHONPATH', '')}")
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "zoo3d.cli.main", "train", "toy", "--out", str(run), "--quiet",
                             "--set", "stages.main.steps=100000", "--set", "train.checkpoint_every=0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (run / "metrics.jsonl").exists():
            time.sleep(0.1)
        assert (run / "metrics.jsonl").exists(), proc.stderr.read() if proc.poll() is not None else "no progress"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "Stopped by SIGTERM" in stderr and "Traceback" not in stderr
    latest = (run / (run / "latest").read_text().strip())
    assert latest.is_file()
    from zoo3d.train.checkpoint import read_metadata

    assert int(read_metadata(latest)["zoo3d.step"]) >= 1


@pytest.mark.cuda
def test_cuda_training_matches_the_cpu_run_and_resumes(toy, monkeypatch):
    """fp32 on the GPU follows the CPU run step by step (to float rounding); bf16 autocast to bf16 precision.

    cuDNN runs fp32 convolutions in TF32 by default (10-bit mantissa), which drifts 5e-3 from the CPU run in
    5 steps of this GAN; the comparison turns it off so that "fp32" means fp32."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    fp32 = ["train.amp=false"]
    train_model("toy", out=toy / "cpu", overrides=fp32, device="cpu", progress=False)
    result = train_model("toy", out=toy / "gpu", overrides=fp32, steps=3, device="cuda", progress=False)
    resumed = train_model("toy", out=toy / "gpu", resume=True, device="cuda", progress=False)  # its stored config
    assert result.step == 3 and resumed.step == 6
    cpu, gpu = metrics_by_step(toy / "cpu"), metrics_by_step(toy / "gpu")
    assert sorted(gpu) == sorted(cpu) == [1, 2, 3, 4, 5, 6]
    for step in cpu:
        for key in ("loss.D", "loss.G"):
            assert gpu[step][key] == pytest.approx(cpu[step][key], abs=2e-3), (step, key)
    train_model("toy", out=toy / "amp", steps=1, device="cuda", progress=False)
    amp = metrics_by_step(toy / "amp")
    for key in ("loss.D", "loss.G"):
        assert amp[1][key] == pytest.approx(cpu[1][key], abs=3e-2), key
