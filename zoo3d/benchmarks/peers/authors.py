"""The authors' side of ``zoo3d bench peers``: microsoft/GRAM and JeffreyXiang/GRAM-HD from local checkouts
(Totoro97/NeuS: :mod:`zoo3d.benchmarks.peers.neus`).

The checkouts are named by ``ZOO3D_UPSTREAM_GRAM`` and ``ZOO3D_UPSTREAM_GRAM_HD`` (as for
``tools/parity``); their code is imported from there, in the child process that runs one record, and is
never copied. This module only builds their networks from their own configs (``FFHQ_default``,
``GRAMHD256_FFHQ``) with their own classes and calls what their training loop calls: the generator's
forward pass, and for a training step their ``Gan3DProcess`` / ``SRGan3DProcess`` ``train_D`` then
``train_G`` with Adam, gradient clipping and two EMAs. On one process their
``DistributedDataParallel`` wrapper is replaced by :class:`_Replica` (the ``.module`` their code
reads), and ``torch_ema``, when it is not installed, by :class:`_Ema` (the same update, with its decay ramp). On CPU their
``torch.cuda.amp`` autocast and GradScaler are inactive, so everything runs in fp32, as zoo3d does.

Weights: their initialisation (seeded) perturbed by 0.1 x each tensor's spread, so the biases GRAM
initialises to zero and its constant output layer take generic values; they are written to the
record's folder for zoo3d's side, which loads them through ``zoo3d import``'s converters.
"""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import torch

from zoo3d.benchmarks.peers.records import CAMERA, GRAM_HD_SCALE, POSE, SEED_INPUTS, SEED_WEIGHTS, Record

ENV = {"gram": "ZOO3D_UPSTREAM_GRAM", "gram_hd": "ZOO3D_UPSTREAM_GRAM_HD", "neus": "ZOO3D_UPSTREAM_NEUS"}
#: where each model's authors' code is published, for the sentence that asks for a checkout
REPOSITORY = {"gram": "https://github.com/microsoft/GRAM", "gram_hd": "https://github.com/JeffreyXiang/GRAM-HD",
              "neus": "https://github.com/Totoro97/NeuS"}
_GRAM_FILES = ("configs.py", "generators/generators.py", "discriminators/discriminators.py", "processes/processes.py")
#: the files of each checkout that the measuring processes import or read: what tells it from another folder
LAYOUT = {"gram": _GRAM_FILES, "gram_hd": _GRAM_FILES,
          "neus": ("exp_runner.py", "models/dataset.py", "models/fields.py", "models/renderer.py", "confs/womask.conf")}


def checkout(model: str) -> Path | None:
    """The checkout the environment names for ``model``, or None when unset or not a folder."""
    value = os.environ.get(ENV[model], "")
    return Path(value) if value and Path(value).is_dir() else None


def checkout_problem(model: str) -> str | None:
    """Why the folder the environment names for ``model`` is no checkout of the authors' code (no folder, or one
    without a file the measuring processes import), in one sentence; None when it is one, or when it is unset."""
    value = os.environ.get(ENV[model], "")
    if not value:
        return None
    where = f"set it to a clone of {REPOSITORY[model]}, or unset it to skip those records"
    if not Path(value).is_dir():
        return f"{ENV[model]} names '{value}', which is no folder: {where}."
    missing = [name for name in LAYOUT[model] if not (Path(value) / name).is_file()]
    if missing:
        return (f"{ENV[model]} names '{value}', which holds no {missing[0]}, so it is no checkout of the authors' "
                f"code: {where}.")
    return None


def commit(path: Path) -> str:
    """The checkout's commit: its ``COMMIT`` file's first word, else ``git rev-parse HEAD``."""
    marker = path / "COMMIT"
    if marker.is_file():
        return marker.read_text().split()[0]
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def inputs(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (batch, 256) and GRAM-style poses (batch, 2) = (phi, theta), the same for both sides."""
    g = torch.Generator().manual_seed(SEED_INPUTS)
    z = torch.randn(batch, 256, generator=g)
    pose = torch.tensor(POSE).expand(batch, 2) + 0.05 * torch.randn(batch, 2, generator=g)
    return z, pose


def perturb_(module: torch.nn.Module, seed: int = SEED_WEIGHTS + 1, scale: float = 0.1) -> None:
    """Add Gaussian noise of ``scale`` x each tensor's spread (0.5 x scale for constant tensors)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            spread = p.std().item() if p.numel() > 1 else 0.0
            p.add_(torch.randn(p.shape, generator=g) * scale * (spread if spread > 0 else 0.5))


class _Replica(torch.nn.Module):
    """What DistributedDataParallel hands the authors' training code on one process: ``.module`` and its forward."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


class _Ema:
    """torch_ema's ``ExponentialMovingAverage.update`` with its defaults, for when torch_ema is not installed: the
    n-th update moves each trainable shadow by (1 - d) (shadow - param) with d = min(decay, (1 + n) / (10 + n))
    (``use_num_updates``, the ramp GRAM's training gets)."""

    def __init__(self, parameters, decay: float):
        self.decay = decay
        self.num_updates = 0
        self.shadow = [p.detach().clone() for p in parameters if p.requires_grad]

    @torch.no_grad()
    def update(self, parameters) -> None:
        self.num_updates += 1
        decay = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for s, p in zip(self.shadow, [p for p in parameters if p.requires_grad]):
            s.sub_((s - p) * (1.0 - decay))


def _ema(parameters, decay: float):
    try:
        from torch_ema import ExponentialMovingAverage
    except ImportError:
        return _Ema(parameters, decay)
    return ExponentialMovingAverage(parameters, decay=decay)


def _import(path: Path):
    sys.path.insert(0, str(path))
    import configs
    from discriminators import discriminators
    from generators import generators
    from processes import processes

    return configs, generators, discriminators, processes


def _build_gram(path: Path, resolution: int, device: torch.device):
    configs, generators, discriminators, processes = _import(path)
    cfg = copy.deepcopy(configs.FFHQ_default)
    g = cfg["generator"]
    torch.manual_seed(SEED_WEIGHTS)
    G = generators.GramGenerator(representation_kwargs=g["representation"]["kwargs"],
                                 renderer_kwargs=g["renderer"]["kwargs"], **{**g["kwargs"], "img_size": resolution})
    perturb_(G)
    cfg["camera"] = dict(CAMERA)
    return G.to(device), cfg, discriminators, processes


def _build_gram_hd(path: Path, resolution: int, device: torch.device):
    configs, generators, discriminators, processes = _import(path)
    cfg = copy.deepcopy(configs.GRAMHD256_FFHQ)
    g = cfg["generator"]
    kwargs = {**g["kwargs"], "img_size": resolution, "lr_img_size": resolution // GRAM_HD_SCALE}
    torch.manual_seed(SEED_WEIGHTS)
    G = generators.GramHDGenerator(representation_kwargs=g["representation"]["kwargs"],
                                   super_resolution_kwargs=g["super_resolution"]["kwargs"],
                                   renderer_kwargs=g["renderer"]["kwargs"], **kwargs)
    perturb_(G)  # the stage-1 GRAM stays frozen (requires_grad False), as GRAM-HD builds it
    cfg["camera"] = dict(CAMERA)
    return G.to(device), cfg, discriminators, processes


def _origin(pose: torch.Tensor) -> list[float]:
    """GRAM's camera origin on the unit sphere for one pose (phi, theta)."""
    phi, theta = float(pose[0]), float(pose[1])
    return [math.sin(phi) * math.cos(theta), math.cos(phi), math.sin(phi) * math.sin(theta)]


def prepare(record: Record, workdir: Path, device: torch.device) -> tuple[Callable[[], object], Callable]:
    """Build what ``record`` needs (untimed); return (the work to time, what to do with its result)."""
    if record.model == "neus":
        from zoo3d.benchmarks.peers.neus import prepare_authors

        return prepare_authors(record, workdir, device)
    path = checkout(record.model)
    if path is None:
        raise RuntimeError(f"{ENV[record.model]} does not name a checkout")
    build = _build_gram if record.model == "gram" else _build_gram_hd
    G, cfg, discriminators, processes = build(path, record.resolution, device)
    z, pose = (t.to(device) for t in inputs(record.batch))
    cam = cfg["camera"]
    R = record.resolution

    def render(zs, poses):
        if record.model == "gram":
            return G(zs, cam["fov"], cam["ray_start"], cam["ray_end"], img_size=R, camera_pos=poses)[0]
        (hr, _lr, _hr_maps, _lr_maps), _ = G(zs, cam["fov"], cam["ray_start"], cam["ray_end"],
                                             camera_origin=_origin(poses[0]), camera_pos=poses)
        return hr

    def save_weights(result=None) -> dict:
        from safetensors.torch import save_file

        workdir.mkdir(parents=True, exist_ok=True)
        tensors = {f"weights.{k}": v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
        tensors.update({"inputs.z": z.cpu(), "inputs.pose": pose.cpu()})
        if result is not None:
            tensors["image"] = result.detach().float().cpu().contiguous()
        save_file(tensors, str(workdir / "authors.safetensors"))
        return {}

    if record.work == "inference":
        G.eval()

        def work():
            with torch.no_grad():
                return render(z, pose)

        return work, save_weights

    save_weights()
    if record.work == "graph":
        def work():
            with torch.enable_grad():
                return render(z, pose)

        return work, lambda result: {}

    if record.work == "forward_backward":
        n = record.batch // record.split

        def work():
            for s in range(record.split):
                sl = slice(s * n, (s + 1) * n)
                render(z[sl], pose[sl]).mean().backward()

        return work, lambda result: {}

    if record.work != "train_step":
        raise ValueError(f"unknown work {record.work!r}")
    d_kwargs = dict(cfg["discriminator"]["kwargs"], img_size=R)
    D = getattr(discriminators, cfg["discriminator"]["class"])(**d_kwargs).to(device)
    process = getattr(processes, cfg["process"]["class"])(**{**cfg["process"]["kwargs"], "batch_split": record.split})
    o = cfg["optimizer"]
    betas = tuple(float(b) for b in o["betas"])  # their (0, 0.9) mixes int and float, which torch >= 2.2 refuses
    opt_G = torch.optim.Adam(G.parameters(), lr=o["gen_lr"], betas=betas)
    opt_D = torch.optim.Adam(D.parameters(), lr=o["disc_lr"], betas=betas)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    ema, ema2 = _ema(G.parameters(), 0.999), _ema(G.parameters(), 0.9999)
    G_ddp, D_ddp = _Replica(G), _Replica(D)
    g = torch.Generator().manual_seed(SEED_INPUTS + 1)
    real = (torch.rand(record.batch, 3, R, R, generator=g) * 2 - 1).to(device)
    real_pose = pose.clone()

    def work():
        process.train_D(real.clone(), real_pose, G_ddp, D_ddp, opt_D, scaler, cfg, device)
        process.train_G(real.clone(), G_ddp, ema, ema2, D_ddp, opt_G, scaler, cfg, device)

    return work, lambda result: {}
