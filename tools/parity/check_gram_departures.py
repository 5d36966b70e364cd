"""Measure, against the authors' code, the two places where zoo3d's GRAM and GRAM-HD depart from it on purpose
(docs/pretrained.md, docs/training.md): the background plane behind the camera, and the pose head's targets.

``side-views``: renders the narrowed fixture network of ``make_gram.py`` (GRAM, 32²) or ``make_gram_hd.py``
(GRAM-HD, 48² from 12²) in the authors' code and, imported, in zoo3d, at pitch 0 and yaws up to side-on, and prints
the largest difference and the number of pixels differing by more than 1e-3. GRAM puts the plane z = -0.12 on every
ray, at the distance |t| also where t < 0; zoo3d only where t > 0, so the two differ at yaws 1.467 to 1.691.

``training-step``: one discriminator step and one generator step of the authors' process and of zoo3d's shared GAN
steps, on the same official network, discriminator weights, latents, cameras and real images: the losses, and each
gradient tensor's largest difference relative to its largest entry. GRAM: ``Gan3DProcess`` at 16², 4 images (the
authors' generator gradient is summed over one-image splits; zoo3d's, a batch mean, is multiplied by the batch).
GRAM-HD: stage 2's ``SRGan3DProcess`` (HR and patch discriminators, R1 on both, consistency loss) at 64² from 16²,
2 images, against zoo3d's stage-2 terms. Run with the pose weights at 0 (everything else is the same), then at 15,
where the targets differ: the authors' (phi, theta) = (pi/2 - pitch, pi/2 + yaw) against zoo3d's (yaw, pitch).

    ZOO3D_UPSTREAM_GRAM=/path/to/GRAM python tools/parity/check_gram_departures.py side-views
    ZOO3D_UPSTREAM_GRAM=/path/to/GRAM python tools/parity/check_gram_departures.py training-step
    ZOO3D_UPSTREAM_GRAM_HD=/path/to/GRAM-HD python tools/parity/check_gram_departures.py side-views --model gram_hd
    ZOO3D_UPSTREAM_GRAM_HD=/path/to/GRAM-HD python tools/parity/check_gram_departures.py training-step --model gram_hd
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import types
import warnings
from pathlib import Path

import torch

from zoo3d.benchmarks.peers.authors import _Replica  # what their process expects of a DDP module

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests"))

YAWS = (0.35, 1.3, 1.5, 1.55, 1.6, 1.8)


def _checkout(variable: str) -> Path:
    checkout = os.environ.get(variable)
    if not checkout or not Path(checkout).is_dir():
        sys.exit(f"set {variable} to a checkout of the authors' repository")
    return Path(checkout)


def _gram_pose(yaw: float, pitch: float = 0.0) -> torch.Tensor:
    return torch.tensor([[math.pi / 2 - pitch, math.pi / 2 + yaw]])


def _report(yaw: float, theirs: torch.Tensor, ours: torch.Tensor) -> None:
    d = (theirs - ours).abs().amax(1)
    print(f"yaw {yaw:5.2f}: largest difference {d.max().item():.2g}, "
          f"{int((d > 1e-3).sum())} of {d[0].numel()} pixels differ by more than 1e-3")


def _draws(rng: torch.Generator, B: int, R: int, z_dim: int):
    """Both sides' inputs: latents and the authors' (phi, theta) poses for a D step and a G step, real images in
    [-1, 1] and their poses."""
    latents = [torch.randn(B, z_dim, generator=rng) for _ in range(2)]
    poses = [torch.stack([math.pi / 2 + 0.155 * torch.randn(B, generator=rng),
                          math.pi / 2 + 0.3 * torch.randn(B, generator=rng)], -1) for _ in range(2)]
    reals = torch.rand(B, 3, R, R, generator=rng) * 2 - 1
    real_poses = torch.stack([math.pi / 2 + 0.1 * torch.randn(B, generator=rng),
                              math.pi / 2 + 0.2 * torch.randn(B, generator=rng)], -1)
    return latents, poses, reals, real_poses


@contextlib.contextmanager
def _scripted(processes, generators, latents: list, poses: list, B: int):
    """The authors' latent and camera samplers replaced, while inside, by ones that hand out ``latents`` and
    ``poses`` in order (one list entry per step), so their process draws what zoo3d's side is given."""
    drawn = {"z": 0, "cameras": 0}

    def z_sampler(shape, device, dist):
        z = latents[drawn["z"]][: shape[0]]
        drawn["z"] += 1
        return z.clone()

    def sample_camera_positions(device, n=1, *args, **kwargs):
        step, row = divmod(drawn["cameras"], B)
        phi_theta = poses[step][row:row + n]
        drawn["cameras"] += n
        phi, theta = phi_theta[:, :1], phi_theta[:, 1:]
        origin = torch.cat([torch.sin(phi) * torch.cos(theta), torch.cos(phi),
                            torch.sin(phi) * torch.sin(theta)], -1)
        return origin, phi_theta

    originals = processes.z_sampler, generators.sample_camera_positions
    processes.z_sampler, generators.sample_camera_positions = z_sampler, sample_camera_positions
    try:
        yield
    finally:
        processes.z_sampler, generators.sample_camera_positions = originals


def _their_step(process, G, D, reals, real_poses, camera: dict):
    """One discriminator step and one generator step of the authors' ``process`` on ``G`` and ``D``, with learning
    rates 0 so that the weights stay put: (what train_D returns, what train_G returns, D's gradients, G's gradients
    as they stood when its optimiser stepped)."""
    g_grads: dict = {}

    class Capture(torch.optim.SGD):
        def step(self, closure=None):
            g_grads.update({n: p.grad.clone() for n, p in G.named_parameters() if p.grad is not None})

    scaler = torch.cuda.amp.GradScaler(enabled=False)
    config = {"camera": camera, "optimizer": {"grad_clip": 1e9}}
    D.zero_grad()
    G.zero_grad()
    d_out = process.train_D(reals.clone(), real_poses, _Replica(G), _Replica(D),
                            torch.optim.SGD(D.parameters(), lr=0.0), scaler, config, "cpu")
    d_grads = {n: p.grad.clone() for n, p in D.named_parameters()}
    ema = types.SimpleNamespace(update=lambda parameters: None)
    g_out = process.train_G(reals.clone(), _Replica(G), ema, ema, _Replica(D), Capture(G.parameters(), lr=0.0),
                            scaler, config, "cpu")
    return d_out, g_out, d_grads, g_grads


@torch.no_grad()
def gram_side_views() -> None:
    import make_gram
    from parity_replay import build_imported_gram
    from zoo3d.cameras import Camera

    G, cfg, widths, _ = make_gram.build_upstream(_checkout("ZOO3D_UPSTREAM_GRAM"), False)
    cam, R = cfg["camera"], 32
    z = torch.randn(1, widths["z_dim"], generator=torch.Generator().manual_seed(2))
    meta = {"widths": widths, "renderer": cfg["generator"]["renderer"]["kwargs"], "camera": cam, "resolution": R}
    ours, _ = build_imported_gram({f"weights.{k}": v for k, v in G.state_dict().items()}, meta)
    for yaw in YAWS:
        pose = _gram_pose(yaw)
        theirs, _ = G(z, cam["fov"], cam["ray_start"], cam["ray_end"], img_size=R, camera_pos=pose)
        _report(yaw, theirs, ours(z, Camera.from_gram(pose[:, 0], pose[:, 1], fov=cam["fov"]), resolution=(R, R)).rgb)


@torch.no_grad()
def gram_hd_side_views() -> None:
    import make_gram_hd
    from parity_replay import build_imported_gram_hd
    from zoo3d.cameras import Camera

    R = 48
    G, cfg, widths = make_gram_hd.build_upstream(_checkout("ZOO3D_UPSTREAM_GRAM_HD"), False, R)
    cam = cfg["camera"]
    z = torch.randn(1, widths["z_dim"], generator=torch.Generator().manual_seed(2))
    meta = {"widths": widths, "renderer": cfg["generator"]["renderer"]["kwargs"], "camera": cam, "resolution": R,
            "lr_resolution": R // 4}
    ours, _ = build_imported_gram_hd({f"weights.{k}": v for k, v in G.state_dict().items()}, meta)
    ours.super_resolve.fill_(True)
    freq, phase = G.representation.rf_network.mapping_network(z)
    for yaw in YAWS:
        pose = _gram_pose(yaw)
        phi, theta = pose[0].tolist()
        origin = torch.tensor([[math.sin(phi) * math.cos(theta), math.cos(phi), math.sin(phi) * math.sin(theta)]])
        (theirs, _, _, _), _ = G.renderer.render(
            G._intersections, G._volume(freq, phase), G._feature(freq, phase), G._super_resolution(z),
            G.super_resolution_bg, R, origin, pose, cam["fov"], cam["ray_start"], cam["ray_end"], "cpu")
        _report(yaw, theirs, ours(z, Camera.from_gram(pose[:, 0], pose[:, 1], fov=cam["fov"]), resolution=(R, R)).rgb)


def gram_training_step() -> None:
    import make_gram
    from parity_replay import build_imported_gram

    R, B = 16, 4
    G, cfg, widths, generators = make_gram.build_upstream(_checkout("ZOO3D_UPSTREAM_GRAM"), False)
    from discriminators.discriminators import GramDiscriminator
    from processes import processes

    from zoo3d.cameras import Camera
    from zoo3d.nn.discriminators import CoordConvDiscriminator
    from zoo3d.train.gan import GANParts, Sample, adversarial_loss, discriminator_step, generator_step
    from zoo3d_gram.config import LossConfig

    G.img_size = R
    torch.manual_seed(5)
    theirs_d = GramDiscriminator(R)
    ours_d = CoordConvDiscriminator(R, 400, pose_dim=2)
    renames = {"fromRGB.model.": "from_rgb.", "layers.": "blocks.", "final_layer.": "final."}

    def ours_name(name: str) -> str:
        return next(new + name[len(old):] for old, new in renames.items() if name.startswith(old))

    ours_d.load_state_dict({ours_name(k): v for k, v in theirs_d.state_dict().items()})
    meta = {"widths": widths, "renderer": cfg["generator"]["renderer"]["kwargs"], "camera": cfg["camera"],
            "resolution": R}
    ours_g, imported = build_imported_gram({f"weights.{k}": v for k, v in G.state_dict().items()}, meta)
    G.train()
    ours_g.train()

    rng = torch.Generator().manual_seed(7)
    latents, poses, reals, real_poses = _draws(rng, B, R, widths["z_dim"])

    def theirs(pos: float):
        process = processes.Gan3DProcess(batch_split=B, real_pos_lambda=pos, r1_lambda=1.0, pos_lambda=pos)
        with _scripted(processes, generators, latents, poses, B):
            d_loss, _, d_grads, g_grads = _their_step(process, G, theirs_d, reals, real_poses, cfg["camera"])
        return d_loss, d_grads, g_grads

    def ours(pos: float):
        loss = adversarial_loss(LossConfig(r1_gamma=1.0, lambda_pos=pos, lambda_realpos=pos))
        drawn = {"n": 0}

        def fakes(ctx, n):
            phi_theta, z = poses[drawn["n"]], latents[drawn["n"]]
            drawn["n"] += 1
            cameras = Camera.from_gram(phi_theta[:, 0], phi_theta[:, 1], fov=cfg["camera"]["fov"])
            return Sample(ours_g(z, cameras, resolution=(R, R)).rgb, cameras)

        def real(ctx, requires_grad):
            cameras = Camera.from_gram(real_poses[:, 0], real_poses[:, 1], fov=cfg["camera"]["fov"])
            return Sample(reals.clone().requires_grad_(requires_grad), cameras)

        parts = GANParts(fakes=fakes, reals=real, discriminate=lambda ctx, sample: ours_d(sample.images))
        ctx = types.SimpleNamespace(stage=types.SimpleNamespace(batch_size=B, name="gram"), amp_dtype=None, step=0)
        ours_d.zero_grad()
        d = discriminator_step(ctx, loss, parts)
        d.loss.backward()
        d_grads = {n: p.grad.clone() for n, p in ours_d.named_parameters()}
        ours_g.zero_grad()
        generator_step(ctx, loss, parts).loss.backward()
        g_grads = {n: p.grad.clone() for n, p in ours_g.named_parameters() if p.grad is not None}
        return d.loss.item(), d_grads, g_grads

    def relative(a: torch.Tensor, b: torch.Tensor) -> float:
        return ((a - b).abs().max() / a.abs().max().clamp_min(1e-30)).item()

    for pos in (0.0, 15.0):
        their_d_loss, their_d, their_g = theirs(pos)
        our_d_loss, our_d, our_g = ours(pos)
        d_diff = max(relative(v, our_d[ours_name(k)]) for k, v in their_d.items())
        g_diff = max(relative(their_g[imported.sources[k]], v * B) for k, v in our_g.items())
        print(f"pose weights {pos:g}: discriminator loss {their_d_loss:.6g} (authors') against {our_d_loss:.6g} "
              f"(zoo3d); gradients differ by at most {d_diff:.2g} (discriminator) and {g_diff:.2g} (generator) "
              f"of each tensor's largest entry")


def gram_hd_training_step() -> None:
    """GRAM-HD's stage 2 (SRGan3DProcess: HR and patch discriminators, R1 on both, consistency loss (12)) against
    zoo3d's stage-2 phases, on the narrowed fixture network at 64² from 16² (imported: the authors' render)."""
    import make_gram_hd
    from parity_replay import build_imported_gram_hd

    R, B = 64, 2
    G, cfg, widths = make_gram_hd.build_upstream(_checkout("ZOO3D_UPSTREAM_GRAM_HD"), False, R)
    from discriminators.discriminators import GramEncoderPatchDiscriminator
    from generators import generators
    from processes import processes

    from zoo3d.cameras import Camera
    from zoo3d.nn.discriminators import CoordConvDiscriminator
    from zoo3d.train.gan import GANParts, Sample, adversarial_loss, discriminator_step, generator_step
    from zoo3d_gram_hd.config import LossConfig
    from zoo3d_gram_hd.discriminator import PatchDiscriminator
    from zoo3d_gram_hd.losses import consistency_terms
    from zoo3d_gram_hd.model import STAGE1_FROZEN_IN_STAGE2

    torch.manual_seed(5)
    theirs_d = GramEncoderPatchDiscriminator(R, norm_layer=torch.nn.Identity)
    ours_d, ours_patch = CoordConvDiscriminator(R, 400, pose_dim=2), PatchDiscriminator.for_resolution(R)
    renames = {"fromRGB.model.": "from_rgb.", "layers.": "blocks.", "final_layer.": "final."}
    their_convs = [k for k, v in theirs_d.state_dict().items() if k.startswith("patchgan.")]
    patch_names = dict(zip(their_convs, ours_patch.state_dict()))  # the authors' Identity norms hold nothing

    def ours_name(name: str) -> str:
        if name in patch_names:
            return "patch." + patch_names[name]
        return next(new + name[len(old):] for old, new in renames.items() if name.startswith(old))

    state = {ours_name(k): v for k, v in theirs_d.state_dict().items()}
    ours_d.load_state_dict({k: v for k, v in state.items() if not k.startswith("patch.")})
    ours_patch.load_state_dict({k[len("patch."):]: v for k, v in state.items() if k.startswith("patch.")})
    meta = {"widths": widths, "renderer": cfg["generator"]["renderer"]["kwargs"], "camera": cfg["camera"],
            "resolution": R, "lr_resolution": R // 4}
    ours_g, imported = build_imported_gram_hd({f"weights.{k}": v for k, v in G.state_dict().items()}, meta)
    ours_g.super_resolve.fill_(True)
    for name in STAGE1_FROZEN_IN_STAGE2:
        ours_g.get_submodule(name.removeprefix("generator.")).requires_grad_(False)
    G.train()
    ours_g.train()

    rng = torch.Generator().manual_seed(7)
    latents, poses, reals, real_poses = _draws(rng, B, R, widths["z_dim"])
    weights = dict(r1_gamma=3.0, lambda_cons=1.0, patch_lambda=0.1)

    def theirs(pos: float):
        process = processes.SRGan3DProcess(batch_split=B, pos_lambda=pos, real_pos_lambda=pos,
                                           r1_lambda=weights["r1_gamma"], cons_lambda=weights["lambda_cons"],
                                           use_patch_d=True, patch_lambda=weights["patch_lambda"], r1_patch=True)
        with _scripted(processes, generators, latents, poses, B):
            d_log, g_log, d_grads, g_grads = _their_step(process, G, theirs_d, reals, real_poses, cfg["camera"])
        return d_log["Total"], g_log["Total"], d_grads, g_grads

    def ours(pos: float):
        loss_config = LossConfig(lambda_pos=pos, lambda_realpos=pos, **weights)
        loss = adversarial_loss(loss_config, patch_lambda=loss_config.patch_lambda)
        drawn = {"n": 0}

        def fakes(ctx, n):
            phi_theta, z = poses[drawn["n"]], latents[drawn["n"]]
            drawn["n"] += 1
            cameras = Camera.from_gram(phi_theta[:, 0], phi_theta[:, 1], fov=cfg["camera"]["fov"])
            out = ours_g(z, cameras, resolution=(R, R))
            return Sample(out.rgb, cameras, output=out)

        def real(ctx, requires_grad):
            cameras = Camera.from_gram(real_poses[:, 0], real_poses[:, 1], fov=cfg["camera"]["fov"])
            return Sample(reals.clone().requires_grad_(requires_grad), cameras)

        def score(ctx, sample):
            main = ours_d(sample.images)
            return type(main)(logit=main.logit, pose=main.pose, patch=ours_patch(sample.images).patch)

        def terms(ctx, sample):
            return consistency_terms(ctx, sample, loss_config.lambda_cons)

        parts = GANParts(fakes=fakes, reals=real, discriminate=score, generator_terms=terms)
        ctx = types.SimpleNamespace(stage=types.SimpleNamespace(batch_size=B, name="gram_hd.stage2"), amp_dtype=None,
                                    step=0)
        ours_d.zero_grad()
        ours_patch.zero_grad()
        d = discriminator_step(ctx, loss, parts)
        d.loss.backward()
        d_grads = {n: p.grad.clone() for n, p in ours_d.named_parameters()}
        d_grads.update({"patch." + n: p.grad.clone() for n, p in ours_patch.named_parameters()})
        ours_g.zero_grad()
        g = generator_step(ctx, loss, parts)
        g.loss.backward()
        g_grads = {n: p.grad.clone() for n, p in ours_g.named_parameters() if p.grad is not None}
        return d.loss.item(), g.loss.item(), d_grads, g_grads

    def relative(a: torch.Tensor, b: torch.Tensor) -> float:
        return ((a - b).abs().max() / a.abs().max().clamp_min(1e-30)).item()

    for pos in (0.0, 15.0):
        their_d_loss, their_g_loss, their_d, their_g = theirs(pos)
        our_d_loss, our_g_loss, our_d, our_g = ours(pos)
        d_diff = max(relative(v, our_d[ours_name(k)]) for k, v in their_d.items())
        g_diff = max(relative(their_g[imported.sources[k]], v) for k, v in our_g.items())
        print(f"pose weights {pos:g}: discriminator loss {their_d_loss:.6g} (authors') against {our_d_loss:.6g} "
              f"(zoo3d), generator loss {their_g_loss:.6g} against {our_g_loss:.6g}; gradients differ by at most "
              f"{d_diff:.2g} (discriminators) and {g_diff:.2g} (feature heads, SR nets; {len(our_g)} tensors) "
              f"of each tensor's largest entry")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["side-views", "training-step"])
    parser.add_argument("--model", choices=["gram", "gram_hd"], default="gram")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # the authors' torch.meshgrid and cuda.amp calls warn on every render
    if args.what == "training-step":
        gram_training_step() if args.model == "gram" else gram_hd_training_step()
    elif args.model == "gram":
        gram_side_views()
    else:
        gram_hd_side_views()


if __name__ == "__main__":
    main()
