"""pi-GAN's released checkpoints (marcoamonteiro/pi-GAN) in zoo3d's names, and its camera convention.

The authors' ``train.py`` saves whole objects with ``torch.save``: ``generator.pth`` is the
``generators.generators.ImplicitGenerator3d`` module (its ``siren`` a ``siren.siren.SPATIALSIRENBASELINE``
for CelebA and Cats, ``TALLSIREN`` for CARLA) and ``ema.pth`` a ``torch_ema.ExponentialMovingAverage``
whose ``shadow_params`` list the generator's parameters in ``generator.parameters()`` order (the
render scripts copy them into the generator before rendering). zoo3d reads both as inert records
(:func:`zoo3d.upstream.load_release`) and maps (upstream -> zoo3d, :class:`PiGanGenerator`):

* ``siren.mapping_network.network.{0,2,4}`` -> ``mapping.hidden.{0,2,4}``, ``.network.6`` -> ``mapping.out``;
* ``siren.network.{i}.layer`` -> ``siren.trunk.layers.{i}.layer``;
* ``siren.final_layer`` -> ``siren.sigma_head``; ``siren.color_layer_sine.layer`` -> ``siren.color_layer.layer``
  (both concatenate (ray direction, hidden)); ``siren.color_layer_linear.0`` -> ``siren.color_head``.

Cameras: pi-GAN's ``(phi, theta)`` (pitch from +y, yaw; frontal ``(pi/2, pi/2)``) are
:meth:`zoo3d.cameras.Camera.from_gram`'s; its NDC ray grid is reproduced by the generator under
``convention: upstream`` (:func:`zoo3d_pigan.generator.ndc_grid_cameras`).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.errors import UserError

from .config import PiGanConfig

__all__ = ["GENERATOR_CLASS", "EMA_CLASS", "SIREN_CLASSES", "convert_state", "pigan_cameras", "release_parts",
           "release_settings", "upstream_parameter_names"]

GENERATOR_CLASS = "generators.generators.ImplicitGenerator3d"
EMA_CLASS = "torch_ema.ema.ExponentialMovingAverage"
#: The released sirens and the box their points are scaled into (``UniformBoxWarp``; None: no warp).
SIREN_CLASSES = {"siren.siren.SPATIALSIRENBASELINE": 0.24, "siren.siren.TALLSIREN": None}


def pigan_cameras(phi, theta, fov: float = 12.0, radius: float = 1.0, **kw) -> Camera:
    """zoo3d cameras for pi-GAN's ``(phi, theta)`` = (v_mean, h_mean) in radians (``sample_camera_positions``)."""
    return Camera.from_gram(phi, theta, radius, fov, **kw)


def upstream_parameter_names(cfg: PiGanConfig) -> list[str]:
    """The upstream generator's parameter names in ``generator.parameters()`` order (``ema.pth``'s order)."""
    n = cfg.generator
    names = []
    for i in range(n.depth):
        names += [f"siren.network.{i}.layer.weight", f"siren.network.{i}.layer.bias"]
    for module in ("final_layer", "color_layer_sine.layer", "color_layer_linear.0"):
        names += [f"siren.{module}.weight", f"siren.{module}.bias"]
    for i in range(n.mapping_layers + 1):
        names += [f"siren.mapping_network.network.{2 * i}.weight", f"siren.mapping_network.network.{2 * i}.bias"]
    return names


_RENAMED = {"siren.final_layer": "siren.sigma_head", "siren.color_layer_sine.layer": "siren.color_layer.layer",
            "siren.color_layer_linear.0": "siren.color_head"}


def _zoo3d_name(name: str, mapping_layers: int) -> str:
    module, leaf = name.rsplit(".", 1)
    parts = module.split(".")
    if module.startswith("siren.network."):
        return f"siren.trunk.layers.{parts[2]}.layer.{leaf}"
    if module.startswith("siren.mapping_network.network."):
        index = int(parts[3])
        return f"mapping.out.{leaf}" if index == 2 * mapping_layers else f"mapping.hidden.{index}.{leaf}"
    return f"{_RENAMED[module]}.{leaf}"


def convert_state(state: dict[str, Tensor], cfg: PiGanConfig, source: str = "the release file",
                  sources: dict[str, str] | None = None) -> dict[str, Tensor]:
    """zoo3d's generator state dict from the upstream generator's (``module_state_dict`` names).

    Raises :class:`UserError` naming the first tensor the preset's layout needs and the file lacks.
    Shapes are checked when the result is loaded into the preset's generator. ``sources``, when
    given, receives each zoo3d name's upstream name.
    """
    out: dict[str, Tensor] = {}
    for name in upstream_parameter_names(cfg):
        if name not in state:
            raise UserError(f"{source} does not fit pi-GAN's layout for this preset: it has no tensor '{name}'.")
        ours = _zoo3d_name(name, cfg.generator.mapping_layers)
        out[ours] = state[name].detach().clone().float()
        if sources is not None:
            sources[ours] = name
    extra = sorted(set(state) - set(upstream_parameter_names(cfg)))
    if extra:
        raise UserError(f"{source} has tensors this preset's pi-GAN does not ('{extra[0]}'): it is a different "
                        "architecture (e.g. more layers, or a spatial embedding).")
    return out


def shadow_state(ema: Any, cfg: PiGanConfig, source: str = "the release file") -> dict[str, Tensor]:
    """The EMA weights of an ``ema.pth`` record, named as the upstream generator's parameters."""
    shadow = _state_of(ema).get("shadow_params")
    names = upstream_parameter_names(cfg)
    if not isinstance(shadow, list) or not all(isinstance(t, Tensor) for t in shadow):
        raise UserError(f"{source} is not a torch_ema object: it has no list of shadow parameters.")
    if len(shadow) != len(names):
        raise UserError(f"{source} holds {len(shadow)} averaged parameters where pi-GAN with this preset has "
                        f"{len(names)}.")
    return dict(zip(names, shadow))


def _state_of(record: Any) -> dict:
    state = getattr(record, "state", None)
    return state if isinstance(state, dict) else {}


def qualname(record: Any) -> str | None:
    return getattr(record, "qualname", None)


def check_siren(generator: Any, cfg: PiGanConfig, source: str) -> None:
    """Refuse a generator whose siren class does not match the preset's box warp (CARLA's TALLSIREN has none)."""
    siren = (_state_of(generator).get("_modules") or {}).get("siren")
    name = qualname(siren)
    if name not in SIREN_CLASSES:
        raise UserError(f"{source} holds a pi-GAN generator with a '{name}' network, which zoo3d cannot import "
                        f"(it reads {', '.join(sorted(SIREN_CLASSES))}).")
    box = SIREN_CLASSES[name]
    want = cfg.generator.box_size
    fits = abs(want - 2.0) < 1e-9 if box is None else abs(box - want) < 1e-9
    if not fits:
        warp = "no box warp" if box is None else f"box {box}"
        raise UserError(f"{source} holds a {name.rsplit('.', 1)[-1]} network ({warp}), but the preset's "
                        f"generator.box_size is {want}.")


def z_dim_of(generator: Any) -> int | None:
    z = _state_of(generator).get("z_dim")
    return z if isinstance(z, int) else None


def release_parts(release: Any) -> dict[str, Any]:
    """``{"generator": record, "ema": record}`` (either or both) of a loaded release; a record of neither class is
    under ``"?"``."""
    if isinstance(release, dict) and set(release) <= {"generator", "ema"}:
        return dict(release)
    kind = qualname(release)
    return {"generator" if kind == GENERATOR_CLASS else "ema" if kind == EMA_CLASS else "?": release}


def release_settings(release: Any) -> dict[str, int]:
    """The generator settings a release's shapes show (see :meth:`zoo3d_pigan.model.PiGanModel.release_settings`).

    Both files list the weights in ``generator.parameters()`` order (:func:`upstream_parameter_names`): the
    SIREN layers, whose first takes the 3 coordinates; the density head, the only one with one output; the two
    colour layers; then the mapping network, whose first layer takes z."""
    parts = release_parts(release)
    if parts.get("ema") is not None:
        shadow = _state_of(parts["ema"]).get("shadow_params")
        weights = [t for t in shadow if isinstance(t, Tensor) and t.dim() == 2] if isinstance(shadow, list) else []
    elif parts.get("generator") is not None:
        from zoo3d.upstream import module_state_dict

        weights = [t for t in module_state_dict(parts["generator"]).values() if t.dim() == 2]
    else:
        return {}
    depth = next((i for i, w in enumerate(weights) if w.shape[0] == 1), None)
    if not depth or weights[0].shape[1] != 3 or len(weights) < depth + 5:
        return {}
    mapping = weights[depth + 3:]
    return {"generator.width": int(weights[0].shape[0]), "generator.depth": depth,
            "generator.z_dim": int(mapping[0].shape[1]), "generator.mapping_hidden": int(mapping[0].shape[0]),
            "generator.mapping_layers": len(mapping) - 1}
