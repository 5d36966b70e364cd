"""Record what the authors' GRAM-HD computes, for zoo3d's parity test (tests/test_parity_gram_hd.py).

Runs JeffreyXiang/GRAM-HD from a local checkout (``ZOO3D_UPSTREAM_GRAM_HD``) on the CPU in fp32:
builds the official ``GramHDGenerator`` from ``configs.GRAMHD256_FFHQ`` (narrowed and at a smaller
image size, 48 px, unless ``--full``), perturbs its initial weights (GRAM's zero biases and constant output
layer, the background net's zero-initialised last conv), and renders one latent at a frontal and
one at a non-frontal pose (GRAM's ``(phi, theta)``) through the generator's own renderer call
(``renderer.render`` with the generator's closures, as ``GramHDGenerator.forward`` makes it), with
truncation 1 (no sampling noise exists at inference). Recorded per pose:

* ``hr`` (1, 3, H, H) and ``lr`` (1, 3, h, h): the HR and LR images;
* ``lr_points``/``lr_valid``: the LR perspective intersections (1, h*h, 23, 3 / 1);
* ``grid_points``/``grid_valid``: the manifold-gridding intersections (1, h*h, 23, 3 / 1);
* ``lr_features`` (23, 4 + F, h, h): the gridded maps the super-resolution net gets (pre-SR);
* ``lr_maps`` (24, 4, h, h) and, for the frontal pose, ``hr_maps`` (24, 4, H, H): LR and HR
  rgba maps of the 23 manifolds and the background (alpha 0).

The fixture (safetensors) also holds the official weights (``weights.<upstream name>``) and the
inputs; its metadata the upstream commit and the settings (JSON).

    ZOO3D_UPSTREAM_GRAM_HD=/path/to/GRAM-HD python tools/parity/make_gram_hd.py [--full] [--out FILE] [--check]
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_gram import POSES, perturb_, save, upstream_commit  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "fixtures" / "parity" / "gram_hd.safetensors"

#: Narrowed widths of the default fixture (the structure of GRAMHD256_FFHQ: x4, 2 up stages each).
NARROW = dict(hidden_dim=32, hidden_dim_sample=32, z_dim=32, mapping_hidden=32, feature_dim=8,
              fg=dict(w_dim=32, nf=16, nb=1, gc=8, up_channels=[16, 16]), sr_mapping_hidden=32,
              bg=dict(nf=16, nb=1, gc=8, up_channels=[16, 8]))


def build_upstream(checkout: Path, full: bool, img_size: int):
    sys.path.insert(0, str(checkout))
    import configs
    import generators.representations.gram as representation
    import generators.super_resolutions.styleesrgan as styleesrgan
    from generators import generators

    cfg = copy.deepcopy(configs.GRAMHD256_FFHQ)
    gen = cfg["generator"]
    sr = gen["super_resolution"]["kwargs"]
    if full:
        widths = dict(hidden_dim=256, hidden_dim_sample=128, z_dim=256, mapping_hidden=256, feature_dim=32,
                      fg=sr["fg"], sr_mapping_hidden=256, bg=sr["bg"])
    else:
        widths = NARROW
        sr["fg"].update(widths["fg"])
        sr["bg"].update(widths["bg"])
    gen["representation"]["kwargs"].update(hidden_dim=widths["hidden_dim"], hidden_dim_sample=widths["hidden_dim_sample"])
    gen["kwargs"].update(z_dim=widths["z_dim"], feature_dim=widths["feature_dim"], img_size=img_size,
                         lr_img_size=img_size // 4)
    mapping, sr_mapping = representation.CustomMappingNetwork, styleesrgan.MappingNetwork
    representation.CustomMappingNetwork = lambda z, hidden, out: mapping(z, widths["mapping_hidden"], out)
    styleesrgan.MappingNetwork = lambda z, hidden, out: sr_mapping(z, widths["sr_mapping_hidden"], out)
    try:
        torch.manual_seed(0)
        G = generators.GramHDGenerator(representation_kwargs=gen["representation"]["kwargs"],
                                       super_resolution_kwargs=sr, renderer_kwargs=gen["renderer"]["kwargs"],
                                       **gen["kwargs"])
    finally:
        representation.CustomMappingNetwork, styleesrgan.MappingNetwork = mapping, sr_mapping
    perturb_(G, torch.Generator().manual_seed(1))
    return G.eval(), cfg, widths


class _Recorder:
    """Wraps the generator's intersection callable: the renderer calls it for the LR view, then for the gridding."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, points, levels):
        out = self.fn(points, levels)
        self.calls.append(out)
        return out


@torch.no_grad()
def record(checkout: Path, full: bool, img_size: int) -> tuple[dict, dict]:
    G, cfg, widths = build_upstream(checkout, full, img_size)
    cam = cfg["camera"]
    z = torch.randn(len(POSES), widths["z_dim"], generator=torch.Generator().manual_seed(2))
    pose = torch.tensor(POSES, dtype=torch.float32)
    out = {"inputs.z": z, "inputs.camera_pos": pose}
    rows: dict[str, list] = {}
    for i, (phi, theta) in enumerate(POSES):
        zi = z[i:i + 1]
        origin = torch.tensor([[math.sin(phi) * math.cos(theta), math.cos(phi), math.sin(phi) * math.sin(theta)]])
        freq, phase = G.representation.rf_network.mapping_network(zi)
        intersections = _Recorder(G._intersections)
        (hr, lr, hr_maps, lr_maps), detail = G.renderer.render(
            intersections, G._volume(freq, phase), G._feature(freq, phase), G._super_resolution(zi),
            G.super_resolution_bg, img_size, origin, pose[i:i + 1], cam["fov"], cam["ray_start"], cam["ray_end"],
            "cpu")
        (lr_points, _, lr_valid), (grid_points, _, grid_valid) = intersections.calls
        recorded = {"hr": hr, "lr": lr, "lr_points": lr_points, "lr_valid": lr_valid[..., 0].to(torch.uint8),
                    "grid_points": grid_points, "grid_valid": grid_valid[..., 0].to(torch.uint8),
                    "lr_features": detail["features"], "lr_maps": lr_maps}
        if i == 0:
            recorded["hr_maps"] = hr_maps
        for key, value in recorded.items():
            rows.setdefault(key, []).append(value)
    out.update({k: torch.cat(v) for k, v in rows.items()})
    for name, value in G.state_dict().items():
        out[f"weights.{name}"] = value
    meta = {
        "upstream": "JeffreyXiang/GRAM-HD", "upstream_commit": upstream_commit(checkout), "config": "GRAMHD256_FFHQ",
        "full_width": full, "widths": widths, "camera": cam, "renderer": cfg["generator"]["renderer"]["kwargs"],
        "resolution": img_size, "lr_resolution": img_size // 4, "truncation_psi": 1.0,
        "weights": "random init (seed 0) perturbed by 0.1 x each tensor's spread (seed 1)",
    }
    return out, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="paper widths (GRAMHD256_FFHQ) instead of the narrow net")
    parser.add_argument("--out", type=Path, help=f"fixture path (default {DEFAULT_OUT.relative_to(REPO)})")
    parser.add_argument("--resolution", type=int, default=None, help="HR side (default 48; 256 with --full)")
    parser.add_argument("--check", action="store_true",
                        help="replay in zoo3d and check the differences against the test's bounds")
    args = parser.parse_args()
    checkout = os.environ.get("ZOO3D_UPSTREAM_GRAM_HD")
    if not checkout or not Path(checkout).is_dir():
        sys.exit("set ZOO3D_UPSTREAM_GRAM_HD to a checkout of JeffreyXiang/GRAM-HD")
    out = args.out or (None if args.full else DEFAULT_OUT)
    if out is None:
        sys.exit("--full writes a large file: give --out")
    torch.set_grad_enabled(False)
    tensors, meta = record(Path(checkout), args.full, args.resolution or (256 if args.full else 48))
    save(tensors, meta, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    if args.check:
        sys.path.insert(0, str(REPO / "tests"))
        from test_parity_gram_hd import BOUNDS, PAPER_WIDTH_BOUNDS
        from parity_replay import load_fixture, replay_gram_hd, within_bounds

        print(f"{'quantity':<30} {'measured':>9} {'bound':>7}")
        if not within_bounds(replay_gram_hd(*load_fixture(out)), PAPER_WIDTH_BOUNDS if args.full else BOUNDS):
            sys.exit("a difference is over the bound its parity test asserts")


if __name__ == "__main__":
    main()
