"""Run configuration: strict pydantic models, YAML presets and ``--set a.b=value`` overrides.

Every model's config is a :class:`RunConfig` subclass. A run's config is built from, in
order: the model's defaults, a preset (``<preset>.yaml`` in the spec's ``presets_dir``) or a ``--config``
file, then ``--set`` overrides. Unknown keys and wrong types raise :class:`ConfigError`
with one sentence that names the key and the closest valid ones, and so does a ``train`` key the
model's recipe does not read (:attr:`RunConfig.unread_train_keys`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo3d.cameras import CameraPrior
from zoo3d.errors import ConfigError, closest

C = TypeVar("C", bound="Config")

#: The largest seed a torch.Generator takes (seeds are non-negative everywhere in zoo3d).
MAX_SEED = 2**63 - 1


class Config(BaseModel):
    """Base of every zoo3d config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class DataConfig(Config):
    """Where real images come from and how they are prepared.

    ``spec`` is a registered dataset (``synthetic:heads``) or a folder path (EG3D
    ``dataset.json``, GRAM-style, or images + ``poses.json``). Images are resized to the
    stage's resolution: ``crop`` first takes the centred square (``center``) or keeps the
    whole image (``none``, which requires square images), then ``resize`` resamples.
    """

    spec: str = "synthetic:heads"
    mirror: bool = True
    crop: Literal["center", "none"] = "center"
    resize: Literal["lanczos", "bicubic", "bilinear", "area"] = "lanczos"
    cache: bool = True
    num_workers: int = Field(0, ge=0)


class TrainConfig(Config):
    """What the shared engine needs for any model (model-specific losses live in the model's config).

    ``batch_scope`` says how every batch size of the run (``batch_size`` and a model's per-stage
    batch keys) is read when several processes train together (torchrun / ``--nproc``): ``global``
    (the default, and how every preset states its batch) is the total over all processes, split
    evenly among them; ``per_process`` is each process's own batch, so the total grows with them.
    """

    steps: int = Field(1000, ge=0)
    batch_size: int = Field(8, ge=1)
    batch_scope: Literal["global", "per_process"] = "global"
    seed: int = Field(0, ge=0, lt=2**32)
    device: str = "auto"
    amp: bool = True
    ema_decay: float = Field(0.999, ge=0, lt=1)
    log_every: int = Field(10, ge=1)
    sample_every: int = Field(500, ge=0)
    checkpoint_every: int = Field(500, ge=0)
    keep_checkpoints: int = Field(3, ge=1)
    max_nan_rollbacks: int = Field(3, ge=0)
    #: the seeds of the sample grids: at least one (the run ends with a grid), at most 256 (one image)
    sample_seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(default_factory=lambda: list(range(8)),
                                                                        min_length=1, max_length=256)
    sample_truncation: float = Field(0.7, ge=0, le=1)


class RunConfig(Config):
    """A training run of one model: data, engine settings, camera prior, and the model's own sections."""

    model: str = ""
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    camera: CameraPrior = Field(default_factory=CameraPrior)

    #: ``train`` keys the model's recipe does not read, each with the keys that say the same per stage
    #: (GRAM-HD: ``{"steps": "stage1.steps and stage2.steps", ...}``). A new run's config (preset, ``--config``
    #: file or ``--set``) that gives one a value other than its default is refused with that sentence, rather
    #: than trained with the value ignored; stored configs of existing runs are read as they are.
    unread_train_keys: ClassVar[dict[str, str]] = {}


# ---------------------------------------------------------------------------------------- loading

def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file '{path}' does not exist.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"Config file '{path}' is not valid YAML{where}.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{path}' must hold a mapping of keys to values.")
    return data


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b=value`` -> (["a", "b"], value parsed as YAML, so 3 is an int and [1, 2] a list)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"Override '{item}' must look like key.sub=value.")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {} if child is None else child
                if not isinstance(child, dict):
                    raise ConfigError(f"Cannot set '{'.'.join(path)}': '{part}' is a value, not a section.")
                node[part] = child
            node = child
        node[path[-1]] = value
    return data


def _model_in(annotation) -> type[BaseModel] | None:
    """The config class inside an annotation such as ``Sub``, ``Sub | None`` or ``list[Sub]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _fields_at(model_cls: type[BaseModel], loc: tuple) -> tuple[type[BaseModel] | None, list[str]]:
    """The config class reached by following ``loc`` from ``model_cls`` and its field names.

    List indices and dict keys in ``loc`` are stepped over (they select an item, not a field).
    """
    cls: type[BaseModel] | None = model_cls
    for part in loc:
        if cls is None:
            return None, []
        field_info = cls.model_fields.get(str(part))
        if field_info is None:
            continue
        cls = _model_in(field_info.annotation)
    return (cls, list(cls.model_fields)) if cls is not None else (None, [])


def format_validation_error(exc: ValidationError, model_cls: type[BaseModel], data: dict[str, Any],
                            origin: str = "") -> str:
    """One sentence about the first problem: the key, the bad value, and the closest valid keys."""
    errors = exc.errors()
    # A misspelt key usually also leaves a required key missing: name the misspelling first.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(str(p) for p in err["loc"])
    dotted = ".".join(loc)
    where = f" in {origin}" if origin else ""
    if err["type"] == "extra_forbidden":
        _, valid = _fields_at(model_cls, loc[:-1])
        hint = closest(loc[-1], valid)
        prefix = ".".join(loc[:-1])
        full = [f"{prefix}.{h}" if prefix else h for h in hint]
        did = f"; did you mean {' or '.join(repr(h) for h in full)}" if full else ""
        section = f" under '{prefix}'" if prefix else ""
        valid_txt = ", ".join(valid)
        return f"Unknown config key '{dotted}'{where}{did} (valid keys{section}: {valid_txt})."
    value = err.get("input")
    msg = err["msg"].rstrip(".")
    if err["type"] == "missing":
        return f"Missing config key '{dotted}'{where}."
    return f"Invalid value {value!r} for config key '{dotted}'{where}: {msg[0].lower() + msg[1:]}."


def validate(config_cls: type[C], data: dict[str, Any], origin: str = "") -> C:
    try:
        return config_cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, config_cls, data, origin)) from None


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_run_config(
    config_cls: type[C],
    model_name: str,
    presets_dir: str | Path | None = None,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    default_preset: str | None = "tiny",
) -> C:
    """Build a model's run config from a preset or file plus overrides (see the module doc)."""
    if preset and config_file:
        raise ConfigError("Give either --preset or --config, not both.")
    data: dict[str, Any] = {}
    origin = ""
    if config_file:
        data, origin = read_yaml(config_file), str(config_file)
    else:
        name = preset or default_preset
        if name:
            available = sorted(p.stem for p in Path(presets_dir).glob("*.yaml")) if presets_dir else []
            if name not in available:
                if preset is None and not available:
                    name = None  # a model without presets runs on its defaults
                else:
                    hint = closest(name, available)
                    did = f" Did you mean '{hint[0]}'?" if hint else ""
                    raise ConfigError(f"Unknown preset '{name}' for model '{model_name}'.{did} "
                                      f"Available presets: {', '.join(available) or 'none'}.")
            if name:
                path = Path(presets_dir) / f"{name}.yaml"
                data, origin = read_yaml(path), str(path)
    # Overrides land on the model's full defaults, so `--set train.steps=3` keeps the rest of a
    # section whose defaults the model's config class sets.
    data = deep_merge(_defaults(config_cls), data)
    data = apply_overrides(data, list(overrides or []))
    data["model"] = data.get("model") or model_name
    config = validate(config_cls, data, origin if not overrides else "")
    _refuse_unread_train_keys(config, model_name, origin if not overrides else "")
    return config


def _refuse_unread_train_keys(config: BaseModel, model_name: str, origin: str) -> None:
    """ConfigError for a ``train`` key set (away from its default) on a model whose recipe does not read it."""
    default = TrainConfig()
    for key, instead in getattr(type(config), "unread_train_keys", {}).items():
        value = getattr(config.train, key)
        if value != getattr(default, key):
            where = f" (in {origin})" if origin else ""
            raise ConfigError(f"Model '{model_name}' does not read 'train.{key}' (set to {value!r}{where}): its "
                              f"stages have their own, {instead}; set those instead.")


def _defaults(config_cls: type[BaseModel]) -> dict[str, Any]:
    try:
        return config_cls().model_dump(mode="json")
    except ValidationError:  # a config with required keys has no complete defaults
        return {}


def dump_config(cfg: BaseModel) -> str:
    """YAML text of a config, in plain types (never Python-object tags)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
