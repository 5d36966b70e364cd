"""zoo3d's side of ``zoo3d bench peers``: the same records with zoo3d's generators, renderers and engine.

The networks start from the weights the authors' side wrote to the record's folder, converted by the
plugins' ``import_release`` (the path ``zoo3d import`` takes, with the conventions it sets: the authors'
pixel grid, their texture sampling); latents and cameras are the same (GRAM's (phi, theta) poses
through :meth:`zoo3d.cameras.Camera.from_gram`). Training steps run the engine's own step
(:class:`zoo3d.train.engine.Trainer`) on the paper preset at the record's size, with a fixed real batch.
The NeuS fit: :mod:`zoo3d.benchmarks.peers.neus`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import torch

from zoo3d.benchmarks.peers.records import CAMERA, GRAM_HD_SCALE, SEED_INPUTS, Record


def _authors_file(workdir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    path = workdir / "authors.safetensors"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: the authors' side of the record must run first")
    return load_file(str(path))


def _weights(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("weights."):]: v for k, v in tensors.items() if k.startswith("weights.")}


def _config(record: Record):
    """The paper preset (ffhq256) of ``record.model`` at the record's size."""
    if record.model == "gram":
        from zoo3d_gram.config import GramConfig

        cfg = GramConfig()
        cfg.generator.resolution = record.resolution
        cfg.stage("gram").batch_size = record.batch
    else:
        from zoo3d_gram_hd.config import GramHDConfig

        cfg = GramHDConfig()
        cfg.generator.lowres.resolution = record.resolution // GRAM_HD_SCALE
        cfg.generator.resolution = record.resolution
        cfg.stage("gram_hd.stage2").batch_size = record.batch
    cfg.camera.fov = CAMERA["fov"]
    return cfg


def _imported(record: Record, tensors: dict[str, torch.Tensor]):
    """(generator with the authors' weights, the imported config)."""
    if record.model == "gram":
        from zoo3d_gram.generator import GramGenerator as Generator
        from zoo3d_gram.model import GramModel as Model
    else:
        from zoo3d_gram_hd.generator import GramHDGenerator as Generator
        from zoo3d_gram_hd.model import GramHDModel as Model
    imported = Model().import_release(_weights(tensors), _config(record))
    generator = Generator(imported.config.generator, imported.config.camera)
    generator.load_state_dict(imported.state, strict=True)
    return generator, imported.config


def prepare(record: Record, workdir: Path, device: torch.device) -> tuple[Callable[[], object], Callable]:
    """Build what ``record`` needs (untimed); return (the work to time, what to do with its result)."""
    from zoo3d.cameras import Camera

    if record.model == "neus":
        from zoo3d.benchmarks.peers.neus import prepare_zoo3d

        return prepare_zoo3d(record, workdir, device)
    tensors = _authors_file(workdir)
    z, pose = tensors["inputs.z"].to(device), tensors["inputs.pose"].to(device)
    cams = Camera.from_gram(pose[:, 0], pose[:, 1], fov=CAMERA["fov"]).to(device=device)
    R = record.resolution
    if record.work == "train_step":
        return _train_step(record, tensors, device)
    G, _ = _imported(record, tensors)
    G = G.to(device)
    if record.model == "gram_hd":
        from zoo3d_gram_hd.model import STAGE1_FROZEN_IN_STAGE2

        for name in STAGE1_FROZEN_IN_STAGE2:  # stage 2's trainables, as the authors' GRAM-HD freezes them
            G.get_submodule(name.removeprefix("generator.")).requires_grad_(False)

    if record.work == "inference":
        G.eval()

        def work():
            with torch.no_grad():
                return G(z, cams, resolution=(R, R)).rgb

        def compare(image) -> dict:
            theirs = tensors["image"].to(image.device)
            return {"image_max_abs_diff": float((image.float() - theirs).abs().max())}

        return work, compare

    if record.work == "graph":
        def work():
            with torch.enable_grad():
                return G(z, cams, resolution=(R, R)).rgb

        return work, lambda result: {}

    if record.work == "forward_backward":
        n = record.batch // record.split

        def work():
            for s in range(record.split):
                sl = slice(s * n, (s + 1) * n)
                G(z[sl], cams[sl], resolution=(R, R)).rgb.mean().backward()

        return work, lambda result: {}
    raise ValueError(f"unknown work {record.work!r}")


def _train_step(record: Record, tensors: dict[str, torch.Tensor], device: torch.device):
    """One engine step of the paper recipe (GRAM; GRAM-HD's stage 2) with the authors' generator weights."""
    from zoo3d.cameras import Camera
    from zoo3d.core.model import RealBatch
    from zoo3d.plugins import get_host
    from zoo3d.train.ema import copy_into_ema
    from zoo3d.train.engine import Trainer

    spec = next(s for s in get_host().models if s.name == record.model)
    cfg = _config(record)
    cfg.train.sample_every = cfg.train.checkpoint_every = 0
    G, _ = _imported(record, tensors)
    run_dir = tempfile.mkdtemp(prefix="zoo3d-peers-")
    trainer = Trainer(spec.load(), cfg, run_dir, model_name=record.model, device=device, progress=False)
    generator = trainer.modules["generator"]
    generator.load_state_dict(G.state_dict())
    copy_into_ema(trainer.ema, generator)
    stage = trainer.stages[-1]  # GRAM's only stage; GRAM-HD's stage 2
    trainer.enter_stage(stage)
    g = torch.Generator().manual_seed(SEED_INPUTS + 1)
    R = record.resolution
    real = (torch.rand(record.batch, 3, R, R, generator=g) * 2 - 1).to(device)
    pose = tensors["inputs.pose"].to(device)
    real_cams = Camera.from_gram(pose[:, 0], pose[:, 1], fov=CAMERA["fov"]).to(device=device)
    trainer._real_batch = lambda stage: RealBatch(images=real.clone(), cameras=real_cams)

    def work():
        trainer.bench_step(stage)

    return work, lambda result: {}
