"""The plugin system: pluggy hook specs, guarded loading, and the registries they fill.

Plugins are modules registered through the ``zoo3d`` entry-point group (built-ins too) or
named in ``ZOO3D_PLUGINS=module,...``. Each may implement any of the hooks below with
:data:`zoo3d.hookimpl`. Loading is lazy (on first registry access) and guarded: a plugin
that fails to import or to register is recorded with its error and everything else keeps
working. ``ZOO3D_DISABLE_PLUGINS=name,...`` skips plugins by entry-point or package name.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Generic, Iterator, TypeVar

import pluggy

from zoo3d.errors import DuplicateNameError, PluginError, UserError, closest
from zoo3d.specs import DatasetSpec, MetricSpec, ModelSpec, _Spec, normalize_name

PROJECT = "zoo3d"
#: the side, in pixels, at which ``zoo3d plugins --check`` builds a plugin's dataset and checks its items
CHECK_RESOLUTION = 32
ENTRY_POINT_GROUP = "zoo3d"
hookspec = pluggy.HookspecMarker(PROJECT)


#: Set by ``zoo3d train --nproc`` for its workers: the launcher has already said the plugins' notes.
PLUGIN_NOTES_SAID = "ZOO3D_PLUGIN_NOTES_SAID"


class Hookspecs:
    """The hooks a zoo3d plugin may implement (all take one register callback or the CLI group)."""

    @hookspec
    def zoo3d_register_models(self, register: Callable[[ModelSpec], None]) -> None:
        """Call ``register(ModelSpec(...))`` once per model the plugin provides."""

    @hookspec
    def zoo3d_register_metrics(self, register: Callable[[MetricSpec], None]) -> None:
        """Call ``register(MetricSpec(...))`` once per metric the plugin provides."""

    @hookspec
    def zoo3d_register_datasets(self, register: Callable[[DatasetSpec], None]) -> None:
        """Call ``register(DatasetSpec(...))`` once per dataset scheme the plugin provides."""

    @hookspec
    def zoo3d_register_commands(self, cli: Any) -> None:
        """Add click commands to the ``zoo3d`` group with ``cli.add_command(...)``."""


REGISTER_HOOKS = {
    "zoo3d_register_models": ("models", ModelSpec),
    "zoo3d_register_metrics": ("metrics", MetricSpec),
    "zoo3d_register_datasets": ("datasets", DatasetSpec),
}

#: every hook's name, in the order the docs list them
HOOKS = (*REGISTER_HOOKS, "zoo3d_register_commands")

T = TypeVar("T", bound=_Spec)


class Registry(Generic[T]):
    """Specs of one kind, looked up by normalised name or alias."""

    def __init__(self, kind: str, failed: Callable[[], list[str]] | None = None):
        self.kind = kind
        self._specs: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._failed = failed  # names of plugins that failed to load: they may have provided the name asked for

    def owner(self, name: str) -> T | None:
        key = normalize_name(name)
        key = self._aliases.get(key, key)
        return self._specs.get(key)

    def named(self, name: str, owner: T | None = None) -> str:
        """``name`` as a refusal names it, ``Metric 'edges' from plugin 'zoo3d_edges'`` (without the plugin where
        none registered it); ``owner`` is the spec a caller has found for ``name`` already (:meth:`owner`)."""
        spec = owner if owner is not None else self.owner(name)
        plugin = f" from plugin '{spec.plugin}'" if spec is not None and spec.plugin else ""
        return f"{self.kind.capitalize()} '{name}'{plugin}"

    def check(self, spec: T) -> None:
        """Raise :class:`DuplicateNameError` if any of the spec's names is taken."""
        for n in (spec.name, *spec.aliases):
            other = self.owner(n)
            if other is not None:
                raise DuplicateNameError(
                    f"{self.kind} name '{n}' is registered twice: by {other.source} (plugin '{other.plugin}') "
                    f"and by {spec.source} (plugin '{spec.plugin}')"
                )

    def add(self, spec: T) -> None:
        self.check(spec)
        self._specs[spec.key] = spec
        for a in spec.aliases:
            self._aliases[normalize_name(a)] = spec.key

    def remove(self, spec: T) -> None:
        self._specs.pop(spec.key, None)
        self._aliases = {a: k for a, k in self._aliases.items() if k != spec.key}

    def nearest(self, name: str, cutoff: float = 0.5) -> str | None:
        """The registered name closest to ``name``, a misspelling of it or of an alias, for a 'did you mean'; None
        where none is ``cutoff`` alike (:func:`zoo3d.errors.closest`)."""
        hint = closest(normalize_name(name), [*self._specs, *self._aliases], cutoff=cutoff)
        return self.owner(hint[0]).name if hint else None

    def get(self, name: str) -> T:
        spec = self.owner(name)
        if spec is None:
            known = sorted(s.name for s in self._specs.values())
            hint = self.nearest(name)
            did = f" Did you mean '{hint}'?" if hint else ""
            listed = ", ".join(known) if known else "none registered"
            failed = self._failed() if self._failed is not None else []
            broken = (f" Plugins that failed to load, which may provide it: {', '.join(failed)} (see `zoo3d plugins`)."
                      if failed else "")
            raise UserError(f"Unknown {self.kind} '{name}'.{did} Known {self.kind}s: {listed}.{broken}")
        return spec

    def __contains__(self, name: str) -> bool:
        return self.owner(name) is not None

    def __iter__(self) -> Iterator[T]:
        return iter(sorted(self._specs.values(), key=lambda s: s.key))

    def __len__(self) -> int:
        return len(self._specs)


@dataclass
class PluginInfo:
    """What ``zoo3d plugins`` reports about one plugin."""

    name: str
    source: str
    version: str
    module: str = ""
    status: str = "ok"  # ok | error | disabled
    error: str = ""
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.source, "version": self.version, "module": self.module,
            "status": self.status, "error": self.error or None, "hooks": self.hooks, "registered": self.registered,
        }


def _env_list(var: str) -> list[str]:
    return [x.strip() for x in os.environ.get(var, "").split(",") if x.strip()]


def _short_error(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen")]
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _hook_problem(obj: Any, implemented: list[str], unknown: list[str]) -> str:
    """Why a plugin's hook functions would go unused, or "": pluggy calls only functions marked with ``@hookimpl``
    and silently keeps those whose name is no hook, so a typo would surface later only as 'Unknown model'."""
    # looked up statically: a lazy module (PEP 562 __getattr__) must not import every name it offers here
    routines = [a for a in dir(obj) if not a.startswith("__")
                and inspect.isroutine(inspect.getattr_static(obj, a, None))]
    strays = sorted({*unknown, *(a for a in routines if a not in HOOKS and a not in implemented and (
        a.lower().startswith("zoo3d_register") or difflib.get_close_matches(a, HOOKS, n=1, cutoff=0.8)))})
    unmarked = sorted(a for a in routines if a in HOOKS and a not in implemented)
    hooks = ", ".join(HOOKS)
    if strays:
        hints = [f"{a} (did you mean {near[0]}?)" if (near := difflib.get_close_matches(a, HOOKS, n=1)) else a
                 for a in strays]
        return (f"{', '.join(hints)} {'is' if len(strays) == 1 else 'are'} no zoo3d hook, so zoo3d never calls "
                f"{'it' if len(strays) == 1 else 'them'}; the hooks are {hooks}")
    if unmarked:
        return (f"{', '.join(unmarked)} {'is' if len(unmarked) == 1 else 'are'} not marked with @zoo3d.hookimpl, "
                f"so zoo3d never calls {'it' if len(unmarked) == 1 else 'them'}")
    if not implemented:
        return f"it implements no zoo3d hook (the hooks are {hooks}, each marked with @zoo3d.hookimpl)"
    return ""


def _argument_problem(obj: Any) -> str:
    """Why pluggy refused a plugin's hook function for its arguments, as one sentence, or "": each hook receives the
    one argument its spec names (``register`` or ``cli``), and an implementation may take no other."""
    for hook in HOOKS:
        fn = inspect.getattr_static(obj, hook, None)
        if fn is None or not inspect.isroutine(fn):
            continue
        takes = list(inspect.signature(fn).parameters)
        given = [p for p in inspect.signature(getattr(Hookspecs, hook)).parameters if p != "self"]
        if set(takes) - set(given):
            return (f"{hook}({', '.join(takes)}) takes arguments zoo3d does not pass; zoo3d calls it with one "
                    f"argument, {hook}({', '.join(given)})")
    return ""


def _no_return(hook: str, result: Any, instead: str) -> None:
    """Register hooks return nothing; a returned value (a spec, a list of specs) would be silently lost."""
    if result is not None:
        what = type(result).__name__
        raise PluginError(f"{hook} returned a {what} instead of nothing; {instead} (a returned value is not "
                          f"registered)")


class PluginHost:
    """Owns the pluggy manager, the plugin records and the three registries."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(Hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.models: Registry[ModelSpec] = Registry("model", self.failed_plugins)
        self.metrics: Registry[MetricSpec] = Registry("metric", self.failed_plugins)
        self.datasets: Registry[DatasetSpec] = Registry("dataset", self.failed_plugins)
        self.warnings: list[str] = []
        self._loaded = False
        self._commands_added: set[int] = set()

    # ------------------------------------------------------------------ loading
    def load(self) -> "PluginHost":
        if self._loaded:
            return self
        self._loaded = True
        disabled = {normalize_name(x) for x in _env_list("ZOO3D_DISABLE_PLUGINS")}
        for ep, dist_name, version in self._entry_points():
            if normalize_name(ep.name) in disabled or normalize_name(dist_name) in disabled:
                self.plugins[ep.name] = PluginInfo(ep.name, dist_name, version, ep.value, status="disabled")
                continue
            self._register_module(ep.name, dist_name, version, ep.value, ep.load)
        for module_name in _env_list("ZOO3D_PLUGINS"):
            if normalize_name(module_name) in disabled:
                self.plugins[module_name] = PluginInfo(module_name, "ZOO3D_PLUGINS", "", module_name, status="disabled")
                continue
            self._register_module(module_name, "ZOO3D_PLUGINS", "", module_name,
                                  lambda m=module_name: importlib.import_module(m))
        for info in self.plugins.values():
            if info.status == "ok":
                self._collect_specs(info)
        self._check_requirements()
        self._warn_unmatched_disabled(disabled)
        return self

    def _check_requirements(self) -> None:
        """Withdraw every plugin with a model whose ``requires`` names a model that is not registered
        (repeatedly: what builds on a withdrawn model goes too), recording why as the plugin's error."""
        while True:
            unmet = [(spec, [r for r in spec.requires if r not in self.models]) for spec in self.models]
            unmet = [(spec, missing) for spec, missing in unmet if missing]
            if not unmet:
                return
            going = {spec.plugin for spec, _ in unmet}
            for spec, missing in unmet:
                info = self.plugins.get(spec.plugin)
                if info is None or info.status != "ok":
                    self.models.remove(spec)
                    continue
                info.status, info.error = "error", self._requirement_error(spec, missing, going)
                self._withdraw(info)

    def _withdraw(self, info: PluginInfo) -> None:
        """Take back every spec a plugin registered (it failed after registering: a plugin is used whole or not)."""
        registries = {"models": self.models, "metrics": self.metrics, "datasets": self.datasets}
        for kind, names in info.registered.items():
            for name in names if kind in registries else ():  # its commands are taken back by add_commands
                registries[kind].remove(registries[kind].get(name))
        info.registered = {}

    def _requirement_error(self, spec: ModelSpec, missing: list[str], going: set[str]) -> str:
        def meant(name: str) -> str:  # a misspelt requires ('grma'): the model it likely meant, of a plugin that stays
            hint = self.models.nearest(name, cutoff=0.75)  # a typo of it, not any short name ('gone': 'fine')
            return "" if hint is None or self.models.get(hint).plugin in going else f" (did you mean '{hint}'?)"

        names = " and ".join(f"'{m}'{meant(m)}" for m in missing)
        unavailable = [f"'{i.name}' ({'disabled' if i.status == 'disabled' else 'failed: ' + i.error})"
                       for i in self.plugins.values() if i.status != "ok" and i.name != spec.plugin]
        why = f"; plugins not loaded: {', '.join(unavailable)}" if unavailable else ""
        return (f"model '{spec.name}' builds on model {names}, which is not registered{why}. Enable the plugin "
                f"that provides it, or disable '{spec.plugin}' as well.")

    def failed_plugins(self) -> list[str]:
        """Plugins with status ``error``, each as ``name (its error)``."""
        return [f"{i.name} ({i.error})" for i in self.plugins.values() if i.status == "error"]

    def _tell(self, message: str, kind: str) -> None:
        """Keep ``message`` in :attr:`warnings` and say it on stderr (``note:`` / ``warning:``) once per run: not
        in a process other than rank 0, nor in the workers of ``zoo3d train --nproc``, whose launcher loaded the
        same plugins and said it already."""
        import os

        from zoo3d.errors import tell

        self.warnings.append(message)
        said = os.environ.get(PLUGIN_NOTES_SAID) == "1" or os.environ.get("RANK", "0") not in ("", "0")
        if not said:
            tell(message, kind)

    def _warn_unmatched_disabled(self, disabled: set[str]) -> None:
        """Warn about ZOO3D_DISABLE_PLUGINS names that match no plugin (a typo disables nothing): what disabling
        matches is an entry point's name or its package's, or a module named in ZOO3D_PLUGINS, not the module an
        entry point names (``zoo3d_gram.plugin`` disables nothing)."""
        known = set()
        for info in self.plugins.values():
            matched = info.module if info.source == "ZOO3D_PLUGINS" else info.source
            known |= {normalize_name(info.name), normalize_name(matched)}
        for name in sorted(disabled - known):
            names = ", ".join(sorted(i.name for i in self.plugins.values())) or "none"
            self._tell(f"ZOO3D_DISABLE_PLUGINS names '{name}', which matches no plugin (plugins: {names}).", "warning")

    def check_factories(self) -> list[dict[str, Any]]:
        """Import every registered model, metric and dataset factory; one row per spec with its status."""
        rows = []
        for registry in (self.models, self.metrics, self.datasets):
            for spec in registry:
                row = {"plugin": spec.plugin, "kind": registry.kind, "name": spec.name,
                       "factory": spec.factory if isinstance(spec.factory, str) else repr(spec.factory),
                       "status": "ok", "error": None}
                try:
                    spec.load()
                    if registry is self.datasets and spec.source != PROJECT:
                        self._check_dataset_built(spec)
                except UserError as exc:
                    row["status"], row["error"] = "error", str(exc)
                rows.append(row)
        return rows

    def _check_dataset_built(self, spec: DatasetSpec) -> None:
        """Build a plugin's dataset as ``zoo3d compare --data NAME`` does (no options, no camera prior), at
        :data:`CHECK_RESOLUTION` px, and check it as a run does (:func:`zoo3d.data.served.check_dataset`: items spread
        over it, their batch, its ``cameras()``): a fault of its code, or an item or camera zoo3d cannot use, raises a
        :class:`PluginError`; a refusal of its own of the options left out (a UserError, a ValueError or an OSError: a
        folder to name) passes, as those options are the user's. zoo3d's own datasets are tested to serve what they
        should (the first synthetic head alone is a render of a second or more)."""
        from zoo3d.config import DataConfig
        from zoo3d.data.served import check_dataset

        try:
            dataset = spec.build(DataConfig(spec=spec.name), CHECK_RESOLUTION)
            check_dataset(dataset, self.datasets.named(spec.name, spec), CHECK_RESOLUTION, spec.name)
        except PluginError:
            raise
        except UserError:
            pass

    def check_presets(self) -> list[dict[str, Any]]:
        """Read every preset of every model whose factory imports as ``zoo3d train --preset NAME`` reads it
        (:func:`zoo3d.config.load_run_config`; no model is built), and its default preset, which ``zoo3d train
        NAME`` reads, where its spec names a presets folder; one row per preset with its status. A model without
        presets folder trains on its config class's defaults: its one row (``preset`` and ``file`` None) reads
        those."""
        from pathlib import Path

        from zoo3d.config import load_run_config

        rows = []
        for spec in self.models:
            try:
                plugin = spec.load()
            except UserError:  # its factory row says why; without the config class no preset can be read
                continue
            names = spec.presets()
            if spec.presets_dir is not None and spec.default_preset and spec.default_preset not in names:
                names.append(spec.default_preset)  # what `zoo3d train NAME` reads: its row says why it would fail
            if spec.presets_dir is None:
                names = [None]  # what `zoo3d train NAME` reads: the config class's defaults
            for name in names:
                row = {"plugin": spec.plugin, "model": spec.name, "preset": name,
                       "file": None if name is None else str(Path(spec.presets_dir) / f"{name}.yaml"),
                       "status": "ok", "error": None}
                try:
                    load_run_config(plugin.config_class, spec.name, spec.presets_dir, name,
                                    default_preset=spec.default_preset)
                except UserError as exc:
                    row["status"], row["error"] = "error", str(exc)
                except Exception as exc:  # a plugin's own config code: reported, never fatal to the others
                    what = f"Preset '{name}'" if name else "The default config"
                    row["status"], row["error"] = "error", (f"{what} of model '{spec.name}' cannot be read: "
                                                            f"{_short_error(exc)}.")
                rows.append(row)
        return rows

    @staticmethod
    def _entry_points():
        found = []
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else "unknown"
            version = dist.version if dist is not None else ""
            found.append((ep, dist_name, version))
        # The project's own plugins first, then third parties, each in name order: the first registrant of a name wins.
        found.sort(key=lambda t: (normalize_name(t[1]) != PROJECT, normalize_name(t[1]), t[0].name))
        seen, unique = set(), []
        for item in found:  # the same distribution can be visible twice on sys.path
            if (item[0].name, item[0].value) not in seen:
                seen.add((item[0].name, item[0].value))
                unique.append(item)
        return unique

    def _register_module(self, name: str, source: str, version: str, module: str, loader: Callable[[], Any]) -> None:
        if name in self.plugins:
            name = f"{name} ({source})"
        info = PluginInfo(name, source, version, module)
        self.plugins[name] = info
        try:
            obj = loader()
            if self.pm.is_registered(obj):  # installed, and named again in ZOO3D_PLUGINS: once is enough
                del self.plugins[name]
                self._tell(f"{source} names '{module}', which is already loaded as plugin "
                           f"'{self.pm.get_name(obj)}'; it is used once (unset {source} for it)", "note")
                return
            if not version:
                info.version = str(getattr(obj, "__version__", ""))
            self.pm.register(obj, name=name)
            callers = self.pm.get_hookcallers(obj) or []
            info.hooks = sorted(h.name for h in callers if h.spec is not None)
            problem = _hook_problem(obj, info.hooks, [h.name for h in callers if h.spec is None])
            if problem:
                info.status, info.error = "error", problem
        except pluggy.PluginValidationError as exc:  # an argument the hook spec has not: say which, in its words
            info.status, info.error = "error", _argument_problem(exc.plugin) or _short_error(exc)
        except Exception as exc:  # a broken plugin must not break the others
            info.status, info.error = "error", _short_error(exc)

    def _impls(self, hook_name: str, plugin_name: str):
        plugin = self.pm.get_plugin(plugin_name)
        return [i for i in getattr(self.pm.hook, hook_name).get_hookimpls() if i.plugin is plugin]

    def _collect_specs(self, info: PluginInfo) -> None:
        """Call the plugin's register hooks; commit its specs only if all of them are valid."""
        pending: list[tuple[Registry, _Spec]] = []
        try:
            for hook_name, (attr, spec_type) in REGISTER_HOOKS.items():
                registry: Registry = getattr(self, attr)

                def register(spec, _registry=registry, _type=spec_type):
                    if not isinstance(spec, _type):
                        raise TypeError(f"{hook_name} expects {_type.__name__}, got {type(spec).__name__}")
                    spec.plugin, spec.source, spec.version = info.name, info.source, info.version
                    if problem := spec.problem():
                        raise PluginError(problem)
                    _registry.check(spec)
                    for other_registry, other in pending:
                        if other_registry is _registry and {other.key, *map(normalize_name, other.aliases)} & {
                                spec.key, *map(normalize_name, spec.aliases)}:
                            raise DuplicateNameError(
                                f"{_registry.kind} name '{spec.name}' is registered twice by {info.source}")
                    pending.append((_registry, spec))

                for impl in self._impls(hook_name, info.name):
                    _no_return(hook_name, impl.function(register=register), "call register(spec) for each")
        except Exception as exc:
            info.status = "error"
            info.error = str(exc) if isinstance(exc, UserError) else _short_error(exc)
            return
        for registry, spec in pending:
            registry.add(spec)
            info.registered.setdefault(registry.kind + "s", []).append(spec.name)

    def add_commands(self, cli: Any) -> None:
        """Let every loaded plugin add its click commands (guarded, once per group).

        The first registrant of a name keeps it, as for models: a plugin that adds a command named like a
        built-in one or one an earlier plugin added, or that replaces a subcommand of a built-in group
        (``cli.builtin_groups``: ``zoo3d data synth``), is marked failed and its commands are taken back, so
        ``zoo3d train`` stays zoo3d's. New subcommands of a built-in group are allowed. A plugin failed here
        is withdrawn whole, its models, metrics and datasets too (and what builds on its models), as when it
        fails to register them."""
        self.load()
        if id(cli) in self._commands_added:
            return
        self._commands_added.add(id(cli))
        names = set(cli.list_commands(None))  # zoo3d's own commands, then those of the plugins before
        groups = {n: g for n in getattr(cli, "builtin_groups", ()) if (g := cli.get_command(None, n)) is not None}
        added_by: dict[str, list[tuple[Any, str]]] = {}  # plugin -> (group, name) of each command it added
        for info in self.plugins.values():
            if info.status != "ok":
                continue
            for impl in self._impls("zoo3d_register_commands", info.name):
                added = dict(cli.commands)
                before = {n: dict(g.commands) for n, g in groups.items()}
                try:
                    _no_return("zoo3d_register_commands", impl.function(cli=cli), "call cli.add_command(command)")
                except Exception as exc:
                    info.status, info.error = "error", str(exc) if isinstance(exc, UserError) else _short_error(exc)
                taken = sorted(n for n, c in cli.commands.items() if n in names and added.get(n) is not c)
                taken += sorted(f"{g} {n}" for g, subs in before.items() for n, c in subs.items()
                                if groups[g].commands.get(n) is not c)
                if taken and info.status == "ok":
                    info.status = "error"
                    info.error = (f"command {', '.join(repr(n) for n in taken)} is already zoo3d's or an earlier "
                                  f"plugin's; give it another name")
                if info.status != "ok":  # a failed plugin adds no command, nor a subcommand, and serves nothing
                    cli.commands.clear()
                    cli.commands.update(added)
                    for g, subs in before.items():
                        groups[g].commands.clear()
                        groups[g].commands.update(subs)
                    self._withdraw(info)
                    break
                added_by.setdefault(info.name, []).extend(
                    [(cli, n) for n in cli.commands if n not in added]
                    + [(groups[g], n) for g, subs in before.items() for n in groups[g].commands if n not in subs])
                names |= set(cli.commands)
        self._check_requirements()
        for name, commands in added_by.items():  # a plugin withdrawn since (it builds on one failed above)
            if self.plugins[name].status != "ok":
                for group, command in commands:
                    group.commands.pop(command, None)
            elif commands:  # listed by `zoo3d plugins` beside its models, as the command line calls them
                self.plugins[name].registered["commands"] = [
                    command if group is cli else f"{group.name} {command}" for group, command in commands]


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
    return _HOST.load()


def reset_host() -> None:
    """Forget loaded plugins (tests, or after changing the ZOO3D_* variables)."""
    global _HOST
    _HOST = None


def get_model_spec(name: str) -> ModelSpec:
    """The :class:`zoo3d.specs.ModelSpec` registered as ``name`` (any spelling or alias); ``.load()`` gives its
    ``ModelPlugin``. An unknown name raises ``UserError`` naming the closest registered one."""
    return get_host().models.get(name)


def model_key(name: str) -> str:
    """The key of the registered model ``name`` means (any spelling or alias: ``eg3d`` is ``triplane``), or
    ``name`` normalised when no model has it (an unknown name is refused where the model is loaded)."""
    spec = get_host().models.owner(name)
    return spec.key if spec is not None else normalize_name(name)


def models_with_role(role: str) -> list[ModelSpec]:
    """The registered models that declare ``role`` (:attr:`ModelSpec.roles`), by name."""
    return [spec for spec in get_host().models if role in spec.roles]


def model_with_role(role: str, what: str) -> ModelSpec:
    """The first registered model (by name) that declares ``role``; ``what`` says what needs it in the error."""
    found = models_with_role(role)
    if not found:
        raise UserError(f"{what} needs a model with the role '{role}', and no registered model declares it "
                        f"(see `zoo3d models`).")
    return found[0]


def get_metric_spec(name: str) -> MetricSpec:
    return get_host().metrics.get(name)


def get_dataset_spec(name: str) -> DatasetSpec:
    return get_host().datasets.get(name)
