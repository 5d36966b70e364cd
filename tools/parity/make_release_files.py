"""Write small release files in each upstream's own format, by running the authors' code.

These are the files ``tests/test_upstream_unpickle.py`` reads: the same pickle structures as the
published checkpoints (state dicts, whole pickled modules, a pickled ``torch_ema`` object, an EG3D
network snapshot with embedded source), with narrow networks so that they stay small. Widths are
narrowed by wrapping the upstream constructors while the network is built; the classes, the module
tree and the way each file is saved are the authors'.

Usage (each checkout at the commit named in ``tests/fixtures/releases/README.md``)::

    ZOO3D_UPSTREAM_GRAM=... ZOO3D_UPSTREAM_GRAM_HD=... ZOO3D_UPSTREAM_PIGAN=... \
    ZOO3D_UPSTREAM_EG3D=... ZOO3D_UPSTREAM_STYLESDF=... ZOO3D_UPSTREAM_TORCH_EMA=... \
        python tools/parity/make_release_files.py tests/fixtures/releases [gram gram_hd pigan eg3d stylesdf]

``ZOO3D_UPSTREAM_TORCH_EMA`` is a checkout of fadel/pytorch_ema at 3950a7b (the commit GRAM and
pi-GAN pin). Each format is made in its own process (the upstreams share module names).
"""

from __future__ import annotations

import copy
import functools
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

FORMATS = ("gram", "gram_hd", "pigan", "eg3d", "stylesdf")


def _checkout(var: str) -> str:
    path = os.environ.get(var)
    if not path or not Path(path).is_dir():
        sys.exit(f"set {var} to a local checkout of the upstream code")
    return path


def _stub_package(root: Path, name: str, source: str = "def __getattr__(name):\n    return None\n") -> None:
    """A module that only has to import (plotting, mesh and CUDA-op dependencies never used here)."""
    pkg = root.joinpath(*name.split("."))
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(source)


def make_gram(out: Path) -> None:
    """GRAM: ``generator.pth`` (a state dict, zip and legacy format) and ``ema.pth`` (a torch_ema object)."""
    sys.path[:0] = [_checkout("ZOO3D_UPSTREAM_GRAM"), _checkout("ZOO3D_UPSTREAM_TORCH_EMA")]
    import configs
    import generators.representations.gram as representation
    from generators import generators
    from torch_ema import ExponentialMovingAverage

    # The widths of zoo3d's gram `tiny` preset, so that `zoo3d import gram ... --preset tiny` takes it.
    mapping = representation.CustomMappingNetwork
    representation.CustomMappingNetwork = lambda z_dim, hidden, out_dim: mapping(z_dim, 64, out_dim)
    cfg = copy.deepcopy(configs.FFHQ_default)["generator"]
    cfg["representation"]["kwargs"].update(hidden_dim=32, hidden_dim_sample=64)
    cfg["kwargs"]["z_dim"] = 64
    torch.manual_seed(0)
    G = generators.GramGenerator(representation_kwargs=cfg["representation"]["kwargs"],
                                 renderer_kwargs=cfg["renderer"]["kwargs"], **cfg["kwargs"])
    representation.CustomMappingNetwork = mapping
    torch.save(G.state_dict(), out / "gram_generator.pth")
    torch.save(G.state_dict(), out / "gram_generator_legacy.pth", _use_new_zipfile_serialization=False)
    # One EMA update after a step that moved every parameter by +0.01: the shadow is the saved
    # generator plus 0.01 * (1 - 2/11) (torch_ema's warm-up decay at its first update).
    ema = ExponentialMovingAverage(G.parameters(), decay=0.999)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.01)
    ema.update(G.parameters())
    torch.save(ema, out / "gram_ema.pth")


def make_gram_hd(out: Path) -> None:
    """GRAM-HD: ``ckpts/*.pt``, a ``GramHDGenerator`` state dict."""
    sys.path[:0] = [_checkout("ZOO3D_UPSTREAM_GRAM_HD")]
    import configs
    import generators.representations.gram as representation
    import generators.super_resolutions.styleesrgan as styleesrgan
    from generators import generators

    mapping, sr_mapping = representation.CustomMappingNetwork, styleesrgan.MappingNetwork
    representation.CustomMappingNetwork = lambda z_dim, hidden, out_dim: mapping(z_dim, 16, out_dim)
    styleesrgan.MappingNetwork = lambda z_dim, hidden, out_dim: sr_mapping(z_dim, 16, out_dim)
    cfg = copy.deepcopy(configs.GRAMHD256_FFHQ)["generator"]
    cfg["kwargs"].update(z_dim=8, feature_dim=4)
    cfg["representation"]["kwargs"].update(hidden_dim=16, hidden_dim_sample=8)
    cfg["super_resolution"]["kwargs"]["fg"].update(w_dim=8, nf=8, nb=1, gc=4, up_channels=[8, 8])
    cfg["super_resolution"]["kwargs"]["bg"].update(nf=8, nb=1, gc=4, up_channels=[8, 4])
    torch.manual_seed(0)
    G = generators.GramHDGenerator(representation_kwargs=cfg["representation"]["kwargs"],
                                   super_resolution_kwargs=cfg["super_resolution"]["kwargs"],
                                   renderer_kwargs=cfg["renderer"]["kwargs"], **cfg["kwargs"])
    representation.CustomMappingNetwork, styleesrgan.MappingNetwork = mapping, sr_mapping
    torch.save(G.state_dict(), out / "gram_hd_ffhq256.pt")


def make_pigan(out: Path, stubs: Path) -> None:
    """pi-GAN: ``generator.pth`` is ``torch.save(generator)``; ``ema.pth`` a torch_ema object."""
    _stub_package(stubs, "matplotlib")
    _stub_package(stubs, "matplotlib.pyplot")
    sys.path[:0] = [str(stubs), _checkout("ZOO3D_UPSTREAM_PIGAN"), _checkout("ZOO3D_UPSTREAM_TORCH_EMA")]
    import siren.siren as siren
    from generators import generators
    from torch_ema import ExponentialMovingAverage

    mapping = siren.CustomMappingNetwork
    siren.CustomMappingNetwork = lambda z_dim, hidden, out_dim: mapping(z_dim, 16, out_dim)
    torch.manual_seed(0)
    G = generators.ImplicitGenerator3d(functools.partial(siren.SPATIALSIRENBASELINE, hidden_dim=16), 8)
    siren.CustomMappingNetwork = mapping
    G.set_device(torch.device("cpu"))  # as in training: sets .device and the average frequencies
    torch.save(ExponentialMovingAverage(G.parameters(), decay=0.999), out / "pigan_ema.pth")
    torch.save(G, out / "pigan_generator.pth")


def make_eg3d(out: Path) -> None:
    """EG3D: ``network-snapshot-*.pkl``, a ``pickle.dump`` of persistence-wrapped modules."""
    sys.path[:0] = [str(Path(_checkout("ZOO3D_UPSTREAM_EG3D")) / "eg3d")]
    import dnnlib
    import training.superresolution as superresolution
    import training.triplane as triplane

    block, block_no_up, backbone = (superresolution.SynthesisBlock, superresolution.SynthesisBlockNoUp,
                                    triplane.StyleGAN2Backbone)
    superresolution.SynthesisBlock = lambda i, o, w_dim, **kw: block(min(i, 16), min(o, 16), w_dim=16, **kw)
    superresolution.SynthesisBlockNoUp = lambda i, o, w_dim, **kw: block_no_up(min(i, 32), min(o, 16), w_dim=16, **kw)
    triplane.StyleGAN2Backbone = lambda *a, img_resolution, **kw: backbone(*a, img_resolution=32, **kw)
    rendering = {
        "image_resolution": 128, "disparity_space_sampling": False, "clamp_mode": "softplus",
        "superresolution_module": "training.superresolution.SuperresolutionHybrid2X",
        "c_gen_conditioning_zero": False, "gpc_reg_prob": 0.5, "c_scale": 1.0, "superresolution_noise_mode": "none",
        "density_reg": 0.25, "density_reg_p_dist": 0.004, "reg_type": "l1", "decoder_lr_mul": 1.0,
        "sr_antialias": True, "depth_resolution": 48, "depth_resolution_importance": 48, "ray_start": 2.25,
        "ray_end": 3.3, "box_warp": 1, "avg_camera_radius": 2.7, "avg_camera_pivot": [0, 0, 0.2]}
    G_kwargs = dnnlib.EasyDict(
        class_name="training.triplane.TriPlaneGenerator", z_dim=16, w_dim=16,
        mapping_kwargs=dnnlib.EasyDict(num_layers=2), channel_base=256, channel_max=16,
        fused_modconv_default="inference_only", num_fp16_res=0, conv_clamp=None, sr_num_fp16_res=0,
        sr_kwargs=dnnlib.EasyDict(channel_base=256, channel_max=16, fused_modconv_default="inference_only"),
        rendering_kwargs=rendering)
    torch.manual_seed(0)
    G = dnnlib.util.construct_class_by_name(**G_kwargs, c_dim=25, img_resolution=128, img_channels=3)
    G = G.train().requires_grad_(False)
    superresolution.SynthesisBlock, superresolution.SynthesisBlockNoUp = block, block_no_up
    triplane.StyleGAN2Backbone = backbone
    augment = dnnlib.util.construct_class_by_name(class_name="training.augment.AugmentPipe", xflip=1, rotate90=1,
                                                  xint=1).train().requires_grad_(False)
    # The snapshot dict of training_loop.py (G and D left out to keep the file small).
    snapshot = dict(training_set_kwargs=dict(dnnlib.EasyDict(
        class_name="training.dataset.ImageFolderDataset", path="ffhq.zip", use_labels=True, max_size=None,
        xflip=False, resolution=128, random_seed=0)))
    for name, module in [("G_ema", copy.deepcopy(G).eval()), ("augment_pipe", augment)]:
        snapshot[name] = copy.deepcopy(module).eval().requires_grad_(False).cpu()
    with open(out / "eg3d_snapshot.pkl", "wb") as f:
        pickle.dump(snapshot, f)


_STYLESDF_OPS = '''\
import torch
from torch import nn


class FusedLeakyReLU(nn.Module):
    """Construction-only stand-in for the CUDA op module: the same parameter."""

    def __init__(self, channel, bias=True, negative_slope=0.2, scale=2 ** 0.5):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel)) if bias else None
        self.negative_slope, self.scale = negative_slope, scale


def fused_leaky_relu(*args, **kwargs):
    raise NotImplementedError


def upfirdn2d(*args, **kwargs):
    raise NotImplementedError
'''


def make_stylesdf(out: Path, stubs: Path) -> None:
    """StyleSDF: ``torch.save({"g": ..., "g_ema": ...})`` of the volume-renderer stage (as sphere_init.pt)."""
    for name in ("trimesh", "utils", "pytorch3d", "pytorch3d.renderer", "pytorch3d.structures",
                 "pytorch3d.transforms"):
        _stub_package(stubs, name)
    _stub_package(stubs, "op", _STYLESDF_OPS)
    sys.path[:0] = [str(stubs), _checkout("ZOO3D_UPSTREAM_STYLESDF")]
    from model import Generator

    class Options(dict):
        __getattr__ = dict.__getitem__

    model = Options(size=64, style_dim=16, channel_multiplier=1, renderer_spatial_output_dim=32, lr_mapping=0.01,
                    project_noise=False, freeze_renderer=False)
    rendering = Options(perturb=False, no_offset_sampling=False, N_samples=24, raw_noise_std=0.0, return_xyz=False,
                        return_sdf=False, static_viewdirs=False, no_z_normalize=False, force_background=False,
                        no_sdf=False, depth=3, width=16, azim=0.3, elev=0.15, fov=6, dist_radius=0.12)
    torch.manual_seed(0)
    g = Generator(model, rendering, full_pipeline=False)
    g_ema = Generator(model, rendering, ema=True, full_pipeline=False)
    torch.save({"g": g.state_dict(), "g_ema": g_ema.state_dict()}, out / "stylesdf_sphere_init.pt")


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "--one":
        out, name = Path(sys.argv[3]), sys.argv[2]
        with tempfile.TemporaryDirectory() as stubs:
            maker = globals()[f"make_{name}"]
            maker(out, Path(stubs)) if name in ("pigan", "stylesdf") else maker(out)
        return
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[2:] or FORMATS:
        subprocess.run([sys.executable, __file__, "--one", name, str(out)], check=True)
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
