"""``zoo3d import``: an authors' release file -> a zoo3d run folder every command accepts.

The file is read by :func:`zoo3d.upstream.load_release` (nothing in it runs), turned into the
generator's state dict by the model plugin's ``import_release``, checked tensor by tensor against
the generator built from the returned config, and written as a run: ``config.yaml``,
``checkpoints/step_000000000.safetensors`` (the generator and its EMA both hold the imported
weights; discriminators, which releases do not carry, keep their initialisation) and ``latest``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo3d.errors import UserError, shell_word
from zoo3d.upstream import RELEASE_FILE, ImportedRelease, load_release

__all__ = ["ImportResult", "first_mismatch", "first_non_finite", "import_to_run"]


@dataclass
class ImportResult:
    run_dir: Path
    checkpoint: Path
    imported: ImportedRelease


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(d) for d in t.shape) + ")"


def first_mismatch(expected: dict[str, Tensor], imported: ImportedRelease) -> str | None:
    """What first keeps ``imported.state`` from loading into a module whose state dict is ``expected``
    (a clause naming the tensor, as the file names it, and both shapes), or None when it fits."""
    state, sources = imported.state, imported.sources
    for name, target in expected.items():
        label = f"'{sources.get(name, name)}'"
        if name not in state:
            return f"it has no tensor for the generator's '{name}'"
        if tuple(state[name].shape) != tuple(target.shape):
            return f"its tensor {label} has shape {_shape(state[name])} where the preset needs {_shape(target)}"
    extra = [k for k in state if k not in expected]
    if extra:
        return f"its tensor '{sources.get(extra[0], extra[0])}' has no place in the preset's generator"
    return None


def first_non_finite(imported: ImportedRelease) -> str | None:
    """A clause naming the first floating tensor of ``imported.state`` with NaN or Inf in it (as the file names
    it, with how many of its values), or None when every value is finite."""
    for name, t in imported.state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            return f"its tensor '{imported.sources.get(name, name)}' ({bad} of {t.numel()} values)"
    return None


def _convert(plugin, release, config, path: Path) -> ImportedRelease:
    try:
        imported = plugin.import_release(release, config)
    except UserError as exc:
        raise UserError(str(exc).replace(RELEASE_FILE, str(path))) from None
    imported.notes = [note.replace(RELEASE_FILE, path.name) for note in imported.notes]
    return imported


def _generator_shapes(plugin, config) -> dict[str, Tensor]:
    """The generator's state dict for ``config``, built on the meta device when the plugin allows it
    (shapes only: no memory, no initialisation cost, even for 1024² discriminators). Built through
    ``build_modules``, as every command builds, so a config the constructors refuse is one sentence."""
    from zoo3d.core.model import build_modules

    try:
        with torch.device("meta"):
            return build_modules(plugin, config)["generator"].state_dict()
    except Exception:  # a builder that needs real data at construction
        return build_modules(plugin, config)["generator"].state_dict()


def _fit(plugin, release, config, path: Path) -> tuple[ImportedRelease, str | None]:
    """(imported, mismatch) for one config (a preset's, with the command's ``--set`` items)."""
    imported = _convert(plugin, release, config, path)
    return imported, first_mismatch(_generator_shapes(plugin, imported.config), imported)


def _fitting_presets(spec, plugin, release, path: Path, skip: str, overrides: Sequence[str] = ()) -> list[str]:
    """Every other preset of ``spec`` whose shapes fit ``release`` with the same ``--set`` items (several can: a
    shape says no more)."""
    from zoo3d.config import load_run_config

    fitting = []
    for name in spec.presets():
        if name == skip:
            continue
        try:
            config = load_run_config(plugin.config_class, spec.name, spec.presets_dir, name, overrides=list(overrides))
            if _fit(plugin, release, config, path)[1] is None:
                fitting.append(name)
        except UserError:
            continue
    return fitting


def _importers():
    """(spec, plugin) of every registered model that imports its authors' releases, in registry order."""
    from zoo3d.plugins import get_host

    for spec in get_host().models:
        try:
            plugin = spec.load()
        except Exception:  # noqa: BLE001 - a plugin that fails to load imports nothing; `zoo3d plugins` reports it
            continue
        if getattr(plugin, "imports_releases", False):
            yield spec, plugin


def _no_importer(spec) -> UserError:
    names = [other.name for other, _ in _importers()]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)
    where = f"; zoo3d imports the releases of {listed} (docs/pretrained.md)" if names else ""
    return UserError(f"Model '{spec.name}' has no importer for its authors' released checkpoints{where}.")


def _other_models_taking(spec, release) -> list[str]:
    """The other registered models whose importer takes ``release`` with one of their presets: the kind of
    release the file is, for a file given as the wrong model's."""
    from zoo3d.config import load_run_config

    found = []
    for other, plugin in _importers():
        if other.name == spec.name:
            continue
        try:
            for name in other.presets():
                try:
                    plugin.import_release(release, load_run_config(plugin.config_class, other.name,
                                                                   other.presets_dir, name))
                except UserError:
                    continue
                found.append(other.name)
                break
        except Exception:  # noqa: BLE001 - a guess for the hint only: a plugin failing on foreign data is no answer
            continue
    return found


def _set_value(value: Any) -> str:
    """``value`` as a ``--set`` item writes it, one shell word: 8, 0.24, true, [16,8]."""
    return json.dumps(value, separators=(",", ":")) if not isinstance(value, str) else value


def _stated(data: dict, key: str) -> Any:
    """The value at dotted ``key`` of a config's plain data, or None where there is none."""
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _matching_sets(spec, plugin, release, config, path: Path, preset: str, overrides: Sequence[str]) -> list[str]:
    """The ``--set`` items, read from the file's shapes by the plugin (:meth:`ModelPlugin.release_settings`), with
    which ``release`` fits ``preset`` (after the command's own items); [] where the plugin reads none, they change
    nothing, or the file does not fit with them either."""
    from zoo3d.config import load_run_config

    try:
        settings = plugin.release_settings(release, config) or {}
    except Exception:  # noqa: BLE001 - a guess for the hint only: a file the reader does not follow gets none
        return []
    data = config.model_dump(mode="json")
    items = [f"{key}={_set_value(value)}" for key, value in settings.items() if _stated(data, key) != value]
    if not items:
        return []
    try:  # the file's settings last: where the command set one too, the file's replaces it
        fitted = load_run_config(plugin.config_class, spec.name, spec.presets_dir, preset,
                                 overrides=[*overrides, *items])
        return items if _fit(plugin, release, fitted, path)[1] is None else []
    except Exception:  # noqa: BLE001 - settings the config or the importer refuse make no hint
        return []


def _sets_hint(items: list[str], overrides: Sequence[str]) -> str:
    """Where the file's settings (``items``) differ from the preset's: the ``--set`` items to give, and the
    command's own that they replace."""
    keys = {item.partition("=")[0] for item in items}
    replaced = [item for item in overrides if item.partition("=")[0].strip() in keys]
    instead = f" in place of {' '.join(f'--set {shell_word(item)}' for item in replaced)}" if replaced else ""
    return (f"its shapes are those of a network trained at settings of its own: give "
            f"{' '.join(f'--set {shell_word(item)}' for item in items)}{instead} to import it")


def _fits_hint(names: list[str]) -> str:
    if len(names) == 1:
        return f"preset '{names[0]}' fits it"
    quoted = ", ".join(f"'{n}'" for n in names)
    return (f"presets {quoted} fit it alike (their tensors have the same shapes: choose the one of the data and "
            f"network the file was trained with)")


def _refuse_sets_the_import_replaces(config, imported_config, overrides: Sequence[str]) -> None:
    """UserError naming the first ``--set`` item whose key the plugin's importer set again (GRAM's
    ``generator.render.align_corners``, pi-GAN's ``generator.rendering.convention``): the run would hold the
    importer's value where the command asked for another."""
    from zoo3d.config import item_key, parse_override, set_keys
    from zoo3d.launch import differing_keys

    before = config.model_dump(mode="json")
    changed = differing_keys(before, imported_config.model_dump(mode="json"))
    for item in overrides:
        path, given = parse_override(item)
        key = item_key(before, [part.strip() for part in path])
        keys = set_keys(key, given)  # a map sets the keys it names: generator.render={near: 0.8} no other
        for found, _, value in changed:
            if any(found == k or found.startswith(k + ".") for k in keys):
                raise UserError(f"--set {shell_word(item)} sets a key the import sets itself ({found}: "
                                f"{_set_value(value)}), so that the model computes what the authors' code computes "
                                f"(docs/pretrained.md); drop it.")


def _preset_label(preset: str, overrides: Sequence[str]) -> str:
    """``preset 'NAME'``, with the ``--set`` items the config was read with."""
    return f"preset '{preset}'" + (" with " + " ".join(f"--set {shell_word(item)}" for item in overrides)
                                   if overrides else "")


def import_to_run(model: str, file: str | Path, preset: str, out: str | Path,
                  overrides: Sequence[str] = ()) -> ImportResult:
    """Import ``file`` (an authors' release) as ``model`` with ``preset`` into the run folder ``out``; ``overrides``
    are ``--set key=value`` items applied to the preset as ``zoo3d train`` applies them (the widths of a network
    the authors' code trained at settings of its own)."""
    from zoo3d.config import dump_config, load_run_config
    from zoo3d.core.model import build_modules
    from zoo3d.fileio import WriteError, check_can_create, staging_folder, write_error
    from zoo3d.launch import refuse_set_twice, refuse_unread_settings
    from zoo3d.plugins import get_model_spec
    from zoo3d.runs import CONFIG_FILE, file_sha256
    from zoo3d.train.checkpoint import (CHECKPOINT_DIR, FORMAT_VERSION, LATEST, MODULES, checkpoint_name, prefixed,
                                        set_latest, write_safetensors, write_text_atomic)

    spec = get_model_spec(model)
    plugin = spec.load()
    if not getattr(plugin, "imports_releases", False):
        raise _no_importer(spec)
    path, run_dir = Path(file), Path(out)
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise UserError(f"'{run_dir}' already exists and is not an empty folder; choose a new --out.")
    check_can_create(run_dir, "run folder", folder=True)  # a file on its way, a folder not writable: before any work
    refuse_set_twice(spec.name, overrides)
    config = load_run_config(plugin.config_class, spec.name, spec.presets_dir, preset, overrides=list(overrides))
    refuse_unread_settings(config, overrides)
    release = load_release(path)
    try:
        imported, mismatch = _fit(plugin, release, config, path)
    except UserError as exc:
        others = _fitting_presets(spec, plugin, release, path, preset, overrides)
        if others:
            raise UserError(f"{str(exc).rstrip('.')}; {_fits_hint(others)}.") from None
        items = _matching_sets(spec, plugin, release, config, path, preset, overrides)
        if items:
            raise UserError(f"{str(exc).rstrip('.')}; {_sets_hint(items, overrides)}.") from None
        kinds = [] if "import it as model" in str(exc) else _other_models_taking(spec, release)
        if all(f"as model {kind}" in str(exc) for kind in kinds):  # none, or the importer's sentence names them
            raise
        raise UserError(f"{str(exc).rstrip('.')}; it reads as a {' or '.join(kinds)} release: import it as model "
                        f"{kinds[0]}.") from None
    if mismatch is not None:
        others = _fitting_presets(spec, plugin, release, path, preset, overrides)
        items = [] if others else _matching_sets(spec, plugin, release, config, path, preset, overrides)
        hint = (_fits_hint(others) if others else _sets_hint(items, overrides) if items
                else f"no other {spec.name} preset fits it either")
        raise UserError(f"{path} does not fit {spec.name} {_preset_label(preset, overrides)}: {mismatch}; {hint}.")
    _refuse_sets_the_import_replaces(config, imported.config, overrides)
    non_finite = first_non_finite(imported)
    if non_finite is not None:  # every command would refuse the run's checkpoint, so the import does
        raise UserError(f"{path} holds non-finite values (NaN or Inf) in {non_finite}, so no command could use the "
                        f"run; import a snapshot taken before the training run diverged, or download the release "
                        f"again.")

    modules = build_modules(plugin, imported.config)
    generator = modules["generator"]
    with torch.no_grad():
        generator.load_state_dict(imported.state, strict=True)
    tensors = prefixed("generator", generator.state_dict())
    tensors.update(prefixed("ema", generator.state_dict()))
    for name, module in modules.items():
        if name != "generator":
            tensors.update(prefixed(f"{MODULES}.{name}", module.state_dict()))
    stages = plugin.stages(imported.config)
    meta = {
        "zoo3d.format_version": FORMAT_VERSION,
        "zoo3d.model": spec.name,
        "zoo3d.plugin_version": spec.version,
        "zoo3d.config": imported.config.model_dump_json(),
        "zoo3d.step": "0",
        "zoo3d.stage": stages[-1].name if stages else "",
        "zoo3d.stage_index": str(max(len(stages) - 1, 0)),
        "zoo3d.stage_step": "0",
        "zoo3d.data_cursor": "0",
        "zoo3d.ema": "1",
        "zoo3d.optim": "{}",
        "zoo3d.scaler": "{}",
        "zoo3d.state": "{}",
        "zoo3d.imported_from": path.name,
        "zoo3d.imported_sha256": file_sha256(path),
        "zoo3d.imported_preset": preset,
        "zoo3d.imported_overrides": json.dumps(list(overrides)),
        "zoo3d.import_notes": json.dumps(imported.notes),
    }
    # Built in a hidden folder and moved into place whole: a failed write (a full disk) leaves no run folder
    # that holds a config but no checkpoint, which a second try would refuse. A new --out is staged beside
    # it and renamed; an empty one that exists (the working folder, even) is staged inside it and its three
    # entries are renamed into it, checkpoint first and `latest` last.
    new = not run_dir.exists()
    try:
        with staging_folder(run_dir if new else run_dir / ".import", "run folder") as staging:
            write_text_atomic(staging / CONFIG_FILE, dump_config(imported.config))
            set_latest(staging, write_safetensors(tensors, meta, staging / CHECKPOINT_DIR / checkpoint_name(0)))
            if new:
                os.replace(staging, run_dir)
            else:
                for name in (CHECKPOINT_DIR, CONFIG_FILE, LATEST):
                    os.replace(staging / name, run_dir / name)
    except WriteError as exc:  # named by --out, not by the hidden folder
        raise write_error(run_dir, exc, "run folder") from None
    return ImportResult(run_dir, run_dir / CHECKPOINT_DIR / checkpoint_name(0), imported)
