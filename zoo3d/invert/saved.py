"""The inversion ``zoo3d invert`` saves beside an image's pictures, ``inversion.safetensors``, and how it is loaded
again (:func:`load_inversion`, ``zoo3d render --inversion``).

The file holds what rebuilds the :class:`zoo3d.core.InversionResult` exactly with the weights it was inverted with:

- ``camera``: the input-view cameras, EG3D's 25 numbers each (``Camera.to_eg3d``);
- ``state.<name>``: the inverter's own state (:meth:`zoo3d.core.Inverter.state`): the latent found and, per method,
  GRAMInverter's estimated pose and the image its detail network reads, or the generator weights PTI changed.

Its metadata key ``zoo3d.inversion`` is a JSON object: ``format`` (:data:`FORMAT`; a file of another is refused), the
``model``, the ``checkpoint`` (an absolute path; null for a model that needs none), ``checkpoint_from_here`` (the
same file relative to the inversion's folder, taken where the absolute path is gone: runs and inversions moved
together) and its ``sha256``, ``ema``, the
``resolution`` it was inverted at, the ``image``, the ``method`` and its settings (``space``, ``steps``,
``tune_steps``, ``keep_geometry``, ``psi``), and the rest of what metrics.json records of the command
(``pose_source``, ``pose_given``, ``frames``, ``yaw_range``, ``perceptual``).
The model is loaded from that checkpoint only while its sha256 is the one recorded: other weights would render
another scene from the same latent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.core.inverter import InversionResult, Inverter
from zoo3d.errors import PluginError, UserError, counted

__all__ = ["INVERSION_FILE", "check_state", "commands_for", "inversion_file", "inversion_generator",
           "load_inversion", "read_inversion", "saves_state", "single_pass_inverter", "write_inversion"]

#: the file's name in an image's output folder
INVERSION_FILE = "inversion.safetensors"
#: the metadata key of the file's JSON header
HEADER_KEY = "zoo3d.inversion"
#: the header's ``format``: the layout above, the only one :func:`read_inversion` reads
FORMAT = 1


def saves_state(inverter) -> bool:
    """Whether ``inverter``'s results can be saved: its class implements :meth:`Inverter.state` and
    :meth:`Inverter.restore` (a state nothing restores would be a file ``zoo3d render --inversion`` cannot draw)."""
    return all(getattr(type(inverter), name, base) is not base
               for name, base in (("state", Inverter.state), ("restore", Inverter.restore)))


def single_pass_inverter(loaded):
    """The model's single-pass inverter over the loaded generator (the EMA copy when loaded so), on its device in
    eval mode; None for a model without one."""
    gen = loaded.generator
    single = loaded.plugin.build_inverter(loaded.config, {**loaded.modules, "generator": gen})
    return None if single is None else single.to(gen.device).eval()


def inversion_generator(inverter: Inverter, result: InversionResult):
    """The generator that draws ``result``: PTI's tuned copy (``result.generator``), else the inverter's own
    (``inverter.generator``, as zoo3d's inverters have); None for an inverter that names none."""
    return result.generator if result.generator is not None else getattr(inverter, "generator", None)


def write_inversion(path: str | Path, inverter: Inverter, result: InversionResult, header: dict,
                    folder: str | Path | None = None) -> Path | None:
    """Write ``result`` (its cameras and ``inverter.state(result)``) with ``header`` (see the module doc) to
    ``path``, atomically; None, writing nothing, where the inverter gives no state for it. ``folder``: where the file
    will lie (a staging folder is moved there; default ``path``'s), which ``checkpoint_from_here`` starts from."""
    from zoo3d.fileio import json_text
    from zoo3d.train.checkpoint import write_safetensors

    state = inverter.state(result)
    if state is None:
        return None
    check_state(inverter, state)
    tensors = {"camera": result.cameras.to_eg3d(), **{f"state.{name}": t for name, t in state.items()}}
    if header.get("checkpoint") is not None:  # found again where the runs and the inversions moved together
        try:
            here = Path(folder) if folder is not None else Path(path).parent
            header = {**header, "checkpoint_from_here": os.path.relpath(header["checkpoint"], here.resolve())}
        except ValueError:  # another drive (Windows): no relative path
            pass
    return write_safetensors(tensors, {HEADER_KEY: json_text({"format": FORMAT, **header}, indent=None)}, Path(path))


def commands_for(folder: str | Path) -> str:
    """The commands that take the inversion in ``folder``, as a refusal of it given as a run or a checkpoint names
    them."""
    from zoo3d.errors import shell_word

    return (f"`zoo3d render --inversion {shell_word(str(folder))} --out FILE` (export and view take --inversion "
            f"too)")


def check_state(inverter, state) -> None:
    """Refuse, in one sentence naming the inverter's class, a ``state`` that is no dict of tensors by text names
    (a number, a list beside the latent, a name that is no text), which the file cannot hold: it was an
    AttributeError traceback."""
    where = f"{type(inverter).__name__}.state"
    if not isinstance(state, dict):
        raise PluginError(f"{where} returned a {type(state).__name__}; it returns the tensors that rebuild the result "
                          f"by name, {{'latent': tensor, ...}} (docs/plugins.md, Single-pass inversion).")
    for name, value in state.items():
        if not isinstance(name, str):
            raise PluginError(f"{where} returned the name {name!r}, a {type(name).__name__}; the file holds tensors "
                              f"by text names, so name each with a str (docs/plugins.md, Single-pass inversion).")
        if not isinstance(value, torch.Tensor):
            raise PluginError(f"{where} returned {name!r} as a {type(value).__name__}; the file holds tensors by text "
                              f"names, so give it as one (torch.tensor(value)) (docs/plugins.md, Single-pass "
                              f"inversion).")


def inversion_file(path: str | Path) -> Path:
    """The inversion file ``path`` names: an image's output folder (its ``inversion.safetensors``) or the file; a
    one-sentence UserError when there is none."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise UserError(f"Inversion '{path}' does not exist; give an image's folder that zoo3d invert wrote "
                        f"(DIR/<image name>).")
    if (path / INVERSION_FILE).is_file():
        return path / INVERSION_FILE
    held = sorted(p.parent.name for p in path.glob(f"*/{INVERSION_FILE}"))
    if held:
        raise UserError(f"Folder '{path}' holds the inversions of {counted(len(held), 'image')} in its sub-folders, "
                        f"not one of its own; give one image's folder, such as '{path / held[0]}'.")
    if (path / "metrics.json").is_file():
        raise UserError(f"Folder '{path}' holds no {INVERSION_FILE} (it was inverted before zoo3d invert saved the "
                        f"inversion, or by an inverter whose results are not saved); invert the image again.")
    raise UserError(f"Folder '{path}' holds no {INVERSION_FILE}; give an image's folder that zoo3d invert wrote "
                    f"(DIR/<image name>).")


def read_inversion(path: str | Path) -> tuple[dict, dict[str, Tensor], Path]:
    """The header, the tensors (on the CPU) and the file of the inversion ``path`` names (:func:`inversion_file`)."""
    from safetensors import safe_open

    from zoo3d.train.checkpoint import looks_pickled

    file = inversion_file(path)
    with open(file, "rb") as fh:
        head = fh.read(9)
    if looks_pickled(head):
        raise UserError(f"'{file}' is a pickle-based file, not an inversion zoo3d invert wrote; zoo3d loads "
                        f"only .safetensors files, because unpickling a file can run arbitrary code.")
    if head[8:9] != b"{" and file.suffix.lower() != ".safetensors":  # another file (a picture) beside the inversion
        beside = file.parent / INVERSION_FILE
        hint = f"; give its folder, '{file.parent}'" if beside.is_file() else ""
        raise UserError(f"'{file}' is not an inversion zoo3d invert wrote (not a safetensors file){hint}.")
    try:
        with safe_open(str(file), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for every header problem
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"Inversion '{file}' is truncated or corrupt ({first}); invert the image again.") from None
    try:
        header = json.loads(meta[HEADER_KEY])
    except (KeyError, ValueError):
        header = None
    if not isinstance(header, dict) or "camera" not in tensors:  # the state's names are the inverter's own
        raise UserError(f"'{file}' is not an inversion zoo3d invert wrote (no '{HEADER_KEY}' header and camera in "
                        f"it).")
    if header.get("format") != FORMAT:
        raise UserError(f"Inversion '{file}' is in format {header.get('format')}, which this zoo3d does not read (it "
                        f"reads format {FORMAT}); invert the image again with it.")
    return header, tensors, file


def _load_model_of(header: dict, file: Path, device: str):
    """The model the inversion was made with: its recorded checkpoint, refused when gone or changed."""
    from zoo3d.runs import file_sha256, load_model

    model, checkpoint, ema = header.get("model"), header.get("checkpoint"), bool(header.get("ema", True))
    if checkpoint is None:
        loaded = load_model(None, model=model, device=device, ema=ema)
        if loaded.checkpoint is not None:
            raise UserError(f"Inversion '{file}' was made with model '{model}' as built without a checkpoint, and "
                            f"'{model}' now names its trained run '{loaded.checkpoint}'; invert the image again.")
        return loaded
    if not Path(checkpoint).is_file() and header.get("checkpoint_from_here"):
        moved = file.parent / header["checkpoint_from_here"]  # the runs moved with the inversions (a copied project)
        checkpoint = str(moved.resolve()) if moved.is_file() else checkpoint
    if not Path(checkpoint).is_file():
        raise UserError(f"Inversion '{file}' was made with checkpoint '{checkpoint}', which no longer exists (nor at "
                        f"its place relative to the inversion); invert the image again with a checkpoint that does.")
    digest = file_sha256(Path(checkpoint))
    if digest != header.get("sha256"):
        raise UserError(f"Checkpoint '{checkpoint}' has changed since inversion '{file}' was made with it (sha256 "
                        f"{digest[:12]}…, not {str(header.get('sha256'))[:12]}…), so it would render another scene; "
                        f"invert the image again.")
    return load_model(checkpoint, model=model, device=device, ema=ema)


def _inverter_for(loaded, header: dict, file: Path) -> Inverter:
    from zoo3d.invert.optimize import OptimizationInverter, OptimizeSettings

    if header.get("method") == "single":
        single = single_pass_inverter(loaded)
        if single is None:
            raise UserError(f"Inversion '{file}' was made by the single-pass inverter of model '{loaded.name}', "
                            f"which no longer builds one; invert the image again with --method optimize.")
        return single
    return OptimizationInverter(loaded.generator, OptimizeSettings(space=header.get("space", "auto"),
                                                                   psi=float(header.get("psi", 1.0))))


def load_inversion(path: str | Path, device: str = "auto") -> tuple[Inverter, InversionResult]:
    """The inverter and the result of the inversion ``path`` names (an image's folder zoo3d invert wrote, or its
    ``inversion.safetensors``), on ``device``: ``inverter.render(result, cameras, resolution)`` draws it from any
    cameras, ``result.cameras`` being the input view. The model is loaded from the checkpoint the header records (the
    EMA generator or not, as inverted); a checkpoint gone or changed since (another sha256) is a UserError.
    """
    header, tensors, file = read_inversion(path)
    loaded = _load_model_of(header, file, device)
    inverter = _inverter_for(loaded, header, file)
    device = loaded.generator.device
    cameras = Camera.from_eg3d(tensors["camera"]).to(device=device)
    state = {name.removeprefix("state."): t.to(device) for name, t in tensors.items() if name.startswith("state.")}
    with torch.no_grad():
        result = inverter.restore(state, cameras)
    result.extras["header"] = header
    return inverter, result
