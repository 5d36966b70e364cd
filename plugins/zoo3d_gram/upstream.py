"""GRAM's released checkpoints (microsoft/GRAM ``pretrained_models/<config>/``) in zoo3d's names.

``generator.pth`` is ``GramGenerator.state_dict()``; ``ema.pth`` is a pickled
``torch_ema.ExponentialMovingAverage`` whose ``shadow_params`` list the generator's trainable
parameters in ``generator.parameters()`` order, without names. That order is the module tree's
(:func:`upstream_parameter_names`): every GRAM parameter is trainable and the generator has no
buffers, so the list lines up one to one with the state dict's keys.

Upstream -> zoo3d (``representation.`` prefix upstream):

=====================================================  ==========================================
``sample_network.network.{0,2,4}`` / ``.output_layer``  ``manifold.hidden.{0,1,2}`` / ``manifold.out``
``rf_network.network.{i}.layer``                        ``radiance_net.trunk.layers.{i}.layer``
``rf_network.color_layer.0.layer``                      ``radiance_net.color_layer.layer``
``rf_network.output_sigma.{i}`` / ``output_color.{i}``  ``radiance_net.sigma_heads.{i}`` / ``rgb_heads.{i}``
``rf_network.output_feature.{i}`` (GRAM-HD)             ``radiance_net.feature_heads.{i}``
``rf_network.mapping_network.network.{0,2,4}`` / ``.6``  ``radiance_net.mapping.hidden.{0,2,4}`` / ``.out``
=====================================================  ==========================================

zoo3d's ``levels`` and ``manifold.center`` buffers are not in the files; they come from the config
(GRAM builds them from ``configs.py`` the same way).
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import Tensor

from zoo3d.errors import UserError
from zoo3d.upstream import (RELEASE_FILE, ImportedRelease, InertObject, ema_decay_note, is_torch_ema, rename_by_rules,
                            tensors_under)

from zoo3d_gram.config import GeneratorConfig, GramConfig

__all__ = ["convert_generator_state", "import_gram_release", "lowres_settings", "lowres_state_from_upstream",
           "release_settings", "upstream_parameter_names"]


def upstream_parameter_names(config: GeneratorConfig, prefix: str = "representation.") -> list[tuple[str, tuple]]:
    """GRAM's ``generator.parameters()`` for ``config``: (state-dict name, shape) in registration order."""
    m, r = config.manifold, config.radiance
    names: list[tuple[str, tuple]] = []

    def linear(name: str, fan_in: int, fan_out: int) -> None:
        names.extend([(f"{prefix}{name}.weight", (fan_out, fan_in)), (f"{prefix}{name}.bias", (fan_out,))])

    width = 3
    for i in range(m.layers):
        linear(f"sample_network.network.{2 * i}", width, m.hidden)
        width = m.hidden
    linear("sample_network.output_layer", m.hidden, 1)
    for i in range(r.num_layers):
        linear(f"rf_network.network.{i}.layer", 3 if i == 0 else r.hidden, r.hidden)
    linear("rf_network.color_layer.0.layer", r.hidden + 3, r.hidden)
    for i in range(r.num_layers - 1):
        linear(f"rf_network.output_sigma.{i}", r.hidden, 1)
    for i in range(r.num_layers - 1):
        linear(f"rf_network.output_color.{i}", r.hidden, 3)
    if r.feature_dim:
        for i in range(r.num_layers - 1):
            linear(f"rf_network.output_feature.{i}", r.hidden, r.feature_dim)
    width = r.z_dim
    for i in range(r.mapping_layers):
        linear(f"rf_network.mapping_network.network.{2 * i}", width, r.mapping_hidden)
        width = r.mapping_hidden
    linear(f"rf_network.mapping_network.network.{2 * r.mapping_layers}", width, (r.num_layers + 1) * r.hidden * 2)
    return names


_RULES = [
    (r"sample_network\.network\.(\d+)\.(weight|bias)$", lambda g: f"manifold.hidden.{int(g[0]) // 2}.{g[1]}"),
    (r"sample_network\.output_layer\.(weight|bias)$", lambda g: f"manifold.out.{g[0]}"),
    (r"rf_network\.network\.(\d+)\.layer\.(weight|bias)$", lambda g: f"radiance_net.trunk.layers.{g[0]}.layer.{g[1]}"),
    (r"rf_network\.color_layer\.0\.layer\.(weight|bias)$", lambda g: f"radiance_net.color_layer.layer.{g[0]}"),
    (r"rf_network\.output_sigma\.(\d+)\.(weight|bias)$", lambda g: f"radiance_net.sigma_heads.{g[0]}.{g[1]}"),
    (r"rf_network\.output_color\.(\d+)\.(weight|bias)$", lambda g: f"radiance_net.rgb_heads.{g[0]}.{g[1]}"),
    (r"rf_network\.output_feature\.(\d+)\.(weight|bias)$", lambda g: f"radiance_net.feature_heads.{g[0]}.{g[1]}"),
]
_MAPPING = re.compile(r"rf_network\.mapping_network\.network\.(\d+)\.(weight|bias)$")


def lowres_state_from_upstream(state: dict[str, Tensor], config: GeneratorConfig, source: str,
                               prefix: str = "representation.") -> tuple[dict[str, Tensor], dict[str, str]]:
    """An upstream ``Gram`` representation's tensors (keys under ``prefix``) -> zoo3d ``GramGenerator`` names.

    Returns (state, sources): the zoo3d state dict (with ``levels`` and ``manifold.center`` from
    ``config``) and, for each zoo3d name, the name it came from in the file. A key GRAM does not
    have, or a missing one, is a :class:`UserError` naming ``source``.
    """
    out: dict[str, Tensor] = {}
    sources: dict[str, str] = {}
    last_mapping = 2 * config.radiance.mapping_layers
    for key, name, value in tensors_under(state, prefix):
        target = rename_by_rules(name, _RULES)
        if target is None and (found := _MAPPING.match(name)):
            index, kind = int(found.group(1)), found.group(2)
            target = (f"radiance_net.mapping.out.{kind}" if index == last_mapping
                      else f"radiance_net.mapping.hidden.{index}.{kind}")
        if target is None:
            raise UserError(f"{source} has a tensor '{key}' that GRAM's generator does not have.")
        out[target], sources[target] = value, key
    if not out:
        raise UserError(f"{source} holds no GRAM generator tensors (none is named '{prefix}...').")
    m = config.manifold
    out["levels"] = torch.linspace(m.level_start, m.level_end, m.num_levels)
    out["manifold.center"] = torch.tensor(m.center, dtype=torch.float32)
    return out, sources


def _named_shadow_params(ema: InertObject, config: GeneratorConfig, source: str) -> dict[str, Tensor]:
    """torch_ema's unnamed shadow list, named by GRAM's parameter order for ``config``."""
    shadow = ema.get("shadow_params")
    if not isinstance(shadow, list) or not all(isinstance(t, Tensor) for t in shadow):
        raise UserError(f"{source} is a torch_ema object without a list of shadow parameters.")
    names = upstream_parameter_names(config)
    if len(shadow) != len(names):
        raise UserError(f"{source} averages {len(shadow)} parameters where a GRAM generator of this preset has "
                        f"{len(names)}.")
    return {name: t for (name, _), t in zip(names, shadow)}


def convert_generator_state(release: Any, config: GeneratorConfig, source: str) -> tuple[dict[str, Tensor], dict, str]:
    """A loaded GRAM release (state dict or torch_ema object) -> (zoo3d state, sources, what it was)."""
    if is_torch_ema(release):
        state = _named_shadow_params(release, config, source)
        kind = "EMA weights (torch_ema shadow parameters, named in GRAM's parameter order)"
    elif isinstance(release, dict) and release and all(isinstance(v, Tensor) for v in release.values()):
        state, kind = release, "generator state dict"
        if any(k.startswith("super_resolution") for k in state):
            raise UserError(f"{source} is a GRAM-HD generator (it has super-resolution networks): import it as "
                            f"model gram_hd.")
    else:
        raise UserError(f"{source} is neither a GRAM generator.pth (a state dict) nor an ema.pth (a torch_ema "
                        f"object).")
    converted, sources = lowres_state_from_upstream(state, config, source)
    return converted, sources, kind


def lowres_settings(weights: list[Tensor], features: bool = False) -> dict[str, int]:
    """The ``GeneratorConfig`` settings (keys under ``generator.``) the 2-D weights of a GRAM network show, given in
    GRAM's parameter order (:func:`upstream_parameter_names`); ``features``: it has GRAM-HD's feature heads. {} for a
    list that is not in that order.

    The manifold predictor's layers come first (the first takes the 3 coordinates), then its one-output layer;
    the radiance trunk (its first takes the 3 coordinates), then the colour layer, which takes the trunk's width
    plus the 3 of the view direction; a head per trunk layer but the last, of 1, 3 (and, with ``features``, the
    feature) outputs; then the mapping network, whose first layer takes z."""
    ok = len(weights) > 2 and weights[0].shape[1] == 3
    layers = next((i for i, w in enumerate(weights) if w.shape[0] == 1), 0)
    trunk = weights[layers + 1:]
    num_layers = next((i for i, w in enumerate(trunk) if w.shape[1] == trunk[0].shape[0] + 3), 0) if trunk else 0
    heads = (num_layers - 1) * (3 if features else 2)
    mapping = trunk[num_layers + 1 + heads:]
    if not (ok and layers and num_layers >= 2 and trunk[0].shape[1] == 3 and len(mapping) >= 2):
        return {}
    settings = {"manifold.hidden": int(weights[0].shape[0]), "manifold.layers": layers,
                "radiance.hidden": int(trunk[0].shape[0]), "radiance.num_layers": num_layers,
                "radiance.z_dim": int(mapping[0].shape[1]), "radiance.mapping_hidden": int(mapping[0].shape[0]),
                "radiance.mapping_layers": len(mapping) - 1}
    if features:
        settings["radiance.feature_dim"] = int(trunk[num_layers + 1 + 2 * (num_layers - 1)].shape[0])
    return settings


#: GRAM's parameter groups in ``generator.parameters()`` order (within one, by the layer's index): a state dict read
#: from elsewhere (a safetensors copy) may list its keys in another order.
_PARAMETER_ORDER = ("sample_network.network.", "sample_network.output_layer.", "rf_network.network.",
                    "rf_network.color_layer.", "rf_network.output_sigma.", "rf_network.output_color.",
                    "rf_network.output_feature.", "rf_network.mapping_network.network.")


def release_weights(release: Any, prefix: str = "representation.") -> list[Tensor]:
    """The 2-D weights of a GRAM release in GRAM's parameter order: an ema.pth's shadow list, or a state dict's
    tensors under ``prefix`` (a state dict lists them in that order too: every parameter, no buffer)."""
    if is_torch_ema(release):
        shadow = release.get("shadow_params")
        return [t for t in shadow if isinstance(t, Tensor) and t.dim() == 2] if isinstance(shadow, list) else []
    if not isinstance(release, dict):
        return []
    found = []
    for key, value in release.items():
        name = key[len(prefix):] if key.startswith(prefix) else None
        group = next((i for i, part in enumerate(_PARAMETER_ORDER) if name and name.startswith(part)), None)
        if group is not None and isinstance(value, Tensor) and value.dim() == 2:
            index = re.search(r"\.(\d+)\.", name[len(_PARAMETER_ORDER[group]) - 1:] + ".")
            found.append(((group, int(index.group(1)) if index else 0), value))
    return [value for _, value in sorted(found, key=lambda item: item[0])]


def release_settings(release: Any) -> dict[str, int]:
    """See :meth:`zoo3d_gram.model.GramModel.release_settings`."""
    return {f"generator.{k}": v for k, v in lowres_settings(release_weights(release)).items()}


def import_gram_release(release: Any, config: GramConfig, source: str = RELEASE_FILE) -> ImportedRelease:
    """See :meth:`zoo3d_gram.model.GramModel.import_release`."""
    config = config.model_copy(deep=True)
    config.generator.render.align_corners = True  # the authors' pixel grid
    state, sources, kind = convert_generator_state(release, config.generator, source)
    notes = [f"read {kind} from {source}",
             "rays are cast on GRAM's pixel grid (generator.render.align_corners: true), as the authors render"]
    decay = ema_decay_note(release, source)
    if decay is not None:
        notes.insert(1, decay)
    return ImportedRelease(state=state, config=config, notes=notes, sources=sources)
