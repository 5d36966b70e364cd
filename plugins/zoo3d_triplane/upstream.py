"""Importing EG3D's released generators: ``G_ema`` of a network snapshot ``.pkl`` -> a zoo3d tri-plane model.

EG3D (NVlabs/eg3d) publishes ``ffhq512-64.pkl``, ``ffhq512-128.pkl``, ``ffhqrebalanced512-64.pkl``,
``ffhqrebalanced512-128.pkl``, ``afhqcats512-128.pkl`` and ``shapenetcars128-64.pkl``: pickles of
``torch_utils.persistence`` objects read by :func:`zoo3d.upstream.load_release` without running them.
This module maps the ``TriPlaneGenerator``'s tensors onto :class:`~zoo3d_triplane.generator.TriplaneGenerator`
(same values, renamed and reshaped; no weight is changed) and sets the config flags under which the
converted model computes what upstream computes:

* the scene in EG3D's own units: ``box_warp``, ray interval, samples per ray and white background from
  the file's ``rendering_kwargs``, ``density_scale`` 1, and a camera prior at EG3D's radius and field of
  view (cameras are EG3D 25-vectors: :meth:`zoo3d.cameras.Camera.from_eg3d` reads them as they are);
* ``third_plane="zx"`` (EG3D's projection slip), ``sampling="eg3d"`` (its sample placement, interval
  quadrature and smoothed importance pdf), ``eval_noise="const"`` (the fixed noise buffers, as EG3D's
  snapshots and videos render), the SR and backbone layers' ``conv_clamp`` and the SR module's resolutions;
* generator pose conditioning as the file has it (``c_gen_conditioning_zero``, ``c_scale``).

What stays different: upstream jitters its ray samples at random on every render, zoo3d's eval mode
uses the middle of each jitter range and evenly spaced importance draws (the model card gives the
size); zoo3d's cameras look at the origin where EG3D's scripts look at ``avg_camera_pivot``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

import torch
from torch import Tensor

from zoo3d.errors import UserError
from zoo3d.upstream import RELEASE_FILE, ImportedRelease, InertObject, module_state_dict

#: EG3D's super-resolution modules: (input resolution, output resolution, channels of the two blocks)
SR_MODULES = {
    "SuperresolutionHybrid8XDC": (128, 512, (256, 128)),
    "SuperresolutionHybrid8X": (128, 512, (128, 64)),
    "SuperresolutionHybrid4X": (128, 256, (128, 64)),
    "SuperresolutionHybrid2X": (64, 128, (128, 64)),
}
#: normalised focal lengths of EG3D's datasets (FFHQ/AFHQ cropping; ShapeNet cars), as its scripts use them
FFHQ_FOCAL = 4.2647
SHAPENET_FOCAL = 1.7074


def fov_from_focal(focal: float) -> float:
    """Full field of view in degrees of a normalised focal length (zoo3d's CameraPrior.fov)."""
    return math.degrees(2 * math.atan(0.5 / focal))


# ---------------------------------------------------------------------------------------------- tensors
class _Converter:
    """Builds the zoo3d state dict from the upstream one, remembering where each tensor came from."""

    def __init__(self, tensors: Mapping[str, Tensor]):
        self.src = dict(tensors)
        self.out: dict[str, Tensor] = {}
        self.sources: dict[str, str] = {}

    def put(self, zoo: str, up: str, shape: tuple[int, ...] | None = None) -> None:
        t = self.src[up]
        # A tensor whose size does not allow zoo3d's layout is kept as it is, so that the shape check
        # names it with its shape (a reshape error would say nothing of the file).
        if shape is not None and -1 in shape and t.dim() == 1:
            shape = tuple(t.numel() if d == -1 else d for d in shape)
        fits = shape is not None and -1 not in shape and t.numel() == math.prod(shape)
        self.out[zoo] = t.reshape(shape) if fits else t
        self.sources[zoo] = up

    def layer(self, up: str, zoo: str, torgb: bool = False, noise: bool = True) -> None:
        """One EG3D SynthesisLayer / ToRGBLayer ``up`` -> zoo3d StyledConv / ToRGB ``zoo``."""
        self.put(f"{zoo}.conv.weight", f"{up}.weight")
        self.put(f"{zoo}.conv.modulation.weight", f"{up}.affine.weight")
        self.put(f"{zoo}.conv.modulation.bias", f"{up}.affine.bias")
        if torgb:
            self.put(f"{zoo}.bias", f"{up}.bias", (1, -1, 1, 1))
            return
        self.put(f"{zoo}.activate.bias", f"{up}.bias")
        if noise:
            self.put(f"{zoo}.noise.weight", f"{up}.noise_strength", (1,))
            n = self.src[f"{up}.noise_const"]
            self.put(f"{zoo}.noise.noise_const", f"{up}.noise_const", (1, 1, *n.shape))


def convert_state_dict(upstream: Mapping[str, Tensor], neural_resolution: int | None = None,
                       sources: dict[str, str] | None = None) -> dict[str, Tensor]:
    """An EG3D ``TriPlaneGenerator`` state dict (torch's names) -> a zoo3d ``TriplaneGenerator`` state dict.

    Tensors are renamed and reshaped only. Left out on purpose: the FIR ``resample_filter`` buffers
    (zoo3d builds the same [1, 3, 3, 1] filter) and the SR layers' noise (EG3D renders with
    ``superresolution_noise_mode='none'``). Any other tensor zoo3d has no place for is an error.
    ``sources``, when given, receives the upstream name of every zoo3d tensor.
    """
    c = _Converter(upstream)
    names = list(c.src)
    try:
        m = "backbone.mapping"
        if f"{m}.w_avg" in c.src:
            c.put("mapping.w_avg", f"{m}.w_avg")
        if f"{m}.embed.weight" in c.src:
            c.put("mapping.embed.weight", f"{m}.embed.weight")
            c.put("mapping.embed.bias", f"{m}.embed.bias")
        for i in sorted(int(k.split(".")[2][2:]) for k in names if re.fullmatch(rf"{m}\.fc\d+\.weight", k)):
            c.put(f"mapping.layers.{i}.weight", f"{m}.fc{i}.weight")
            c.put(f"mapping.layers.{i}.bias", f"{m}.fc{i}.bias")

        s = "backbone.synthesis"
        resolutions = sorted({int(k.split(".")[2][1:]) for k in names if re.match(rf"{s}\.b\d+\.", k)})
        if not resolutions:
            raise UserError(f"{RELEASE_FILE} has no StyleGAN2 backbone in its generator "
                            "(backbone.synthesis.b4 ...), so it is not an EG3D TriPlaneGenerator.")
        first, *rest = resolutions
        const = c.src[f"{s}.b{first}.const"]
        c.put("backbone.const", f"{s}.b{first}.const", (1, *const.shape))
        c.layer(f"{s}.b{first}.conv1", "backbone.conv1")
        c.layer(f"{s}.b{first}.torgb", "backbone.to_rgb1", torgb=True)
        for i, res in enumerate(rest):
            c.layer(f"{s}.b{res}.conv0", f"backbone.convs.{2 * i}")
            c.layer(f"{s}.b{res}.conv1", f"backbone.convs.{2 * i + 1}")
            c.layer(f"{s}.b{res}.torgb", f"backbone.to_rgbs.{i}", torgb=True)

        for zoo, up in (("fc1", "0"), ("fc2", "2")):
            c.put(f"decoder.{zoo}.weight", f"decoder.net.{up}.weight")
            c.put(f"decoder.{zoo}.bias", f"decoder.net.{up}.bias")
        for b in ("block0", "block1"):
            for conv in ("conv0", "conv1"):
                c.layer(f"superresolution.{b}.{conv}", f"superresolution.{b}.{conv}", noise=False)
            c.layer(f"superresolution.{b}.torgb", f"superresolution.{b}.to_rgb", torgb=True)
    except KeyError as e:
        raise UserError(f"{RELEASE_FILE} has no tensor {e.args[0]!r} in its generator, so it is not an EG3D "
                        "TriPlaneGenerator of the kind zoo3d imports.") from None

    taken = set(c.sources.values())
    for k in names:
        ignorable = k.endswith("resample_filter") or (k.startswith("superresolution.")
                                                      and k.endswith(("noise_const", "noise_strength")))
        if k not in taken and not ignorable:
            raise UserError(f"{RELEASE_FILE} holds {k!r} in its generator, which zoo3d's tri-plane model has "
                            "no place for.")
    out = {k: v.detach().clone().contiguous() for k, v in c.out.items()}
    if neural_resolution is not None:
        out["_neural_resolution"] = torch.tensor(int(neural_resolution))
    if sources is not None:
        sources.update(c.sources)
    return out


# ---------------------------------------------------------------------------------------------- config
def eg3d_config(config, rendering_kwargs: Mapping[str, Any], neural_resolution: int | None = None,
                sr_conv_clamp: float | None = 256.0, sr_module: str | None = None,
                backbone_conv_clamp: float | None = None):
    """The run config (a :class:`~zoo3d_triplane.config.TriplaneConfig`, e.g. a preset) with EG3D's scene,
    rendering and conditioning from a snapshot's ``rendering_kwargs`` (the flags listed in the module doc).

    Raises UserError for rendering settings zoo3d does not reproduce.
    """
    rk = dict(rendering_kwargs)
    for key, wanted in (("clamp_mode", "softplus"), ("disparity_space_sampling", False), ("sr_antialias", True)):
        if key in rk and rk[key] != wanted:
            raise UserError(f"{RELEASE_FILE} renders with {key}={rk[key]!r}; zoo3d reproduces EG3D's "
                            f"{key}={wanted!r} only.")
    if rk.get("ray_start") == "auto" or rk.get("ray_end") == "auto":
        raise UserError(f"{RELEASE_FILE} bounds its rays by the tri-plane box (ray_start='auto'); zoo3d renders "
                        "EG3D models with a fixed ray interval only.")
    try:
        near, far = float(rk["ray_start"]), float(rk["ray_end"])
        box = float(rk["box_warp"])
        samples, importance = int(rk["depth_resolution"]), int(rk["depth_resolution_importance"])
    except KeyError as e:
        raise UserError(f"{RELEASE_FILE} has no {e.args[0]!r} in its generator's rendering_kwargs, so it is not "
                        "an EG3D generator.") from None
    white = bool(rk.get("white_back", False))
    updates: dict[str, Any] = dict(
        box_warp=box, near=near, far=far, num_samples=samples, num_importance=importance, white_background=white,
        gen_pose_cond=not rk.get("c_gen_conditioning_zero", False), c_scale=float(rk.get("c_scale", 0.0)),
        decoder_lr_mul=float(rk.get("decoder_lr_mul", 1.0)), density_scale=1.0, third_plane="zx", sampling="eg3d",
        eval_noise="const", sr_conv_clamp=sr_conv_clamp, backbone_conv_clamp=backbone_conv_clamp)
    module = (sr_module or str(rk.get("superresolution_module", ""))).rsplit(".", 1)[-1]
    if module:
        if module not in SR_MODULES:
            raise UserError(f"{RELEASE_FILE} uses the super-resolution module {module}, which zoo3d does not "
                            f"import (it imports {', '.join(SR_MODULES)}).")
        updates["sr_input_resolution"], updates["resolution"], _ = SR_MODULES[module]
    if neural_resolution is not None:
        updates["neural_resolution"] = int(neural_resolution)
    focal = SHAPENET_FOCAL if white else FFHQ_FOCAL
    camera = config.camera.model_copy(update=dict(radius=float(rk.get("avg_camera_radius", 2.7)),
                                                  fov=fov_from_focal(focal)))
    generator = config.generator.model_validate({**config.generator.model_dump(), **updates})
    return config.model_copy(update=dict(generator=generator, camera=camera))


# ---------------------------------------------------------------------------------------------- release
def _plain(value: Any) -> Any:
    """A record of a dict subclass (``dnnlib.EasyDict``) as a plain dict, recursively; other values as they are."""
    if isinstance(value, InertObject):
        return {k: _plain(v) for k, v in value.items.items()} if value.items else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _child(record: Any, *path: str) -> Any:
    """A submodule record by attribute path (``_modules`` entries), or None."""
    for name in path:
        modules = record.get("_modules") if isinstance(record, InertObject) else None
        record = modules.get(name) if isinstance(modules, dict) else None
        if record is None:
            return None
    return record


def generator_record(release: Any) -> InertObject:
    """The ``G_ema`` TriPlaneGenerator record of a network snapshot (or the record itself)."""
    generator = release.get("G_ema") if isinstance(release, dict) else release
    if not isinstance(generator, InertObject):
        raise UserError(f"{RELEASE_FILE} holds no G_ema generator; EG3D's network snapshots (.pkl) hold one.")
    if generator.qualname.rsplit(".", 1)[-1] != "TriPlaneGenerator":
        raise UserError(f"{RELEASE_FILE} holds a {generator.qualname} as G_ema, not EG3D's TriPlaneGenerator.")
    return generator


def release_settings(release: Any) -> dict[str, Any]:
    """The generator settings an EG3D snapshot's ``G_ema`` states (see
    :meth:`zoo3d_triplane.model.TriplaneModel.release_settings`): its constructor's ``z_dim``, ``w_dim``, mapping
    layers and backbone widths, the backbone's resolution (the planes'), and the super-resolution blocks' widths
    (their first convolutions' outputs). The rendering settings and resolutions are the import's own."""
    G = generator_record(release)
    init = _plain(G.get("_init_kwargs"))
    if not isinstance(init, dict):
        return {}
    settings = {f"generator.{key}": int(init[key]) for key in ("z_dim", "w_dim", "channel_base", "channel_max")
                if isinstance(init.get(key), int)}
    mapping = init.get("mapping_kwargs")
    if isinstance(mapping, dict) and isinstance(mapping.get("num_layers"), int):
        settings["generator.mapping_layers"] = mapping["num_layers"]
    backbone = _child(G, "backbone")
    if backbone is not None and isinstance(backbone.get("img_resolution"), int):
        settings["generator.plane_resolution"] = backbone.get("img_resolution")
    state = module_state_dict(G)
    widths = [state.get(f"superresolution.block{i}.conv0.weight") for i in range(2)]
    if all(w is not None for w in widths):
        settings["generator.sr_channels"] = [int(w.shape[0]) for w in widths]
    return settings


def import_eg3d(release: Any, config) -> ImportedRelease:
    """``G_ema`` of an EG3D snapshot loaded by :func:`zoo3d.upstream.load_release` -> an :class:`ImportedRelease`
    for the preset ``config``: the converted state and the preset with EG3D's settings (module doc)."""
    G = generator_record(release)
    rendering = _plain(G.get("rendering_kwargs"))
    if not isinstance(rendering, dict):
        raise UserError(f"{RELEASE_FILE} has no rendering_kwargs in its generator, so it is not an EG3D generator.")
    neural = G.get("neural_rendering_resolution")
    neural = int(neural) if isinstance(neural, (int, float)) else None
    sr = _child(G, "superresolution", "block0", "conv1")
    clamp = sr.get("conv_clamp") if sr is not None else 256.0
    sr_module = getattr(_child(G, "superresolution"), "qualname", None)
    first = _child(G, "backbone", "synthesis", "b4", "conv1")
    backbone_clamp = first.get("conv_clamp") if first is not None else None
    cfg = eg3d_config(config, rendering, neural, sr_conv_clamp=None if clamp is None else float(clamp),
                      sr_module=sr_module, backbone_conv_clamp=None if backbone_clamp is None else float(backbone_clamp))
    sources: dict[str, str] = {}
    state = convert_state_dict(module_state_dict(G), neural, sources)
    g = cfg.generator
    notes = [f"EG3D's scene units: tri-plane box {g.box_warp:g}, rays {g.near:g}..{g.far:g}, "
             f"cameras at radius {cfg.camera.radius:g} with a {cfg.camera.fov:.2f} deg field of view",
             "EG3D's ray sampling and tri-plane projection (third plane read as ZX), fixed backbone noise; "
             "eval renders use the middle of each jitter range where EG3D draws at random"]
    if rendering.get("superresolution_noise_mode", "none") != "none":
        notes.append(f"{RELEASE_FILE} injects random noise in its super-resolution layers; zoo3d's have none")
    if neural is not None and neural != config.generator.neural_resolution:
        notes.append(f"neural rendering resolution {neural} from the file (the preset says "
                     f"{config.generator.neural_resolution})")
    return ImportedRelease(state=state, config=cfg, notes=notes, sources=sources)
