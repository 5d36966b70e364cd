"""Record StyleSDF's own outputs for zoo3d's parity test (tests/test_parity_stylesdf.py).

    ZOO3D_UPSTREAM_STYLESDF=/path/to/StyleSDF python tools/parity/make_stylesdf.py
    ZOO3D_UPSTREAM_STYLESDF=/path/to/StyleSDF python tools/parity/make_stylesdf.py --full-width
    ZOO3D_UPSTREAM_STYLESDF=/path/to/StyleSDF python tools/parity/make_stylesdf.py --release-file FILE

Runs the authors' ``model.Generator`` (royorel/StyleSDF) on the CPU with their inference settings
(``generate_shapes_and_images.py``: no jitter, offset sampling, ``static_viewdirs``,
``force_background``) and the decoder's stored noise maps (``randomize_noise=False``), for fixed
latents and three (azim, elev) cameras, one of them frontal. The default writes
``tests/fixtures/parity/stylesdf.safetensors``: a randomly initialised network with the released
structure (8 FiLM-SIREN layers, 24 samples, 64^2 volume render, StyleGAN2 decoder) at reduced widths
(style 64, MLP 64, decoder channels capped at 32, 128^2 output), its ``g_ema`` weights, the inputs, and
the outputs: final images, 64^2 volume renders (thumbnails), surface points, background mask, and on
every 4th pixel the 64-channel pre-decoder features and the SDF at all 24 samples; plus a truncated
render with the recorded truncation means. ``--full-width`` builds the ffhq1024 architecture instead
(style 256, 8 x 256 MLP, decoder to 1024^2), converts it with zoo3d's importer, renders the same
cameras in zoo3d and prints the largest differences (nothing is written). ``--release-file FILE``
writes a tiny full model (volume renderer + decoder) as ``train_full_pipeline.py`` saves its final
model, ``torch.save({"g", "d", "g_ema"})`` less ``d``, for the import tests.

StyleSDF's ``op`` package compiles CUDA kernels at import; see ``_shims.py`` for how it is made to
import on a CPU-only machine (its own pure-torch code paths then run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _shims  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "parity" / "stylesdf.safetensors"
LOCATIONS = [[0.0, 0.0], [0.3, 0.1], [-0.25, -0.12]]  # (azim, elev) radians; the first is frontal
PSI = 0.5


class CappedMultiplier:
    """Stands for the decoder's ``channel_multiplier``: ``k * m`` gives ``min(cap, k * factor)``, so the
    authors' channel table {64: 256 m, 128: 128 m, ...} becomes zoo3d's ``decoder_channels(r, factor, cap)``."""

    def __init__(self, factor: int, cap: int):
        self.factor, self.cap = factor, cap

    def __rmul__(self, k: int) -> int:
        return min(self.cap, k * self.factor)


def options(full: bool, tiny: bool = False):
    O = _shims.Options
    style, width, size, cap = (256, 256, 1024, 512) if full else (16, 16, 128, 16) if tiny else (64, 64, 128, 32)
    depth = 3 if tiny else 8
    model = O(size=size, style_dim=style, channel_multiplier=2 if full else CappedMultiplier(2, cap),
              n_mlp=8, lr_mapping=0.01, renderer_spatial_output_dim=64, project_noise=False,
              freeze_renderer=False, is_test=True)
    rendering = O(depth=depth, width=width, no_sdf=False, no_z_normalize=False, static_viewdirs=True, N_samples=24,
                  no_offset_sampling=False, perturb=0.0, raw_noise_std=0.0, force_background=True, return_xyz=True,
                  return_sdf=True)
    zoo3d = {"generator.renderer.z_dim": style, "generator.renderer.width": width, "generator.renderer.depth": depth,
             "generator.renderer.resolution": 64, "generator.renderer.num_samples": 24,
             "generator.decoder.output_resolution": size, "generator.decoder.w_dim": 2 * style,
             "generator.decoder.channel_multiplier": 2, "generator.decoder.max_channels": cap}
    return model, rendering, zoo3d


def load_upstream():
    path = _shims.checkout("ZOO3D_UPSTREAM_STYLESDF")
    _shims.stub_modules("trimesh", "pytorch3d", "pytorch3d.io", "pytorch3d.structures", "pytorch3d.renderer",
                        "pytorch3d.transforms")
    _shims.cpu_only_extensions()
    import model as upstream_model  # the authors' model.py
    import utils as upstream_utils

    return path, upstream_model, upstream_utils


def run_upstream(g, utils, z, locations, psi=1.0, means=None) -> dict:
    """One ``g_ema`` forward as ``generate_shapes_and_images.py`` does it; the renderer's own outputs are
    captured with a forward hook (features are not returned by ``Generator.forward``)."""
    captured = {}
    hook = g.renderer.register_forward_hook(lambda m, i, out: captured.update(renderer=out))
    cams, focal, near, far, _ = utils.generate_camera_params(64, "cpu", batch=len(z), locations=locations,
                                                             fov_ang=6.0, dist_radius=0.12)
    with torch.no_grad():
        rgb, thumb, xyz, sdf, mask = g([z], cams, focal, near, far, truncation=psi, truncation_latent=means,
                                       randomize_noise=False, return_sdf=True, return_xyz=True)
    hook.remove()
    features = captured["renderer"][1]
    return {"image": rgb, "thumb": thumb, "xyz": xyz, "mask": mask, "features": features,
            "sdf": sdf[..., 0], "cam2world": cams}


def build(full: bool, tiny: bool = False, ema: bool = True):
    path, upstream_model, utils = load_upstream()
    model_opt, render_opt, zoo3d = options(full, tiny)
    torch.manual_seed(0)
    g = upstream_model.Generator(model_opt, render_opt, ema=ema).eval()
    return path, g, utils, zoo3d


def write_release_file(out: Path) -> None:
    """A tiny final model as ``train_full_pipeline.py`` saves it (``d`` left out for size)."""
    path, g, _, zoo3d = build(full=False, tiny=True, ema=False)
    _, g_ema, _, _ = build(full=False, tiny=True)
    with torch.no_grad():  # the EMA differs from the raw generator, as after training
        for p in g_ema.parameters():
            p.add_(0.01 * torch.randn_like(p))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"g": g.state_dict(), "g_ema": g_ema.state_dict()}, out)
    print(f"wrote {out} from royorel/StyleSDF {_shims.upstream_commit(path)}; zoo3d preset ffhq1024 with {zoo3d}")


def inputs(style_dim: int):
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(2, style_dim, generator=gen)
    return torch.stack([z[0], z[0], z[1]]), torch.tensor(LOCATIONS)


def make_fixture(out: Path) -> None:
    path, g, utils, zoo3d = build(full=False)
    z, loc = inputs(g.style_dim)
    res = run_upstream(g, utils, z, loc)
    torch.manual_seed(2)
    means = g.mean_latent(10000, "cpu")
    trunc = run_upstream(g, utils, z[2:], loc[2:], psi=PSI, means=means)
    tensors = {f"g_ema.{k}": v for k, v in g.state_dict().items()}
    tensors.update({"input.z": z, "input.locations": loc, "input.cam2world": res["cam2world"],
                    "output.image": res["image"], "output.thumb": res["thumb"], "output.xyz": res["xyz"],
                    "output.mask": res["mask"], "output.features_sub4": _shims.subset(res["features"]),
                    "output.sdf_sub4": _shims.subset(res["sdf"], axes=(1, 2)),
                    "truncation.renderer_mean": means[0], "truncation.decoder_mean": means[1],
                    "truncation.image": trunc["image"], "truncation.thumb": trunc["thumb"]})
    _shims.save_fixture(out, tensors, {
        "upstream": "royorel/StyleSDF", "commit": _shims.upstream_commit(path),
        "script": "tools/parity/make_stylesdf.py", "zoo3d_overrides": json.dumps(zoo3d), "psi": PSI,
        "inputs": "z rows (z0, z0, z1); locations (azim, elev) rad, fov half-angle 6 deg, dist 1 +- 0.12",
        "subsampled": "*_sub4: pixels [2::4, 2::4] of the 64x64 render"})


def compare_full_width() -> None:
    """Full paper width (ffhq1024): upstream vs zoo3d's import, printed as max abs differences."""
    from zoo3d.config import load_run_config
    from zoo3d_stylesdf.config import StyleSDFConfig
    from zoo3d_stylesdf.model import StyleSDFModel
    from zoo3d_stylesdf.upstream import stylesdf_cameras

    path, g, utils, zoo3d = build(full=True)
    z, loc = inputs(g.style_dim)
    z, loc = z[1:], loc[1:]  # one frontal-free pair keeps the CPU run short: (z0, azim .3), (z1, azim -.25)
    ref = run_upstream(g, utils, z, loc)
    cfg = load_run_config(StyleSDFConfig, "stylesdf", REPO / "plugins" / "zoo3d_stylesdf" / "presets", "ffhq1024")
    plugin = StyleSDFModel()
    imported = plugin.import_release({"g_ema": g.state_dict()}, cfg)
    gen = plugin.build(imported.config)["generator"]
    gen.load_state_dict(imported.state, strict=True)
    gen.eval()
    cams = stylesdf_cameras(loc[:, 0], loc[:, 1])
    with torch.no_grad():
        out = gen.render(gen.represent(z), cams)
    diffs = {"image": (out.rgb - ref["image"]).abs().max().item(),
             "thumb (64^2 volume render)": (out.raw.rgb - ref["thumb"]).abs().max().item(),
             "features": (out.raw.features - ref["features"]).abs().max().item(),
             "sdf": (out.raw.extras["raw"].permute(0, 2, 3, 1) - ref["sdf"]).abs().max().item()}
    print(f"StyleSDF full width (ffhq1024 architecture), upstream commit {_shims.upstream_commit(path)[:7]}:")
    for k, v in diffs.items():
        print(f"  max |zoo3d - upstream| {k}: {v:.3g}")
    print(f"  image range [{ref['image'].min().item():.3g}, {ref['image'].max().item():.3g}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=FIXTURE, help="fixture path (default: %(default)s)")
    parser.add_argument("--full-width", action="store_true", help="compare the ffhq1024 architecture; write nothing")
    parser.add_argument("--release-file", type=Path, help="write a tiny full-model release file here instead")
    args = parser.parse_args()
    torch.set_default_dtype(torch.float32)
    if args.full_width:
        compare_full_width()
    elif args.release_file:
        write_release_file(args.release_file)
    else:
        make_fixture(args.out)


if __name__ == "__main__":
    main()
