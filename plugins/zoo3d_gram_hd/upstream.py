"""GRAM-HD's released checkpoints (JeffreyXiang/GRAM-HD ``ckpts/<name>.pt``) in zoo3d's names.

Each file is ``GramHDGenerator.state_dict()``: ``representation.*`` is the stage-1 GRAM with its
feature heads (converted by :func:`zoo3d_gram.lowres_state_from_upstream`, under
``lowres.``), ``super_resolution.*`` the style RRDB net and ``super_resolution_bg.*`` the background
RRDB net:

==============================================  ============================================
``conv_first`` / ``trunk_conv``                 ``body.conv_first`` / ``body.trunk_conv``
``RRDB_trunk.{i}.RDB{j}.conv{k}``               ``body.trunk.{i}.blocks.{j-1}.convs.{k-1}``
``upconvs.{i}`` / ``HRconv`` / ``conv_last``    ``up_convs.{i}`` / ``hr_conv`` / ``conv_last``
``mapping_network.network.{0,2,4,6}``           ``mapping.{0,2,4,6}``
==============================================  ============================================

The style net's modulated convolutions keep their kernels unscaled upstream, as zoo3d's do with
``generator.foreground_sr.kernels: upstream`` (the presets'), so they are copied as they are; a config with
``equalized`` kernels (runs stored before that key), which are multiplied by ``1 / sqrt(fan_in)`` before
modulating, gets them times ``sqrt(fan_in)`` (the two identical, epsilon included).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from zoo3d.errors import UserError
from zoo3d.upstream import RELEASE_FILE, ImportedRelease, is_torch_ema, rename_by_rules, tensors_under
from zoo3d_gram import lowres_settings, lowres_state_from_upstream, release_weights

from zoo3d_gram_hd.config import GramHDConfig
from zoo3d_gram_hd.superres import default_up_channels

__all__ = ["import_gram_hd_release", "release_settings", "sr_state_from_upstream"]

_SR_RULES = [
    (r"conv_first\.(weight|bias)$", lambda g: f"body.conv_first.{g[0]}"),
    (r"trunk_conv\.(weight|bias)$", lambda g: f"body.trunk_conv.{g[0]}"),
    (r"RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)\.(weight|bias)$",
     lambda g: f"body.trunk.{g[0]}.blocks.{int(g[1]) - 1}.convs.{int(g[2]) - 1}.{g[3]}"),
    (r"upconvs\.(\d+)\.(weight|bias)$", lambda g: f"up_convs.{g[0]}.{g[1]}"),
    (r"HRconv\.(weight|bias)$", lambda g: f"hr_conv.{g[0]}"),
    (r"conv_last\.(weight|bias)$", lambda g: f"conv_last.{g[0]}"),
    (r"mapping_network\.network\.(\d+)\.(weight|bias)$", lambda g: f"mapping.{g[0]}.{g[1]}"),
]


def sr_state_from_upstream(state: dict[str, Tensor], upstream_prefix: str, prefix: str, modulated: bool,
                           source: str, equalized: bool = False) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Rename one upstream (Style)RRDBNet's tensors. Upstream's modulated kernels are stored as used, as zoo3d's
    "upstream" kernels are; for a ``modulated`` net with ``equalized`` kernels (scaled by 1/sqrt(fan_in) when
    used) they are stored times sqrt(fan_in)."""
    out: dict[str, Tensor] = {}
    sources: dict[str, str] = {}
    for key, name, value in tensors_under(state, upstream_prefix):
        target = rename_by_rules(name, _SR_RULES)
        if target is None:
            raise UserError(f"{source} has a tensor '{key}' that GRAM-HD's super-resolution nets do not have.")
        if modulated and equalized and value.dim() == 4 and name.split(".")[0] in ("upconvs", "HRconv", "conv_last"):
            fan_in = value.shape[1] * value.shape[2] * value.shape[3]
            value = value * math.sqrt(fan_in)
        out[prefix + target], sources[prefix + target] = value, key
    return out, sources


def _sr_settings(state: dict[str, Tensor], prefix: str, modulated: bool) -> dict[str, Any]:
    """One RRDB net's widths (keys of its config) from the shapes of its tensors under ``prefix``: the modulated
    net's up-convolutions feed a pixel shuffle (4 outputs to a channel), the background net's do not."""
    def shape(name: str):
        return tuple(state[prefix + name].shape)

    blocks = {k.split(".")[2] for k in state if k.startswith(f"{prefix}RRDB_trunk.")}
    ups = sorted((int(k.split(".")[2]), v.shape[0]) for k, v in state.items()
                 if k.startswith(f"{prefix}upconvs.") and k.endswith(".weight"))
    settings = {"nf": shape("conv_first.weight")[0], "nb": len(blocks),
                "up_channels": [int(c) // 4 if modulated else int(c) for _, c in ups]}
    if blocks:
        settings["gc"] = shape("RRDB_trunk.0.RDB1.conv1.weight")[0]
    if modulated:
        settings["style_hidden"] = shape("mapping_network.network.0.weight")[0]
        settings["last_kernel"] = shape("conv_last.weight")[-1]
    return settings


def release_settings(release: Any) -> dict[str, Any]:
    """See :meth:`zoo3d_gram_hd.model.GramHDModel.release_settings`."""
    if not isinstance(release, dict):
        return {}
    settings = {f"generator.lowres.{k}": v for k, v in lowres_settings(release_weights(release), features=True).items()}
    for upstream_prefix, key, modulated in [("super_resolution.", "foreground_sr", True),
                                            ("super_resolution_bg.", "background_sr", False)]:
        if f"{upstream_prefix}conv_first.weight" in release:
            settings.update({f"generator.{key}.{k}": v
                             for k, v in _sr_settings(release, upstream_prefix, modulated).items()})
    return settings


def import_gram_hd_release(release: Any, config: GramHDConfig, source: str = RELEASE_FILE) -> ImportedRelease:
    """See :meth:`zoo3d_gram_hd.model.GramHDModel.import_release`."""
    if is_torch_ema(release):  # GRAM-HD's training saves ema.pth and ema2.pth as GRAM's does, but drops frozen layers
        raise UserError(f"{source} is a torch_ema average (a training run's ema.pth), whose unnamed list zoo3d cannot "
                        f"match to GRAM-HD's tensors: import a GRAM-HD generator state dict instead (a released "
                        f"ckpts/*.pt, or the stepNNNNNN_generator.pth its training saves beside the ema.pth).")
    if not (isinstance(release, dict) and release and all(isinstance(v, Tensor) for v in release.values())):
        raise UserError(f"{source} is not a GRAM-HD checkpoint (ckpts/*.pt hold a generator state dict).")
    if not any(k.startswith("super_resolution.") for k in release):
        raise UserError(f"{source} has no super-resolution network, so it is not a GRAM-HD generator "
                        f"(a GRAM generator.pth imports as model gram).")
    config = config.model_copy(deep=True)
    g = config.generator
    g.lowres.render.align_corners = True  # the authors' pixel grid; LR hits upsample corner-aligned too
    g.texture_align_corners = False  # grid_sample(align_corners=False) on the corner-aligned gridding
    g.upsample_background_hits = True  # HR background hits interpolated from the LR ones
    state, sources = {}, {}
    lowres, lowres_sources = lowres_state_from_upstream(release, g.lowres, source)
    state.update({f"lowres.{k}": v for k, v in lowres.items()})
    sources.update({f"lowres.{k}": v for k, v in lowres_sources.items()})
    for upstream_prefix, prefix, modulated in [("super_resolution.", "foreground_sr.", True),
                                               ("super_resolution_bg.", "background_sr.", False)]:
        part, part_sources = sr_state_from_upstream(release, upstream_prefix, prefix, modulated, source,
                                                    equalized=g.foreground_sr.kernels == "equalized")
        state.update(part)
        sources.update(part_sources)
    unknown = [k for k in release if not k.startswith(("representation.", "super_resolution.", "super_resolution_bg."))]
    if unknown:
        raise UserError(f"{source} has a tensor '{unknown[0]}' that GRAM-HD's generator does not have.")
    state["super_resolve"] = torch.tensor(True)
    # The SR net's mean style for truncation is not in the file; it is recomputed when first needed.
    ups = g.foreground_sr.up_channels or default_up_channels(g.scale, style=True)
    state["foreground_sr.style_avg"] = torch.zeros(g.foreground_sr.nf + sum(ups[:-1]) + 2 * ups[-1])
    notes = [f"read the GRAM-HD generator state dict from {source}",
             "rays are cast on GRAM-HD's pixel grid, its textures sampled and its background hits upsampled as it "
             "does (generator.lowres.render.align_corners: true, generator.texture_align_corners: false, "
             "generator.upsample_background_hits: true)"]
    return ImportedRelease(state=state, config=config, notes=notes, sources=sources)
