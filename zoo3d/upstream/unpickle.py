"""A pickle reader that builds data, never behaviour.

Release files reach zoo3d in three pickle formats:

* torch's zip format (``torch.save`` since 1.6) and its older "legacy" stream format: a pickle whose
  tensors point at storages kept beside it. Plain state dicts load with torch's own
  ``weights_only=True`` reader; anything holding objects (a whole ``nn.Module``, a ``torch_ema``
  object) is read by torch's storage plumbing with :class:`InertUnpickler` as its pickle module.
* a plain ``pickle.dump`` (EG3D network snapshots): tensors pickled through
  ``torch._utils._rebuild_tensor_v2`` over storages that are themselves small legacy torch saves
  (``torch.storage._load_from_bytes``), and classes wrapped by StyleGAN's ``torch_utils.persistence``,
  which would ``exec`` their embedded source.

:class:`InertUnpickler` resolves every global the file names from fixed tables, never by import:
tensor and storage rebuilders (reimplemented here, storages via torch's weights-only reader), a few
plain data types, numpy scalars and arrays of plain dtypes, and otherwise a per-name subclass of
:class:`~zoo3d.upstream.InertObject` that can be *created* (``NEWOBJ``, ``copyreg._reconstructor``,
persistence records) and given state, but not *called*. A file asking to call anything else
(``os.system``, ``builtins.eval``, a class's ``__reduce__`` callable) is refused before the call.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import re
import tarfile
import types
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from zoo3d.errors import UserError, counted
from zoo3d.upstream import InertObject

__all__ = ["InertUnpickler", "Refused", "load_release", "module_state_dict"]

#: ``torch.save``'s legacy stream format starts with this number, pickled on its own.
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class Refused(pickle.UnpicklingError):
    """The file asked for something other than data (a call, a persistent object, state on a real type)."""


# --------------------------------------------------------------------------------------------------
# Class records


class _RecordMeta(type):
    """Metaclass of the per-name record classes: a readable repr, and no calls from the file."""

    def __repr__(cls) -> str:
        return f"<inert class {cls._qualname}>"


def _record_new(cls, *args, **kwargs):
    obj = object.__new__(cls)
    obj.qualname = cls._qualname
    obj.state = None
    obj.args = tuple(args)
    obj.kwargs = dict(kwargs)
    obj.items = {}
    obj.listitems = []
    return obj


def _record_init(self, *args, **kwargs):
    # Reached only when the file *calls* the class (REDUCE/INST with arguments): that would run the
    # class's constructor, so it is refused.
    raise Refused(f"a call to {self.qualname}")


_RECORD_CLASSES: dict[str, type] = {}


def _record_class(qualname: str) -> type:
    """The stand-in class for ``qualname``: instances are :class:`InertObject` records."""
    cls = _RECORD_CLASSES.get(qualname)
    if cls is None:
        name = qualname.rsplit(".", 1)[-1]
        namespace = {"_qualname": qualname, "__new__": _record_new, "__init__": _record_init,
                     "__module__": "zoo3d.upstream.records"}
        cls = _RecordMeta(name or "Record", (InertObject,), namespace)
        _RECORD_CLASSES[qualname] = cls
    return cls


def _new_record(qualname: str, state: Any = None) -> InertObject:
    record = _record_class(qualname).__new__(_record_class(qualname))
    record.state = state
    return record


# --------------------------------------------------------------------------------------------------
# The callables a file may use (everything here builds data from data)


def _check_hooks(hooks: Any) -> None:
    # Backward hooks would run during a later backward pass; releases always carry an empty dict.
    if hooks is not None and not (isinstance(hooks, dict) and len(hooks) == 0):
        raise Refused("tensor backward hooks")


def _untyped(storage: Any) -> torch.UntypedStorage:
    if isinstance(storage, torch.storage.TypedStorage):
        return storage._untyped_storage
    if isinstance(storage, torch.UntypedStorage):
        return storage
    raise Refused(f"a tensor over {type(storage).__name__}")


def _dtype_of(storage: Any) -> torch.dtype:
    return storage.dtype if isinstance(storage, torch.storage.TypedStorage) else torch.uint8


def _as_ints(values: Any, what: str) -> tuple[int, ...]:
    try:
        out = tuple(values)
    except TypeError as exc:
        raise Refused(f"a tensor {what} of type {type(values).__name__}") from exc
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in out):
        raise Refused(f"a tensor {what} that is not integers")
    return out


def _rebuild_tensor(storage, storage_offset, size, stride) -> Tensor:
    """A tensor viewing ``storage`` (what ``torch._utils._rebuild_tensor`` builds); bounds checked by torch."""
    if not isinstance(storage_offset, int):
        raise Refused("a tensor offset that is not an integer")
    size = _as_ints(size, "size")
    stride = _as_ints(stride, "stride")
    out = torch.empty((0,), dtype=_dtype_of(storage))
    return out.set_(_untyped(storage), storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    _check_hooks(backward_hooks)
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                       metadata=None):
    _check_hooks(backward_hooks)
    if not isinstance(dtype, torch.dtype):
        raise Refused("a tensor dtype that is not a torch dtype")
    out = torch.empty((0,), dtype=dtype)
    return out.set_(_untyped(storage), storage_offset, _as_ints(size, "size"), _as_ints(stride, "stride"))


def _rebuild_parameter(data, requires_grad, backward_hooks):
    # Parameters come back as plain tensors: a release is read for its values only.
    _check_hooks(backward_hooks)
    if not isinstance(data, Tensor):
        raise Refused("a parameter that is not a tensor")
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _rebuild_parameter(data, requires_grad, backward_hooks)


_TENSOR_REBUILDERS = (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter,
                      _rebuild_parameter_with_state)


def _rebuild_from_type_v2(func, new_type, args, state):
    """A tensor subclass's pickle: only the known rebuilders may be the inner call; the subclass is dropped."""
    if func not in _TENSOR_REBUILDERS or not isinstance(args, tuple):
        raise Refused("a tensor rebuilt by an unknown function")
    return func(*args)


def _load_storage_from_bytes(data: bytes):
    """A storage pickled inside a plain pickle (``torch.storage._load_from_bytes``): a nested legacy
    ``torch.save``, read with torch's weights-only reader."""
    if not isinstance(data, (bytes, bytearray)):
        raise Refused("a storage that is not bytes")
    try:
        storage = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise Refused("a storage holding more than data") from exc
    if not isinstance(storage, (torch.storage.TypedStorage, torch.UntypedStorage)):
        raise Refused(f"a storage that holds {type(storage).__name__}")
    return storage


def _reconstructor(cls, base, state):
    """``copyreg._reconstructor``: an instance of ``cls`` made without running any of its code."""
    if isinstance(cls, type) and issubclass(cls, InertObject):
        record = cls.__new__(cls)
        if isinstance(state, dict):  # a dict subclass: base is dict, state its entries
            record.items.update(state)
        elif isinstance(state, list):
            record.listitems.extend(state)
        elif state is not None:
            record.args = (state,)
        return record
    raise Refused(f"copyreg._reconstructor of {getattr(cls, '__name__', type(cls).__name__)}")


def _reconstruct_persistent_obj(meta):
    """StyleGAN/EG3D ``torch_utils.persistence``: the record of the class, its source never executed."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
        raise Refused("torch_utils.persistence with an unknown record")
    record = _new_record(meta["class_name"], meta.get("state"))
    return record


def _codecs_encode(text, encoding="utf-8"):
    # Protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or str(encoding).lower().replace("-", "") not in ("latin1", "utf8"):
        raise Refused("_codecs.encode with unexpected arguments")
    return text.encode(encoding)


_DTYPE_CODE = re.compile(r"^[<>|=]?[biufc?]\d{0,2}$")


class _NumpyDType:
    """``numpy.dtype(code, align, copy)`` then ``__setstate__``: only plain numeric dtypes."""

    def __init__(self, code, align=False, copy=True):
        if not isinstance(code, str) or not _DTYPE_CODE.match(code):
            raise Refused(f"numpy.dtype({code!r})")
        self.code = code
        self.byteorder = "="

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.byteorder = state[1]

    def numpy(self) -> np.dtype:
        code = self.code.lstrip("<>|=")
        return np.dtype(code).newbyteorder(self.byteorder) if self.byteorder in "<>" else np.dtype(code)


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, _NumpyDType) or not isinstance(data, (bytes, bytearray)):
        raise Refused("numpy scalar of an unknown kind")
    value = np.frombuffer(bytes(data), dtype=dtype.numpy(), count=1)[0]
    return value.item()


class _NumpyArray:
    """``numpy.core.multiarray._reconstruct`` then ``__setstate__``; replaced by the array after loading."""

    def __init__(self, *args):
        self.array: np.ndarray | None = None

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5):
            raise Refused("numpy array with unknown state")
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _NumpyDType) or not isinstance(raw, (bytes, bytearray)):
            raise Refused("numpy array of objects")
        array = np.frombuffer(bytes(raw), dtype=dtype.numpy()).copy()
        shape = _as_ints(shape, "shape")
        self.array = array.reshape(shape, order="F" if fortran else "C")


def _numpy_reconstruct(cls, shape, typecode):
    return _NumpyArray()


_DATA_TYPES = {name: getattr(__import__("builtins"), name) for name in (
    "object", "dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str", "bytes",
    "bytearray", "bool", "slice", "range")}

_TORCH_DTYPES = {name: value for name, value in vars(torch).items() if isinstance(value, torch.dtype)}


def _allowed(module: str, name: str) -> Any:
    """The object a global resolves to, from fixed tables only; None when the name is not one of them."""
    if module == "builtins":
        return _DATA_TYPES.get(name)
    if module == "collections" and name == "OrderedDict":
        return OrderedDict
    if module in ("torch._utils", "torch._tensor", "torch.tensor"):
        return {"_rebuild_tensor": _rebuild_tensor, "_rebuild_tensor_v2": _rebuild_tensor_v2,
                "_rebuild_tensor_v3": _rebuild_tensor_v3, "_rebuild_parameter": _rebuild_parameter,
                "_rebuild_parameter_with_state": _rebuild_parameter_with_state,
                "_rebuild_from_type_v2": _rebuild_from_type_v2}.get(name)
    if module == "torch":
        if name in _TORCH_DTYPES:
            return _TORCH_DTYPES[name]
        return {"Size": torch.Size, "Tensor": torch.Tensor, "device": torch.device}.get(name)
    if module == "torch.nn.parameter" and name == "Parameter":
        return torch.Tensor
    if module == "torch.storage" and name == "_load_from_bytes":
        return _load_storage_from_bytes
    if module == "copyreg" and name == "_reconstructor":
        return _reconstructor
    if module == "_codecs" and name == "encode":
        return _codecs_encode
    if module == "torch_utils.persistence" and name == "_reconstruct_persistent_obj":
        return _reconstruct_persistent_obj
    if module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray"):
        return {"dtype": _NumpyDType, "scalar": _numpy_scalar, "_reconstruct": _numpy_reconstruct,
                "ndarray": _NumpyArray}.get(name)
    return None


# Names that are plain functions (or classes whose call builds data): they may be called, and never
# stand for a record. Everything else a file names becomes a record class.
_CALLABLE_OK = (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter,
                _rebuild_parameter_with_state, _rebuild_from_type_v2, _load_storage_from_bytes, _reconstructor,
                _codecs_encode, _reconstruct_persistent_obj, _numpy_scalar, _numpy_reconstruct)


class InertUnpickler(pickle._Unpickler):
    """:class:`pickle.Unpickler` (the pure-Python one, so every opcode is ours to check) whose globals
    come from :func:`_allowed` or become record classes, and whose ``BUILD`` only sets state on records."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        if not isinstance(module, str) or not isinstance(name, str):
            raise Refused("a global with a non-text name")
        if self.proto < 3 and self.fix_imports:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        found = _allowed(module, name)
        if found is not None:
            return found
        return _record_class(f"{module}.{name}")

    def persistent_load(self, pid):  # replaced by torch's storage loader inside torch.load
        raise Refused("a persistent object")

    def load_build(self):
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        if isinstance(inst, (InertObject, _NumpyDType, _NumpyArray)):
            inst.__setstate__(state)
            return
        raise Refused(f"state set on a {type(inst).__name__}")

    dispatch[pickle.BUILD[0]] = load_build

    def load_reduce(self):
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        if not isinstance(args, tuple):
            raise Refused("a call with malformed arguments")
        if func in _CALLABLE_OK or func in (OrderedDict, torch.Size, torch.device, _NumpyDType) or (
                func in _DATA_TYPES.values() and func is not object):
            stack[-1] = func(*args)
            return
        name = getattr(func, "_qualname", None) or getattr(func, "__qualname__", None) or type(func).__name__
        raise Refused(f"a call to {getattr(func, '__module__', None) or '?'}.{name}" if not hasattr(func, "_qualname")
                      else f"a call to {name}")

    dispatch[pickle.REDUCE[0]] = load_reduce


def _pickle_module() -> types.ModuleType:
    """What ``torch.load(pickle_module=...)`` needs: ``Unpickler`` and ``load``."""
    module = types.ModuleType("zoo3d_inert_pickle")
    module.Unpickler = InertUnpickler
    module.load = lambda file, **kwargs: InertUnpickler(file, **kwargs).load()
    module.__name__ = "zoo3d_inert_pickle"
    return module


# --------------------------------------------------------------------------------------------------
# After loading


def _finalise(obj: Any, seen: dict[int, Any] | None = None) -> Any:
    """Replace numpy array placeholders by arrays throughout the tree (containers and records)."""
    seen = {} if seen is None else seen
    key = id(obj)
    if key in seen:
        return seen[key]
    if isinstance(obj, _NumpyArray):
        seen[key] = obj.array
        return obj.array
    if isinstance(obj, _NumpyDType):
        seen[key] = obj.numpy()
        return seen[key]
    seen[key] = obj
    if isinstance(obj, dict):
        for k in list(obj):
            obj[k] = _finalise(obj[k], seen)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            obj[i] = _finalise(v, seen)
    elif isinstance(obj, tuple):
        out = tuple(_finalise(v, seen) for v in obj)
        seen[key] = out
        return out
    elif isinstance(obj, InertObject):
        obj.state = _finalise(obj.state, seen)
        obj.args = _finalise(obj.args, seen)
        obj.items = _finalise(obj.items, seen)
        obj.listitems = _finalise(obj.listitems, seen)
    return obj


# --------------------------------------------------------------------------------------------------
# Entry points


_UNREADABLE = "is truncated or is not a checkpoint zoo3d can read (a torch .pt/.pth file or a pickle)"


def _refusal(path: Path, exc: Refused) -> UserError:
    what = str(exc) or "code to run"
    return UserError(f"{path} asks for {what}, which zoo3d refuses: only tensors, plain containers and class "
                     "records are read from release files.")


def _torch_load(path: Path) -> Any:
    """A torch zip/legacy file: weights-only first, then torch's storage reader over the inert unpickler."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # it names classes (a whole module, an EMA object): read them as records below
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_pickle_module())


#: How release files are named inside an archive (NGC's download of EG3D's snapshots is a zip of .pkl files).
_RELEASE_SUFFIXES = (".pkl", ".pth", ".pt")


def _archive_sentence(path: Path) -> str | None:
    """The refusal of a compressed file, or of an archive of files that is no torch checkpoint, naming what to
    unpack (its files counted without its folder entries); None for anything else (torch's zip and tar formats
    included)."""
    with open(path, "rb") as f:
        if f.read(2) == b"\x1f\x8b":
            return (f"{path} is gzip-compressed, not a checkpoint; decompress it (gunzip; tar -xzf for a .tar.gz) and "
                    f"import the file it holds.")
    try:  # tar first: a tar whose last member is a torch zip file reads as that zip to zipfile
        if tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                names, kind, tool = [m.name for m in archive.getmembers() if not m.isdir()], "tar", "tar -xf"
            if "pickle" in names:  # torch.save's oldest (tar) format
                return None
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names, kind, tool = [i.filename for i in archive.infolist() if not i.is_dir()], "zip", "unzip"
            if any(n.rsplit("/", 1)[-1] == "data.pkl" for n in names):  # torch.save's zip format
                return None
        else:
            return None
    except (OSError, zipfile.BadZipFile, tarfile.TarError):
        return None  # a damaged archive: torch's reader says what it can
    inside = [n for n in names if n.lower().endswith(_RELEASE_SUFFIXES)]
    shown = ", ".join(inside[:3]) + (", ..." if len(inside) > 3 else "")
    holds = f"the release file inside ({shown})" if inside else "the release file it holds"
    return (f"{path} is a {kind} archive of {counted(len(names), 'file')}, not a checkpoint; unpack it ({tool}) and "
            f"import {holds}.")


def _is_safetensors(path: Path) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then that many bytes of a JSON object."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8).ljust(8, b"\xff"), "little")
        return 2 <= size <= path.stat().st_size - 8 and f.read(1) == b"{"


def load_release(path: str | Path) -> Any:
    """See :func:`zoo3d.upstream.load_release`."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist.")
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a release file; give the file in it.")
    if not path.is_file():  # a pipe (`<(gunzip -c ...)`), a device: torch's formats need a file to seek in
        raise UserError(f"{path} is not a regular file (a pipe or a device); save the release to a file and "
                        f"import that.")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise UserError(f"{path} cannot be read ({exc.strerror}).") from None
    if not head:
        raise UserError(f"{path} is empty.")
    if _is_safetensors(path):
        raise UserError(f"{path} is a safetensors file, as zoo3d's own checkpoints are, not one of the authors' "
                        f"releases: use it as it is (zoo3d sample, render, export and compare take it), not through "
                        f"zoo3d import.")
    archive = _archive_sentence(path)
    if archive is not None:
        raise UserError(archive)
    try:
        if zipfile.is_zipfile(path) or tarfile.is_tarfile(path):
            return _finalise(_torch_load(path))
        if head.startswith(b"PK") or head[:1] != b"\x80":  # torch's legacy files are pickles of protocol 2+,
            raise UserError(f"{path} {_UNREADABLE}.")  # which begin with PROTO; a PNG read on finds opcodes at random
        with open(path, "rb") as f:
            first = InertUnpickler(f, encoding="utf-8").load()
        if isinstance(first, int) and first == _TORCH_LEGACY_MAGIC:
            return _finalise(_torch_load(path))
        return _finalise(first)
    except UserError:
        raise
    except Refused as exc:
        raise _refusal(path, exc) from None
    except RecursionError:
        raise UserError(f"{path} is nested too deeply to be a checkpoint.") from None
    except Exception:  # any malformed byte stream: EOFError, UnpicklingError, ValueError, KeyError, ...
        raise UserError(f"{path} {_UNREADABLE}.") from None


def module_state_dict(obj: Any, prefix: str = "") -> dict[str, Tensor]:
    """See :func:`zoo3d.upstream.module_state_dict`."""
    if isinstance(obj, dict) and all(isinstance(v, Tensor) for v in obj.values()):
        return {f"{prefix}{k}": v for k, v in obj.items()}
    if not _is_module_record(obj):
        raise UserError(f"{_describe(obj)} is not a network: it has no parameters or buffers.")
    out: dict[str, Tensor] = {}
    _collect(obj, prefix, out)
    return out


def _is_module_record(obj: Any) -> bool:
    return isinstance(obj, InertObject) and isinstance(obj.state, dict) and (
        "_parameters" in obj.state or "_modules" in obj.state)


def _describe(obj: Any) -> str:
    return obj.qualname if isinstance(obj, InertObject) else type(obj).__name__


def _collect(record: InertObject, prefix: str, out: dict[str, Tensor]) -> None:
    # The order of torch's Module.state_dict: own parameters, own persistent buffers, then children.
    state = record.state
    for name, value in (state.get("_parameters") or {}).items():
        if value is not None:
            out[prefix + name] = value
    skip = state.get("_non_persistent_buffers_set") or set()
    for name, value in (state.get("_buffers") or {}).items():
        if value is not None and name not in skip:
            out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if _is_module_record(child):
            _collect(child, f"{prefix}{name}.", out)
