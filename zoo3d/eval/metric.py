"""The metric plugin API: what a metric is given, what it returns.

A metric is a class registered through ``zoo3d_register_metrics`` with a
:class:`zoo3d.specs.MetricSpec` whose factory names it. The harness instantiates it
once per ``compare`` run and calls :meth:`Metric.evaluate` once per model with the
same :class:`EvalContext` (same seeds, cameras and protocol for every model).

A metric with knobs of its own declares them as a :attr:`Metric.settings` class; the user sets them with
``zoo3d compare --set NAME.KEY=VALUE`` and the protocol records them, as it records the built-in metrics'
fields. :meth:`Metric.check` runs before any model is loaded, so a missing file fails in a second, not
after an hour of scoring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor

from zoo3d.cameras import Camera


@dataclass
class EvalModel:
    """A model under evaluation (a ``zoo3d.runs.LoadedModel`` has the same attributes).

    Attributes:
        name: the model's registered name (or the name given on the command line).
        generator: a :class:`zoo3d.core.Generator` in eval mode.
        checkpoint: path of the weights, or None for models that need none.
        sha256: hash of the checkpoint file, or None.
        data: the dataset its run was trained on (the run config's ``data.spec``), or None where there is no
            such run (the oracles, an imported release).
        step: the training step its checkpoint was written at, or None (no checkpoint, or not known).
        trained_device: the device its run trained on, as the checkpoint records it (``zoo3d.device``: ``cpu``,
            ``cuda:0 (NVIDIA H100 80GB HBM3)``), or None where there is no such run or it was not recorded.
        steps_cap: the ``--steps`` its run's training stopped at (``zoo3d.steps_cap``): an integer, ``"none"`` for
            a run trained without one, or None where there is no such run or it was not recorded.
        sources: where parts of it came from that its run did not train (:func:`zoo3d.eval.harness.training_record`:
            ``{"generator.lowres": {"checkpoint": ..., "step": ..., "sha256": ...}}``), or None.
        world_size: how many processes trained its run (``zoo3d.world_size``), or None where there is no such run
            or it was not recorded.
        recipe_steps: the length of its run's recipe, every stage's steps uncapped (``step`` of them is where a
            run trained to its end stops), or None where there is no such run.
    """

    name: str
    generator: Any
    checkpoint: str | None = None
    sha256: str | None = None
    data: str | None = None
    step: int | None = None
    trained_device: str | None = None
    steps_cap: int | str | None = None
    sources: dict[str, dict[str, Any]] | None = None
    world_size: int | None = None
    recipe_steps: int | None = None


#: what a metric's ``requires`` may name: it scores a model's images, its depth, or its images against the dataset
REQUIREMENTS = ("images", "depth", "dataset")


class NotApplicable(Exception):
    """Raised by a metric for a model it cannot score (e.g. depth for a model without depth)."""


@dataclass
class EvalContext:
    """Everything a metric may use besides the model; identical for every model of a run.

    Attributes:
        protocol: the protocol settings (``zoo3d.eval.protocol.Protocol``), recorded in the JSON.
        device: where to run.
        seeds: one integer per instance; instance ``i`` uses ``torch.Generator().manual_seed(seeds[i])``.
        out_dir: where to save evidence images (None: save nothing).
        progress: call with the number of finished work units (instances) to advance the bar.
        options: free-form switches from the CLI (``inception`` path, ``data`` spec, ...).
        notes: metrics append human-readable caveats here (shown in the report).
    """

    protocol: Any
    device: torch.device
    seeds: list[int]
    out_dir: Path | None = None
    progress: Callable[[int], None] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    evidence: dict[str, list[str]] = field(default_factory=dict)

    def advance(self, n: int = 1) -> None:
        if self.progress is not None:
            self.progress(n)

    def settings(self, metric: "Metric") -> Any:
        """``metric``'s own settings under this run's protocol (see :meth:`Metric.settings_under`)."""
        return metric.settings_under(self.protocol)

    def evidence_path(self, model: "str | EvalModel", metric: str, name: str) -> Path | None:
        """A file path for an evidence image, registered for the Markdown report (None when not saving).

        ``model`` is the model a metric's ``evaluate`` receives, or its name."""
        if self.out_dir is None:
            return None
        from zoo3d.fileio import make_parent

        model = model if isinstance(model, str) else model.name

        path = Path(self.out_dir) / model / metric / name
        make_parent(path, "evidence image")
        self.evidence.setdefault(f"{model}/{metric}", []).append(str(path))
        return path


class Metric:
    """Base class of a metric plugin.

    Class attributes:
        name: registered name (``neus``).
        keys: result keys it produces (``("neus_psnr", "neus_ssim")``); default ``(name,)``.
        higher_is_better: a bool for every key it returns, or a dict per key; a key the dict leaves
            out (a timing, a control's score) is reported without a direction. None (the base class's): the
            class does not say, and its :class:`~zoo3d.specs.MetricSpec` must, or the metric's factory fails.
        requires: what it scores, from :data:`REQUIREMENTS`: ``"images"`` (rgb), ``"depth"``, ``"dataset"`` (a
            distance to ``--data``: the report notes a model whose run was trained on other data).
        units: per-instance work units for the progress bar (``"instances"`` or ``"one"``).
        settings: a :class:`zoo3d.config.Config` subclass of the metric's own knobs, or None. Each is set
            with ``zoo3d compare --set NAME.KEY=VALUE``, recorded in the JSON ``protocol.metric_settings``,
            and read in :meth:`evaluate` with ``ctx.settings(self)``.
        protocol_settings: per protocol name (``small``, ``paper``), that protocol's departures from the
            ``settings`` defaults (``{"paper": {"patches": 4096}}``).
    """

    name: str = ""
    keys: tuple[str, ...] = ()
    higher_is_better: bool | dict[str, bool] | None = None
    requires: tuple[str, ...] = ("images",)
    units: str = "instances"
    settings: ClassVar[type | None] = None
    protocol_settings: ClassVar[dict[str, dict[str, Any]]] = {}

    def settings_under(self, protocol: Any) -> Any:
        """This metric's :attr:`settings` instance under ``protocol``: what the protocol resolved for it
        (:func:`zoo3d.eval.protocol.resolve_metric_settings`), else the defaults for the protocol's name."""
        if self.settings is None:
            raise TypeError(f"metric '{self.name}' declares no settings class")
        stored = getattr(protocol, "metric_settings", {}).get(self.name)
        if stored is None:
            stored = self.protocol_settings.get(getattr(protocol, "name", ""), {})
        return self.settings.model_validate(stored)

    def check(self, protocol: Any, options: dict[str, Any]) -> None:
        """Pre-flight, before any model is loaded: raise :class:`zoo3d.errors.UserError` with one sentence for
        what would make :meth:`evaluate` fail later (a missing weights file, an unreadable dataset).
        ``options`` are the CLI switches (``data``, ``inception``)."""

    def result_keys(self) -> tuple[str, ...]:
        return self.keys or (self.name,)

    def better(self, key: str) -> bool | None:
        """Whether a higher ``key`` is better; None where the metric gives the key no direction."""
        h = self.higher_is_better
        return h.get(key) if isinstance(h, dict) else None if h is None else bool(h)

    def work_units(self, ctx: EvalContext) -> int:
        return len(ctx.seeds) if self.units == "instances" else 1

    def evaluate(self, model: EvalModel, ctx: EvalContext) -> dict[str, list[float]]:
        """Score ``model``: each key maps to one value per instance (or one value overall)."""
        raise NotImplementedError

    def protocol_info(self, ctx: EvalContext) -> dict[str, Any]:
        """Settings this metric adds to the JSON ``protocol`` block."""
        return {}


def summarize(values: list[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (0 for n = 1) and n of the finite values; ``values`` keeps one entry
    per instance, in order (None where it was not finite), so it stays aligned with the protocol's seeds."""
    values = [float(v) if v is not None and math.isfinite(float(v)) else None for v in values]
    vals = [v for v in values if v is not None]
    n = len(vals)
    if n == 0:
        return {"mean": None, "std": None, "n": 0, "values": values}
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n, "values": values}


# ------------------------------------------------------------------------------------- generation

def instance_generator(seed: int) -> torch.Generator:
    """The CPU random generator of one instance: the same latents on every device and every model."""
    return torch.Generator().manual_seed(int(seed))


def instance_latent(generator, seed: int, device) -> Tensor:
    """z (1, z_dim) of the instance with this seed."""
    return generator.sample_z(1, generator=instance_generator(seed), device=device)


@torch.no_grad()
def _foreground_depth(out) -> Tensor | None:
    """:meth:`RenderOutput.foreground_depth_sum` of a render, or the ``extras["foreground_depth"]`` of an output of
    another type (a stand-in without the method)."""
    if hasattr(out, "foreground_depth_sum"):
        return out.foreground_depth_sum()
    return (getattr(out, "extras", None) or {}).get("foreground_depth")


def render_instance(generator, z: Tensor, cameras: Camera, resolution: int, psi: float = 1.0,
                    chunk: int = 8) -> dict[str, Tensor | None]:
    """Render one latent ``z`` (1, z_dim) under every camera, ``chunk`` views at a time.

    The latent is repeated per view (``represent(z.expand(B, -1))``) so any generator works
    without knowing how its representation batches.
    Returns ``{"rgb": (V, 3, R, R) in [-1, 1], "depth": (V, 1, R, R) distance along the ray or None,
    "alpha": (V, 1, R, R) in [0, 1] or None, "foreground_depth": the foreground's own depth sum
    (:meth:`~zoo3d.core.outputs.RenderOutput.foreground_depth_sum`: without a background layer or the weight a
    filled last sample takes) or None}`` (see :class:`zoo3d.core.outputs.RenderOutput`).
    """
    outs: dict[str, list] = {"rgb": [], "depth": [], "alpha": [], "foreground_depth": []}
    for start in range(0, len(cameras), chunk):
        cams = cameras[start:start + chunk].to(device=z.device)
        rep = generator.represent(z.expand(len(cams), -1), psi)
        out = generator.render(rep, cams, (resolution, resolution))
        for k in outs:
            v = _foreground_depth(out) if k == "foreground_depth" else getattr(out, k, None)
            outs[k].append(None if v is None else v.float())
    return {k: (None if any(x is None for x in v) else torch.cat(v)) for k, v in outs.items()}


def protocol_cameras(generator, protocol, n: int | None = None, yaw_range: float | None = None) -> Camera:
    """The protocol's yaw sweep (``n`` views, default ``protocol.views``, over ±``yaw_range``, default
    ``protocol.yaw_range``) around the generator's centre view, at its camera radius and field of view.

    The sweep is taken about the front at pitch 0 and turned rigidly to the prior's centre view
    (``yaw_mean``, ``centre_pitch`` + ``protocol.pitch``), so a model trained on cars seen from above
    (CARLA, ShapeNet) is scored from the views it learnt, as a face model is from the front, and the views
    share one up axis, which keeps an image row on one epipolar plane for ``epi``. For a prior centred on
    the front (the face presets) and the default pitch 0 the turn is the identity."""
    from zoo3d.cameras import turned_to_view, yaw_sweep

    prior = generator.camera_prior
    rig = yaw_sweep(n or protocol.views, protocol.yaw_range if yaw_range is None else yaw_range,
                    pitch=0.0, radius=prior.radius, fov=prior.fov)
    return turned_to_view(rig, prior.yaw_mean, prior.centre_pitch + protocol.pitch)


def model_resolution(generator, protocol_resolution: int | None) -> int:
    """The protocol's resolution, or the generator's own when the protocol says ``None``."""
    if protocol_resolution:
        return int(protocol_resolution)
    res = getattr(generator, "resolution", 64)
    return int(res[0] if isinstance(res, (tuple, list)) else res)


def strictly_consistent(generator) -> bool:
    return bool(getattr(generator, "strictly_3d_consistent", True))


def note_upsampler(model: EvalModel, ctx: EvalContext, scores: str) -> None:
    """Note in the report that ``model`` is not strictly 3D-consistent (a 2D upsampler, or what its generator's
    ``inconsistency`` names), saying what the metric ``scores`` of it; nothing for a strictly consistent model."""
    if not strictly_consistent(model.generator):
        why = getattr(model.generator, "inconsistency", "2D upsampler")
        ctx.notes.append(f"{model.name}: not strictly 3D-consistent ({why}); {scores}.")
