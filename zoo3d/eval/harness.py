"""The compare harness: load models, run metrics under one protocol, write JSON and Markdown.

Every model sees the same seeds, cameras and protocol; the run is seeded and uses
deterministic algorithms, so a CPU run gives the same numbers twice.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import torch

from zoo3d.errors import PluginError, UserError
from zoo3d.eval.metric import EvalContext, EvalModel, Metric, NotApplicable, model_resolution, summarize
from zoo3d.eval.protocol import PROTOCOLS, Protocol, departures, resolve_metric_settings


def load_eval_model(name: str, checkpoint: str | None, device) -> EvalModel:
    """The :class:`~zoo3d.eval.metric.EvalModel` of model ``name`` from ``checkpoint`` (``--ckpt``) or its newest run,
    or built directly when it needs no checkpoint.

    A model with neither raises the UserError of :func:`zoo3d.runs.resolve_checkpoint`, which
    names the ``zoo3d train`` command that would create the run.
    """
    from zoo3d.runs import load_model

    loaded = load_model(checkpoint, model=name, device=str(device))
    gen = loaded.generator.eval()
    gen.requires_grad_(False)
    return EvalModel(name=loaded.spec.name, generator=gen,
                     checkpoint=str(loaded.checkpoint) if loaded.checkpoint else None, sha256=loaded.sha256,
                     **training_record(loaded))


#: what :func:`training_record` tells of a run, under the names of an :class:`EvalModel`'s attributes and of the
#: compare JSON's ``provenance``
RECORD_KEYS = ("data", "step", "recipe_steps", "world_size", "trained_device", "steps_cap", "sources")


def training_record(model) -> dict[str, Any]:
    """How ``model``'s run was trained, from one read of its checkpoint's metadata: the dataset (the run config's
    ``data.spec``), the step the checkpoint was written at (``zoo3d.step``), the length of the run's recipe (every
    stage's steps, before a ``--steps`` cap), how many processes trained it (``zoo3d.world_size``), the device they
    trained on (``zoo3d.device``) and the ``--steps`` cap it ran under (``zoo3d.steps_cap``: an integer, ``"none"``
    for a run without one), keyed by :data:`RECORD_KEYS`. An :class:`EvalModel` carries what it was given; a
    :class:`zoo3d.runs.LoadedModel` is read. All None for a model without a checkpoint (the oracles); all but the
    step None for an imported release (the authors' run, whose config names its preset's data and recipe rather than
    the authors'), and, processes, device and cap, for a checkpoint written before zoo3d recorded them. ``sources``:
    where parts of the model came from that its run did not train (:func:`trained_from`), None where nothing is
    recorded."""
    config, checkpoint = getattr(model, "config", None), getattr(model, "checkpoint", None)
    if checkpoint is None:
        return {**{key: getattr(model, key, None) for key in RECORD_KEYS}, "step": None}
    if getattr(model, "data", None) is not None or config is None:  # an EvalModel
        return {key: getattr(model, key, None) for key in RECORD_KEYS}
    from zoo3d.train.checkpoint import read_metadata

    meta = read_metadata(checkpoint)
    record = dict.fromkeys(RECORD_KEYS)
    record["step"] = getattr(model, "step", None)
    record["sources"] = trained_from(json.loads(meta.get("zoo3d.state", "{}")))
    if "zoo3d.imported_from" in meta:
        return record
    cap, world = meta.get("zoo3d.steps_cap"), meta.get("zoo3d.world_size")
    plugin = getattr(model, "plugin", None)
    return {**record, "data": config.data.spec, "world_size": None if world is None else int(world),
            "recipe_steps": None if plugin is None else sum(stage.steps for stage in plugin.stages(config)),
            "trained_device": meta.get("zoo3d.device"),
            "steps_cap": int(cap) if cap is not None and cap.isascii() and cap.isdigit() else cap}


#: the prefix of the training-state entries (``zoo3d.state``) that name where a part of the model came from
SOURCES = "sources."


def trained_from(state: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """Where parts of a model came from that its run did not train, from its checkpoint's training state
    (``sources.<part>.<field>``: GRAM-HD's ``generator.lowres`` from ``generator.lowres_run``, its ``checkpoint``,
    ``step`` and ``sha256``), by part; None where nothing is recorded."""
    parts: dict[str, dict[str, Any]] = {}
    for key, value in sorted(state.items()):
        if key.startswith(SOURCES) and "." in key[len(SOURCES):]:
            part, field = key[len(SOURCES):].rsplit(".", 1)
            parts.setdefault(part, {})[field] = value
    return parts or None


def same_dataset(a: str, b: str) -> bool:
    """Whether two data specs name one dataset: one registered dataset (aliases and the options after '?', which
    set its size, seed or poses, aside) or one folder or zip, however its path is written."""
    from zoo3d.data.dataset import parse_spec
    from zoo3d.plugins import get_host

    datasets = get_host().datasets

    def identity(spec: str) -> tuple[str, str]:
        name = parse_spec(spec)[0]
        if name in datasets:
            return "registered", datasets.get(name).name
        return "path", os.path.realpath(os.path.expanduser(spec))

    return identity(a) == identity(b)


def load_metrics(names: list[str]) -> dict[str, Metric]:
    """``{name: Metric}``, what :func:`compare_models` takes: the metrics ``names`` (a list; aliases too) mean, keyed
    by their registered names in the order given, each named so (its ``name``) whatever its class calls itself, and
    pointing the way its spec gives unless its class says. A metric named twice is refused: the results are keyed by
    metric, so the second was dropped without a word."""
    from zoo3d.plugins import get_metric_spec

    if isinstance(names, str):  # iterated, its first letter was looked up as a metric ("Unknown metric 'd'")
        raise UserError(f"load_metrics({names!r}) is given one text; give a list of names, such as "
                        f"load_metrics({names.split(',')!r}).")
    metrics, spelled = {}, {}
    for n in names:
        spec = get_metric_spec(n)
        if spec.name in metrics:
            both = "" if spelled[spec.name] == n else f" (as '{spelled[spec.name]}' and '{n}')"
            raise UserError(f"The metric '{spec.name}' is named twice{both}; name each metric once.")
        spelled[spec.name] = n
        metric = spec.load()
        # the registered name, as --metric and --set NAME.KEY spell it: its settings are resolved under it, and a class
        # naming itself otherwise read its defaults in silence where --set had changed them
        metric.name = spec.name
        direction = getattr(spec, "higher_is_better", None)
        if direction is not None and getattr(metric, "higher_is_better", None) is None:  # its class's own wins
            metric.higher_is_better = direction
        metrics[spec.name] = metric
    refuse_shared_keys(metrics)
    return metrics


def refuse_shared_keys(metrics: dict[str, Metric], owners: dict[str, str] | None = None) -> dict[str, str]:
    """Which metric reports each result key (:meth:`~zoo3d.eval.metric.Metric.result_keys`), added to ``owners``;
    two metrics of one key are refused: the results are keyed by it, and the later one's values and direction
    replaced the earlier one's without a word."""
    owners = {} if owners is None else owners
    for name, metric in metrics.items():
        declared = getattr(metric, "result_keys", None)  # an object without Metric's methods declares nothing
        for key in declared() if declared is not None else ():
            claim_key(owners, key, name)
    return owners


def claim_key(owners: dict[str, str], key: str, metric: str) -> None:
    """Record that ``metric`` reports ``key``; refused where another metric of the comparison reports it."""
    first = owners.setdefault(key, metric)
    if first != metric:
        raise UserError(f"Metrics '{first}' and '{metric}' both report a result named '{key}', and one would replace "
                        f"the other; give the key of one of them another name.")


def _numbers(values: Any) -> bool:
    """Whether ``values`` is a sequence of numbers (None standing for one that is not finite), as ``summarize`` reads."""
    if isinstance(values, (str, bytes, Mapping)):
        return False
    try:
        for v in list(values):  # a float, a 0-d tensor: not iterable
            if isinstance(v, (str, bytes)):
                return False
            if v is not None:
                float(v)
    except (TypeError, ValueError, RuntimeError):  # not iterable, or an item that is no number
        return False
    return True


def evaluated(name: str, raw: Any, method: str = "evaluate") -> tuple[dict[str, Any], dict[str, Any]]:
    """A metric's ``evaluate`` result (or what its ``method`` returned: a distribution metric's ``score_sets``) as
    (``{key: values}``, its ``_meta``), or one sentence naming the metric and its plugin where it is not ``{key:
    [values...]}`` (None, one number for a key), rather than a traceback from inside the report's summary."""
    what = None
    if not isinstance(raw, Mapping):
        what = _shown(raw)
    elif not isinstance(raw.get("_meta", {}), Mapping):
        what = f"a '_meta' that is a {type(raw['_meta']).__name__}, not a dict"
    else:
        bad = [k for k, v in raw.items() if k != "_meta" and (not isinstance(k, str) or not _numbers(v))]
        if bad:  # a key that is no text (None, an instance's index) is named as such, not by its values
            what = f"{_shown(raw[bad[0]])} for '{bad[0]}'" if isinstance(bad[0], str) else \
                f"a key that is no text ({_shown(bad[0])})"
    if what is None:
        meta = dict(raw.get("_meta", {}))
        recordable(name, meta, f"a '_meta' from {method}")
        return {k: v for k, v in raw.items() if k != "_meta"}, meta
    from zoo3d.plugins import get_host

    raise PluginError(f"{get_host().metrics.named(name)} returned {what} from {method}; it returns {{key: [one number "
                      f"per instance, or one in all]}} (docs/metrics.md, Writing a metric plugin).")


def recordable(name: str, value: dict[str, Any], what: str) -> dict[str, Any]:
    """``value``, which metric ``name`` gave for the JSON report (its ``_meta``, its ``protocol_info``), or one sentence
    naming the metric and its plugin where JSON cannot hold it (a path, a tensor), rather than a traceback when the
    report is written, after every model was scored."""
    from zoo3d.fileio import json_text
    from zoo3d.plugins import get_host

    try:
        json_text(value)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"{get_host().metrics.named(name)} returned {what} that JSON cannot hold ({exc}); give "
                          f"numbers, text, lists and dicts (str(path), tensor.tolist()).") from None
    return value


def _shown(value: Any) -> str:
    """A returned value as a refusal shows it: short, its type where its text would be long."""
    text = repr(value)
    return text if len(text) <= 40 else f"a {type(value).__name__}"


def preflight(metrics: dict[str, Metric], protocol: Protocol, options: dict[str, Any]) -> None:
    """Every metric's :meth:`~zoo3d.eval.metric.Metric.check`, before any model is loaded or trained."""
    for metric in metrics.values():
        metric.check(protocol, options)


@contextmanager
def reproducible(seed: int, device: torch.device):
    """Seed torch for a compare run, with float32 its default dtype (the command's numbers, whatever default a
    notebook set: NeuS fits and the metrics' tensors made in float64 scored otherwise) and autograd on (a NeuS fit
    under a notebook's no_grad or inference_mode had no gradient to step on); on CUDA also ask for deterministic
    kernels (warn-only).

    CPU kernels used here are deterministic already; the switch is not touched there because it
    imports torch's compiler stack (seconds of start-up) for nothing.
    """
    from zoo3d.devices import float32_default

    cuda = device.type == "cuda"
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[device] if cuda else []), float32_default(), torch.inference_mode(False), \
            torch.enable_grad():
        torch.manual_seed(seed)
        if cuda:
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            if cuda:  # both switches as the caller had them: (True, warn_only=True) stays a warning, not an error
                torch.use_deterministic_algorithms(previous, warn_only=previous_warn_only)


@contextmanager
def in_eval_mode(generators: list):
    """Every generator in eval mode while it is scored, as the command loads it, then each of its modules in the mode it
    had: a model a notebook left in training mode (fine-tuned after ``requires_grad_(True)``) rendered as it trains
    (pi-GAN's training-time sampling, StyleSDF's fresh noise), and its epi moved from 51.4 to 81.5 on a tiny pi-GAN."""
    modules = [g for g in generators if isinstance(g, torch.nn.Module)]
    training = [m for g in modules for m in g.modules() if m.training]
    for g in modules:
        g.eval()
    try:
        yield
    finally:
        for m in training:  # each alone: Module.train() would set every module under it too
            m.training = True


def total_work(models: list[EvalModel], metrics: dict[str, Metric], ctx: EvalContext) -> int:
    return len(models) * sum(m.work_units(ctx) for m in metrics.values())


def refuse_models_elsewhere(models: list[EvalModel], device: torch.device) -> None:
    """A model whose weights lie on another device than the comparison's (loaded with ``load_model``'s default
    ``auto``, on the GPU, and compared on ``"cpu"``) is refused in one sentence before anything is scored: the metrics
    draw latents and cameras on ``device``, and the first render failed in torch with tensors on two devices. A
    generator without weights (a procedural one, or one that is no torch module) renders on any device."""
    from zoo3d.devices import device_index

    for model in models:
        gen = model.generator
        weights = itertools.chain(gen.parameters(), gen.buffers()) if isinstance(gen, torch.nn.Module) else iter(())
        held = next(weights, None)
        if held is None:
            continue
        at = held.device  # "cuda" compares as torch's current GPU: a model on cuda:1 is elsewhere
        if (at.type, device_index(at)) != (device.type, device_index(device)):
            raise UserError(f"Model '{model.name}' is on device '{at}' and the comparison runs on '{device}'; load it "
                            f"there (load_model(..., device='{device}')) or compare on '{at}'.")


def compare_models(models: list[EvalModel], metrics: dict[str, Metric], protocol: Protocol, device,
                   out_dir: str | Path | None = None, options: dict[str, Any] | None = None,
                   progress: Callable[[int], None] | None = None,
                   on_model: Callable[[str, str], None] | None = None) -> dict[str, Any]:
    """Run every metric on every model; returns the JSON-ready result (see docs/metrics.md).

    The result is keyed by model name, so two models of one name (two runs of a model, loaded as they are) are
    refused before anything is scored: give each ``EvalModel`` a name of its own. A metric that raises on a model
    (out of memory, a plugin's bug; not a :class:`~zoo3d.errors.UserError` or an ``OSError``, which stop the
    comparison) fails that model's entries of it (``"failed"``: the exception and where it was raised); every other
    metric and model is scored. ``device`` is a name as ``--device`` takes it (``auto`` included) or a
    ``torch.device``; ``out_dir``, where the metrics write their evidence images, reads a leading ``~`` as the home
    folder."""
    from zoo3d.devices import resolve_device

    # the names themselves, or a protocol's: an AttributeError ('list' object has no attribute 'items') came back
    if not isinstance(metrics, Mapping):
        names = list(metrics) if isinstance(metrics, (list, tuple)) and all(isinstance(n, str) for n in metrics) \
            else ["depth"]
        raise UserError(f"compare_models takes its metrics as load_metrics gives them, such as "
                        f"load_metrics({names!r}), not a {type(metrics).__name__}.")
    if not isinstance(protocol, Protocol):
        name = protocol if isinstance(protocol, str) else "small"
        raise UserError(f"compare_models takes a protocol as make_protocol gives it, such as make_protocol({name!r}), "
                        f"not a {type(protocol).__name__}.")
    device = resolve_device(device)  # "auto", and a device this machine lacks in one sentence, as the command says
    names = [model.name for model in models]
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        raise UserError(f"Two of the models to compare are named '{twice}', and the results are keyed by name; "
                        f"give each a name of its own (EvalModel(name, generator, ...)).")
    refuse_models_elsewhere(models, device)
    protocol = resolve_metric_settings(protocol, metrics)  # recorded in full, defaults included
    advanced = [0]  # work units done: a metric that stops half way has its remaining units counted for it

    def advance(n: int) -> None:
        advanced[0] += n
        if progress is not None:
            progress(n)

    ctx = EvalContext(protocol=protocol, device=device, seeds=protocol.seeds,
                      out_dir=Path(out_dir).expanduser() if out_dir else None,  # "~/ev": the home folder's, not ./~
                      progress=advance, options=dict(options or {}))
    owners = refuse_shared_keys(metrics)  # and, below, the keys a metric reports without declaring them
    results: dict[str, dict[str, Any]] = {}
    provenance: dict[str, dict[str, Any]] = {}
    directions: dict[str, bool | None] = {}
    with reproducible(protocol.seed_start, ctx.device), in_eval_mode([model.generator for model in models]):
        for model in models:
            torch.manual_seed(protocol.seed_start)  # each model from the same state, whichever ran before it
            gen = model.generator
            results[model.name] = {}
            provenance[model.name] = {
                "checkpoint": None if model.checkpoint is None else str(model.checkpoint), "sha256": model.sha256,
                "resolution": model_resolution(gen, protocol.resolution), "seeds": protocol.seeds,
                "strictly_3d_consistent": bool(getattr(gen, "strictly_3d_consistent", True)),
                **training_record(model),
            }
            if provenance[model.name]["sources"] is None:
                del provenance[model.name]["sources"]
            scored_on_data = []  # the metrics that scored this model against the dataset
            for metric_name, metric in metrics.items():
                if on_model is not None:
                    on_model(model.name, metric_name)
                before = advanced[0]
                try:
                    raw = metric.evaluate(model, ctx)
                except NotApplicable as exc:
                    unscored = {"not_applicable": str(exc)}
                except (UserError, OSError):  # the user's to mend (a file, the disk): the comparison stops
                    raise
                except Exception as exc:  # out of memory, a plugin's bug: this model's cells of it fail, not the rest
                    from zoo3d.specs import describe_exception

                    # RuntimeError: CUDA out of memory. … (its file:line)
                    unscored = {"failed": describe_exception(exc)}
                else:
                    unscored = None
                if unscored is not None:
                    for key in metric.result_keys():
                        results[model.name][key] = {**summarize([]), **unscored}
                        directions[key] = metric.better(key)
                    ctx.advance(max(0, metric.work_units(ctx) - (advanced[0] - before)))
                    continue
                raw, meta = evaluated(metric_name, raw)
                for key, values in raw.items():
                    claim_key(owners, key, metric_name)
                    results[model.name][key] = {**summarize(values), **meta}
                    directions[key] = metric.better(key)
                if "dataset" in getattr(metric, "requires", ()):
                    scored_on_data.append(metric_name)
            trained, data = provenance[model.name]["data"], ctx.options.get("data", "synthetic:heads")
            if scored_on_data and trained is not None and not same_dataset(trained, data):
                # a distance to data the model never saw, read as its own distance without a word
                ctx.notes.append(f"{', '.join(scored_on_data)} of {model.name}: its run was trained on '{trained}', "
                                 f"not on '{data}', the dataset it is scored against (--data).")
    proto_block = protocol.model_dump()
    proto_block["seeds"] = protocol.seeds
    proto_block["device"] = str(device)
    proto_block["torch"] = torch.__version__
    proto_block["metrics"] = {n: _protocol_info(n, m, ctx) for n, m in metrics.items()}
    # what departs from the protocol the name says (--set, --resolution): a reader of the name took its settings
    proto_block["changed"] = departures(protocol, metrics) if protocol.name in PROTOCOLS else None
    return {"models": results, "protocol": proto_block, "provenance": provenance,
            "higher_is_better": {k: d for k, d in directions.items() if d is not None},
            "notes": sorted(set(ctx.notes)),
            "evidence": ctx.evidence}


def _protocol_info(name: str, metric: Metric, ctx: EvalContext) -> dict[str, Any]:
    """``metric``'s :meth:`~zoo3d.eval.metric.Metric.protocol_info` for the JSON, or ``{"failed": …}`` and a note
    where it raises (a plugin's bug): asked once every model was scored, its traceback lost every number."""
    try:
        info = metric.protocol_info(ctx)
    except (UserError, OSError):
        raise
    except Exception as exc:
        from zoo3d.specs import describe_exception

        ctx.notes.append(f"{name}: its protocol_info raised {describe_exception(exc)}; the protocol block holds no "
                         f"settings of it.")
        return {"failed": describe_exception(exc)}
    return recordable(name, info, "a protocol_info")


def merge_results(parts: list[dict[str, Any]], order: list[str] | None = None) -> dict[str, Any]:
    """One result from ``compare_models`` results of disjoint model sets run under the same protocol.

    Every metric seeds each instance itself, and torch's global stream is reseeded for each model,
    so a model scores the same whichever models shared its run; runs under different protocols (or metrics, devices) are refused rather than mixed.
    """
    if not parts:
        raise ValueError("merge_results needs at least one result")
    protocol = parts[0]["protocol"]
    merged: dict[str, Any] = {"models": {}, "protocol": protocol, "provenance": {}, "higher_is_better": {},
                              "notes": [], "evidence": {}}
    for part in parts:
        if part["protocol"] != protocol:
            raise UserError("Cannot merge compare results run under different protocols, metrics or devices.")
        overlap = set(part["models"]) & set(merged["models"])
        if overlap:
            raise UserError(f"Cannot merge compare results that both score {sorted(overlap)[0]}.")
        for key in ("models", "provenance", "higher_is_better", "evidence"):
            merged[key].update(part.get(key, {}))
        merged["notes"] = sorted(set(merged["notes"]) | set(part.get("notes", [])))
    if order is not None:
        rank = {name: i for i, name in enumerate(order)}
        for key in ("models", "provenance"):
            merged[key] = dict(sorted(merged[key].items(), key=lambda kv: rank.get(kv[0], len(rank))))
    return merged


def direction_arrow(result: dict[str, Any], key: str) -> str:
    """" ↑" / " ↓" after a column whose key has a direction in ``result``; nothing for one without."""
    better = result["higher_is_better"].get(key)
    return "" if better is None else (" ↑" if better else " ↓")


def significant(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant figures without an exponent for large numbers (147 at 2 digits is
    ``150``, not ``1.5e+02``; a 12345 ms timing at 4 is ``12350``); small ones keep ``%g``'s form."""
    text = f"{value:.{digits}g}"
    if "e+" in text:
        return f"{float(text):.0f}"
    return text


def format_value(entry: dict[str, Any]) -> str:
    """``mean ± std (n=N)``; one value (a distribution metric over its image set, one instance) has no spread
    to show, so it reads ``mean (n=1)`` rather than a misleading ``± 0``."""
    if entry.get("not_applicable"):
        return "n/a"
    if entry.get("failed"):
        return "failed"
    if entry.get("mean") is None:
        return "-"
    text = significant(entry["mean"], 4)
    if entry.get("n", 0) != 1:
        text += f" ± {significant(entry['std'], 2)}"
    if entry.get("comparable") is False:
        text += " (not comparable)"
    return f"{text} (n={entry['n']})"


def not_applicable_lines(result: dict[str, Any]) -> list[str]:
    """Why each "n/a" or "failed" cell of the table is one, a line per model and reason under the table (``n/a: depth
    of flat: flat renders no depth/alpha``, ``failed: neus_psnr, neus_ssim of gram: RuntimeError: CUDA out of memory
    (…)``); the reason was in the JSON's ``not_applicable`` alone, and a failed metric stopped the comparison."""
    return [f"{kind}: {line}" for kind, field in (("n/a", "not_applicable"), ("failed", "failed"))
            for line in _cell_reasons(result, field)]


def failures(result: dict[str, Any]) -> list[str]:
    """What failed in a comparison, read from the result: each metric that raised on a model (``neus_psnr, neus_ssim
    of gram: RuntimeError: …``) and each metric whose ``protocol_info`` raised (``protocol_info of neus: …``); empty
    when the comparison is whole. ``zoo3d compare`` exits 1 on any."""
    infos = result.get("protocol", {}).get("metrics", {})
    return _cell_reasons(result, "failed") + [f"protocol_info of {name}: {info['failed']}"
                                              for name, info in infos.items() if isinstance(info, dict)
                                              and set(info) == {"failed"} and isinstance(info["failed"], str)]


def _cell_reasons(result: dict[str, Any], field: str) -> list[str]:
    """``KEYS of MODEL: REASON`` for the table's cells whose entry holds ``field`` (``not_applicable``, ``failed``),
    the keys a model shares a reason for on one line."""
    reasons: dict[tuple[str, str], list[str]] = {}
    for name, row in result["models"].items():
        for key, entry in row.items():
            if entry.get(field):
                reasons.setdefault((name, str(entry[field])), []).append(key)
    return [f"{', '.join(keys)} of {name}: {reason}" for (name, reason), keys in reasons.items()]


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    """The result as standard JSON (:func:`zoo3d.fileio.json_text`): a number that is not finite (a NaN model's
    per-level ``swd`` or ``diversity`` groups, beside its null values) is written as null."""
    from zoo3d.fileio import json_text, write_text_atomic

    return write_text_atomic(path, json_text(result), "results")


def _training_length(prov: dict[str, Any]) -> str:
    """How far a model's run trained, as its provenance line in the Markdown report says it: `` at step 200 of its
    recipe's 20000 (1 process)`` (nothing where the provenance does not know: no run, an older result)."""
    from zoo3d.errors import counted

    if prov.get("step") is None:
        return ""
    text = f" at step {prov['step']}"
    if prov.get("recipe_steps") is not None:
        text += f" of its recipe's {prov['recipe_steps']}"
    if prov.get("world_size") is not None:
        text += f" ({counted(prov['world_size'], 'process', 'processes')})"
    return text


def write_markdown(result: dict[str, Any], path: str | Path, command: str = "") -> Path:
    """A report: the table, the protocol, notes, and per model the evidence images (paths relative)."""
    path = Path(path)
    models = result["models"]
    keys = list(dict.fromkeys(k for r in models.values() for k in r))
    arrows = {k: direction_arrow(result, k) for k in keys}
    lines = ["# zoo3d compare", ""]
    if command:
        lines += ["```", command, "```", ""]
    lines += ["| model | " + " | ".join(k + arrows[k] for k in keys) + " |",
              "|---" * (len(keys) + 1) + "|"]
    for name, row in models.items():
        lines.append(f"| {name} | " + " | ".join(format_value(row[k]) if k in row else "-" for k in keys) + " |")
    footnotes = not_applicable_lines(result)
    lines += ["", *[f"- {line}" for line in footnotes], *([""] if footnotes else []),
              "Values are mean ± standard deviation over instances (n); speed's over timing repeats.", ""]
    if result.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in result["notes"]] + [""]
    # the whole block, the NeuS fit's and each metric's settings (its --data among them) included: what produced
    # the numbers
    changed = result["protocol"].get("changed")
    if changed:  # the name alone, "small", claimed that protocol's settings
        lines += ["## Protocol", "", f"The `{result['protocol']['name']}` protocol changed to "
                  + ", ".join(f"`{item}`" for item in changed) + "; all of it:", ""]
    else:
        lines += ["## Protocol", ""]
    lines += ["```json", json.dumps(result["protocol"], indent=1), "```", ""]
    lines += ["## Provenance", ""]
    for name, prov in result["provenance"].items():
        trained = _training_length(prov)
        trained += f", trained on `{prov['data']}`" if prov.get("data") else ""
        if prov.get("trained_device") is not None:
            trained += f", trained on device `{prov['trained_device']}`"
        if prov.get("steps_cap") is not None:
            trained += f", --steps cap `{prov['steps_cap']}`"
        for part, source in (prov.get("sources") or {}).items():
            trained += (f", `{part}` from `{source.get('checkpoint')}` (step {source.get('step')}, sha256 "
                        f"`{source.get('sha256')}`)")
        # a model built without weights (the oracles) read "checkpoint `None`, sha256 `None`"
        weights = f"no checkpoint{trained}" if prov["checkpoint"] is None else \
            f"checkpoint `{prov['checkpoint']}`{trained}, sha256 `{prov['sha256']}`"
        lines.append(f"- **{name}**: {weights}, resolution {prov['resolution']}, seeds {prov['seeds']}")
    lines.append("")
    if result.get("evidence"):
        lines += ["## Evidence", ""]
        for group, files in result["evidence"].items():
            lines += [f"### {group}", ""]
            for f in files:
                rel = os.path.relpath(f, path.parent)
                lines.append(f"![{Path(f).stem}]({rel})")
            lines.append("")
    from zoo3d.fileio import write_text_atomic

    return write_text_atomic(path, "\n".join(lines), "report")
