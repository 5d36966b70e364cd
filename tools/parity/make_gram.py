"""Record what the authors' GRAM computes, for zoo3d's parity test (tests/test_parity_gram.py).

Runs microsoft/GRAM from a local checkout (``ZOO3D_UPSTREAM_GRAM``) on the CPU in fp32: builds the
official ``GramGenerator`` from ``configs.FFHQ_default`` (or ``--config CARLA_default``: no background
plane, white background; narrowed unless ``--full``), perturbs its initial weights (so that biases,
which GRAM initialises to zero, and the constant output layer of the manifold predictor take generic
values), and records for two latents, one at a frontal and one at a non-frontal pose (in GRAM's
``(phi, theta)``; CARLA: two views from above, front and rear-side):

* ``image`` (B, 3, R, R): ``generator(z, fov, ray_start, ray_end, img_size=R, camera_pos=...)``;
* at the intersection resolution r (default R): ``points`` (B, r*r, 23, 3), ``valid`` (B, r*r, 23) and
  ``s`` (B, r*r, 64) from the generator's own ``get_intersections`` on the renderer's ray samples,
  and ``image_r`` plus the sorted ``weights`` (B, r, r, 24) from ``generator.experiment``.

The fixture (safetensors) holds the official weights under ``weights.<upstream name>``, the inputs
and these outputs; its metadata holds the upstream commit and the settings (JSON). No sampling
noise: GRAM's renderer samples deterministically at inference (``randomize=False``).

    ZOO3D_UPSTREAM_GRAM=/path/to/GRAM python tools/parity/make_gram.py [--config CARLA_default] [--full]
        [--out FILE] [--resolution R] [--check]

``--check`` then replays the fixture in zoo3d (as the test does) and prints the differences beside the bounds its
test asserts; the exit status is 1 when one is over.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "fixtures" / "parity" / "gram.safetensors"

#: Narrowed widths of the default fixture (same structure as FFHQ_default).
NARROW = dict(hidden_dim=64, hidden_dim_sample=32, z_dim=64, mapping_hidden=64)
#: (phi, theta): frontal, and pitch +0.2 / yaw +0.35 (the subject turned to its left, seen from above).
POSES = [(math.pi / 2, math.pi / 2), (math.pi / 2 - 0.2, math.pi / 2 + 0.35)]
#: CARLA_default's cameras look down on the car from all around: 30° and 45° above it, front and rear-side.
CARLA_POSES = [(math.pi / 3, math.pi / 2), (math.pi / 4, math.pi / 2 + 2.0)]


def upstream_commit(checkout: Path) -> str:
    commit_file = checkout / "COMMIT"
    if commit_file.is_file():
        return commit_file.read_text().split()[0]
    try:
        return subprocess.check_output(["git", "-C", str(checkout), "rev-parse", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def perturb_(module: torch.nn.Module, generator: torch.Generator, scale: float = 0.1) -> None:
    """Add noise of ``scale`` times each tensor's spread (0.05 for constant or all-zero tensors)."""
    with torch.no_grad():
        for p in module.parameters():
            spread = p.std().item() if p.numel() > 1 else 0.0
            if not spread > 0:
                spread = 0.5
            p.add_(torch.randn(p.shape, generator=generator) * scale * spread)


def build_upstream(checkout: Path, full: bool, config: str = "FFHQ_default"):
    sys.path.insert(0, str(checkout))
    import configs
    import generators.representations.gram as representation
    from generators import generators

    cfg = copy.deepcopy(getattr(configs, config))
    gen = cfg["generator"]
    paper = dict(hidden_dim=gen["representation"]["kwargs"]["hidden_dim"],
                 hidden_dim_sample=gen["representation"]["kwargs"]["hidden_dim_sample"], z_dim=gen["kwargs"]["z_dim"],
                 mapping_hidden=256)
    widths = paper if full else NARROW
    gen["representation"]["kwargs"].update(hidden_dim=widths["hidden_dim"], hidden_dim_sample=widths["hidden_dim_sample"])
    gen["kwargs"]["z_dim"] = widths["z_dim"]
    mapping = representation.CustomMappingNetwork
    representation.CustomMappingNetwork = lambda z_dim, hidden, out: mapping(z_dim, widths["mapping_hidden"], out)
    try:
        torch.manual_seed(0)
        G = generators.GramGenerator(representation_kwargs=gen["representation"]["kwargs"],
                                     renderer_kwargs=gen["renderer"]["kwargs"], **gen["kwargs"])
    finally:
        representation.CustomMappingNetwork = mapping
    perturb_(G, torch.Generator().manual_seed(1))
    return G.eval(), cfg, widths, generators


@torch.no_grad()
def record(checkout: Path, full: bool, resolution: int, inter_resolution: int,
           config: str = "FFHQ_default") -> tuple[dict, dict]:
    G, cfg, widths, generators = build_upstream(checkout, full, config)
    poses = CARLA_POSES if config == "CARLA_default" else POSES
    from generators.renderers.manifold_renderer import get_initial_rays_trig, transform_sampled_points

    cam = cfg["camera"]
    render = cfg["generator"]["renderer"]["kwargs"]
    z = torch.randn(len(poses), widths["z_dim"], generator=torch.Generator().manual_seed(2))
    pose = torch.tensor(poses, dtype=torch.float32)
    out = {"inputs.z": z, "inputs.camera_pos": pose}
    # One instance per call: upstream's camera_pos path (get_camera_origins) only broadcasts for B = 1.
    rows: dict[str, list] = {}
    num_levels = render["num_manifolds"] - 1 if render.get("background", True) else render["num_manifolds"]
    levels = torch.linspace(render["levels_start"], render["levels_end"], num_levels)
    r = inter_resolution
    for i in range(len(poses)):
        zi, pi = z[i:i + 1], pose[i:i + 1]
        image, _ = G(zi, cam["fov"], cam["ray_start"], cam["ray_end"], img_size=resolution, camera_pos=pi)
        image_r, _, detail = G.experiment(zi, cam["fov"], cam["ray_start"], cam["ray_end"], img_size=r, camera_pos=pi)
        # The renderer's own first steps, to read the unsorted per-level intersections and s.
        points_cam, _, rays_d_cam = get_initial_rays_trig(1, render["num_samples"], resolution=(r, r), device="cpu",
                                                          fov=cam["fov"], ray_start=cam["ray_start"],
                                                          ray_end=cam["ray_end"], randomize=False)
        samples, _, _, _ = transform_sampled_points(points_cam, rays_d_cam, generators.get_camera_origins(pi), pi,
                                                    device="cpu")
        points, s, valid = G.representation.get_intersections(samples.reshape(1, r * r, -1, 3), levels)
        for key, value in [("image", image), ("image_r", image_r), ("weights", detail["weights"][..., 0]),
                           ("points", points), ("valid", valid[..., 0].to(torch.uint8)), ("s", s[..., 0])]:
            rows.setdefault(key, []).append(value)
    out.update({k: torch.cat(v) for k, v in rows.items()})
    for name, value in G.state_dict().items():
        out[f"weights.{name}"] = value
    meta = {
        "upstream": "microsoft/GRAM", "upstream_commit": upstream_commit(checkout), "config": config,
        "full_width": full, "widths": widths, "camera": cam, "renderer": render,
        "representation": cfg["generator"]["representation"]["kwargs"], "resolution": resolution,
        "intersection_resolution": inter_resolution, "truncation_psi": 1.0,
        "weights": "random init (seed 0) perturbed by 0.1 x each tensor's spread (seed 1)",
    }
    return out, meta


def save(tensors: dict, meta: dict, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(path),
              metadata={"zoo3d.parity": json.dumps(meta)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="paper widths instead of the narrow net")
    parser.add_argument("--config", default="FFHQ_default", choices=["FFHQ_default", "CATS_default", "CARLA_default"],
                        help="the upstream config (CARLA_default: no background plane, white background)")
    parser.add_argument("--out", type=Path, help=f"fixture path (default {DEFAULT_OUT.relative_to(REPO)}; "
                                                 "gram_carla.safetensors for CARLA_default)")
    parser.add_argument("--resolution", type=int, default=None, help="image side (default 32; CARLA 16)")
    parser.add_argument("--intersection-resolution", type=int, default=None, help="default: the image side")
    parser.add_argument("--check", action="store_true",
                        help="replay in zoo3d and check the differences against the test's bounds")
    args = parser.parse_args()
    checkout = os.environ.get("ZOO3D_UPSTREAM_GRAM")
    if not checkout or not Path(checkout).is_dir():
        sys.exit("set ZOO3D_UPSTREAM_GRAM to a checkout of microsoft/GRAM")
    carla = args.config == "CARLA_default"
    default_out = DEFAULT_OUT.with_name("gram_carla.safetensors") if carla else DEFAULT_OUT
    out = args.out or (None if args.full or args.config == "CATS_default" else default_out)
    if out is None:
        sys.exit("give --out (the default fixtures are the narrow FFHQ_default and CARLA_default nets)")
    torch.set_grad_enabled(False)
    resolution = args.resolution or (16 if carla else 32)
    tensors, meta = record(Path(checkout), args.full, resolution, args.intersection_resolution or resolution,
                           args.config)
    save(tensors, meta, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    if args.check:
        sys.path.insert(0, str(REPO / "tests"))
        from test_parity_gram import BOUNDS
        from parity_replay import load_fixture, replay_gram, within_bounds

        print(f"{'quantity':<30} {'measured':>9} {'bound':>7}")
        if not within_bounds(replay_gram(*load_fixture(out)), BOUNDS):
            sys.exit("a difference is over the bound its parity test asserts")


if __name__ == "__main__":
    main()
