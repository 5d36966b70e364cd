"""Evaluation protocols: every setting that changes a number, recorded with the number.

``small`` is the honest CPU default (few instances, 64 px, a fixed NeuS iteration budget);
``paper`` follows GRAM-HD Table 2 (50 instances, the model's resolution, the full NeuS budget).
``zoo3d compare --set KEY=VALUE`` changes one field (``neus.iterations=800``, ``epi_frames=120``) or one of
a metric plugin's own settings (``NAME.KEY=VALUE``, see :attr:`zoo3d.eval.metric.Metric.settings`).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterable

from pydantic import Field, model_validator

from zoo3d.config import MAX_SEED, Config, apply_overrides, parse_override, validate
from zoo3d.errors import ConfigError, UserError, closest
from zoo3d.limits import MAX_RESOLUTION

if TYPE_CHECKING:
    from zoo3d.eval.metric import Metric


class NeusSettings(Config):
    """The NeuS fit (Wang et al. 2021; upstream defaults noted where the small protocol departs).

    Scene normalisation: world points are divided by ``scene_radius`` x camera radius so the
    subject lies inside the unit sphere NeuS assumes.
    """

    iterations: int = Field(800, ge=1)           # upstream 300k; the budget is the main protocol knob: 800
    #                                              (400 until 2026-12-06) fits a 64 px instance in under 3 min on
    #                                              2 cores and parts bands 400 left overlapping (RESULTS.md)
    batch_rays: int = Field(512, ge=16)          # upstream 512 from one image; here across all views
    n_coarse: int = Field(16, ge=2)              # upstream 64
    n_importance: int = Field(16, ge=0)          # upstream 64
    upsample_steps: int = Field(2, ge=0)         # upstream 4 steps with inv_s 64 * 2^i
    sdf_layers: int = Field(4, ge=2)             # upstream 8
    sdf_hidden: int = Field(64, ge=8)            # upstream 256
    sdf_multires: int = Field(6, ge=0)           # upstream 6
    color_layers: int = Field(2, ge=1)           # upstream 4
    color_hidden: int = Field(64, ge=8)          # upstream 256
    view_multires: int = Field(4, ge=0)          # upstream 4
    feature_dim: int = Field(64, ge=1)           # upstream 256
    lr: float = Field(2e-3, gt=0)                # upstream 5e-4 over 300k steps; 4x for the short budget
    lr_alpha: float = Field(0.05, ge=0, le=1)    # cosine decay to lr_alpha * lr (upstream 0.05)
    warmup_fraction: float = Field(0.05, ge=0, lt=1)     # upstream 5k of 300k (1.7 %); more of a short budget
    anneal_fraction: float = Field(0.1, ge=0, le=1)      # cos_anneal_ratio 0 -> 1 (upstream 50k of 300k, 17 %)
    eikonal_weight: float = Field(0.1, ge=0)     # upstream igr_weight 0.1, but beside an L1 averaged over RGB
    #                                              where upstream sums it, so 3x upstream's share (see fit_neus)
    init_variance: float = 0.3                   # s = exp(10 v), upstream 0.3
    scene_radius: float = Field(0.25, gt=0)      # unit sphere radius in units of the camera radius
    restarts: int = Field(2, ge=0)               # a fit that loses its surface is drawn again, up to this often
    vanish_opacity: float = Field(0.01, ge=0, le=1)  # lost: the batch's mean opacity below this for 10 steps
    #                                                  after the ramp (zoo3d.eval.neus.fit; not in upstream)
    eval_chunk: int = Field(1024, ge=64)         # rays per re-render chunk: any size gives the same renders;
    #                                              1024 re-renders 30 x 64² views 1.5x faster than 4096 on a CPU


class Protocol(Config):
    """One evaluation protocol for every model (written to the JSON ``protocol`` block). Every field is
    bounded, so a ``--set`` that would render nothing, NaNs or another seed's instance is refused before any
    work."""

    name: str = "small"
    instances: int = Field(4, ge=1)
    seed_start: int = Field(0, ge=0)   # seeds seed_start ... (checked against MAX_SEED below)
    resolution: int | None = Field(64, ge=8, le=MAX_RESOLUTION)  # None = each model's own resolution
    views: int = Field(30, ge=2)
    # a yaw range of 0 renders one view over and over: every model passes neus, epi and depth with nothing moved
    yaw_range: float = Field(0.4, gt=0, le=math.pi)
    pitch: float = Field(0.0, ge=-1.5, le=1.5)  # added to each model's centre pitch (0 for the faces)
    psi_consistency: float = Field(1.0, ge=0, le=1)   # truncation for neus / epi / depth renders
    psi_distribution: float = Field(1.0, ge=0, le=1)  # truncation for fid / kid / swd (upstream: none)
    neus: NeusSettings = Field(default_factory=NeusSettings)
    neus_detail_sigma: float = Field(1.0, gt=0)  # px: neus_detail_gain's band is the residual minus this blur
    epi_frames: int = Field(60, ge=3)
    epi_yaw_range: float = Field(0.4, gt=0, le=math.pi)
    depth_views: int = Field(7, ge=2)
    depth_yaw_range: float = Field(0.4, gt=0, le=math.pi)
    distribution_images: int = Field(256, ge=2)  # generated and real images for fid / kid / swd
    swd_patches_per_image: int = Field(128, ge=1)
    speed_resolutions: list[Annotated[int, Field(ge=8, le=MAX_RESOLUTION)]] = Field(
        default_factory=lambda: [64, 128], min_length=1)
    speed_repeats: int = Field(3, ge=1)
    # metric name -> its own settings (metrics that declare a ``settings`` class), resolved in full
    metric_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _seeds_are_seeds(self):
        last = self.seed_start + max(self.instances, self.distribution_images) - 1
        if last > MAX_SEED:  # torch.Generator.manual_seed wraps a larger one around to another instance
            raise ValueError(f"seed_start {self.seed_start}: the seeds it starts run to {last}, above the "
                             f"largest seed {MAX_SEED}")
        return self

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed_start, self.seed_start + self.instances))


def _paper_overrides() -> dict[str, Any]:
    return {
        "name": "paper", "instances": 50, "resolution": None,
        "neus": {"iterations": 20000, "batch_rays": 512 * 4, "lr": 5e-4, "n_coarse": 64, "n_importance": 64,
                 "upsample_steps": 4, "sdf_layers": 8, "sdf_hidden": 256, "color_layers": 4, "color_hidden": 256,
                 "feature_dim": 256},
        "distribution_images": 20000, "epi_frames": 120, "depth_views": 7,
        "speed_resolutions": [64, 128, 256, 512], "speed_repeats": 10,
    }


#: name -> a function returning that protocol's overrides of the defaults (a fresh dict per call)
PROTOCOLS: dict[str, Callable[[], dict[str, Any]]] = {"small": dict, "paper": _paper_overrides}


def make_protocol(name: str = "small", instances: int | None = None, resolution: int | None = None,
                  **overrides: Any) -> Protocol:
    """A :class:`Protocol`: the named one (``small`` or ``paper``), then ``instances``/``resolution`` and any field
    overrides (``neus`` as a dict of the NeuS settings it changes). A value out of bounds or a field the protocol does
    not have is refused in one sentence naming it (``make_protocol("small", instances=0)``), as ``zoo3d compare
    --set`` refuses it."""
    data = _protocol_data(name, instances, resolution)
    data["neus"].update(overrides.pop("neus", {}) or {})
    data.update(overrides)
    return validate(Protocol, data, origin="make_protocol's arguments")


def _protocol_data(name: str, instances: int | None, resolution: int | None) -> dict[str, Any]:
    """The named protocol's fields (its whole NeuS block) with ``--instances`` / ``--resolution`` applied."""
    if name not in PROTOCOLS:
        raise UserError(f"Unknown protocol '{name}'; use one of: {', '.join(PROTOCOLS)}.")
    data = PROTOCOLS[name]()
    data["neus"] = {**NeusSettings().model_dump(), **data.get("neus", {})}
    if instances is not None:
        data["instances"] = instances
    if resolution is not None:
        data["resolution"] = resolution
    return data


def settings_problem(metric: "Metric") -> str | None:
    """What is wrong with a metric class's ``settings`` and ``protocol_settings``, as a clause that ends the sentence,
    or None: a settings class that is no :class:`zoo3d.config.Config` (a plain pydantic model drops a misspelt ``--set``
    key without a word) or an instance where the class belongs, a protocol zoo3d does not have (``"smal"``: its
    departures would never apply, without a word), departures without a ``settings`` class, or ones that class refuses
    (met only when someone runs that protocol, ``--protocol paper``)."""
    declared = getattr(metric, "settings", None)
    if isinstance(declared, Config):  # settings = GainSettings(): a Config, but not the class zoo3d validates with
        return (f"its settings is a {type(declared).__name__} instance, where zoo3d reads the class; give settings = "
                f"{type(declared).__name__}.")
    if declared is not None and not (isinstance(declared, type) and issubclass(declared, Config)):
        shown = declared.__name__ if isinstance(declared, type) else type(declared).__name__
        return (f"its settings class {shown} is no zoo3d.config.Config, which refuses a key it does not have; "
                f"derive it from zoo3d.config.Config.")
    given = getattr(metric, "protocol_settings", None) or {}
    if not isinstance(given, dict):
        return f"its protocol_settings is a {type(given).__name__}, not {{protocol: {{key: value}}}}."
    for name, data in given.items():
        if name not in PROTOCOLS:
            hint = closest(str(name), list(PROTOCOLS), n=1)
            did = f"; did you mean '{hint[0]}'?" if hint else "."
            return (f"its protocol_settings names the protocol '{name}', which zoo3d does not have (the protocols are "
                    f"{', '.join(PROTOCOLS)}){did}")
        if getattr(metric, "settings", None) is None:
            return "it gives protocol_settings but no settings class for them (settings = a zoo3d.config.Config)."
        try:
            validate(metric.settings, dict(data), origin=f"its protocol_settings['{name}']")
        except (ConfigError, TypeError, ValueError) as exc:
            return str(exc)
    return None


def resolve_metric_settings(protocol: Protocol, metrics: dict[str, "Metric"],
                            sets: dict[str, list[str]] | None = None) -> Protocol:
    """``protocol`` with every settings-declaring metric's settings in ``metric_settings``: its class defaults,
    then its ``protocol_settings`` for this protocol's name, then the ``KEY=VALUE`` items of ``sets[name]``.
    Settings already resolved are kept (apart from new items), so resolving twice changes nothing."""
    sets = sets or {}
    resolved = dict(protocol.metric_settings)
    for name, metric in metrics.items():
        if metric.settings is None:
            continue
        data = dict(resolved.get(name) or metric.protocol_settings.get(protocol.name, {}))
        apply_overrides(data, sets.get(name, []))
        resolved[name] = validate(metric.settings, data, origin=f"metric '{name}' settings").model_dump(mode="json")
    return protocol.model_copy(update={"metric_settings": resolved})


def build_protocol(name: str = "small", instances: int | None = None, resolution: int | None = None,
                   sets: Iterable[str] = (), metrics: dict[str, "Metric"] | None = None) -> Protocol:
    """The protocol ``zoo3d compare`` runs: ``name``'s settings, ``--instances``/``--resolution``, then each
    ``--set KEY=VALUE``: a protocol field (``neus.iterations``, ``epi_frames``) or, for a metric in
    ``metrics`` with its own settings, ``METRIC.KEY``. A key that is neither is refused in one sentence."""
    metrics = metrics or {}
    data = _protocol_data(name, instances, resolution)
    fields = [f for f in Protocol.model_fields if f not in ("name", "metric_settings")]
    own = {n for n, m in metrics.items() if m.settings is not None}
    clash = sorted(own & set(Protocol.model_fields))
    if clash:
        raise UserError(f"Metric '{clash[0]}' declares settings under a name the protocol uses for its own "
                        f"field; rename the metric.")
    protocol_items: list[str] = []
    metric_items: dict[str, list[str]] = {}
    given = {"instances": instances, "resolution": resolution}
    for item in sets:
        path, _ = parse_override(item)
        head = path[0]
        if given.get(head) is not None:  # one of them would win without a word
            raise ConfigError(f"--{head} {given[head]} and --set '{item}' both set the {head}; give it once.")
        if head in fields:
            protocol_items.append(item)
            continue
        metric = _metric_key(head, metrics)
        if metric in own and len(path) > 1:
            metric_items.setdefault(metric, []).append(".".join(path[1:]) + "=" + item.partition("=")[2])
        else:
            raise ConfigError(_unknown_key(item, metric, fields, own, metrics))
    apply_overrides(data, protocol_items)
    protocol = validate(Protocol, data, origin="the protocol (--set)")
    return resolve_metric_settings(protocol, metrics, metric_items)


def departures(protocol: Protocol, metrics: dict[str, "Metric"] | None = None) -> list[str]:
    """Where ``protocol`` departs from the protocol it is named after at its instance count (``--set``,
    ``--resolution``, ``--neus-iterations``), as ``KEY=VALUE`` items spelt as ``--set`` takes them (``epi_frames=10``,
    ``neus.iterations=50``, ``silhouette.yaw=0.4`` for a setting of a metric in ``metrics``), in the protocol's
    order; none where every setting is the named protocol's."""
    named = build_protocol(protocol.name, instances=protocol.instances, metrics=metrics).model_dump(mode="json")
    given = protocol.model_dump(mode="json")
    for data in (named, given):  # a metric's settings are set as METRIC.KEY, not metric_settings.METRIC.KEY
        data.update(data.pop("metric_settings"))
    before = dict(_leaves(named))
    return [f"{key}={value if isinstance(value, str) else json.dumps(value)}"
            for key, value in _leaves(given) if key not in before or value != before[key]]


def _leaves(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) of every setting in a nested dict, in its order."""
    return [leaf for key, value in data.items()
            for leaf in (_leaves(value, f"{prefix}{key}.") if isinstance(value, dict) and value
                         else [(f"{prefix}{key}", value)])]


def _metric_key(head: str, metrics: dict[str, "Metric"]) -> str:
    """The name in ``metrics`` that ``head`` of a ``--set METRIC.KEY=VALUE`` spells as ``--metric`` takes it (any case,
    '-' for '_', an alias of the registered metric), else ``head`` itself."""
    from zoo3d.plugins import get_host
    from zoo3d.specs import normalize_name

    if head in metrics:
        return head
    spec = get_host().metrics.owner(head)
    named = [n for n in metrics if normalize_name(n) == normalize_name(spec.name if spec is not None else head)]
    return named[0] if named else head


def _unknown_key(item: str, head: str, fields: list[str], own: set[str], metrics: dict[str, "Metric"]) -> str:
    if head in own:
        return f"--set '{item}' names metric '{head}' but no key of its settings; use {head}.KEY=VALUE."
    if head == "name":
        return f"--set '{item}': choose the protocol with --protocol."
    if head in metrics:
        return (f"--set '{item}': metric '{head}' has no settings of its own; its knobs are protocol keys "
                f"(docs/metrics.md#protocols).")
    hint = closest(head, [*fields, *own])
    did = f" Did you mean '{hint[0]}'?" if hint else ""
    mine = f"; metric settings: {', '.join(sorted(own))}" if own else ""
    return f"--set '{item}': '{head}' is not a protocol key (protocol keys: {', '.join(fields)}{mine}).{did}"
