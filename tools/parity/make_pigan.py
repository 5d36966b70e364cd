"""Record pi-GAN's own outputs for zoo3d's parity test (tests/test_parity_pigan.py).

    ZOO3D_UPSTREAM_PIGAN=/path/to/pi-GAN python tools/parity/make_pigan.py
    ZOO3D_UPSTREAM_PIGAN=/path/to/pi-GAN python tools/parity/make_pigan.py --full-width
    ZOO3D_UPSTREAM_PIGAN=/path/to/pi-GAN python tools/parity/make_pigan.py --release-files DIR

Runs the authors' ``ImplicitGenerator3d.staged_forward`` (marcoamonteiro/pi-GAN) on the CPU with the
settings of their ``render_multiview_images.py`` for the CelebA curriculum (12 + 12 samples, ReLU
density, ``last_back``, no density noise, camera at the given ``(v_mean, h_mean)``). Their renderer
jitters the coarse samples and draws the importance samples at random even at inference; the script
records those draws (``torch.rand`` inside the call) so zoo3d can be given the same ones.

The default writes ``tests/fixtures/parity/pigan.safetensors``: a randomly initialised
``SPATIALSIRENBASELINE`` generator at reduced widths (z 64, SIREN 32; the mapping network's hidden
256 is fixed upstream), the inputs, the draws, and the outputs: 32^2 images and depths, and on every
4th pixel the merged sample depths, the raw density at every sample and the compositing weights; plus a
truncated render with the recorded average frequencies. ``--full-width`` builds the released CelebA
architecture (z 256, 8 x 256 SIREN), imports it into zoo3d, renders the same cameras with the same draws
at 64^2 and prints the largest differences. ``--release-files DIR`` writes small ``generator.pth`` /
``ema.pth`` files in the authors' format (whole pickled module, ``torch_ema`` object; needs the
``torch_ema`` package importable) for the import tests.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _shims  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "parity" / "pigan.safetensors"
HALF_PI = math.pi / 2
# (v_mean = phi, h_mean = theta, which latents, psi); the first camera is frontal
VIEWS = [(HALF_PI, HALF_PI, [0, 1], 1.0), (HALF_PI - 0.1, HALF_PI + 0.35, [0], 1.0),
         (HALF_PI + 0.12, HALF_PI - 0.25, [1], 0.7)]
CELEBA = dict(fov=12, ray_start=0.88, ray_end=1.12, num_steps=12, h_stddev=0, v_stddev=0, sample_dist="gaussian",
              hierarchical_sample=True, clamp_mode="relu", nerf_noise=0, last_back=True, white_back=False,
              lock_view_dependence=False, max_batch_size=10 ** 9)


def load_upstream():
    path = _shims.checkout("ZOO3D_UPSTREAM_PIGAN")
    _shims.stub_modules("matplotlib", "matplotlib.pyplot")
    import generators.generators as upstream_generators  # the authors' package
    import siren.siren as upstream_siren

    return path, upstream_generators, upstream_siren


def build(full: bool, hidden: int | None = None, z_dim: int | None = None):
    path, gens, sirens = load_upstream()
    hidden = hidden or (256 if full else 32)
    z_dim = z_dim or (256 if full else 64)
    torch.manual_seed(0)
    siren = functools.partial(sirens.SPATIALSIRENBASELINE, hidden_dim=hidden)
    g = gens.ImplicitGenerator3d(siren, z_dim).eval()
    g.set_device("cpu")
    zoo3d = {"generator.z_dim": z_dim, "generator.width": hidden}
    return path, gens, g, zoo3d


def run_upstream(gens, g, z, phi, theta, psi, img_size) -> dict:
    """``staged_forward`` with the draws and intermediates recorded."""
    record = {"rand": [], "integration": [], "avg": None}
    real_rand = torch.rand

    def rand(*args, **kwargs):
        out = real_rand(*args, **kwargs)
        record["rand"].append(out.clone())
        return out

    real_integration = gens.fancy_integration

    def integration(rgb_sigma, z_vals, *args, **kwargs):
        out = real_integration(rgb_sigma, z_vals, *args, **kwargs)
        record["integration"].append((rgb_sigma.clone(), z_vals.clone(), out[2].clone()))
        return out

    torch.rand, gens.fancy_integration = rand, integration
    try:
        with torch.no_grad():
            image, depth = g.staged_forward(z, img_size=img_size, v_mean=phi, h_mean=theta, psi=psi, **CELEBA)
    finally:
        torch.rand, gens.fancy_integration = real_rand, real_integration
    jitter, importance = record["rand"]
    n, rays, steps = z.shape[0], img_size * img_size, CELEBA["num_steps"]
    final_outputs, final_z, final_w = record["integration"][-1]
    return {"image": image, "depth": depth, "jitter": jitter.reshape(n, rays, steps),
            "importance": importance.reshape(n, rays, steps), "t": final_z[..., 0], "raw": final_outputs[..., 3],
            "weights": final_w[..., 0], "avg_freq": g.avg_frequencies, "avg_phase": g.avg_phase_shifts}


def _grid(x, size):
    """(B, rays, K) -> (B, K, H, W)."""
    return x.reshape(x.shape[0], size, size, -1).permute(0, 3, 1, 2)


def inputs(z_dim: int):
    return torch.randn(2, z_dim, generator=torch.Generator().manual_seed(1))


def make_fixture(out: Path, size: int = 32) -> None:
    path, gens, g, zoo3d = build(full=False)
    z = inputs(g.z_dim)
    tensors = {f"generator.{k}": v for k, v in g.state_dict().items()}
    tensors["input.z"] = z
    for i, (phi, theta, rows, psi) in enumerate(VIEWS):
        res = run_upstream(gens, g, z[rows], phi, theta, psi, size)
        tensors.update({f"view{i}.image": res["image"], f"view{i}.depth": res["depth"],
                        f"view{i}.draws.jitter": res["jitter"], f"view{i}.draws.importance": res["importance"],
                        f"view{i}.t_sub4": _shims.subset(_grid(res["t"], size)),
                        f"view{i}.raw_sub4": _shims.subset(_grid(res["raw"], size)),
                        f"view{i}.weights_sub4": _shims.subset(_grid(res["weights"], size))})
        if psi != 1.0:
            tensors[f"view{i}.avg_freq"], tensors[f"view{i}.avg_phase"] = res["avg_freq"], res["avg_phase"]
    views = [{"phi": phi, "theta": theta, "rows": rows, "psi": psi} for phi, theta, rows, psi in VIEWS]
    _shims.save_fixture(out, tensors, {
        "upstream": "marcoamonteiro/pi-GAN", "commit": _shims.upstream_commit(path),
        "script": "tools/parity/make_pigan.py", "zoo3d_overrides": json.dumps(zoo3d), "views": json.dumps(views),
        "resolution": size, "curriculum": json.dumps({k: v for k, v in CELEBA.items() if k != "max_batch_size"}),
        "subsampled": "*_sub4: pixels [2::4, 2::4]; t, raw, weights over the 2 x 12 merged samples"})


def compare_full_width(size: int = 64) -> None:
    from zoo3d.config import load_run_config
    from zoo3d.render.volume import SampleDraws
    from zoo3d_pigan.config import PiGanConfig
    from zoo3d_pigan.model import PiGanModel
    from zoo3d_pigan.upstream import pigan_cameras

    path, gens, g, _ = build(full=True)
    z = inputs(g.z_dim)
    phi, theta, rows, psi = VIEWS[1]
    ref = run_upstream(gens, g, z[rows], phi, theta, psi, size)
    plugin = PiGanModel()
    cfg = load_run_config(PiGanConfig, "pigan", REPO / "plugins" / "zoo3d_pigan" / "presets", "celeba")
    imported = plugin.import_release({"generator": _record(g)}, cfg)
    gen = plugin.build(imported.config)["generator"]
    gen.load_state_dict(imported.state, strict=True)
    gen.eval()
    with torch.no_grad():
        out = gen.render(gen.represent(z[rows]), pigan_cameras(phi, theta), (size, size),
                         draws=SampleDraws(ref["jitter"], ref["importance"]))
    print(f"pi-GAN full width (CelebA architecture, {size}^2, 12 + 12 samples), upstream commit "
          f"{_shims.upstream_commit(path)[:7]}:")
    print(f"  max |zoo3d - upstream| image: {(out.rgb - ref['image']).abs().max().item():.3g}")
    print(f"  max |zoo3d - upstream| depth: {(out.depth[:, 0] - ref['depth']).abs().max().item():.3g}")
    t = out.extras["t"].flatten(2).transpose(1, 2)
    raw = out.extras["raw"].flatten(2).transpose(1, 2)
    print(f"  max |zoo3d - upstream| sample depths: {(t - ref['t']).abs().max().item():.3g}")
    print(f"  max |zoo3d - upstream| raw density: {(raw - ref['raw']).abs().max().item():.3g} "
          f"(range {ref['raw'].min().item():.3g} to {ref['raw'].max().item():.3g})")
    # zoo3d's own inference draws nothing (unjittered samples, deterministic importance samples); upstream
    # draws anew on every call: compare zoo3d's render with upstream's and upstream's with itself
    again = run_upstream(gens, g, z[rows], phi, theta, psi, size)
    with torch.no_grad():
        plain = gen.render(gen.represent(z[rows]), pigan_cameras(phi, theta), (size, size))
    for name, a, b in (("upstream vs upstream (new draws)", again["image"], ref["image"]),
                       ("zoo3d without draws vs upstream", plain.rgb, ref["image"])):
        d = (a - b).abs()
        print(f"  {name}: mean |diff| {d.mean().item():.3g}, max {d.max().item():.3g}")


def _record(module):
    """The generator as the inert record zoo3d's loader would make of its pickle (for --full-width)."""
    from zoo3d.upstream import InertObject

    def rec(m):
        return InertObject(f"{type(m).__module__}.{type(m).__name__}",
                           {"_parameters": dict(m._parameters), "_buffers": dict(m._buffers),
                            "_modules": {k: rec(v) for k, v in m._modules.items()},
                            **({"z_dim": m.z_dim} if hasattr(m, "z_dim") else {})})

    return rec(module)


def write_release_files(folder: Path, hidden: int, z_dim: int) -> None:
    """generator.pth and ema.pth as the authors' train.py saves them, for a tiny network."""
    from torch_ema import ExponentialMovingAverage  # the package pi-GAN's requirements pin

    path, gens, g, _ = build(full=False, hidden=hidden, z_dim=z_dim)
    del g.avg_frequencies, g.avg_phase_shifts  # train.py saves generators that never rendered with staged_forward
    g.device = g.siren.device = None
    ema = ExponentialMovingAverage(g.parameters(), decay=0.999)
    with torch.no_grad():  # one optimiser-like step so the averages differ from the raw weights
        for p in g.parameters():
            p.add_(0.01 * torch.randn_like(p))
    ema.update(g.parameters())
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(g, folder / "generator.pth")
    torch.save(ema, folder / "ema.pth")
    (folder / "SOURCE").write_text(
        f"Made by tools/parity/make_pigan.py --release-files from marcoamonteiro/pi-GAN at commit "
        f"{_shims.upstream_commit(path)} (randomly initialised SPATIALSIRENBASELINE, hidden {hidden}, "
        f"z_dim {z_dim}; torch_ema at commit 3950a7b5c4b88f46fd14f620277bad21898597a9).\n")
    print(f"wrote {folder}/generator.pth, ema.pth")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=FIXTURE, help="fixture path (default: %(default)s)")
    parser.add_argument("--full-width", action="store_true", help="compare the CelebA architecture; write nothing")
    parser.add_argument("--release-files", type=Path, help="write tiny generator.pth / ema.pth here instead")
    args = parser.parse_args()
    if args.full_width:
        compare_full_width()
    elif args.release_files:
        write_release_files(args.release_files, hidden=8, z_dim=8)
    else:
        make_fixture(args.out)


if __name__ == "__main__":
    main()
