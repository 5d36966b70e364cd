"""What plugins register: small, import-free descriptions of models, metrics and datasets.

A spec names its implementation by an import string (``"package.module:attr"``) so that
listing and ``--help`` never import torch-heavy code; :meth:`load` imports it on first use.
The host fills ``plugin``, ``source`` and ``version`` when the spec is registered.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


def normalize_name(name: str) -> str:
    """Names match case-insensitively with '-' and '_' equal: ``GRAM-HD`` == ``gram_hd``."""
    return name.strip().lower().replace("-", "_")


def import_object(target: str | Callable | Any) -> Any:
    """Resolve ``"package.module:attr"`` (or return a non-string target unchanged)."""
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def describe_exception(exc: BaseException) -> str:
    """``ImportError: No module named 'x'`` (first line only; the file and line of a raise inside plugin code): how a
    plugin's exception is named in one line where it is reported, not raised (a factory that fails, a metric that
    fails on a model in ``zoo3d compare``)."""
    import traceback

    first = (str(exc).strip().splitlines() or [""])[0]
    frames = traceback.extract_tb(exc.__traceback__)
    inner = [f for f in frames if "importlib" not in f.filename and not f.filename.endswith("specs.py")]
    where = f" ({inner[-1].filename}:{inner[-1].lineno})" if inner else ""
    return f"{type(exc).__name__}: {first}{where}" if first else f"{type(exc).__name__}{where}"


@dataclass
class _Spec:
    name: str
    factory: str | Callable | Any
    aliases: tuple[str, ...] = ()
    summary: str = ""
    plugin: str = ""
    source: str = ""
    version: str = ""

    #: what the kind of spec is called in messages, and the type its factory must give (checked lazily)
    kind_label = "implementation"
    #: a class the factory names is instantiated without arguments (False: the class is the factory itself)
    instantiate_classes = True

    def expected_type(self) -> type | None:
        return None

    #: the fields that hold a tuple of names
    name_tuples = ("aliases",)
    #: what a name or alias may hold: it names run folders and is written in option values (``--models a,b``,
    #: ``--ckpt NAME=PATH``, ``--set METRIC.KEY=VALUE``), so no separator, space or path character
    name_pattern = r"[A-Za-z0-9][A-Za-z0-9_-]*"
    name_characters = "letters, digits, '-' and '_'"

    def problem(self) -> str | None:
        """What is wrong with the spec itself, as one sentence, or None: names given as one text instead of a
        tuple (``aliases=("eg3d")`` is the text 'eg3d', whose letters would be the names), or a name or alias
        with a character outside :attr:`name_pattern`."""
        import re

        for what in self.name_tuples:
            value = getattr(self, what)
            if isinstance(value, str):
                return (f"{self.kind_label} '{self.name}' gives {what} as the text '{value}'; give a tuple of names, "
                        f"{what}=('{value}',).")
        for i, name in enumerate((self.name, *self.aliases)):
            if not isinstance(name, str) or not re.fullmatch(self.name_pattern, name):
                which = "alias" if i else "name"
                return (f"{self.kind_label} {which} '{name}' holds characters zoo3d cannot use in run folders and "
                        f"option values; give {self.name_characters} only.")
        return None

    def load(self) -> Any:
        """Import the implementation; a class is instantiated without arguments (see :attr:`instantiate_classes`).

        The import is lazy but guarded: a module that fails to import, a missing attribute, a
        constructor that raises or an object of the wrong type becomes one :class:`PluginError`
        sentence naming the plugin, the spec and the error.
        """
        from zoo3d.errors import PluginError

        where, target = self._where(), self._target()
        try:
            obj = import_object(self.factory)
            obj = obj() if isinstance(obj, type) and self.instantiate_classes else obj
        except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported, not raised raw
            raise PluginError(f"{self.kind_label.capitalize()} '{self.name}' from {where} cannot be loaded from "
                              f"'{target}': {describe_exception(exc)}.") from None
        expected = self.expected_type()
        if expected is not None and not isinstance(obj, expected):
            raise PluginError(f"{self.kind_label.capitalize()} '{self.name}' from {where}: '{target}' gives a "
                              f"{type(obj).__name__}, not a {expected.__name__}.")
        return obj

    def _where(self) -> str:
        """The plugin, as messages name it."""
        return f"plugin '{self.plugin}'" if self.plugin else "its plugin"

    def _target(self) -> str:
        """The factory, as messages name it."""
        return self.factory if isinstance(self.factory, str) else repr(self.factory)

    @property
    def key(self) -> str:
        return normalize_name(self.name)


#: what a :class:`ModelSpec`'s ``kind`` may be
MODEL_KINDS = ("generator", "inverter", "calibration")
#: the roles zoo3d's own commands give models (:attr:`ModelSpec.roles`; docs/plugins.md lists what each means)
MODEL_ROLES = ("demo", "bench:models", "bench:freeview", "bench:invert", "bench:zoo", "bench:zoo-control")


@dataclass
class ModelSpec(_Spec):
    """A model: ``factory`` resolves to a :class:`zoo3d.core.model.ModelPlugin` (class or instance).

    ``kind`` is ``generator``, ``inverter`` or ``calibration`` (reference models for metrics).
    ``presets_dir`` holds ``<preset>.yaml`` files; ``card`` is the model card YAML.
    ``requires`` names the models this one builds on (GRAM-HD: ``("gram",)``): it is registered only
    when they are, else its plugin is reported as failed with a sentence saying what is missing.
    ``roles`` are the parts the model plays in zoo3d's own commands, so that they name no model:
    ``demo`` (what ``zoo3d demo`` trains), ``bench:models``, ``bench:freeview``, ``bench:invert``,
    ``bench:zoo`` and ``bench:zoo-control`` (what those ``zoo3d bench`` suites measure; see
    :meth:`zoo3d.core.ModelPlugin.benchmark_generator`).
    """

    kind: str = "generator"
    presets_dir: str | Path | None = None
    card: str | Path | None = None
    default_preset: str = "tiny"
    requires: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    kind_label = "model"

    def expected_type(self) -> type | None:
        from zoo3d.core.model import ModelPlugin

        return ModelPlugin

    name_tuples = ("aliases", "requires", "roles")

    def load(self) -> Any:
        """The model plugin, checked to give a ``config_class`` that is a :class:`zoo3d.config.RunConfig` subclass
        (every command reads its config through it), so a missing or wrong one is one sentence here and a failed row
        of ``zoo3d plugins --check``, not a TypeError traceback from ``zoo3d train``."""
        from zoo3d.config import RunConfig
        from zoo3d.errors import PluginError

        obj = super().load()
        config = getattr(obj, "config_class", None)
        if not (isinstance(config, type) and issubclass(config, RunConfig)):
            raise PluginError(f"Model '{self.name}' from {self._where()}: '{self._target()}' gives config_class "
                              f"{config!r}, not a zoo3d.config.RunConfig subclass; set config_class to the model's "
                              f"config class (docs/plugins.md, Configs and presets).")
        return obj

    def problem(self) -> str | None:
        """Besides :meth:`_Spec.problem`, a ``kind`` or a role zoo3d does not know: a misspelt one would otherwise
        be kept without a word, and the model listed wrongly or left out of the command that plays the role."""
        from zoo3d.errors import closest

        if (problem := super().problem()) is not None:
            return problem
        given = [("kind", self.kind, MODEL_KINDS)] + [("role", role, MODEL_ROLES) for role in self.roles]
        for what, value, known in given:
            if value not in known:
                hint = closest(str(value), known, n=1)
                did = f"; did you mean '{hint[0]}'?" if hint else "."
                return (f"model '{self.name}' declares {what} '{value}', which zoo3d does not know (the {what}s are "
                        f"{', '.join(known)}){did}")
        return None

    def presets(self) -> list[str]:
        if self.presets_dir is None or not Path(self.presets_dir).is_dir():
            return []
        return sorted(p.stem for p in Path(self.presets_dir).glob("*.yaml"))


@dataclass
class MetricSpec(_Spec):
    """A metric: ``factory`` resolves to a :class:`zoo3d.eval.Metric` (class or instance)."""

    higher_is_better: bool | None = None

    kind_label = "metric"

    def expected_type(self) -> type | None:
        from zoo3d.eval.metric import Metric

        return Metric

    def problem(self) -> str | None:
        """Besides :meth:`_Spec.problem`, a ``higher_is_better`` that is no bool: the text ``"false"`` reads as true,
        so the table's arrow and every ranking would point the wrong way without a word."""
        if (problem := super().problem()) is not None:
            return problem
        if self.higher_is_better is not None and not isinstance(self.higher_is_better, bool):
            return (f"metric '{self.name}' gives higher_is_better as {self.higher_is_better!r}, which is no bool; give "
                    f"True, False or None (the metric class's own).")
        return None

    def load(self) -> Any:
        """The metric, checked for what its class declares (:func:`metric_problem`: ``evaluate``
        implemented and callable as zoo3d calls it, its settings, its ``keys``), so a mistake there is one sentence
        here and a failed row of ``zoo3d plugins --check``, not a traceback once the models were loaded."""
        from zoo3d.errors import PluginError

        obj = super().load()
        if problem := metric_problem(obj, self._target(), self.higher_is_better):
            raise PluginError(f"Metric '{self.name}' from {self._where()}: {problem}")
        return obj


#: the methods of a metric zoo3d calls, with the arguments it passes (positionally), by name
METRIC_CALLS = {"evaluate": ("model", "ctx"), "check": ("protocol", "options"), "protocol_info": ("ctx",),
                "work_units": ("ctx",), "score_sets": ("generated", "real", "ctx")}

#: where a metric's refusal sends the plugin's author
METRIC_DOCS = "docs/metrics.md, Writing a metric plugin"


def metric_problem(metric: Any, target: str, registered: bool | None = None) -> str | None:
    """What is wrong with the metric ``target`` (its factory's import string) gave, as the clause after ``Metric 'x'
    from plugin 'p': ``, or None: ``evaluate`` (a distribution metric's ``score_sets``) left to the base class, which
    raises NotImplementedError; its settings (:func:`zoo3d.eval.protocol.settings_problem`); no direction, neither
    its class's ``higher_is_better`` nor the one its spec ``registered``, or one that is no bool; ``keys`` or
    ``requires`` given as one text, or a ``requires`` zoo3d does not know; a method that cannot take the arguments
    zoo3d passes (:data:`METRIC_CALLS`). A mistake there would otherwise reach the user as a traceback once the models
    were loaded, or as a report that is quietly wrong (a column for each letter of ``keys = ("silhouette")``, settings
    that never apply, an arrow saying higher is better for a distance)."""
    from zoo3d.errors import closest
    from zoo3d.eval.distribution import DistributionMetric
    from zoo3d.eval.metric import REQUIREMENTS, Metric
    from zoo3d.eval.protocol import settings_problem

    distribution = isinstance(metric, DistributionMetric)
    missing = None
    if getattr(type(metric), "evaluate", None) is Metric.evaluate:
        missing = "evaluate(model, ctx), which scores a model"
    elif distribution and type(metric).score_sets is DistributionMetric.score_sets:
        missing = "score_sets(generated, real, ctx), which scores its image sets"
    if missing:
        return f"'{target}' does not implement {missing}; define it ({METRIC_DOCS})."
    if problem := settings_problem(metric):
        return problem
    better = getattr(metric, "higher_is_better", None)
    if better is None and registered is None:  # the table's arrow said higher is better, of a distance too
        return ("it does not say whether a higher value is better; set higher_is_better = True or False on its class "
                "(or a dict of bools by key: a key left out is shown without a direction), or give it to its "
                "MetricSpec.")
    if better is not None and not isinstance(better, bool) and not (
            isinstance(better, dict) and all(isinstance(v, bool) for v in better.values())):
        return (f"its higher_is_better is {better!r}, which is no bool nor a dict of bools by key; a text or a number "
                f"reads as true, so the table's arrow would point the wrong way.")
    for names in ("keys", "requires"):  # ("silhouette") is the text: its letters would be the result keys
        value = getattr(metric, names, ())
        if isinstance(value, str):
            return (f"its {names} is the text '{value}', whose letters would be read as the {names}; give a tuple, "
                    f"{names} = ('{value}',).")
    unknown = [need for need in getattr(metric, "requires", None) or () if need not in REQUIREMENTS]
    if unknown:  # a misspelt 'dataset' left out the note on a model trained on other data, without a word
        hint = closest(str(unknown[0]), REQUIREMENTS, n=1)
        did = f"; did you mean '{hint[0]}'?" if hint else "."
        return (f"its requires names {unknown[0]!r}, which zoo3d does not know (what a metric may require: "
                f"{', '.join(REQUIREMENTS)}){did}")
    for method, arguments in METRIC_CALLS.items():
        if method == "score_sets" and not distribution:
            continue
        if refused := call_refused(getattr(metric, method), *arguments):
            return (f"{method}{refused[0]} of '{target}' cannot be called as zoo3d calls it, "
                    f"{method}({', '.join(arguments)}); give it those parameters ({METRIC_DOCS}).")
    return None


def call_refused(fn: Callable, *args: Any, **kwargs: Any) -> tuple[Any, TypeError] | None:
    """``fn``'s signature and the TypeError of binding ``args`` and ``kwargs`` to it where ``fn`` cannot be called so,
    else None, also where it has no signature to read (a builtin: the call itself will tell). Nothing is called."""
    import inspect

    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        return signature, exc
    return None


#: how zoo3d calls a dataset factory (docs/data.md, "Dataset plugins")
DATASET_FACTORY_CALL = "factory(cfg, resolution, query=..., camera_prior=..., seed=...)"


@dataclass
class DatasetSpec(_Spec):
    """A dataset scheme, e.g. ``synthetic:heads``; ``factory`` builds it from a config, called as
    :data:`DATASET_FACTORY_CALL` by :meth:`build`."""

    extras: dict[str, Any] = field(default_factory=dict)

    kind_label = "dataset"
    name_pattern = r"[A-Za-z0-9][A-Za-z0-9_.:-]*"  # a scheme such as synthetic:heads; '?' starts the options
    name_characters = "letters, digits, ':', '.', '-' and '_'"
    instantiate_classes = False

    def load(self) -> Any:
        """The factory, imported (a class is the factory itself, not instantiated without arguments) and checked
        to take :meth:`build`'s call, so a signature that does not is one sentence, not a TypeError traceback."""
        from zoo3d.errors import PluginError

        obj = super().load()
        where, target = self._where(), self._target()
        if not callable(obj):
            raise PluginError(f"Dataset '{self.name}' from {where}: its factory gives a "
                              f"{type(obj).__name__}, which cannot be called to build the dataset.")
        if refused := call_refused(obj, None, 0, query="", camera_prior=None, seed=0):
            raise PluginError(f"Dataset '{self.name}' from {where}: '{target}' cannot be called as zoo3d calls a "
                              f"dataset factory, {DATASET_FACTORY_CALL} ({refused[1]}).")
        return obj

    def build(self, cfg, resolution: int, query: str = "", camera_prior=None, seed: int = 0) -> Any:
        """The dataset, from the factory called the one way every caller calls it. A ValueError or an OSError from
        the factory comes from the options the user gave (``int("ten")`` of ``?count=ten``, a folder that is not
        there): it is one sentence naming the dataset, its plugin and the options, as a model's is
        (:func:`zoo3d.core.model.build_modules`). Any other exception is a fault of the factory: a
        :class:`PluginError` naming the dataset, its plugin, the error and where it was raised."""
        from zoo3d.errors import PluginError, UserError

        factory = self.load()
        options = f"the options '{query}'" if query else "no options"
        try:
            return factory(cfg, resolution, query=query, camera_prior=camera_prior, seed=seed)
        except UserError:
            raise
        except (ValueError, OSError) as exc:
            raise UserError(f"Dataset '{self.name}' from {self._where()} cannot be built at {resolution} px with "
                            f"{options}: {option_reason(exc)}.") from None
        except Exception as exc:  # noqa: BLE001 - the plugin's own code failed: named in one sentence, not raised raw
            raise PluginError(f"Dataset '{self.name}' from {self._where()} failed to build at {resolution} px with "
                              f"{options}: {describe_exception(exc)}; a factory refuses options it cannot take with "
                              f"zoo3d.errors.UserError in one sentence ({DATASET_DOCS}).") from None


#: where a dataset's refusal sends the plugin's author
DATASET_DOCS = "docs/data.md, Dataset plugins"


def option_reason(exc: ValueError | OSError) -> str:
    """Why a dataset plugin refused the options it was given, as the words after a colon: a ValueError's message, or
    an OSError's reason and file (``No such file or directory: '/data/cams.txt'``, not ``[Errno 2] …``)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: '{exc.filename}'" if exc.filename else exc.strerror
    return str(exc).rstrip(".") or type(exc).__name__
