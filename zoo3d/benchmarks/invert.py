"""``zoo3d bench invert``: GRAMInverter's single pass against the optimisation inverter on held-out synthetic heads.

The single-pass inverter is the one of the registered model with the role ``bench:invert`` (GRAMInverter).

For held-out heads (``synthetic:heads`` instances of seed 9001, never used for training, at prior poses),
both methods invert the input view given its true camera, on the same generator (GRAMInverter's frozen
Efficient GRAM); PSNR/SSIM are measured at the input view and at novel views (yaw -0.5, -0.3, +0.3, +0.5
at the input pitch) against the true renders, with the time per image (device synchronised, after a
warm-up). The pose head's error is reported separately (the single pass does not need the pose).

The model: ``$ZOO3D_BENCH_INVERT_CKPT`` (a gram_inverter run or checkpoint) when set; otherwise the
``tiny`` preset is trained here first (all three stages; ``--quick``: 6 steps, a smoke run only); a Ctrl-C or
SIGTERM that stops that training stops the suite (exit status 130 / 143).
:func:`measure` takes the number of heads and optimisation steps (for runs that must fit a time budget).
"""

from __future__ import annotations

import os
import tempfile
import time

ROLE = "bench:invert"
NOVEL_YAWS = (-0.5, -0.3, 0.3, 0.5)
HELD_OUT_SEED = 9001


def _trained_model(device: str, quick: bool, tmp: str, checkpoint: str | None = None):
    """The model to measure and where it came from (``checkpoint``, else $ZOO3D_BENCH_INVERT_CKPT, else the tiny
    preset trained now)."""
    from zoo3d.plugins import model_with_role
    from zoo3d.runs import load_model

    model = model_with_role(ROLE, "zoo3d bench invert").name
    ref = checkpoint or os.environ.get("ZOO3D_BENCH_INVERT_CKPT")
    if ref:
        return load_model(ref, model=model, device=device), "given checkpoint"
    from zoo3d.launch import train_model

    steps = 6 if quick else None
    result = train_model(model, preset="tiny", out=os.path.join(tmp, "run"), steps=steps, device=device,
                         overrides=["train.sample_every=0"], progress=False)
    if result.status == "interrupted":  # the training took the Ctrl-C (or SIGTERM) and stopped at a checkpoint:
        if result.signal == "SIGINT":  # the suite stops too, as it would anywhere else, not measure that model
            raise KeyboardInterrupt
        raise SystemExit(result.exit_status)
    return load_model(str(result.run_dir), model=model, device=device), f"tiny preset, {result.step} steps"


def _views(params, cameras, resolution, device):
    """True renders (B, 3, R, R) at the input cameras and at each novel yaw (dict yaw -> (B, 3, R, R))."""
    from zoo3d.cameras import Camera
    from zoo3d.data.synthetic import render_heads

    angles = cameras.to_angles()
    views = {"input": (cameras, render_heads(params, cameras, resolution)["rgb"])}
    for yaw in NOVEL_YAWS:
        cams = Camera.from_angles(_full(len(cameras), yaw), angles["pitch"], angles["radius"], angles["fov"])
        views[yaw] = (cams, render_heads(params, cams, resolution)["rgb"])
    return {k: (c.to(device=device), img.to(device)) for k, (c, img) in views.items()}


def _full(n: int, value: float):
    import torch

    return torch.full((n,), float(value))


def _evaluate(name: str, invert_one, render, views, n: int, device) -> dict:
    import torch

    from zoo3d.devices import synchronize
    from zoo3d.eval.image_metrics import psnr, ssim

    scores: dict = {k: ([], []) for k in views}
    seconds = []
    cams_in, images = views["input"]
    invert_one(images[:1], cams_in[:1])  # warm-up
    for i in range(n):
        synchronize(device)
        t0 = time.perf_counter()
        result = invert_one(images[i:i + 1], cams_in[i:i + 1])
        synchronize(device)
        seconds.append(time.perf_counter() - t0)
        with torch.no_grad():
            for key, (cams, truth) in views.items():
                pred = render(result, cams[i:i + 1], tuple(truth.shape[-2:])).rgb.float()
                scores[key][0].append(float(psnr(pred, truth[i:i + 1]).mean()))
                scores[key][1].append(float(ssim(pred, truth[i:i + 1]).mean()))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    novel = [k for k in views if k != "input"]
    rec = {"method": name, "images": n, "seconds_per_image": mean(seconds),
           "psnr_input": mean(scores["input"][0]), "ssim_input": mean(scores["input"][1]),
           "psnr_novel": mean([mean(scores[k][0]) for k in novel]),
           "ssim_novel": mean([mean(scores[k][1]) for k in novel])}
    for k in novel:
        rec[f"psnr_yaw{k:+.1f}"] = mean(scores[k][0])
    return rec


def run(device: str, quick: bool) -> list[dict]:
    """8 held-out heads, W+ optimisation with 450 steps and PTI with 450 + 350 (``quick``: 2 heads, 30 steps)."""
    if quick:
        return measure(device, images=2, steps=30, pti_steps=0, quick_train=True)
    return measure(device, images=8, steps=450, pti_steps=350)


def measure(device: str, images: int = 8, steps: int = 450, pti_steps: int = 350, checkpoint: str | None = None,
            quick_train: bool = False) -> list[dict]:
    """The records of one comparison: ``images`` held-out heads; the optimisation inverter with ``steps`` W+ steps,
    and with ``pti_steps`` of PTI tuning after them when > 0, tuning every weight and, for a generator with a shared
    geometry, every weight but that geometry's (``--keep-geometry``). ``checkpoint`` overrides $ZOO3D_BENCH_INVERT_CKPT
    (the environment is left as it was: ``zoo3d bench --json`` records the ``ZOO3D_*`` settings the user gave)."""
    import torch

    from zoo3d.data.synthetic import instance_params_and_camera
    from zoo3d.invert import OptimizationInverter, OptimizeSettings, keeps_geometry

    n = images
    with tempfile.TemporaryDirectory() as tmp:
        loaded, source = _trained_model(device, quick_train, tmp, checkpoint)
        gen = loaded.generator
        dev = gen.device
        single = loaded.plugin.build_inverter(loaded.config, {**loaded.modules, "generator": gen}).to(dev).eval()
        res = gen.resolution[0]
        params, cams = instance_params_and_camera(HELD_OUT_SEED, range(n), loaded.config.camera)
        views = _views(params, cams, res, dev)
        common = {"device": str(dev), "resolution": res, "model": source, "train_step": loaded.step,
                  "checkpoint_sha256": (loaded.sha256 or "")[:12], "pose": "true input camera given"}
        records = []

        def single_invert(img, cam):
            with torch.no_grad():
                return single.invert(img, cam)

        records.append({**common, **_evaluate(f"{loaded.spec.name}_single_pass", single_invert, single.render, views,
                                              n, dev)})
        with torch.no_grad():
            _, pose = single.encode(views["input"][1])
        truth = torch.stack([cams.to_angles()["yaw"], cams.to_angles()["pitch"]], -1).to(dev)
        records[-1]["pose_head_mae_rad"] = float((pose - truth).abs().mean()) if pose is not None else None

        variants = [("optimize_wplus", OptimizeSettings(steps=steps))]
        if pti_steps > 0:
            variants.append(("optimize_wplus_pti", OptimizeSettings(steps=steps, tune_steps=pti_steps)))
            if keeps_geometry(gen):  # zoo3d invert --keep-geometry: the shared geometry kept as trained
                variants.append(("optimize_wplus_pti_keep_geometry",
                                 OptimizeSettings(steps=steps, tune_steps=pti_steps, keep_geometry=True)))
        for name, settings in variants:
            opt = OptimizationInverter(gen, settings)
            rec = _evaluate(name, opt.invert, opt.render, views, n, dev)
            rec["steps"] = settings.steps + settings.tune_steps
            rec["perceptual"] = opt.perceptual.name if opt.perceptual is not None else None
            records.append({**common, **rec})
        base = records[0]["seconds_per_image"]
        for r in records[1:]:
            r["slowdown_vs_single"] = r["seconds_per_image"] / base
            r["novel_psnr_single_minus_this"] = records[0]["psnr_novel"] - r["psnr_novel"]
        return records
