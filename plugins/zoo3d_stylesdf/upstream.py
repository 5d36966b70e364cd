"""StyleSDF's released checkpoints (royorel/StyleSDF) in zoo3d's names, and its camera convention.

The authors publish ``torch.save`` dicts ``{"g": ..., "d": ..., "g_ema": ...}`` of state dicts:
``full_models/ffhq1024x1024.pt`` and ``afhq512x512.pt`` (volume renderer + 2D decoder) and
``pretrained_renderer/{ffhq,afhq}_vol_renderer.pt`` / ``sphere_init.pt`` (the volume renderer only).
Their generators render with ``g_ema``. Names on the left are upstream's (``model.py::Generator``,
``volume_renderer.py::VolumeFeatureRenderer``), on the right zoo3d's (:class:`StyleSDFGenerator`):

* ``style.{i}`` (renderer mapping) -> ``volume.mapping.net.{i}``;
* ``renderer.sigmoid_beta`` (shape (1,)) -> ``volume.sdf_sharpness`` (a scalar);
* ``renderer.network.pts_linears.{i}`` -> ``volume.network.trunk.layers.{i}.layer`` with its
  ``gamma`` / ``beta`` linears -> ``film_freq.{i}`` / ``film_phase.{i}``;
  ``views_linears`` -> ``view.layer`` (input columns reordered: upstream concatenates (hidden, dir),
  zoo3d (dir, hidden)) and ``film_freq.{depth}`` / ``film_phase.{depth}``;
  ``sigma_linear`` -> ``sdf_head``, ``rgb_linear`` -> ``rgb_head``;
* ``decoder.style.{k}`` (k >= 1; 0 is PixelNorm) -> ``decoder.mapping.layers.{k-1}``;
* ``decoder.conv1`` / ``convs.{k}`` / ``to_rgb1`` / ``to_rgbs.{k}`` -> ``decoder.synthesis.*``: the
  modulated weight loses its leading batch axis, ``activate.bias`` is the conv's bias (the
  ``StyledConv.bias`` parameter upstream never uses is dropped), ``decoder.noises.noise_{i}`` become
  the layers' fixed noise maps (``noise_const``), i = 0 for ``conv1`` then ``convs`` in order.

Upstream cameras: ``generate_camera_params(locations=[azim, elev])`` puts the camera at
``(cos e sin a, sin e, cos e cos a)`` looking at the origin (OpenGL axes), with ``fov`` the *half*
angle (6 degrees) measured to the image edge and pixel centres at ``i + 0.5``: zoo3d's camera with
``yaw = -azim``, ``pitch = elev`` and a full field of view of ``2 * fov`` is the same camera.
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.errors import UserError

__all__ = ["convert_g_ema", "stylesdf_cameras", "release_settings", "release_state", "has_decoder"]

#: Upstream's blur taps (``blur_kernel=[1, 3, 3, 1]``); zoo3d's decoder uses the same.
_BLUR = (1.0, 3.0, 3.0, 1.0)


def stylesdf_cameras(azim, elev, fov_half_deg: float = 6.0, dist: float = 1.0, **kw) -> Camera:
    """zoo3d cameras for StyleSDF's ``(azim, elev)`` in radians (``generate_camera_params(locations=...)``)."""
    azim = torch.as_tensor(azim, dtype=kw.get("dtype") or torch.get_default_dtype()).reshape(-1)
    elev = torch.as_tensor(elev, dtype=azim.dtype).reshape(-1)
    return Camera.from_angles(-azim, elev, dist, 2.0 * fov_half_deg, **kw)


def release_state(release: Any, source: str = "the release file") -> dict[str, Tensor]:
    """The ``g_ema`` state dict of a loaded StyleSDF release (a dict with ``g_ema``, or a bare state dict)."""
    if isinstance(release, dict) and "g_ema" in release:
        state = release["g_ema"]
    elif isinstance(release, dict) and any(isinstance(k, str) and k.startswith("renderer.") for k in release):
        state = release
    else:
        raise UserError(f"{source} is not a StyleSDF checkpoint: it has no 'g_ema' generator weights.")
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise UserError(f"{source} is not a StyleSDF checkpoint: its 'g_ema' is not a state dict of tensors.")
    return state


def has_decoder(state: dict[str, Tensor]) -> bool:
    """True for full models; the pretrained renderers and ``sphere_init.pt`` hold only the volume renderer."""
    return any(k.startswith("decoder.") for k in state)


def _take(state: dict[str, Tensor], name: str, source: str) -> Tensor:
    try:
        return state[name]
    except KeyError:
        raise UserError(f"{source} is not a StyleSDF checkpoint of this layout: it has no tensor '{name}'.") \
            from None


def _reshaped(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``t`` in zoo3d's layout ``shape``; ``t`` as it is when its size does not allow it (a wrongly shaped
    tensor), so that the shape check names it with its shape instead of the reshape failing."""
    return t.reshape(shape) if t.numel() == math.prod(shape) else t


def _unused_upstream(name: str) -> bool:
    """Tensors upstream stores but never computes with: the decoder's blur kernels (constant buffers) and each
    StyledConv's ``bias``, a parameter its forward leaves out (the bias it applies is ``activate.bias``)."""
    return name.endswith(".kernel") or re.fullmatch(r"decoder\.(conv1|convs\.\d+)\.bias", name) is not None


def _count(state: dict[str, Tensor], prefix: str) -> int:
    """How many consecutive ``prefix{i}.`` entries exist (i = 0, 1, ...)."""
    n = 0
    while any(k.startswith(f"{prefix}{n}.") for k in state):
        n += 1
    return n


def convert_g_ema(state: dict[str, Tensor], source: str = "the release file",
                  sources: dict[str, str] | None = None) -> dict[str, Tensor]:
    """zoo3d's generator state dict (without ``decoder_active``) from upstream's ``g_ema`` state dict.

    Converts what the file holds; shapes are checked when the result is loaded into a generator of
    the chosen preset. Raises :class:`UserError` naming the first tensor the layout needs and the file
    lacks. ``sources``, when given, receives each zoo3d name's upstream name (``g_ema.<name>``).
    """
    taken: list[str] = []

    def get(name: str) -> Tensor:
        taken.append(name)
        return _take(state, name, source).detach().clone().float()

    out: dict[str, Tensor] = {}
    for i in range(_count(state, "style.")):
        out[f"volume.mapping.net.{i}.weight"] = get(f"style.{i}.weight")
        out[f"volume.mapping.net.{i}.bias"] = get(f"style.{i}.bias")
    out["volume.sdf_sharpness"] = _reshaped(get("renderer.sigmoid_beta"), ())
    net = "renderer.network."
    depth = _count(state, net + "pts_linears.")
    if depth == 0:
        _take(state, net + "pts_linears.0.weight", source)
    for i in range(depth):
        src = f"{net}pts_linears.{i}."
        out[f"volume.network.trunk.layers.{i}.layer.weight"] = get(src + "weight")
        out[f"volume.network.trunk.layers.{i}.layer.bias"] = get(src + "bias")
        out[f"volume.network.film_freq.{i}.weight"] = get(src + "gamma.weight")
        out[f"volume.network.film_freq.{i}.bias"] = get(src + "gamma.bias")
        out[f"volume.network.film_phase.{i}.weight"] = get(src + "beta.weight")
        out[f"volume.network.film_phase.{i}.bias"] = get(src + "beta.bias")
    view = net + "views_linears."
    weight = get(view + "weight")
    width = weight.shape[0]
    out["volume.network.view.layer.weight"] = torch.cat([weight[:, width:], weight[:, :width]], dim=1)
    out["volume.network.view.layer.bias"] = get(view + "bias")
    out[f"volume.network.film_freq.{depth}.weight"] = get(view + "gamma.weight")
    out[f"volume.network.film_freq.{depth}.bias"] = get(view + "gamma.bias")
    out[f"volume.network.film_phase.{depth}.weight"] = get(view + "beta.weight")
    out[f"volume.network.film_phase.{depth}.bias"] = get(view + "beta.bias")
    for ours, theirs in (("sdf_head", "sigma_linear"), ("rgb_head", "rgb_linear")):
        out[f"volume.network.{ours}.weight"] = get(f"{net}{theirs}.weight")
        out[f"volume.network.{ours}.bias"] = get(f"{net}{theirs}.bias")
    if has_decoder(state):
        out.update(_convert_decoder(state, get, source))
    for name in state:
        if name not in taken and not _unused_upstream(name):
            raise UserError(f"{source} holds 'g_ema.{name}', which zoo3d's StyleSDF model has no place for: "
                            "it is not a StyleSDF generator of this layout.")
    if sources is not None:  # every output took exactly one input, in order (noise maps and heads alike)
        sources.update({ours: f"g_ema.{theirs}" for ours, theirs in zip(out, taken)})
    return out


def _convert_decoder(state: dict[str, Tensor], get, source: str) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    k = 1
    while f"decoder.style.{k}.weight" in state:
        out[f"decoder.mapping.layers.{k - 1}.weight"] = get(f"decoder.style.{k}.weight")
        out[f"decoder.mapping.layers.{k - 1}.bias"] = get(f"decoder.style.{k}.bias")
        k += 1
    if k == 1:
        _take(state, "decoder.style.1.weight", source)

    def modulated(ours: str, theirs: str) -> None:
        w = get(theirs + "conv.weight")
        out[ours + "conv.weight"] = _reshaped(w, w.shape[1:]) if w.dim() == 5 else w
        out[ours + "conv.modulation.weight"] = get(theirs + "conv.modulation.weight")
        out[ours + "conv.modulation.bias"] = get(theirs + "conv.modulation.bias")

    syn = "decoder.synthesis."
    layers = ["conv1"] + [f"convs.{i}" for i in range(_count(state, "decoder.convs."))]
    for i, layer in enumerate(layers):
        modulated(f"{syn}{layer}.", f"decoder.{layer}.")
        out[f"{syn}{layer}.noise.weight"] = get(f"decoder.{layer}.noise.weight")
        out[f"{syn}{layer}.activate.bias"] = get(f"decoder.{layer}.activate.bias")
        out[f"{syn}{layer}.noise.noise_const"] = get(f"decoder.noises.noise_{i}")
        _check_blur(state, f"decoder.{layer}.conv.blur.kernel", 4.0, source)
    for layer in ["to_rgb1"] + [f"to_rgbs.{i}" for i in range(_count(state, "decoder.to_rgbs."))]:
        modulated(f"{syn}{layer}.", f"decoder.{layer}.")
        out[f"{syn}{layer}.bias"] = get(f"decoder.{layer}.bias")
        _check_blur(state, f"decoder.{layer}.upsample.kernel", 4.0, source)
    return out


def _check_blur(state: dict[str, Tensor], name: str, gain: float, source: str) -> None:
    """Upstream stores its FIR kernels; zoo3d's decoder uses [1, 3, 3, 1], so any other is refused."""
    kernel = state.get(name)
    if kernel is None:
        return
    taps = torch.tensor(_BLUR, dtype=torch.float32)
    expected = taps[:, None] * taps[None, :]
    expected = expected / expected.sum() * gain
    if kernel.shape != expected.shape or not torch.allclose(kernel.float(), expected, atol=1e-6):
        raise UserError(f"{source} uses a blur kernel other than [1, 3, 3, 1] ('{name}'), which zoo3d's "
                        "StyleSDF decoder does not support.")


def release_settings(release: Any) -> dict[str, int]:
    """The generator settings the shapes of a release's ``g_ema`` show (see
    :meth:`zoo3d_stylesdf.model.StyleSDFModel.release_settings`): the renderer's mapping (its first layer takes z),
    the SDF trunk's width and depth; for a full model the decoder's mapping (its first layer makes w), its widest
    convolution and its noise maps, the first at the volume render's resolution and the last at the output's."""
    state = release_state(release)
    trunk = "renderer.network.pts_linears."
    settings = {"generator.renderer.z_dim": int(state["style.0.weight"].shape[1]),
                "generator.renderer.mapping_layers": _count(state, "style."),
                "generator.renderer.width": int(state[f"{trunk}0.weight"].shape[0]),
                "generator.renderer.depth": _count(state, trunk)}
    if has_decoder(state):
        noises = [state[k] for k in sorted((k for k in state if k.startswith("decoder.noises.noise_")),
                                           key=lambda k: int(k.rsplit("_", 1)[1]))]
        convs = [t for k, t in state.items() if k.startswith("decoder.") and k.endswith(".conv.weight") and t.dim() == 5]
        settings.update({"generator.decoder.w_dim": int(state["decoder.style.1.weight"].shape[0]),
                         "generator.decoder.mapping_layers": sum(1 for k in state if re.fullmatch(
                             r"decoder\.style\.\d+\.weight", k)),
                         "generator.decoder.max_channels": max(int(t.shape[2]) for t in convs),
                         "generator.renderer.resolution": int(noises[0].shape[-1]),
                         "generator.decoder.output_resolution": int(noises[-1].shape[-1])})
    return settings
