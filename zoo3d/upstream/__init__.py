"""Reading the authors' released checkpoints without running any code from them.

The five upstream codebases publish weights as pickles: plain state dicts (GRAM ``generator.pth``,
GRAM-HD ``ckpts/*.pt``, StyleSDF ``.pt``), whole pickled objects (pi-GAN's modules, GRAM's
``torch_ema`` object) and StyleGAN-style persistence pickles with embedded source (EG3D ``.pkl``).
:func:`load_release` opens all of them with an unpickler that maps every class the file names to
an inert :class:`InertObject` record and keeps only tensors and plain containers, so nothing the
file asks for is ever executed. A model plugin turns the loaded tree into its generator's state
dict in :meth:`zoo3d.core.ModelPlugin.import_release`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from torch import Tensor

__all__ = ["RELEASE_FILE", "ImportedRelease", "InertObject", "ema_decay_note", "is_torch_ema", "load_release",
           "module_state_dict", "rename_by_rules", "tensors_under"]

#: A renaming rule: a regular expression on an upstream tensor name and the zoo3d name made from its groups.
Rule = tuple[str, Callable[[tuple], str]]


@dataclass
class InertObject:
    """Stands for an instance of a class named by a release file; the class itself is never imported.

    Attributes:
        qualname: ``"module.Class"`` as written in the file (e.g. ``"generators.generators.ImplicitGenerator3d"``).
        state: what the file would have passed to ``__setstate__`` / put in ``__dict__`` (plain
            containers, tensors and further records).
        args: constructor arguments recorded by the pickle, if any.
        kwargs: keyword constructor arguments (``NEWOBJ_EX``), if any.
        items: entries the pickle stored into the object as a mapping (a ``dict`` subclass such as
            ``dnnlib.EasyDict``).
        listitems: entries the pickle appended to it (a ``list`` subclass).
    """

    qualname: str
    state: Any = None
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    items: dict = field(default_factory=dict)
    listitems: list = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        """An attribute from the recorded state (``__dict__``), or a mapping entry."""
        if isinstance(self.state, dict) and key in self.state:
            return self.state[key]
        return self.items.get(key, default)

    # What the unpickler calls on a record while filling it in (BUILD, SETITEMS, APPENDS).
    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and (state[1] is None or isinstance(state[1], dict)):
            state, slots = state  # (__dict__, __slots__ values)
            if slots:
                state = {**(state or {}), **slots}
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.listitems.append(value)

    def extend(self, values: Any) -> None:
        self.listitems.extend(values)


@dataclass
class ImportedRelease:
    """What a model plugin makes of a release file.

    Attributes:
        state: the generator's state dict in zoo3d's names (loads with ``strict=True``).
        config: the run config the generator must be built with (the preset, plus any flag the
            import sets so that the converted model reproduces upstream behaviour).
        notes: one-line remarks shown to the user (e.g. "EMA weights taken from ema.pth").
        sources: for each zoo3d tensor name, the name it has in the release file (so that a shape
            mismatch can be reported in the file's own terms); optional.
    """

    state: dict[str, Tensor]
    config: Any
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

#: How a plugin's :meth:`~zoo3d.core.ModelPlugin.import_release` may call the file in its error
#: messages; ``zoo3d import`` replaces it with the file's path.
RELEASE_FILE = "the release file"

#: The decay of the torch_ema average GRAM's and pi-GAN's authors render with: their ``ema.pth``. Their
#: training loops save a second, slower one (``EMA2_DECAY``) beside it as ``ema2.pth``.
RENDERED_EMA_DECAY, EMA2_DECAY = 0.999, 0.9999


def is_torch_ema(obj: Any) -> bool:
    """Whether ``obj`` is the record of a pickled ``torch_ema`` ExponentialMovingAverage (an ``ema.pth``)."""
    return isinstance(obj, InertObject) and obj.qualname.rsplit(".", 1)[-1] == "ExponentialMovingAverage"


def ema_decay_note(ema: Any, source: str = RELEASE_FILE) -> str | None:
    """A note for a torch_ema record that averages at another decay than the ``ema.pth`` the authors render
    with (an ``ema2.pth``, or an average of a training run with its own decay), or None."""
    decay = ema.get("decay") if is_torch_ema(ema) else None
    if not isinstance(decay, float) or abs(decay - RENDERED_EMA_DECAY) < 1e-12:
        return None
    ema2 = f" (their training saves a {decay:g} average as ema2.pth)" if abs(decay - EMA2_DECAY) < 1e-12 else ""
    return (f"{source} averages with decay {decay:g}, not the {RENDERED_EMA_DECAY:g} of the ema.pth the authors "
            f"render with{ema2}: import ema.pth for their images")


def load_release(path: str | Path) -> Any:
    """Load a release file safely: plain containers, tensors and :class:`InertObject` records.

    Raises :class:`zoo3d.errors.UserError` (one sentence naming the file) for a truncated or
    unknown file, or one that needs anything beyond tensors, containers and class records.
    """
    from zoo3d.upstream.unpickle import load_release as _load

    return _load(path)


def module_state_dict(obj: Any, prefix: str = "") -> dict[str, Tensor]:
    """The ``state_dict()`` an ``nn.Module`` record would have: its parameters and buffers, recursively,
    named as torch names them (``block.0.weight``); a plain dict of tensors is returned as is."""
    from zoo3d.upstream.unpickle import module_state_dict as _flatten

    return _flatten(obj, prefix)


def tensors_under(state: dict[str, Any], prefix: str) -> Iterator[tuple[str, str, Any]]:
    """(key, key without ``prefix``, value) for every entry of ``state`` whose key starts with ``prefix``."""
    for key, value in state.items():
        if key.startswith(prefix):
            yield key, key[len(prefix):], value


def rename_by_rules(name: str, rules: Sequence[Rule]) -> str | None:
    """The zoo3d name the first matching rule gives ``name``, or None when no rule matches."""
    for pattern, rename in rules:
        found = re.match(pattern, name)
        if found:
            return rename(found.groups())
    return None
