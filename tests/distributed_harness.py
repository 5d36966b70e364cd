"""TEST HARNESS for multi-process training: runs the real engine with noise made world-size independent.

Every latent and camera a phase draws comes from a generator seeded by (step, draw number) that
always draws the *global* batch; process r keeps rows [r*n, (r+1)*n) of it. One process with batch
B and two processes with B/2 each therefore see the same latents, cameras and (through the engine's
global data order) the same real images, so their steps must agree up to float rounding. Models
whose renderers add their own random jitter have it switched off (``quiet_noise``).

Run as a script under the launcher (``launch_processes(2, [...], script=__file__)``) it trains the
jobs named on the command line, each ``MODEL:OUT:STEPS``, with the overrides of :data:`OVERRIDES`
(or ``per_image:OUT:MICRO_BATCH``: one micro-batched step of a stand-in that draws no noise).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

#: Runs this script's jobs (argv[2:]) on 2 processes under zoo3d's launcher.
LAUNCH = ("import sys; from zoo3d.launch import launch_processes; "
          "sys.exit(launch_processes(2, sys.argv[2:], script=sys.argv[1]))")

#: Tiny, fast, deterministic settings per model (real data: one block of 8 synthetic heads).
DATA = ["data.spec=synthetic:heads?count=8&block=8", "data.mirror=false",
        "train.log_every=1", "train.sample_every=0", "train.checkpoint_every=1", "train.keep_checkpoints=8",
        "train.device=cpu", "train.amp=false"]
OVERRIDES = {
    "gram": DATA + ["stages.gram.batch_size=4", "generator.resolution=16", "generator.render.num_samples=6",
                    "generator.manifold.hidden=16",
                    "generator.radiance.hidden=16", "generator.radiance.num_layers=3",
                    "generator.radiance.mapping_hidden=16", "generator.radiance.z_dim=16",
                    "generator.radiance.truncation_samples=16", "generator.manifold.num_levels=6",
                    "generator.manifold.level_start=23", "generator.manifold.level_end=8",
                    "discriminator.channel_scale=0.03125"],
    "pigan": DATA + ["stages=[{name: res16, resolution: 16, steps: 100, batch_size: 4, "
                     "lr: {generator: 2.0e-4, discriminator: 2.0e-4}, grad_clip: 10.0}]",
                     "discriminator.progressive=false", "generator.rendering.nerf_noise_steps=0",
                     "generator.rendering.num_steps=4", "generator.width=16", "generator.depth=2",
                     "generator.mapping_hidden=16", "generator.z_dim=16"],
}


def clean_env(**extra) -> dict:
    """This process's environment without its ``ZOO3D_`` settings, on one thread, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO3D_")}
    env.update(OMP_NUM_THREADS="1", **extra)
    return env


#: What a rank prints when torch's C++ side aborts it (``std::terminate``, as for a joinable ``std::thread``
#: destroyed): seen once in 18 runs of the gloo pair on 2 CPU cores, in the first step; no zoo3d code is C++
ABORT_SIGNATURE = "terminate called without an active exception"


def launch_two(jobs: list[str], timeout: float = 600, **env) -> subprocess.CompletedProcess:
    """Run ``jobs`` (see the module doc) on 2 gloo processes; ``env`` adds to :func:`clean_env`.

    A run whose rank was aborted with :data:`ABORT_SIGNATURE` is run once more, and only then; any other
    failure, or a second abort, is returned as it is."""
    cmd = [sys.executable, "-c", LAUNCH, __file__, *jobs]
    done = subprocess.run(cmd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 and ABORT_SIGNATURE in done.stderr and "SIGABRT" in done.stderr:
        for job in jobs:  # the retry starts from empty output folders, as the first run did
            out = Path(job.split(":")[1])
            for item in out.iterdir() if out.is_dir() else ():
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        done = subprocess.run(cmd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout)
    return done


def quiet_noise(trainer) -> None:
    """Latents and cameras keyed by (step, draw) over the global batch; no renderer jitter."""
    gen = trainer.modules["generator"]
    world, batch = trainer.world, trainer.stages[0].batch_size  # the global batch of the one stage
    draws = {"step": -1, "n": 0}

    def source() -> torch.Generator:
        if draws["step"] != trainer.step:
            draws.update(step=trainer.step, n=0)
        draws["n"] += 1
        return torch.Generator().manual_seed(1000 * trainer.step + draws["n"])

    def mine(n: int) -> slice:
        assert n * world.size == batch, (n, world.size, batch)
        return slice(world.rank * n, (world.rank + 1) * n)

    def sample_z(n, generator=None, device=None):
        return torch.randn(batch, gen.z_dim, generator=source())[mine(n)].to(device)

    def sample_cameras(n, generator=None, device=None):
        return gen.camera_prior.sample(batch, generator=source())[mine(n)].to(device)

    gen.sample_z, gen.sample_cameras = sample_z, sample_cameras
    renderer = getattr(gen, "renderer", None)
    if renderer is not None and hasattr(renderer, "stratified"):
        renderer.stratified = False


def _trainer(model: str, out: str | Path, steps: int | None = None, world=None):
    from zoo3d.train.engine import Trainer
    from zoo3d.launch import plan_run

    plan = plan_run(model, overrides=OVERRIDES[model])
    trainer = Trainer(plan.plugin, plan.config, out, model_name=plan.spec.name, max_steps=steps, progress=False,
                      world=world, device="cpu")
    quiet_noise(trainer)
    return trainer


def train(model: str, out: str | Path, steps: int, world=None, resume_from: str | Path | None = None):
    """Train ``model`` with :data:`OVERRIDES` and shared noise in this process; returns the TrainResult."""
    return _trainer(model, out, steps, world).run(resume_from=resume_from)


def initial_state(model: str) -> dict[str, torch.Tensor]:
    """The checkpoint tensors of ``model`` as built, before any step (every process starts from these)."""
    return _trainer(model, ".").state_tensors()[0]


def per_image_step(out: str | Path, micro_batch: int, world) -> None:
    """One step of ``test_train_micro_batch``'s stand-in (global batch 8) in chunks of ``micro_batch``; each
    process writes its parameters after the step to ``OUT/params_rank<r>.pt``."""
    from test_train_micro_batch import one_step

    _, _, params = one_step(Path(out), micro_batch, batch_size=8, world=world)
    torch.save(params, Path(out) / f"params_rank{world.rank}.pt")


def main(jobs: list[str]) -> None:
    """Each job ``MODEL:OUT:STEPS``, or ``per_image:OUT:MICRO_BATCH`` for :func:`per_image_step`."""
    from zoo3d.train.distributed import init_world, shutdown_world

    torch.set_num_threads(1)
    world, _ = init_world("cpu")
    try:
        for job in jobs:
            model, out, number = job.split(":")
            if model == "per_image":
                per_image_step(out, int(number), world)
            else:
                train(model, out, int(number), world=world)
    finally:
        shutdown_world(world)


if __name__ == "__main__":
    main(sys.argv[1:])
