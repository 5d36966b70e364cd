"""Run configuration: strict pydantic models, YAML presets and ``--set a.b=value`` overrides.

Every model's config is a :class:`RunConfig` subclass, in one shape: the shared sections, one section per
kind of module, ``loss`` and ``stages``. A run's config is built from, in order: the model's defaults, a
preset (``<preset>.yaml`` in the spec's ``presets_dir``) or a ``--config`` file, then ``--set`` overrides.
A preset or config file that sets ``extends: NAME`` is read on top of the model's preset ``NAME``
(itself read the same way), so a variant states only what it changes.
Unknown keys and wrong types raise :class:`ConfigError` with one sentence that names the key and the
closest valid ones; ``train.steps`` and ``train.batch_size`` (which live in each stage) are refused with a
sentence naming the stage keys.
"""

from __future__ import annotations

import copy
import math
import types
import typing
from pathlib import Path, PurePath
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from zoo3d.cameras import CameraPrior
from zoo3d.config_base import (  # noqa: F401 (public here too)
    C, Config, dump_yaml, format_validation_error, load_yaml, read_yaml, validate)
from zoo3d.errors import ConfigError, closest

#: The largest seed a torch.Generator takes (seeds are non-negative everywhere in zoo3d).
MAX_SEED = 2**63 - 1


class MissingStage(ConfigError, KeyError):
    """A stage the recipe reads that the config does not have: one sentence, as every ConfigError (a KeyError too,
    which it was, but printed without KeyError's quotes)."""

    __str__ = ConfigError.__str__


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

    @field_validator("spec", mode="before")
    @classmethod
    def _path_as_text(cls, value: Any) -> Any:
        """A ``pathlib.Path`` (``DataConfig(spec=Path("/data/ffhq256"))`` from Python) is the folder its text names,
        where it was refused as no valid string."""
        return str(value) if isinstance(value, PurePath) else value


class TrainConfig(Config):
    """What the shared engine needs for any model (steps, batch sizes and learning rates live in ``stages``).

    ``batch_scope`` says how every stage's ``batch_size`` is read when several processes train together
    (torchrun / ``--nproc``): ``global`` (the default, and how every preset states its batch) is the total
    over all processes, split evenly among them; ``per_process`` is each process's own batch, so the total
    grows with them.

    ``micro_batch`` caps how many images one process puts through a forward and backward pass: a larger
    share of the batch is split into that many near-equal chunks whose gradients add up, weighted by size,
    to the whole batch's (upstream GRAM's ``batch_split``, which fits its batch on a 32 GB GPU). None: the
    whole share at once. Layers that couple a batch's images (minibatch std) then see a chunk, which must hold a
    whole minibatch-stddev group (checked before a new run).

    ``ema_warmup`` ramps the EMA's decay in as torch_ema (``use_num_updates``, its default, which GRAM,
    GRAM-HD and pi-GAN train with) does: the n-th update since the EMA was last made equal to the
    generator uses ``min(decay, (1 + n) / (10 + n))``, so the average forgets the random start within
    the first few hundred updates instead of ~1/(1 - decay) steps.

    ``ema_rampup`` is StyleGAN2-ADA's and EG3D's ramp instead (their ``ema_rampup``, 0.05 when training from
    scratch): the half-life, ``decay``'s in steps, is capped at ``ema_rampup`` x the updates before this one
    (since the EMA was last made equal to the generator; one a step where the generator trains every step),
    so the n-th update uses ``0.5 ** (1 / min(half-life, (n - 1) x ema_rampup))`` (0 at n = 1).
    """

    batch_scope: Literal["global", "per_process"] = "global"
    micro_batch: int | None = Field(None, ge=1)
    seed: int = Field(0, ge=0, lt=2**32)
    device: str = "auto"
    amp: bool = True
    ema_decay: float = Field(0.999, ge=0, lt=1)
    ema_warmup: bool = False
    ema_rampup: float | None = Field(None, gt=0)
    log_every: int = Field(10, ge=1)
    sample_every: int = Field(500, ge=0)
    checkpoint_every: int = Field(500, ge=0)
    keep_checkpoints: int = Field(3, ge=1)
    max_nan_rollbacks: int = Field(3, ge=0)
    #: the seeds of the sample grids: at least one (the run ends with a grid), at most 256 (one image)
    sample_seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(default_factory=lambda: list(range(8)),
                                                                        min_length=1, max_length=256)
    sample_truncation: float = Field(0.7, ge=0, le=1)

    @field_validator("device", mode="before")
    @classmethod
    def _device_name(cls, value: Any) -> Any:
        """A device is named in text, as ``--device`` takes it; a number (``train.device=0``, GPU 0 meant) or any
        other value is refused with the names, not with pydantic's bare "a valid string"."""
        if isinstance(value, str):
            return value
        gpu = f"; GPU {value} is cuda:{value}" if type(value) is int and value >= 0 else ""
        raise ValueError(f"a device is one of cpu, cuda, cuda:N, mps or auto{gpu}")

    @model_validator(mode="after")
    def _one_ema_ramp(self):
        if self.ema_warmup and self.ema_rampup is not None:
            raise ValueError("train.ema_warmup and train.ema_rampup are two ramps of the EMA's decay; set one")
        return self


class StageConfig(Config):
    """One stage of a model's recipe, in the one shape every model uses (a run config's ``stages`` list).

    ``name`` is the recipe's name for the stage (fixed by the model; ``--set stages.<name>.steps=N``
    addresses it). ``steps`` and ``batch_size`` (see :attr:`TrainConfig.batch_scope`) size it. ``lr`` is
    the Adam learning rate of each optimiser the stage trains, by role (``generator``, ``discriminator``,
    ``encoder`` ...); ``betas`` apply to all of them (an optimiser that also steps a lazy regulariser every k
    steps trains at lr x c with betas ** c, c = k / (k + 1): StyleGAN2's correction), and so does
    ``grad_clip`` (max global gradient norm of the optimiser's parameters; None: off) unless it maps roles to
    their own limits (``{generator: 0.25, discriminator: 1.0}``; a role it leaves out is not clipped):
    :meth:`clip_for`.
    ``module_lr`` gives a sub-module its own learning rate inside the optimiser that trains it, by dotted
    module path (``generator.manifold: 2.0e-6``, upstream GRAM's ``sampling_network_lr`` for CARLA);
    ``--set stages.gram.module_lr.generator.manifold=2e-6`` sets it from the command line.
    ``resolution`` is the stage's image resolution where the model changes it between stages (pi-GAN's
    curriculum; None: the model's own). ``loss`` overrides weights of the run's ``loss`` section for this
    stage only (GRAM-HD's stage 2 R1 weight; StyleSDF's decoder R1): :meth:`RunConfig.stage_loss`.
    ``ema_decay`` is the generator EMA's decay during this stage (None: ``train.ema_decay``), for a recipe
    whose stages want different horizons (a long one over a long first stage whose average the next
    stage starts from, and a short one over a few steps after it). ``keep_optimizer_state`` continues the
    previous stage's Adam moments and step counts (per optimiser role, for the parameters both train) under
    this stage's rates and betas, as a recipe that keeps one optimiser through its stages does (pi-GAN's
    curriculum); False starts fresh optimisers.
    """

    name: str
    steps: int = Field(ge=0)
    batch_size: int = Field(ge=1)
    lr: dict[str, Annotated[float, Field(gt=0)]]
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.0, 0.9)
    grad_clip: float | dict[str, float | None] | None = None
    module_lr: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    resolution: int | None = Field(None, ge=4)
    loss: dict[str, float | int | None] = Field(default_factory=dict)
    ema_decay: float | None = Field(None, ge=0, lt=1)
    keep_optimizer_state: bool = False

    @field_validator("grad_clip", mode="before")
    @classmethod
    def _clip(cls, value: Any) -> Any:
        """One positive number, or roles mapped to positive numbers (or null), said in one sentence otherwise."""
        def positive(x: Any) -> bool:
            return isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < math.inf

        if value is None or positive(value):
            return value
        if isinstance(value, dict):
            bad = {k: v for k, v in value.items() if v is not None and not positive(v)}
            if not bad:
                return value
            role, v = next(iter(bad.items()))
            raise ValueError(f"the clip of role '{role}' must be a finite number above 0, got {v!r}")
        raise ValueError("must be a finite number above 0, or roles mapped to such numbers ({generator: 0.25, ...})")

    def clip_for(self, role: str) -> float | None:
        """The max gradient norm of ``role``'s optimiser (None: not clipped)."""
        return self.grad_clip.get(role) if isinstance(self.grad_clip, dict) else self.grad_clip

    @field_validator("module_lr", mode="before")
    @classmethod
    def _dotted_paths(cls, value: Any) -> Any:
        """``--set`` splits ``generator.manifold`` into nested keys; a module path is one dotted key."""
        if not isinstance(value, dict):
            return value
        flat: dict[str, Any] = {}

        def walk(prefix: str, node: dict) -> None:
            for key, item in node.items():
                path = f"{prefix}.{key}" if prefix else str(key)
                if isinstance(item, dict):
                    walk(path, item)
                else:
                    flat[path] = item
        walk("", value)
        return flat


def _members(annotation: Any) -> tuple:
    """The types a field's annotation admits: each of ``A | B`` (``Union``, ``Optional``), else the annotation."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


class RayRange(Config):
    """A render config's ray interval, ``near`` to ``far`` from the camera (world units), refused unless ordered."""

    near: float = Field(0.88, gt=0)
    far: float = Field(1.12, gt=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.far <= self.near:
            raise ValueError(f"far ({self.far}) must be larger than near ({self.near})")
        return self

    def check_camera_radius(self, radius: float, key: str, scene: str) -> None:
        """Raise ``ValueError`` (in a model validator: an invalid config, exit status 2) unless a camera prior's
        ``radius`` lies in ``near`` to ``far``, where this config (found at ``key``, e.g. ``generator.render``) sends
        its rays: the scene sits at the origin, so from farther every fake misses it (the background alone, or the
        field's empty or untrained space) and from nearer it is cut. ``scene`` ends the sentence with the radius the
        model's scene is built for, e.g. ``"GRAM's scene: 1"`` (empty: the sentence ends without it)."""
        if not self.near <= radius <= self.far:
            raise ValueError(f"camera.radius {radius:g} lies outside the generator's ray range, {key}.near "
                             f"{self.near:g} to far {self.far:g}, so the fakes rendered from the camera prior's cameras "
                             f"would cut the head at the origin or miss it; keep the radius between them"
                             + (f" ({scene})" if scene.strip() else ""))


class GanLossConfig(Config):
    """The weights of the shared adversarial steps (:class:`zoo3d.train.gan.AdversarialLoss`), under the same
    names in every model's ``loss`` section (which subclasses this and adds its own terms and defaults).

    ``r1_gamma``: R1 weight on reals; ``r1_every``: None puts R1 in every discriminator step, N in a lazy
    phase of its own every N steps; ``lambda_pos`` / ``lambda_realpos``: pose regression of fakes (both
    steps) / of reals (discriminator step).
    """

    r1_gamma: float = Field(0.0, ge=0)
    r1_every: int | None = Field(None, ge=1)
    lambda_pos: float = Field(0.0, ge=0)
    lambda_realpos: float = Field(0.0, ge=0)


class RunConfig(Config):
    """A training run of one model, in the one shape every model's config has.

    The shared sections (``data``, ``train``, ``camera``), one section per kind of module the model builds
    (``generator``, ``discriminator``, and e.g. ``encoder``), ``loss`` (its weights; the adversarial ones
    named as in :class:`GanLossConfig`) and ``stages`` (a list of :class:`StageConfig`, one per stage of
    the recipe, in order). A model whose recipe has fixed stages lists their names in :attr:`stage_names`
    and their optimiser roles in :attr:`stage_roles`; a config naming others is refused.
    """

    model: str = ""
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    camera: CameraPrior = Field(default_factory=CameraPrior)
    stages: list[StageConfig] = Field(default_factory=list)

    #: the recipe's stage names in order (empty: any names, e.g. pi-GAN's curriculum of resolutions)
    stage_names: ClassVar[tuple[str, ...]] = ()
    #: the optimiser roles of each stage, by stage name (a stage not named here: any roles)
    stage_roles: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: where a model whose stages do not read ``resolution`` sets its resolutions (e.g. "generator.resolution");
    #: a stage that sets one is then refused naming them. Empty: the stages' ``resolution`` is the model's to read.
    resolution_keys: ClassVar[str] = ""
    #: where the generator's :class:`RayRange` sits (e.g. "generator.render"), and the end of the refusal naming the
    #: radius the model's scene is built for (e.g. "GRAM's scene: 1"): the camera prior's radius must lie in its
    #: rays' range (:meth:`RayRange.check_camera_radius`). Empty: not checked.
    ray_range_key: ClassVar[str] = ""
    scene_radius: ClassVar[str] = ""

    #: the class attributes above, which configure the class and are no config keys
    _CLASS_SETTINGS: ClassVar[tuple[str, ...]] = ("stage_names", "stage_roles", "resolution_keys", "ray_range_key",
                                                  "scene_radius")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._check_class_settings()
        cls._check_ray_range_key()

    @classmethod
    def _check_class_settings(cls) -> None:
        """A class setting written with a type (``ray_range_key: str = "generator.render"``) is a pydantic field: a
        config key, while the class keeps the base's empty setting, so the check it asks for never ran. Refused where
        the class is defined, as :meth:`_check_ray_range_key`'s mistakes are."""
        for name in cls._CLASS_SETTINGS:
            if name in cls.model_fields:
                raise TypeError(f"{cls.__name__}.{name} is a class setting of RunConfig, not a config key: assign it "
                                f"without a type ({name} = ...) or as ClassVar[...]; with one, pydantic makes it a "
                                f"field and zoo3d never reads it")

    @classmethod
    def _check_ray_range_key(cls) -> None:
        """A :attr:`ray_range_key` that names no :class:`RayRange` field (a typo, a section renamed) is the class's
        own mistake, raised where it is defined: the model's factory then fails to import (one sentence, and a failed
        row of ``zoo3d plugins --check``) instead of every config read stopping with an AttributeError traceback.
        A field typed as a union of sections (or of ``RayRange`` subclasses) is followed through each of them. Not
        checked while the class's fields are not all resolved (a forward reference): the read checks it then."""
        if not cls.ray_range_key or not cls.__pydantic_complete__:
            return
        key, parts = cls.ray_range_key, cls.ray_range_key.split(".")

        def named(types: tuple) -> str:
            return " | ".join(getattr(t, "__name__", str(t)) for t in types)

        nodes: tuple = (cls,)
        for i, part in enumerate(parts):
            where = ".".join(parts[:i])
            if not all(isinstance(n, type) and issubclass(n, BaseModel) for n in nodes):
                raise TypeError(f"{cls.__name__}.ray_range_key '{key}': '{where}' is not a config section (it is "
                                f"typed {named(nodes)}), so it holds no '{part}'")
            for node in nodes:
                if part not in node.model_fields:
                    raise TypeError(f"{cls.__name__}.ray_range_key '{key}' names no field: "
                                    f"{f'section {where!r}' if where else 'the config'} has no '{part}' (its fields: "
                                    f"{', '.join(node.model_fields)})")
            nodes = tuple(t for n in nodes for t in _members(n.model_fields[part].annotation))
        if not all(isinstance(n, type) and issubclass(n, RayRange) for n in nodes):
            raise TypeError(f"{cls.__name__}.ray_range_key '{key}' must name a zoo3d.config.RayRange field, and that "
                            f"field is typed {named(nodes)}")

    @model_validator(mode="before")
    @classmethod
    def _recipe_stage_names(cls, data: Any) -> Any:
        """A list naming other stages than the recipe's is refused for that, before its stages are checked key by
        key: a file listing only the stage it changes replaces the whole list (stages merge by name only when
        the names are the same), and would otherwise be told of a key the stage it lists lacks."""
        stages = data.get("stages") if isinstance(data, dict) else None
        names = _names(stages)
        if cls.stage_names and names is not None and tuple(names) != tuple(cls.stage_names):
            raise ValueError(f"stages: this model's recipe has the stages {list(cls.stage_names)}, in that order (got "
                             f"{names}); a list naming them all merges into theirs stage by stage, so each states only "
                             f"what it changes")
        return data

    @model_validator(mode="after")
    def _prior_within_the_rays_reach(self):
        """The camera prior's cameras must see the scene at the origin: from a radius beyond the rays' range every
        fake misses it (the background alone, or the field's empty or untrained space), from one nearer it is cut."""
        if self.ray_range_key:
            rays: Any = self
            for part in self.ray_range_key.split("."):
                rays = getattr(rays, part)
            rays.check_camera_radius(self.camera.radius, self.ray_range_key, self.scene_radius)
        return self

    @model_validator(mode="after")
    def _check_stages(self):
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stages: each name once (got {names})")
        if self.stage_names and tuple(names) != tuple(self.stage_names):
            raise ValueError(f"stages: this model's recipe has the stages {list(self.stage_names)}, in that "
                             f"order (got {names})")
        for s in self.stages:
            if self.resolution_keys and s.resolution is not None:
                raise ValueError(f"stages.{s.name}.resolution: this model's stages train at {self.resolution_keys}; "
                                 f"set {'those' if ' and ' in self.resolution_keys else 'that'} instead "
                                 f"(got {s.resolution})")
            roles = self.stage_roles.get(s.name)
            if roles is not None and set(s.lr) != set(roles):
                raise ValueError(f"stages.{s.name}.lr: give a learning rate for each of {list(roles)} "
                                 f"(got {sorted(s.lr)})")
            loss_cls = type(getattr(self, "loss", None))
            if s.loss and issubclass(loss_cls, BaseModel):
                unknown = sorted(set(s.loss) - set(loss_cls.model_fields))
                if unknown:
                    raise ValueError(f"stages.{s.name}.loss: {unknown} are not keys of this model's loss "
                                     f"section ({', '.join(loss_cls.model_fields)})")
                try:  # the overridden values must be valid too
                    self.stage_loss(s.name)
                except ValidationError as exc:
                    err = exc.errors()[0]
                    key = "".join(f".{p}" for p in err["loc"])
                    msg = err["msg"].removeprefix("Value error, ")
                    # a check of the whole section (no key) names its keys itself: not its whole content
                    got = f" (got {err.get('input')!r})" if key else ""
                    raise ValueError(f"stages.{s.name}.loss{key}: {msg[0].lower()}{msg[1:]}{got}") from None
        return self

    def stage(self, name: str) -> StageConfig:
        """The stage called ``name``; a :class:`MissingStage` (one sentence, and a KeyError) where there is none (a
        ``--config`` whose stages are named otherwise, for a model whose config sets no ``stage_names``)."""
        for s in self.stages:
            if s.name == name:
                return s
        if not self.stages:  # the class's default holds none: a plugin's config_class left at RunConfig, say
            raise MissingStage(f"No stage '{name}' in this config, which has no stages; the model's config class "
                               f"({type(self).__name__}) gives its recipe's stages as the default of its stages field "
                               f"(docs/plugins.md, Configs and presets).")
        raise MissingStage(f"No stage '{name}' in this config (stages: {', '.join(s.name for s in self.stages)}); "
                           f"the model's recipe reads it, so name the stages as its presets do.")

    def unread_keys(self) -> dict[str, str]:
        """Keys (dotted, a stage named ``stages.<name>``) this config holds and its recipe does not read, each with
        why, in a sentence's words: GRAM-HD's stage-1 keys beside ``generator.lowres_run``. A ``--set`` of one, or
        of a key under one, is refused (:func:`zoo3d.launch.refuse_unread_settings`). None here."""
        return {}

    def stage_loss(self, name: str):
        """The run's ``loss`` section with stage ``name``'s overrides applied (same class, validated)."""
        loss = getattr(self, "loss")
        overrides = self.stage(name).loss
        return type(loss).model_validate({**loss.model_dump(), **overrides}) if overrides else loss

    @classmethod
    def upgrade_stored(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A config stored by an older zoo3d (a checkpoint's), rewritten in today's shape; new configs are never
        rewritten. A model whose config shape changed overrides this, moves what it needs (e.g. the old
        ``train.steps`` into its stage) and then calls this, which drops the ``train`` keys that moved into
        ``stages`` (``steps``, ``batch_size``)."""
        train = data.get("train")
        if isinstance(train, dict) and "stages" in data:
            data = {**data, "train": {k: v for k, v in train.items() if k not in ("steps", "batch_size")}}
        return data


def with_stored_default(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """``data`` (a stored config, for :meth:`RunConfig.upgrade_stored`) with ``value`` at the ``dotted`` key when
    it has none there: a key added later whose default is not what the stored run ran with. ``data`` itself
    is not changed."""
    *sections, key = dotted.split(".")
    out = dict(data)
    node = out
    for name in sections:
        child = node.get(name)
        node[name] = dict(child) if isinstance(child, dict) else {}
        node = node[name]
    node.setdefault(key, value)
    return out


# ---------------------------------------------------------------------------------------- loading

def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b=value`` -> (["a", "b"], value read as a config file's value is, so 3 is an int, 1e-3 a float, [1, 2] a
    list, no and 1:30 text, "1e3" (quoted) text and nothing null)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not all(part.strip() for part in key.split(".")):  # no key, or an empty part: 'train..seed'
        raise ConfigError(f"Override '{item}' must look like key.sub=value.")
    try:
        value = load_yaml(raw)
    except yaml.YAMLError as exc:
        if raw.strip()[:1] in ("[", "{", '"', "'"):  # meant as a list, a map or quoted text: say what is wrong
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"Override '{item}': the value {raw.strip()!r} is not valid YAML ({problem}).") from None
        value = raw  # other text YAML cannot read ("a: b") is taken as written
    return key.split("."), value


def _named_item(items: list, parts: list[str], done: list[str]) -> tuple[Any, int]:
    """The list item that ``parts`` start with (its ``name``, which may hold dots, or its index) and how many
    parts name it, with at least one part after them; ``done`` is the path to the list."""
    for n in range(len(parts) - 1, 0, -1):  # the longest name first: "gram_hd.stage2" before "gram_hd"
        name = ".".join(parts[:n])
        for item in items:
            if isinstance(item, dict) and item.get("name") == name:
                return item, n
    if len(parts) > 1 and parts[0].isdigit() and int(parts[0]) < len(items):
        return items[int(parts[0])], 1
    raise ConfigError(_no_item(items, parts, done))


def _is_value_index(items: list, part: str) -> bool:
    """Whether ``part`` is the index of an element of ``items`` that is a value (a number, text, a list), which
    ``--set`` may replace alone; an item that is a map (a stage) is set key by key."""
    return part.isdigit() and int(part) < len(items) and not isinstance(items[int(part)], dict)


def _no_item(items: list, parts: list[str], done: list[str]) -> str:
    """Why ``parts`` name no item of ``items`` and a key of it, with the whole paths the user may have meant."""
    dotted = ".".join(done + parts)
    named = {str(i["name"]): i for i in items if isinstance(i, dict) and "name" in i}
    whole = ".".join(parts)
    if whole in named or (whole.isdigit() and int(whole) < len(items)):
        return f"Cannot set '{dotted}': give a key of item '{whole}', not the whole item."
    index = f"0 to {len(items) - 1}" if items else "none"
    if not named and parts[0].isdigit():
        return f"Cannot set '{dotted}': the list has no index {parts[0]} (indices: {index})."
    meant = _meant_items(named, parts)
    given = ".".join(parts[:meant[0][1]]) if meant else parts[0]
    paths = [".".join([*done, name, *parts[cut:]]) for name, cut in meant]
    did = f"; did you mean {' or '.join(repr(p) for p in paths)}" if paths else ""
    listed = f"items: {', '.join(named)}, or by index {index}" if named else f"items by index: {index}"
    dots = "; a name with dots is written whole, then the key" if any("." in n for n in named) else ""
    return f"Cannot set '{dotted}': no item is named '{given}'{did} ({listed}{dots})."


def _meant_items(named: dict[str, dict], parts: list[str]) -> list[tuple[str, int]]:
    """The items ``parts`` may have meant, by name, each with how many parts its name would replace: every item
    whose dotted name ``parts`` give only the start or end of before one of its keys ("gram_hd" or "stage2" for
    "gram_hd.stage2"), else the names closest to a misspelt one, comparing whole paths (ties all kept)."""
    import difflib

    for cut in range(len(parts) - 1, 0, -1):
        given = ".".join(parts[:cut])
        partial = [name for name, item in named.items() if parts[cut] in item
                   and (name.startswith(given + ".") or name.endswith("." + given))]
        if partial:
            return [(name, cut) for name in partial]
    typed = ".".join(parts).lower()
    best: dict[str, tuple[float, int]] = {}
    for name in named:
        for cut in range(1, len(parts)):
            score = difflib.SequenceMatcher(None, ".".join([name, *parts[cut:]]).lower(), typed).ratio()
            if score > best.get(name, (0.0, 0))[0]:
                best[name] = (score, cut)
    top = max((score for score, _ in best.values()), default=0.0)
    return [(name, cut) for name, (score, cut) in best.items() if score == top and top >= 0.6]


def item_key(data: Any, path: list[str]) -> str:
    """``path`` as :func:`set_value` walks it through ``data``, each item of a list named as the list names it
    (``stages.0.lr`` and ``stages.gram.lr`` are both ``stages.gram.lr``); the parts past what ``data`` holds as
    written."""
    node, out, i = data, [], 0
    while i < len(path) and isinstance(node, (dict, list)):
        if isinstance(node, dict):
            out.append(path[i])
            node, i = node.get(path[i]), i + 1
            continue
        try:
            item, used = _named_item(node, path[i:], path[:i])
        except ConfigError:  # no such item: set_value says so, naming the items there are
            break
        out.append(str(item["name"]) if isinstance(item, dict) and "name" in item else ".".join(path[i:i + used]))
        node, i = item, i + used
    return ".".join(out + path[i:])


def set_keys(key: str, value: Any) -> list[str]:
    """The dotted keys a ``--set`` of ``key`` (as :func:`item_key` names it) to ``value`` sets: a map's own keys, each
    down to its values (``generator.render={near: 0.8}`` sets ``generator.render.near``, no other key there)."""
    if isinstance(value, dict) and value:
        return [leaf for sub, v in value.items() for leaf in set_keys(f"{key}.{sub}", v)]
    return [key]


def refuse_key_set_twice(overrides, data: dict[str, Any] | None = None) -> None:
    """ConfigError when two ``--set`` items of a command line name the same key (``epi_frames=4`` and
    ``epi_frames=5``): the last would win without a word, as a key given twice in one YAML map would, which a
    config file refuses. A map for a section and a key inside it (``train={seed: 3}`` and ``train.amp=false``) name
    different keys and layer. With ``data`` (the config the items apply to, or its defaults) an item of a list
    named by its index and by its name is one key (``stages.0.lr`` and ``stages.gram.lr``). The commands call it on
    what the user typed; :func:`apply_overrides` and :func:`load_run_config` take a list in which a later item
    overrides an earlier one, so code may layer its own settings under the user's."""
    first: dict[str, str] = {}
    for item in overrides:
        path, _ = parse_override(item)
        path = [part.strip() for part in path]
        key = ".".join(path) if data is None else item_key(data, path)
        if key in first:
            raise ConfigError(f"--set '{first[key]}' and --set '{item}' both set '{key}'; give it once.")
        first[key] = item


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` overrides; inside a list, parts name an item by its ``name`` or index
    (``stages.gram.steps``, ``stages.gram_hd.stage2.lr.generator``, ``stages.0.steps``), and an index as the last
    part sets one element of a list of values (``train.sample_seeds.0``)."""
    for item in overrides:
        set_value(data, *parse_override(item))
    return data


def set_value(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Put ``value`` at ``path`` in ``data``, making the sections it lacks; an item of a list is named as in
    :func:`apply_overrides`. A map put over a section merges into it key by key, as the same map in a preset or
    file merges (:func:`deep_merge`), so ``train={seed: 3}`` keeps the rest of the preset's ``train``; a map put over
    a setting of a list item (a stage's ``lr``, ``loss``, ``module_lr`` or ``grad_clip``) is that whole setting."""
    dotted = ".".join(path)
    node: Any = data
    in_item = False  # below an item of a list (a stage): its maps are settings, not sections
    i = 0
    while i < len(path):
        part, last = path[i], i == len(path) - 1
        if isinstance(node, list):
            if last and _is_value_index(node, part):  # one element of a list of values: train.sample_seeds.0
                node[int(part)] = value
                break
            node, used = _named_item(node, path[i:], path[:i])
            i += used
            in_item = True
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"Cannot set '{dotted}': '{'.'.join(path[:i])}' is a value, not a section.")
            continue
        if last:  # a map merges into the section there as a preset's or file's does (deep_merge), a value replaces
            old = node.get(part)
            node[part] = value if old is None or in_item else deep_merge({part: old}, {part: value})[part]
            break
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, (dict, list)):
            raise ConfigError(f"Cannot set '{dotted}': '{'.'.join(path[:i + 1])}' is a value, not a section.")
        node = child
        i += 1


def _names(items: Any) -> list | None:
    """The ``name`` of every item of a list of named mappings (stages), else None."""
    if not isinstance(items, list) or not all(isinstance(i, dict) and "name" in i for i in items):
        return None
    return [i["name"] for i in items]


#: keys whose map is one whole setting: a preset's or file's map replaces the default's (a role a ``grad_clip``
#: map leaves out is unclipped, as it is when the map comes from --set)
WHOLE_MAPS = frozenset({"grad_clip"})


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``, section by section. A list of named items (``stages``) in ``update`` that
    names the same items as ``base`` merges item by item, so a preset only states what it changes; a map under
    a key of :data:`WHOLE_MAPS` replaces the one it is given over."""
    out = dict(base)
    for k, v in update.items():
        old = out.get(k)
        if isinstance(v, dict) and isinstance(old, dict) and k not in WHOLE_MAPS:
            out[k] = deep_merge(old, v)
        elif _names(v) is not None and _names(v) == _names(old):
            out[k] = [deep_merge(a, b) for a, b in zip(old, v)]
        else:
            out[k] = v
    return out


def _preset_names(presets_dir: str | Path | None) -> list[str]:
    return sorted(p.stem for p in Path(presets_dir).glob("*.yaml")) if presets_dir else []


def _which_presets(name: str, available: list[str]) -> str:
    """The end of an unknown-preset sentence: the closest name, then every name."""
    lower = {p.lower(): p for p in available}  # TINY is tiny misspelt in case only
    hint = closest(name.lower(), lower)
    did = f" Did you mean '{lower[hint[0]]}'?" if hint else ""
    return f"{did} Available presets: {', '.join(available) or 'none'}."


def _preset_of_another_model(name: str, model_name: str) -> str:
    """The end of an unknown-preset sentence where exactly one other model has a preset ``name``
    (``demo`` is GRAM-HD's, not GRAM's): the user more likely meant that model than a misspelt preset. A name
    several models share (``tiny``, ``ffhq256``) says nothing about which one was meant: no hint."""
    from zoo3d.plugins import get_host  # the registry, only for this sentence

    owners = [spec.name for spec in get_host().models if spec.name != model_name and spec.presets_dir is not None
              and name in _preset_names(spec.presets_dir)]
    return f" '{name}' is a preset of model '{owners[0]}'." if len(owners) == 1 else ""


#: The key of a preset or config file that names the preset it is read on top of.
EXTENDS = "extends"


def with_base_presets(data: dict[str, Any], presets_dir: str | Path | None, origin: str,
                      _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """``data`` merged over the preset it ``extends`` (and that one over its own), without the key."""
    if EXTENDS not in data:
        return data
    data = dict(data)
    name = data.pop(EXTENDS)
    available = _preset_names(presets_dir)
    if not isinstance(name, str) or name not in available:
        raise ConfigError(f"'{EXTENDS}: {name}' in {origin} names no preset of this model."
                          f"{_which_presets(str(name), available)}")
    if name in _seen:
        raise ConfigError(f"Presets extend each other in a loop: {' -> '.join((*_seen, name))}.")
    path = Path(presets_dir) / f"{name}.yaml"
    base = with_base_presets(read_yaml(path), presets_dir, str(path), (*_seen, name))
    return deep_merge(base, data)


def load_run_config(
    config_cls: type[C],
    model_name: str,
    presets_dir: str | Path | None = None,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    default_preset: str | None = "tiny",
    values: dict[str, Any] | None = None,
) -> C:
    """Build a model's run config from a preset or file plus overrides (see the module doc), then ``values``:
    dotted keys set to values as they are, not read as YAML (``--data``'s folder, which may be any path)."""
    if preset and config_file:
        raise ConfigError("Give either --preset or --config, not both.")
    data: dict[str, Any] = {}
    origin = ""
    read: tuple[str, ...] = ()  # the preset read, which its bases may not extend again
    if config_file:
        config_file = Path(config_file).expanduser()  # --config=~/run.yaml: no shell expands a ~ after '='
        data, origin = read_yaml(config_file), str(config_file)
    else:
        name = preset or default_preset
        if presets_dir is not None and not Path(presets_dir).is_dir():  # not "a model without presets": a wrong path
            raise ConfigError(f"Model '{model_name}' keeps its presets in '{presets_dir}', which is not a folder; its "
                              f"plugin's ModelSpec(presets_dir=...) names the wrong path, or its package was installed "
                              f"without the folder.")
        if name:
            available = _preset_names(presets_dir)
            if name not in available:
                if preset is None and not available:
                    name = None  # a model without presets runs on its defaults
                elif Path(name).expanduser().is_file():  # a YAML file given where a preset's name goes
                    raise ConfigError(f"Unknown preset '{name}' for model '{model_name}': --preset takes a preset's "
                                      f"name, not a file (zoo3d train reads a config file with --config {name}). "
                                      f"Available presets: {', '.join(available) or 'none'}.")
                else:
                    raise ConfigError(f"Unknown preset '{name}' for model '{model_name}'."
                                      f"{_which_presets(name, available)}{_preset_of_another_model(name, model_name)}")
            if name:
                path = Path(presets_dir) / f"{name}.yaml"
                data, origin, read = read_yaml(path), str(path), (name,)
    data = with_base_presets(data, presets_dir, origin, read)
    # Overrides land on the model's full defaults, so `--set train.seed=3` keeps the rest of a
    # section whose defaults the model's config class sets.
    data = deep_merge(config_defaults(config_cls), data)
    stated = copy.deepcopy(data)  # the file's settings alone (apply_overrides may change data in place)
    set_keys = {o.partition("=")[0].strip() for o in overrides or []} | set(values or {})
    if EXTENDS in set_keys:  # the bases are merged by now
        raise ConfigError(f"'{EXTENDS}' is read from a preset or --config file, not from --set: start from another "
                          f"preset with --preset NAME.")
    data = apply_overrides(data, list(overrides or []))
    for key, value in (values or {}).items():
        set_value(data, key.split("."), value)
    _refuse_another_model(data.get("model"), model_name, "" if "model" in set_keys else origin)
    data["model"] = model_name
    moved = {f"train.{k}" for k in MOVED_TO_STAGES}
    _refuse_moved_train_keys(data, model_name, "" if set_keys & (moved | {"train"}) else origin)
    try:
        return validate(config_cls, data, origin if not set_keys else "")
    except ConfigError:
        if set_keys and origin:  # where the file alone is invalid, its error names the file
            validate(config_cls, {**stated, "model": model_name}, origin)
        raise


def _refuse_another_model(stated: Any, model_name: str, origin: str) -> None:
    """ConfigError when a config (a file's or ``--set model=``) names another model than the one it trains: the
    run folder would say one model and hold another (``--resume`` finds runs by it)."""
    from zoo3d.plugins import model_key

    if not stated or model_key(str(stated)) == model_key(model_name):  # an alias of the same model is the same
        return
    where = f" in {origin}" if origin else ""
    raise ConfigError(f"The config{where} is for model '{stated}', not '{model_name}': train '{stated}' with it, "
                      f"or drop its 'model' key.")


#: ``train`` keys that each stage now states for itself (``stages.<name>.<key>``).
MOVED_TO_STAGES = ("steps", "batch_size")


def _refuse_moved_train_keys(data: dict[str, Any], model_name: str, origin: str) -> None:
    """ConfigError naming the stage keys when a new config sets ``train.steps`` or ``train.batch_size``."""
    train = data.get("train")
    moved = [k for k in MOVED_TO_STAGES if isinstance(train, dict) and k in train]
    if not moved:
        return
    key = moved[0]
    names = [s["name"] for s in data.get("stages") or [] if isinstance(s, dict) and "name" in s]
    where = f" (in {origin})" if origin else ""
    instead = (" and ".join(f"'stages.{n}.{key}'" for n in names) if names
               else f"'stages.<name>.{key}' of each stage")
    raise ConfigError(f"'train.{key}' is not a key{where}: model '{model_name}' sets {key} per stage, in {instead}.")


def config_defaults(config_cls: type[BaseModel]) -> dict[str, Any]:
    """A config class's default settings in plain types, the ground a preset, a ``--config`` file and ``--set`` items
    land on (and that tells a stage's index from its name); ``{}`` for a class with required keys, which has no
    complete defaults."""
    try:
        return config_cls().model_dump(mode="json")
    except ValidationError:  # a config with required keys has no complete defaults
        return {}


def dump_config(cfg: BaseModel) -> str:
    """YAML text of a config, in plain types (never Python-object tags)."""
    return dump_yaml(cfg.model_dump(mode="json"))
