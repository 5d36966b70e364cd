"""Replaying the parity fixtures (tools/parity/make_*.py) in zoo3d: the authors' weights through
zoo3d's importers, the same latents and cameras, and the largest differences from the authors'
recorded outputs. Shared by tests/test_parity_*.py and the tools scripts' ``--check``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor


def load_fixture_with_config(path: str | Path, model: str, preset: str):
    """A fixture's tensors, its metadata, and ``model``'s ``preset`` config with the fixture's recorded
    ``zoo3d_overrides`` (the narrowed sizes the authors' network was built at)."""
    from safetensors import safe_open

    from zoo3d.config import load_run_config
    from zoo3d.plugins import get_model_spec

    with safe_open(str(path), "pt") as fh:
        data = {k: fh.get_tensor(k) for k in fh.keys()}
        meta = fh.metadata()
    overrides = [f"{k}={v}" for k, v in json.loads(meta["zoo3d_overrides"]).items()]
    spec = get_model_spec(model)
    return data, meta, load_run_config(spec.load().config_class, spec.name, spec.presets_dir, preset,
                                       overrides=overrides)


def load_fixture(path: str | Path) -> tuple[dict[str, Tensor], dict]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as fh:
        meta = json.loads(fh.metadata()["zoo3d.parity"])
    return load_file(str(path)), meta


def within_bounds(diffs: dict[str, float], bounds: dict[str, float], label: str = "") -> bool:
    """Print each bounded difference beside the bound its parity test asserts (the other keys of ``diffs``
    after them); True when every one is within its bound. ``label`` starts each line."""
    ok, start = True, f"{label:<22} " if label else ""
    for name, bound in bounds.items():
        ok &= diffs[name] <= bound
        print(f"{start}{name:<30} {diffs[name]:>9.2g} {bound:>7.0e}{'' if diffs[name] <= bound else '  OVER'}")
    for name in sorted(diffs.keys() - bounds.keys()):
        print(f"{start}{name:<30} {diffs[name]:>9.3g}")
    return ok


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
    background = r.get("background", True)
    g.manifold.num_levels = r["num_manifolds"] - 1 if background else r["num_manifolds"]
    g.manifold.level_start, g.manifold.level_end = float(r["levels_start"]), float(r["levels_end"])
    g.manifold.background_z = -0.12 if background else None
    rep = meta.get("representation", {})
    g.manifold.center = tuple(float(c) for c in rep.get("center", (0, 0, -1.5)))
    g.radiance.box_size = float(rep["normalize"]) if "normalize" in rep else None
    g.radiance.delta_alpha = r.get("delta_alpha", 0.04)
    g.render.white_background = r.get("white_back", False)
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
    out_r = out if r == meta["resolution"] else generator.render(rep, cams, r)
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
    same = r == meta["resolution"]  # then the image's snap-ambiguous pixels are known and set apart
    return {
        "image": (_max_abs(out.rgb[clear_px], tensors["image"][clear_px]) if same
                  else _max_abs(out.rgb, tensors["image"])),
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


def gram_hd_fixture_config(meta: dict):
    """The GRAM-HD config of the fixture's official network (GRAMHD256_FFHQ, maybe narrowed and smaller)."""
    from zoo3d_gram_hd.config import GramHDConfig

    cfg = GramHDConfig()
    g, w, r, cam = cfg.generator, meta["widths"], meta["renderer"], meta["camera"]
    lr = g.lowres
    lr.resolution = meta["lr_resolution"]  # first: the HR side is validated against it
    g.resolution = meta["resolution"]
    lr.manifold.hidden = w["hidden_dim_sample"]
    lr.radiance.hidden, lr.radiance.z_dim, lr.radiance.mapping_hidden = w["hidden_dim"], w["z_dim"], w["mapping_hidden"]
    lr.radiance.feature_dim = w["feature_dim"]
    lr.manifold.num_levels = r["num_manifolds"] - 1
    lr.manifold.level_start, lr.manifold.level_end = float(r["levels_start"]), float(r["levels_end"])
    lr.render.num_samples, lr.render.near, lr.render.far = r["num_samples"], cam["ray_start"], cam["ray_end"]
    fg, bg = w["fg"], w["bg"]
    g.foreground_sr.nf, g.foreground_sr.nb, g.foreground_sr.gc = fg["nf"], fg["nb"], fg["gc"]
    g.foreground_sr.up_channels, g.foreground_sr.style_hidden = list(fg["up_channels"]), w["sr_mapping_hidden"]
    g.foreground_sr.last_kernel = fg.get("to_rgb_ks", 1)
    g.background_sr.nf, g.background_sr.nb, g.background_sr.gc = bg["nf"], bg["nb"], bg["gc"]
    g.background_sr.up_channels = list(bg["up_channels"])
    g.extent = cam["fov"] / 100
    cfg.camera.fov = cam["fov"]
    return cfg


def build_imported_gram_hd(tensors: dict[str, Tensor], meta: dict, unset: tuple[str, ...] = ()):
    """The fixture's official weights converted by zoo3d's importer into a GramHDGenerator; ``unset``
    names import flags (``align_corners``, ``texture_align_corners``, ``upsample_background_hits``) to
    put back at zoo3d's own defaults, to see what each one changes."""
    from zoo3d_gram_hd.generator import GramHDGenerator
    from zoo3d_gram_hd.model import GramHDModel

    imported = GramHDModel().import_release(_weights(tensors), gram_hd_fixture_config(meta))
    g = imported.config.generator
    for flag in unset:
        owner = g.lowres.render if flag == "align_corners" else g
        setattr(owner, flag, type(owner)().model_dump()[flag])
    generator = GramHDGenerator(imported.config.generator, imported.config.camera)
    generator.load_state_dict(imported.state, strict=True)
    return generator.eval(), imported


@torch.no_grad()
def replay_gram_hd(tensors: dict[str, Tensor], meta: dict, unset: tuple[str, ...] = ()) -> dict[str, float]:
    """Max abs differences from the authors' GRAM-HD: HR/LR images, both kinds of intersections,
    pre-SR maps, LR and HR rgba maps (``unset``: as build_imported_gram_hd's)."""
    from zoo3d.cameras import Camera
    from zoo3d.render.gridding import grid_manifolds
    from zoo3d.render.intersect import intersect_manifolds

    generator, imported = build_imported_gram_hd(tensors, meta, unset)
    cfg = imported.config.generator
    rc, h = cfg.lowres.render, cfg.lowres.resolution
    z, pose = tensors["inputs.z"], tensors["inputs.camera_pos"]
    diffs: dict[str, float] = {}

    def note(key: str, a: Tensor, b: Tensor) -> None:
        diffs[key] = max(diffs.get(key, 0.0), _max_abs(a, b))

    N = generator.lowres.levels.shape[0]
    for i in range(len(z)):
        cams = Camera.from_gram(pose[i:i + 1, 0], pose[i:i + 1, 1], fov=meta["camera"]["fov"])
        rep = generator.represent(z[i:i + 1])
        out = generator.render(rep, cams)
        textures = out.textures
        note("hr_image", out.rgb, tensors["hr"][i:i + 1])
        note("lr_image", out.raw.rgb, tensors["lr"][i:i + 1])
        origins, dirs = cams.rays(h, h, align_corners=rc.align_corners)
        points, valid, _ = intersect_manifolds(rep.lowres, origins, dirs, rc.near, rc.far, rc.num_samples)
        note("lr_points", points.transpose(1, 2), tensors["lr_points"][i:i + 1])
        diffs["lr_valid_mismatches"] = diffs.get("lr_valid_mismatches", 0.0) + float(
            (valid.transpose(1, 2) != tensors["lr_valid"][i:i + 1].bool()).sum())
        grid, grid_valid = grid_manifolds(rep.lowres, h, cfg.extent, rc.near, rc.far, rc.num_samples, batch_size=1)
        note("grid_points", grid.reshape(1, N, h * h, 3).transpose(1, 2), tensors["grid_points"][i:i + 1])
        diffs["grid_valid_mismatches"] = diffs.get("grid_valid_mismatches", 0.0) + float(
            (grid_valid.reshape(1, N, h * h).transpose(1, 2) != tensors["grid_valid"][i:i + 1].bool()).sum())
        note("lr_features", textures.lr_maps[0], tensors["lr_features"][i * N:(i + 1) * N])
        note("lr_maps", textures.rgba(hr=False)[0], tensors["lr_maps"][i * (N + 1):(i + 1) * (N + 1)])
        if i == 0:
            note("hr_maps", textures.rgba(hr=True)[0], tensors["hr_maps"])
    return diffs
