"""Record EG3D's own outputs for zoo3d's tri-plane parity test (``tests/fixtures/parity/triplane.safetensors``).

Runs the authors' code from a local checkout of NVlabs/eg3d (``ZOO3D_UPSTREAM_EG3D`` = the repository
root, or its ``eg3d/`` code folder) on the CPU, where its custom ops fall back to their reference
implementations (``upfirdn2d``/``bias_act`` with ``impl='ref'`` paths, plain ``grid_sample``/``conv2d``).

    ZOO3D_UPSTREAM_EG3D=~/src/eg3d python tools/parity/make_triplane.py        # writes the fixture
    ZOO3D_UPSTREAM_EG3D=~/src/eg3d python -m pytest -m slow tests/test_triplane_parity.py   # paper width

Two randomly initialised official ``TriPlaneGenerator``s are recorded, each with EG3D's structure at
reduced widths so that the file stays small:

* ``ffhq``: the FFHQ/AFHQ configuration (rays 2.25..3.3, box 1, 48 + 48 samples, pose-conditioned
  mapping, ``SuperresolutionHybrid8XDC`` to 512 px);
* ``shapenet``: the ShapeNet configuration (rays 0.1..2.6, box 1.6, 64 + 64 samples, white background,
  zero conditioning, ``SuperresolutionHybrid2X`` to 128 px).

Reduced widths: the backbone's ``channel_base``/``channel_max``, ``z_dim``/``w_dim`` and the two SR
blocks (official ``SynthesisBlock``/``SynthesisBlockNoUp`` built at small widths and put in place of
the full-width ones; the SR module's own ``forward`` runs). The tri-plane resolution (256), plane
channels (32), decoder and renderer are upstream's as they are. Biases, noise strengths and ``w_avg``
get random values (zero at initialisation) so that every term shows, the FFHQ network's density is
raised so that transmittance matters, one channel of an SR layer is pushed past ``conv_clamp``
(256; the layers reading it get small weights so that the image stays in its usual range), and every weight is rounded to a float16 value so that it is stored exactly in
half the space.

Randomness is fixed: the backbone runs with ``noise_mode='const'``; the renderer's stratified jitter
(``torch.rand_like``) and importance draws (``torch.rand``) are replaced by recorded numbers
``(k + 0.5) / 256`` with k stored as uint8 (``draws.*``), which zoo3d's renderer takes as they are.

Recorded per network (prefix ``ffhq.`` / ``shapenet.``):
``upstream.<name>`` the G state dict (float16; the SR layers' unused noise buffers left out),
``input.*`` z, conditioning and rendering cameras (EG3D 25-vectors), ``out.ws``, ``out.planes``
(a fixed strided subset of texels), ``out.point_*`` (per-plane features, decoder sigma and features at
fixed points), and per render r: ``out.features.r`` (the raw 32-channel feature image in [-1, 1]),
``out.depth.r``, ``out.weight_sum.r``, ``out.image.r`` (the SR output as a stride-8 subsample, plus
``out.image_crop.r``, its full-resolution centre crop). Metadata: the upstream commit and every setting.

:data:`FULL` is the FFHQ 512 network at paper width (EG3D's own constructor arguments, neural
rendering resolution 128 as ffhq512-128); the slow parity test builds it with these functions and
compares upstream and the converted zoo3d model in one process (nothing is saved).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import torch

ENV = "ZOO3D_UPSTREAM_EG3D"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "parity" / "triplane.safetensors"

FFHQ_RENDERING = dict(depth_resolution=48, depth_resolution_importance=48, ray_start=2.25, ray_end=3.3, box_warp=1,
                      avg_camera_radius=2.7, avg_camera_pivot=[0, 0, 0.2], c_gen_conditioning_zero=False)
SHAPENET_RENDERING = dict(depth_resolution=64, depth_resolution_importance=64, ray_start=0.1, ray_end=2.6,
                          box_warp=1.6, white_back=True, avg_camera_radius=1.7, avg_camera_pivot=[0, 0, 0],
                          c_gen_conditioning_zero=True)
FFHQ_FOCAL, SHAPENET_FOCAL = 4.2647, 1.7074  # gen_videos.py's normalised focal lengths

#: the networks of the fixture: reduced widths, same structure
NETWORKS = {
    "ffhq": dict(rendering=FFHQ_RENDERING, sr_module="SuperresolutionHybrid8XDC", img_resolution=512,
                 z_dim=16, w_dim=16, channel_base=1024, channel_max=16, sr_channels=(16, 8), neural_resolution=32,
                 focal=FFHQ_FOCAL, psi=0.7, truncation_cutoff=14, seed=1, density_shift=2.5, probe_clamp=True,
                 # (yaw, pitch) offsets from EG3D's frontal (pi/2, pi/2), per render, per instance
                 poses=[[(0.0, 0.0), (0.5, -0.25)], [(-0.7, 0.2), (0.0, 0.0)]]),
    "shapenet": dict(rendering=SHAPENET_RENDERING, sr_module="SuperresolutionHybrid2X", img_resolution=128,
                     z_dim=16, w_dim=16, channel_base=1024, channel_max=16, sr_channels=(16, 8),
                     neural_resolution=16, focal=SHAPENET_FOCAL, psi=1.0, truncation_cutoff=None, seed=2,
                     poses=[[(0.0, 0.3), (2.2, 0.6)]]),
}
FULL = dict(rendering=FFHQ_RENDERING, sr_module="SuperresolutionHybrid8XDC", img_resolution=512, z_dim=512,
            w_dim=512, channel_base=32768, channel_max=512, sr_channels=None, neural_resolution=128,
            focal=FFHQ_FOCAL, psi=0.7, truncation_cutoff=14, seed=3, poses=[[(0.0, 0.0)], [(0.6, -0.2)]])

NUM_POINTS = 128
PLANE_STRIDE, PLANE_OFFSET = 16, (3, 5)  # out.planes = planes[..., 3::16, 5::16]
IMAGE_STRIDE, IMAGE_OFFSET, CROP = 8, (3, 5), 32  # for outputs larger than 64 px


# ---------------------------------------------------------------------------------------------- upstream
def upstream_code_dir() -> Path:
    root = os.environ.get(ENV)
    if not root:
        sys.exit(f"set {ENV} to a checkout of https://github.com/NVlabs/eg3d")
    root = Path(root).expanduser()
    for d in (root / "eg3d", root):
        if (d / "training" / "triplane.py").is_file():
            return d
    sys.exit(f"{ENV}={root} holds no eg3d/training/triplane.py")


def upstream_commit(code_dir: Path) -> str:
    for d in (code_dir.parent, code_dir):
        try:
            return subprocess.run(["git", "-C", str(d), "rev-parse", "HEAD"], capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
        if (d / "COMMIT").is_file():
            return (d / "COMMIT").read_text().split()[0]
    return "unknown"


def import_upstream(code_dir: Path):
    sys.path.insert(0, str(code_dir))
    import training.networks_stylegan2 as sg2  # noqa: F401  (upstream modules, from the checkout)
    import training.superresolution as sr
    import training.triplane as triplane
    from camera_utils import LookAtPoseSampler
    return triplane, sr, LookAtPoseSampler


def build_upstream(spec: dict, mods) -> torch.nn.Module:
    """An official TriPlaneGenerator with EG3D's constructor arguments (train.py), at the spec's widths."""
    triplane, srmod, _ = mods
    rendering = dict(image_resolution=spec["img_resolution"], disparity_space_sampling=False, clamp_mode="softplus",
                     superresolution_module=f"training.superresolution.{spec['sr_module']}",
                     gpc_reg_prob=None if spec["rendering"]["c_gen_conditioning_zero"] else 0.5, c_scale=1.0,
                     superresolution_noise_mode="none", density_reg=0.25, density_reg_p_dist=0.004, reg_type="l1",
                     decoder_lr_mul=1.0, sr_antialias=True, **spec["rendering"])
    torch.manual_seed(spec["seed"])
    G = triplane.TriPlaneGenerator(
        z_dim=spec["z_dim"], c_dim=25, w_dim=spec["w_dim"], img_resolution=spec["img_resolution"], img_channels=3,
        sr_num_fp16_res=4, mapping_kwargs=dict(num_layers=2), rendering_kwargs=rendering,
        sr_kwargs=dict(channel_base=spec["channel_base"], channel_max=spec["channel_max"],
                       fused_modconv_default="inference_only"),
        channel_base=spec["channel_base"], channel_max=spec["channel_max"], fused_modconv_default="inference_only",
        num_fp16_res=0, conv_clamp=None)
    if spec["sr_channels"] is not None:  # the official SR blocks at reduced widths and w_dim
        sr = G.superresolution
        c0, c1 = spec["sr_channels"]
        block0_cls = srmod.SynthesisBlock if sr.block0.__class__.__name__ == "SynthesisBlock" else srmod.SynthesisBlockNoUp
        common = dict(w_dim=spec["w_dim"], img_channels=3, use_fp16=True, conv_clamp=256,
                      fused_modconv_default="inference_only")
        sr.block0 = block0_cls(32, c0, resolution=sr.block0.resolution, is_last=False, **common)
        sr.block1 = srmod.SynthesisBlock(c0, c1, resolution=sr.block1.resolution, is_last=True, **common)
    G.neural_rendering_resolution = spec["neural_resolution"]
    return G.eval().requires_grad_(False)


def randomise(G: torch.nn.Module, spec: dict, exact_fp16: bool = True) -> None:
    """Give biases, noise strengths and w_avg random values, shift the density by ``spec["density_shift"]``,
    push one channel of two SR layers past ``conv_clamp`` when ``spec["probe_clamp"]``; round every float to
    a float16 value."""
    g = torch.Generator().manual_seed(spec["seed"] + 1000)
    with torch.no_grad():
        for name, p in list(G.named_parameters()) + list(G.named_buffers()):
            if not p.is_floating_point() or name.endswith("resample_filter"):
                continue
            if name.endswith("bias"):
                p.add_(0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("noise_strength"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif name.endswith("w_avg"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
        G.decoder.net[2].bias[0] += spec.get("density_shift", 0.0)  # a denser field: transmittance matters
        if spec.get("probe_clamp"):  # one SR channel beyond +-256, read with small weights downstream
            sr = G.superresolution
            sr.block0.conv1.bias[0] += 250.0
            sr.block0.torgb.weight[:, 0] *= 0.01
            sr.block1.conv0.weight[:, 0] *= 0.01
        if exact_fp16:
            for p in list(G.parameters()) + list(G.buffers()):
                if p.is_floating_point():
                    p.copy_(p.half().float())


def cameras(spec: dict, mods, render: list[tuple[float, float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(conditioning (B, 25): EG3D's frontal, rendering (B, 25)) from LookAtPoseSampler as gen_samples.py does."""
    _, _, sampler = mods
    pivot = torch.tensor(spec["rendering"]["avg_camera_pivot"], dtype=torch.float32)
    radius = spec["rendering"]["avg_camera_radius"]
    f = spec["focal"]
    intrinsics = torch.tensor([[f, 0, 0.5], [0, f, 0.5], [0, 0, 1]], dtype=torch.float32).reshape(1, 9)
    cond = sampler.sample(math.pi / 2, math.pi / 2, pivot, radius=radius)
    rows = [sampler.sample(math.pi / 2 + yaw, math.pi / 2 + pitch, pivot, radius=radius) for yaw, pitch in render]
    c_cond = torch.cat([cond.reshape(1, 16), intrinsics], 1).repeat(len(render), 1)
    c_render = torch.cat([torch.cat([r.reshape(1, 16), intrinsics], 1) for r in rows], 0)
    return c_cond, c_render


@contextlib.contextmanager
def recorded_draws(gen: torch.Generator, log: dict):
    """Replace torch.rand_like / torch.rand (the renderer's only random numbers) by (k + 0.5) / 256, k uint8."""
    rand_like, rand = torch.rand_like, torch.rand

    def draw(shape, key):
        k = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
        log.setdefault(key, []).append(k)
        return (k.float() + 0.5) / 256

    torch.rand_like = lambda t, **kw: draw(t.shape, "coarse").to(t.device)
    torch.rand = lambda *shape, device=None, **kw: draw(tuple(shape), "fine").to(device)
    try:
        yield
    finally:
        torch.rand_like, torch.rand = rand_like, rand


def fixed_points(rendering: dict, n: int, seed: int) -> torch.Tensor:
    """(1, n, 3) points filling 1.1 x the tri-plane cube (a few outside it)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, n, 3, generator=g) - 0.5) * 1.1 * rendering["box_warp"]


def run_upstream(G, spec: dict, mods, record_planes: bool = True) -> dict:
    """Everything the fixture records for one network (see the module doc)."""
    from training.volumetric_rendering.renderer import sample_from_planes

    out: dict[str, torch.Tensor] = {}
    renders = spec["poses"]
    B = len(renders[0])
    z = torch.randn(B, spec["z_dim"], generator=torch.Generator().manual_seed(spec["seed"] + 7))
    c_cond, _ = cameras(spec, mods, renders[0])
    ws = G.mapping(z, c_cond, truncation_psi=spec["psi"], truncation_cutoff=spec["truncation_cutoff"])
    planes = G.backbone.synthesis(ws, noise_mode="const")
    planes5 = planes.view(B, 3, 32, planes.shape[-2], planes.shape[-1])
    out.update({"input.z": z, "input.c_cond": c_cond, "out.ws": ws})
    if record_planes:
        i, j = PLANE_OFFSET
        out["out.planes"] = planes5[..., i::PLANE_STRIDE, j::PLANE_STRIDE].contiguous()
    else:
        out["out.planes"] = planes5
    pts = fixed_points(spec["rendering"], NUM_POINTS, spec["seed"] + 11).expand(B, -1, -1).contiguous()
    feats = sample_from_planes(G.renderer.plane_axes, planes5, pts, box_warp=spec["rendering"]["box_warp"])
    dec = G.renderer.run_model(planes5, G.decoder, pts, torch.zeros_like(pts), G.rendering_kwargs)
    out.update({"input.points": pts, "out.point_features": feats, "out.point_sigma": dec["sigma"],
                "out.point_rgb": dec["rgb"]})

    captured = {}
    hooks = [G.superresolution.register_forward_pre_hook(lambda m, a, kw: captured.update(features=a[1]),
                                                         with_kwargs=True),
             G.renderer.register_forward_hook(lambda m, a, o: captured.update(weight_sum=o[2]))]
    gen = torch.Generator().manual_seed(spec["seed"] + 23)
    try:
        for r, poses in enumerate(renders):
            _, c_render = cameras(spec, mods, poses)
            log: dict = {}
            with recorded_draws(gen, log):
                res = G.synthesis(ws, c_render, neural_rendering_resolution=spec["neural_resolution"],
                                  noise_mode="const")
            nr = spec["neural_resolution"]
            out[f"input.c_render.{r}"] = c_render
            (coarse,), (fine,) = log["coarse"], log.get("fine", [torch.zeros(B * nr * nr, 0, dtype=torch.uint8)])
            out[f"draws.coarse.{r}"] = coarse.reshape(B, nr * nr, -1)
            out[f"draws.fine.{r}"] = fine.reshape(B, nr * nr, -1)
            out[f"out.features.{r}"] = captured["features"]
            out[f"out.depth.{r}"] = res["image_depth"]
            out[f"out.weight_sum.{r}"] = captured["weight_sum"].permute(0, 2, 1).reshape(B, 1, nr, nr)
            out.update({f"out.image.{r}" if k == "image" else f"{k}.{r}": v for k, v in image_record(res["image"]).items()})
    finally:
        for h in hooks:
            h.remove()
    return out


def image_record(image: torch.Tensor) -> dict[str, torch.Tensor]:
    """The SR output as recorded: whole up to 64 px; else a strided subsample and a centre crop."""
    if image.shape[-1] <= 64:
        return {"image": image}
    i, j = IMAGE_OFFSET
    c = (image.shape[-1] - CROP) // 2
    return {"image": image[..., i::IMAGE_STRIDE, j::IMAGE_STRIDE].contiguous(),
            "out.image_crop": image[..., c:c + CROP, c:c + CROP].contiguous()}


def upstream_state(G) -> dict[str, torch.Tensor]:
    """G's state dict without the SR layers' noise buffers (the SR runs with noise_mode 'none')."""
    return {k: v for k, v in G.state_dict().items()
            if not (k.startswith("superresolution.") and k.endswith("noise_const"))}


def settings(spec: dict) -> dict:
    keep = ("sr_module", "img_resolution", "z_dim", "w_dim", "channel_base", "channel_max", "sr_channels",
            "neural_resolution", "focal", "psi", "truncation_cutoff", "seed", "poses", "rendering", "density_shift",
            "probe_clamp")
    return {k: spec.get(k) for k in keep}


# ---------------------------------------------------------------------------------------------- modes
def make_fixture(out_path: Path) -> None:
    from safetensors.torch import save_file

    code_dir = upstream_code_dir()
    mods = import_upstream(code_dir)
    tensors: dict[str, torch.Tensor] = {}
    meta = {"upstream": "NVlabs/eg3d", "upstream_commit": upstream_commit(code_dir), "noise_mode": "const",
            "draws": "u = (k + 0.5) / 256 for the uint8 k in draws.*; coarse (B, rays, S), fine (B, rays, N)",
            "planes": f"out.planes = planes[..., {PLANE_OFFSET[0]}::{PLANE_STRIDE}, {PLANE_OFFSET[1]}::{PLANE_STRIDE}]",
            "image": f"outputs over 64 px: out.image = image[..., {IMAGE_OFFSET[0]}::{IMAGE_STRIDE}, "
                     f"{IMAGE_OFFSET[1]}::{IMAGE_STRIDE}], out.image_crop = the centre {CROP}x{CROP}",
            "torch": torch.__version__, "networks": ",".join(NETWORKS)}
    for name, spec in NETWORKS.items():
        G = build_upstream(spec, mods)
        randomise(G, spec)
        with torch.no_grad():
            rec = run_upstream(G, spec, mods)
        for k, v in upstream_state(G).items():
            tensors[f"{name}.upstream.{k}"] = v.half() if v.is_floating_point() else v
        for k, v in rec.items():
            tensors[f"{name}.{k}"] = v.contiguous()
        meta[f"{name}.settings"] = json.dumps(settings(spec))
        meta[f"{name}.rendering_kwargs"] = json.dumps(G.rendering_kwargs)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out_path), metadata=meta)
    print(f"wrote {out_path} ({out_path.stat().st_size / 1e6:.2f} MB), upstream {meta['upstream_commit']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="fixture to write")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    make_fixture(args.out)


if __name__ == "__main__":
    main()
