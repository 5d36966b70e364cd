"""Replaying the parity fixtures (tools/parity/make_*.py) in zoo3d: the authors' weights through
zoo3d's importers, the same latents and cameras, and the largest differences from the authors'
recorded outputs. Shared by tests/test_parity_*.py and the tools scripts' ``--check``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor


def load_fixture(path: str | Path) -> tuple[dict[str, Tensor], dict]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as fh:
        meta = json.loads(fh.metadata()["zoo3d.parity"])
    return load_file(str(path)), meta


def _weights(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k[len("weights."):]: v for k, v in tensors.items() if k.startswith("weights.")}


def _max_abs(a: Tensor, b: Tensor) -> float:
    assert a.shape == b.shape, (tuple(a.shape), tuple(b.shape))
    return (a.double() - b.double()).abs().max().item()


def gram_fixture_config(meta: dict):
    """The GRAM config the fixture's official network was built with (FFHQ_default, maybe narrowed)."""
    from zoo3d_gram.config import GramConfig

    cfg = GramConfig()
    g, w, r, cam = cfg.generator, meta["widths"], meta["renderer"], meta["camera"]
    g.resolution = meta["resolution"]
    g.manifold.hidden = w["hidden_dim_sample"]
    g.radiance.hidden, g.radiance.z_dim, g.radiance.mapping_hidden = w["hidden_dim"], w["z_dim"], w["mapping_hidden"]
    g.manifold.num_levels = r["num_manifolds"] - 1
    g.manifold.level_start, g.manifold.level_end = float(r["levels_start"]), float(r["levels_end"])
    g.render.num_samples, g.render.near, g.render.far = r["num_samples"], cam["ray_start"], cam["ray_end"]
    cfg.camera.fov = cam["fov"]
    return cfg


def build_imported_gram(tensors: dict[str, Tensor], meta: dict):
    """The fixture's official weights converted by zoo3d's importer and loaded into a GramGenerator."""
    from zoo3d_gram.generator import GramGenerator
    from zoo3d_gram.model import GramModel

    imported = GramModel().import_release(_weights(tensors), gram_fixture_config(meta))
    generator = GramGenerator(imported.config.generator, imported.config.camera)
    generator.load_state_dict(imported.state, strict=True)
    return generator.eval(), imported


@torch.no_grad()
def replay_gram(tensors: dict[str, Tensor], meta: dict) -> dict[str, float]:
    """Max abs differences from the authors' GRAM: images, intersections, s, compositing weights."""
    from zoo3d.cameras import Camera
    from zoo3d.render.intersect import intersect_manifolds, sample_depths

    generator, imported = build_imported_gram(tensors, meta)
    z, pose = tensors["inputs.z"], tensors["inputs.camera_pos"]
    cams = Camera.from_gram(pose[:, 0], pose[:, 1], fov=meta["camera"]["fov"])
    rep = generator.represent(z)
    out = generator.render(rep, cams, meta["resolution"])
    r = meta["intersection_resolution"]
    out_r = generator.render(rep, cams, r)
    rc = imported.config.generator.render
    origins, dirs = cams.rays(r, r, align_corners=rc.align_corners)
    points, valid, _ = intersect_manifolds(rep, origins, dirs, rc.near, rc.far, rc.num_samples)
    t = sample_depths(rc.near, rc.far, rc.num_samples, origins)
    samples = origins.unsqueeze(-2) + t[:, None] * dirs.unsqueeze(-2)
    s = rep.scalar(samples.reshape(len(z), -1, 3)).reshape(len(z), r * r, -1)
    ref_valid = tensors["valid"].bool()
    ours_valid = valid.transpose(1, 2)
    snap = flat_snap_ambiguous(tensors["s"], generator.levels)  # (B, r*r, N)
    clear_ray = ~snap.any(-1)
    clear_px = clear_ray.reshape(len(z), 1, r, r).expand(-1, 3, -1, -1)
    ours_points, ref_points = points.transpose(1, 2), tensors["points"]
    return {
        "image": _max_abs(out.rgb, tensors["image"]),
        "image_intersection_resolution": _max_abs(out_r.rgb[clear_px], tensors["image_r"][clear_px]),
        "points": _max_abs(ours_points[clear_ray], ref_points[clear_ray]),
        "valid_mismatches": float((ours_valid != ref_valid).sum().item()),
        "s": _max_abs(s, tensors["s"]),
        "weights": _max_abs(out_r.weights.permute(0, 2, 3, 1)[clear_ray.reshape(len(z), r, r)],
                            tensors["weights"][clear_ray.reshape(len(z), r, r)]),
        "snap_ambiguous_rays": float(snap.any(-1).sum().item()),
        "rays": float(clear_ray.numel()),
        "image_snap_ambiguous": _max_abs(out_r.rgb, tensors["image_r"]),
        "points_snap_ambiguous": _max_abs(ours_points, ref_points),
    }


def flat_snap_ambiguous(s: Tensor, levels: Tensor, tol: float = 1e-4) -> Tensor:
    """(B, P, N) bool: the crossing of level n on ray p brackets a step |s_h - s_l| within ``tol`` of GRAM's
    flat-segment threshold (0.05), where float rounding can flip GRAM's snap to the far sample (a jump of up
    to one sample spacing) in either implementation. ``s`` (B, P, S) are the authors' recorded values."""
    from zoo3d.render.intersect import FLAT_SEGMENT_EPS, first_crossing

    k, valid = first_crossing(s, levels.to(s.dtype))
    ds = (s.gather(-1, k + 1) - s.gather(-1, k)).abs()
    return valid & ((ds - FLAT_SEGMENT_EPS).abs() <= tol)
