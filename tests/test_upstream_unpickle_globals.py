"""The release reader global by global: what each name a pickle may use builds, and what is refused.

The files here are written by ``pickle``/``torch.save`` (real tensors, parameters, numpy arrays, dict
subclasses) or spelled out opcode by opcode (calls a writer would never make), and the answers are
the values that were pickled or the refusal, never the reader's own output.
"""

from __future__ import annotations

import collections
import pickle
import pickletools
import uuid

import numpy as np
import pytest
import torch

from zoo3d.errors import UserError
from zoo3d.upstream import InertObject, load_release, module_state_dict


# --------------------------------------------------------------------------------------------------
# Spelling pickles out: protocol 2, GLOBAL opcodes, calls as MARK args TUPLE REDUCE


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _data(value) -> bytes:
    """The opcodes that push ``value`` (a pickle of it without PROTO and STOP)."""
    return pickletools.optimize(pickle.dumps(value, protocol=2))[2:-1]


def _call(func: bytes, *args: bytes) -> bytes:
    return func + b"(" + b"".join(args) + b"tR"


def _write(tmp_path, body: bytes, name: str = "release.pkl"):
    path = tmp_path / name
    path.write_bytes(b"\x80\x02" + body + b".")
    return path


def _refused(path, what: str) -> str:
    """load_release(path) must refuse, naming ``what`` in its one sentence."""
    with pytest.raises(UserError, match="refuses") as info:
        load_release(path)
    message = str(info.value)
    assert f"asks for {what}, which zoo3d refuses" in message, message
    return message


def _storage_bytes(values: torch.Tensor) -> bytes:
    """The argument of ``torch.storage._load_from_bytes`` in a plain pickle of ``values`` (a legacy torch.save)."""
    ops = pickletools.genops(pickle.dumps(values, protocol=4))
    return next(arg for op, arg, _ in ops if op.name in ("SHORT_BINBYTES", "BINBYTES", "BINBYTES8"))


def _storage(values: torch.Tensor) -> bytes:
    """Opcodes pushing the storage of ``values`` as a plain pickle spells it."""
    return _call(_global("torch.storage", "_load_from_bytes"), _data(_storage_bytes(values)))


# --------------------------------------------------------------------------------------------------
# Tensors in plain pickles


class Subclassed(torch.Tensor):
    """A tensor subclass: pickled through torch._tensor._rebuild_from_type_v2."""


def test_plain_pickled_tensors_parameters_and_views_keep_their_values(tmp_path):
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    with_state = torch.nn.Parameter(torch.tensor([1.5, -2.0]))
    with_state.note = "kept out"  # a Parameter with a __dict__ pickles through _rebuild_parameter_with_state
    tree = {
        "view": base[1:, ::2],  # an offset and strides into a larger storage
        "parameter": torch.nn.Parameter(torch.tensor([[3.0, 4.0]])),
        "with_state": with_state,
        "subclass": torch.tensor([7, 8, 9], dtype=torch.int16).as_subclass(Subclassed),
        "bfloat16": torch.tensor([0.5, -1.0], dtype=torch.bfloat16),
    }
    path = tmp_path / "tensors.pkl"
    path.write_bytes(pickle.dumps(tree, protocol=2))
    loaded = load_release(path)
    assert torch.equal(loaded["view"], torch.tensor([[6.0, 8, 10], [12, 14, 16], [18, 20, 22]], dtype=torch.float64))
    assert loaded["view"].stride() == (6, 2) and loaded["view"].storage_offset() == 6
    assert torch.equal(loaded["parameter"], torch.tensor([[3.0, 4.0]]))
    assert torch.equal(loaded["with_state"], torch.tensor([1.5, -2.0]))
    assert torch.equal(loaded["subclass"], torch.tensor([7, 8, 9], dtype=torch.int16))
    assert loaded["bfloat16"].dtype == torch.bfloat16 and loaded["bfloat16"].tolist() == [0.5, -1.0]
    for name, value in loaded.items():  # values only: no Parameter, no subclass, no gradient
        assert type(value) is torch.Tensor and not value.requires_grad, name


def test_the_first_tensor_rebuilder_views_its_storage(tmp_path):
    """``torch._utils._rebuild_tensor(storage, offset, size, stride)``, as torch before 1.0 wrote it."""
    body = _call(_global("torch._utils", "_rebuild_tensor"), _storage(torch.arange(10.0)), _data(3),
                 _data((2, 2)), _data((1, 4)))
    loaded = load_release(_write(tmp_path, body))
    assert torch.equal(loaded, torch.tensor([[3.0, 7.0], [4.0, 8.0]]))


def _v2(storage: bytes, offset=0, size=(2,), stride=(1,), hooks=None) -> bytes:
    hooks = _call(_global("collections", "OrderedDict")) if hooks is None else hooks
    return _call(_global("torch._utils", "_rebuild_tensor_v2"), storage, _data(offset), _data(size), _data(stride),
                 _data(False), hooks)


def test_backward_hooks_on_a_tensor_are_refused(tmp_path):
    hooks = _call(_global("collections", "OrderedDict"), _data([(0, 1)]))
    _refused(_write(tmp_path, _v2(_storage(torch.ones(2)), hooks=hooks)), "tensor backward hooks")
    parameter = _call(_global("torch._utils", "_rebuild_parameter"), _v2(_storage(torch.ones(2))), _data(True),
                      _data({"hook": 1}))
    _refused(_write(tmp_path, parameter, "parameter.pkl"), "tensor backward hooks")
    # an empty hooks dict (what every release carries) and None are fine
    assert load_release(_write(tmp_path, _v2(_storage(torch.ones(2)), hooks=_data(None)), "none.pkl")).tolist() \
        == [1.0, 1.0]


@pytest.mark.parametrize("offset, size, stride, what", [
    (0.0, (2,), (1,), "a tensor offset that is not an integer"),
    (0, (2.0,), (1,), "a tensor size that is not integers"),
    (0, (True,), (1,), "a tensor size that is not integers"),
    (0, 2, (1,), "a tensor size of type int"),
    (0, (2,), (1.0,), "a tensor stride that is not integers"),
    (0, (2,), None, "a tensor stride of type NoneType"),
])
def test_tensor_geometry_must_be_integers(tmp_path, offset, size, stride, what):
    _refused(_write(tmp_path, _v2(_storage(torch.ones(4)), offset, size, stride)), what)


def test_a_tensor_over_anything_but_a_storage_is_refused(tmp_path):
    _refused(_write(tmp_path, _v2(_data([1.0, 2.0]))), "a tensor over list")


def test_tensor_v3_needs_a_torch_dtype(tmp_path):
    def v3(dtype: bytes) -> bytes:
        return _call(_global("torch._utils", "_rebuild_tensor_v3"), _storage(torch.arange(4, dtype=torch.uint8)),
                     _data(1), _data((2,)), _data((2,)), _data(False), _call(_global("collections", "OrderedDict")),
                     dtype)

    # the four bytes 0 1 2 3 read as uint8 from offset 1, every other one: 1, 3
    assert load_release(_write(tmp_path, v3(_global("torch", "uint8")))).tolist() == [1, 3]
    _refused(_write(tmp_path, v3(_data("uint8")), "str.pkl"), "a tensor dtype that is not a torch dtype")


def test_a_parameter_of_something_else_is_refused(tmp_path):
    body = _call(_global("torch._utils", "_rebuild_parameter"), _data([1.0]), _data(True),
                 _call(_global("collections", "OrderedDict")))
    _refused(_write(tmp_path, body), "a parameter that is not a tensor")


def test_a_tensor_subclass_may_only_wrap_a_tensor_rebuilder(tmp_path):
    def from_type(func: bytes, args: bytes) -> bytes:
        return _call(_global("torch._tensor", "_rebuild_from_type_v2"), func, _global("mine", "Tensor"), args,
                     _data({}))

    ok = from_type(_global("torch._utils", "_rebuild_parameter"),
                   b"(" + _v2(_storage(torch.tensor([2.0, 5.0]))) + _data(False) + _data(None) + b"t")
    assert load_release(_write(tmp_path, ok)).tolist() == [2.0, 5.0]
    # _codecs.encode may be called by a file, but not as a tensor rebuilder
    _refused(_write(tmp_path, from_type(_global("_codecs", "encode"), _data(("x", "latin1"))), "codecs.pkl"),
             "a tensor rebuilt by an unknown function")
    _refused(_write(tmp_path, from_type(_global("torch._utils", "_rebuild_parameter"), _data([1])), "list.pkl"),
             "a tensor rebuilt by an unknown function")


# --------------------------------------------------------------------------------------------------
# Storages: nested legacy torch.save files, read weights-only


def test_storage_bytes_must_hold_a_storage_and_nothing_else(tmp_path):
    load = _global("torch.storage", "_load_from_bytes")
    _refused(_write(tmp_path, _v2(_call(load, _data("text")))), "a storage that is not bytes")
    # a legacy torch.save of a plain number is readable weights-only but is not a storage
    import io
    buffer = io.BytesIO()
    torch.save(3, buffer, _use_new_zipfile_serialization=False)
    _refused(_write(tmp_path, _v2(_call(load, _data(buffer.getvalue()))), "int.pkl"), "a storage that holds int")
    # one that names a class is not read at all
    buffer = io.BytesIO()
    torch.save(_Reduces(), buffer, _use_new_zipfile_serialization=False)
    _refused(_write(tmp_path, _v2(_call(load, _data(buffer.getvalue()))), "class.pkl"),
             "a storage holding more than data")


# --------------------------------------------------------------------------------------------------
# Bytes, numpy scalars, arrays and dtypes


def test_protocol_2_bytes_come_back_byte_for_byte(tmp_path):
    """Protocol 2 spells bytes as _codecs.encode(text, 'latin1'); latin-1 is one byte per code point."""
    raw = bytes(range(256))
    path = tmp_path / "bytes.pkl"
    path.write_bytes(pickle.dumps({"raw": raw, "array": bytearray(b"\x00\xff")}, protocol=2))
    loaded = load_release(path)
    assert loaded["raw"] == raw and loaded["array"] == bytearray(b"\x00\xff")
    utf8 = _call(_global("_codecs", "encode"), _data("é"), _data("UTF-8"))
    assert load_release(_write(tmp_path, utf8, "utf8.pkl")) == b"\xc3\xa9"


@pytest.mark.parametrize("args", [("x", "rot13"), ("x", "base64"), (b"x", "latin1")])
def test_other_encodings_are_refused(tmp_path, args):
    body = _call(_global("_codecs", "encode"), *(_data(a) for a in args))
    _refused(_write(tmp_path, body), "_codecs.encode with unexpected arguments")


@pytest.mark.parametrize("protocol", [2, 4])
def test_numpy_scalars_and_arrays_of_plain_dtypes(tmp_path, protocol):
    tree = {
        "f4": np.float32(0.1), "f8": np.float64(-2.5e-7), "i8": np.int64(-(2 ** 40)), "u1": np.uint8(200),
        "b": np.bool_(True), "c8": np.complex64(1 - 2j),
        "big": np.arange(6, dtype=">i4").reshape(2, 3),  # big-endian bytes
        "little": np.array([1.0, -0.5], dtype="<f8"),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "bytes_": np.frombuffer(b"\x01\x02\x03", dtype="u1").reshape(3, 1),
    }
    path = tmp_path / "numpy.pkl"
    path.write_bytes(pickle.dumps(tree, protocol=protocol))
    loaded = load_release(path)
    for name in ("f4", "f8", "i8", "u1", "b", "c8"):
        assert type(loaded[name]) is type(tree[name].item()) and loaded[name] == tree[name].item(), name
    for name in ("big", "little", "fortran", "bytes_"):
        assert isinstance(loaded[name], np.ndarray) and loaded[name].shape == tree[name].shape, name
        assert np.array_equal(loaded[name], tree[name]) and loaded[name].dtype == tree[name].dtype, name
    assert loaded["big"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_a_dtype_on_its_own_comes_back_as_a_numpy_dtype(tmp_path):
    path = tmp_path / "dtype.pkl"
    path.write_bytes(pickle.dumps([np.dtype(">f4"), np.dtype("i2"), np.dtype("u1")], protocol=2))
    assert load_release(path) == [np.dtype(">f4"), np.dtype("i2"), np.dtype("u1")]


@pytest.mark.parametrize("value, code", [(np.array(["a", "b"], dtype=object), "O8"),
                                         (np.array([("x", 1)], dtype=[("n", "U1"), ("v", "i4")]), "V8"),
                                         (np.array(["ab"], dtype="U2"), "U2"), (np.datetime64("2020-01-01"), "M8")])
def test_numpy_values_that_are_not_plain_numbers_are_refused(tmp_path, value, code):
    path = tmp_path / "numpy.pkl"
    path.write_bytes(pickle.dumps(value, protocol=2))
    _refused(path, f"numpy.dtype('{code}')")


def test_numpy_arrays_and_scalars_must_be_bytes_of_a_plain_dtype(tmp_path):
    dtype = _call(_global("numpy", "dtype"), _data("f4"), _data(False), _data(True))
    scalar = _call(_global("numpy.core.multiarray", "scalar"), dtype, _data([1, 2, 3, 4]))
    _refused(_write(tmp_path, scalar), "numpy scalar of an unknown kind")
    scalar = _call(_global("numpy.core.multiarray", "scalar"), _data("f4"), _data(b"\0\0\0\0"))
    _refused(_write(tmp_path, scalar, "dtype.pkl"), "numpy scalar of an unknown kind")
    array = _call(_global("numpy.core.multiarray", "_reconstruct"), _global("numpy", "ndarray"), _data((0,)),
                  _data(b"b"))
    _refused(_write(tmp_path, array + _data((1, (1,), "f4", False, b"\0\0\0\0")) + b"b", "state.pkl"),
             "numpy array of objects")
    _refused(_write(tmp_path, array + _data((1, (1,))) + b"b", "short.pkl"), "numpy array with unknown state")


# --------------------------------------------------------------------------------------------------
# Class records: made, filled in, never called


class Mapping(dict):
    pass


class Sequence(list):
    pass


class Number(int):
    pass


class Plain:
    def __init__(self):
        self.weight = torch.tensor([1.0, 2.0])


@pytest.mark.parametrize("protocol", [0, 1])
def test_old_protocols_make_records_through_copyreg(tmp_path, protocol):
    """Protocols 0 and 1 make instances with copyreg._reconstructor(cls, base, state)."""
    mapping, sequence = Mapping(a=1, b=[2]), Sequence([3, 4])
    mapping.extra = "attribute"
    path = tmp_path / "old.pkl"
    payload = pickle.dumps({"m": mapping, "s": sequence, "n": Number(5), "p": Plain()}, protocol=protocol)
    path.write_bytes(b"\x80\x02" + payload)  # load_release reads pickles that open with PROTO; 0/1 opcodes follow
    loaded = load_release(path)
    m, s, n, p = loaded["m"], loaded["s"], loaded["n"], loaded["p"]
    assert all(isinstance(r, InertObject) for r in (m, s, n, p))
    assert m.qualname == f"{__name__}.Mapping" and m.items == {"a": 1, "b": [2]} and m.get("extra") == "attribute"
    assert s.listitems == [3, 4] and n.args == (5,) and p.args == ()
    assert torch.equal(p.get("weight"), torch.tensor([1.0, 2.0]))


def test_copyreg_may_only_make_records(tmp_path):
    body = _call(_global("copyreg", "_reconstructor"), _global("builtins", "dict"), _global("builtins", "object"),
                 _data(None))
    _refused(_write(tmp_path, body), "copyreg._reconstructor of dict")


def test_python_2_names_are_read_as_python_3_ones(tmp_path):
    """Pickles written by Python 2 name __builtin__ and copy_reg; the reader maps them, as pickle does."""
    body = (b"(" + _call(_global("__builtin__", "set"), _data([1, 2])) + _call(_global("__builtin__", "xrange"),
                                                                            _data(3))
            + _call(_global("copy_reg", "_reconstructor"), _global("__main__", "Old"), _global("__builtin__", "object"),
                    _data(None)) + b"t")
    made_set, made_range, record = load_release(_write(tmp_path, body))
    assert made_set == {1, 2} and made_range == range(3)
    assert isinstance(record, InertObject) and record.qualname == "__main__.Old"


def test_a_protocol_3_pickle_keeps_its_module_names(tmp_path):
    """Name mapping is for Python 2 pickles only: a protocol 3 file naming __builtin__.set names no data type."""
    path = tmp_path / "release.pkl"
    path.write_bytes(b"\x80\x03" + _call(_global("__builtin__", "set"), _data([1])) + b".")
    _refused(path, "a call to __builtin__.set")


@pytest.mark.parametrize("module, name", [("os", "system"), ("builtins", "eval"), ("builtins", "getattr"),
                                          ("builtins", "object"), ("subprocess", "Popen"), ("torch", "load"),
                                          ("numpy", "load"), ("collections", "namedtuple")])
def test_calls_to_anything_outside_the_tables_are_refused(tmp_path, module, name):
    _refused(_write(tmp_path, _call(_global(module, name), _data("x"))), f"a call to {module}.{name}")


def test_the_data_types_may_be_called(tmp_path):
    body = b"(" + b"".join([
        _call(_global("builtins", "frozenset"), _data([1])), _call(_global("builtins", "slice"), _data(1), _data(5)),
        _call(_global("builtins", "complex"), _data(1.0), _data(2.0)), _call(_global("torch", "Size"), _data([2, 3])),
        _call(_global("torch", "device"), _data("cpu")), _call(_global("collections", "OrderedDict"), _data([(1, 2)])),
        _global("torch", "float16"), _global("torch.nn.parameter", "Parameter"),
    ]) + b"t"
    assert load_release(_write(tmp_path, body)) == (
        frozenset([1]), slice(1, 5), 1 + 2j, torch.Size([2, 3]), torch.device("cpu"),
        collections.OrderedDict([(1, 2)]), torch.float16, torch.Tensor)


def test_a_call_with_arguments_that_are_not_a_tuple_is_refused(tmp_path):
    _refused(_write(tmp_path, _global("builtins", "list") + _data([1, 2]) + b"R"), "a call with malformed arguments")


def test_instantiating_a_class_with_arguments_is_refused_without_them_a_record(tmp_path):
    """INST/OBJ with arguments would run the class's constructor; without arguments pickle only makes one."""
    _refused(_write(tmp_path, b"(K\x01K\x02" + b"imine\nNet\n"), "a call to mine.Net")
    record = load_release(_write(tmp_path, b"(" + b"imine\nNet\n", "bare.pkl"))
    assert isinstance(record, InertObject) and record.qualname == "mine.Net" and record.args == ()


def test_state_is_set_on_records_only(tmp_path):
    _refused(_write(tmp_path, b"}" + _data({"__class__": "x"}) + b"b"), "state set on a dict")
    _refused(_write(tmp_path, _call(_global("torch", "device"), _data("cpu")) + _data({}) + b"b", "device.pkl"),
             "state set on a device")


def test_persistent_ids_are_refused_outside_torch_files(tmp_path):
    _refused(_write(tmp_path, _data("storage0") + b"Q"), "a persistent object")


@pytest.mark.parametrize("meta", [["class"], {"type": "function", "class_name": "Net"}, {"type": "class"},
                                  {"type": "class", "class_name": 3}])
def test_persistence_records_must_be_class_records(tmp_path, meta):
    body = _call(_global("torch_utils.persistence", "_reconstruct_persistent_obj"), _data(meta))
    _refused(_write(tmp_path, body), "torch_utils.persistence with an unknown record")


def test_a_persistence_record_keeps_the_state_it_was_pickled_with(tmp_path):
    meta = {"type": "class", "version": 6, "module_src": "raise SystemExit", "class_name": "training.Net",
            "state": {"scale": 2.0, "_modules": {}}}
    body = _call(_global("torch_utils.persistence", "_reconstruct_persistent_obj"), _data(meta))
    record = load_release(_write(tmp_path, body))
    assert isinstance(record, InertObject) and record.qualname == "training.Net"
    assert record.state == {"scale": 2.0, "_modules": {}}


# --------------------------------------------------------------------------------------------------
# After loading, and the file's sentence


def test_numpy_placeholders_are_replaced_everywhere_and_shared_objects_stay_shared(tmp_path):
    array = np.array([1.5, 2.5], dtype="f4")
    holder = Plain()
    holder.weight = array
    tree = {"pair": (array, [array, {"deep": array}]), "record": holder, "again": holder}
    path = tmp_path / "shared.pkl"
    path.write_bytes(pickle.dumps(tree, protocol=2))
    loaded = load_release(path)
    first = loaded["pair"][0]
    assert isinstance(first, np.ndarray) and first.tolist() == [1.5, 2.5]
    assert loaded["pair"][1][0] is first and loaded["pair"][1][1]["deep"] is first
    assert loaded["record"] is loaded["again"] and loaded["record"].get("weight") is first


def test_a_refusal_is_one_sentence_naming_the_file_and_the_call(tmp_path):
    path = _write(tmp_path, _call(_global("os", "system"), _data("true")))
    with pytest.raises(UserError) as info:
        load_release(path)
    assert str(info.value) == (f"{path} asks for a call to os.system, which zoo3d refuses: only tensors, plain "
                               "containers and class records are read from release files.")


def test_a_file_nested_deeper_than_python_recurses_is_one_sentence(tmp_path):
    depth = 100_000
    path = _write(tmp_path, b"]" * depth + b"a" * (depth - 1))  # a list inside a list, 100000 deep
    with pytest.raises(UserError) as info:
        load_release(path)
    assert str(info.value) == f"{path} is nested too deeply to be a checkpoint."


def test_torch_legacy_files_holding_objects_are_read_through_the_same_tables(tmp_path):
    """torch.save's pre-1.6 stream: a pickled magic number, then the object; a whole module is made of records."""
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh())
    path = tmp_path / "legacy.pth"
    torch.save(net, path, _use_new_zipfile_serialization=False)
    loaded = load_release(path)
    assert isinstance(loaded, InertObject) and loaded.qualname == "torch.nn.modules.container.Sequential"
    linear = loaded.get("_modules")["0"]
    assert torch.equal(linear.get("_parameters")["weight"], net[0].weight.detach())
    evil = tmp_path / "evil.pth"
    torch.save({"call": _Reduces()}, evil, _use_new_zipfile_serialization=False)
    _refused(evil, "a call to posix.system")


class _Reduces:
    def __reduce__(self):
        import os
        return os.system, ("true",)


# --------------------------------------------------------------------------------------------------
# Records of whole pickled modules -> torch's state dict


class Net(torch.nn.Module):
    """Parameters, a None parameter, persistent and non-persistent buffers, nested children."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.ModuleList([torch.nn.Linear(3, 4, bias=False), torch.nn.BatchNorm1d(4)])
        self.head = torch.nn.Linear(4, 2)
        self.register_buffer("scale", torch.tensor([2.0]))
        self.register_buffer("cache", torch.ones(3), persistent=False)
        self.register_buffer("unset", None)
        self.gain = torch.nn.Parameter(torch.tensor(0.5))


def test_a_whole_pickled_module_gives_torchs_own_state_dict(tmp_path):
    net = Net()
    with torch.no_grad():
        for i, p in enumerate(net.parameters()):
            p.add_(i)
    path = tmp_path / "net.pth"
    torch.save(net, path)
    loaded = load_release(path)
    state, expected = module_state_dict(loaded), net.state_dict()
    assert list(state) == list(expected)  # names and order: own parameters, own buffers, then children
    assert "cache" not in state and "unset" not in state and "body.0.bias" not in state
    for name, value in expected.items():
        assert torch.equal(state[name], value), name
    assert list(module_state_dict(loaded, "G.")) == [f"G.{k}" for k in expected]


def test_records_with_parameters_or_children_are_networks():
    leaf = InertObject("m.Leaf", state={"_parameters": {"w": torch.ones(1)}})
    assert module_state_dict(leaf) == {"w": torch.ones(1)}
    tree = module_state_dict(InertObject("m.Tree", state={"_modules": {"c": leaf, "none": None}}), "t.")
    assert list(tree) == ["t.c.w"]


def test_something_that_is_not_a_network_is_named_in_the_sentence():
    with pytest.raises(UserError) as info:
        module_state_dict(InertObject("torch_ema.ema.ExponentialMovingAverage", state={"decay": 0.9}))
    assert str(info.value) == ("torch_ema.ema.ExponentialMovingAverage is not a network: it has no parameters or "
                               "buffers.")
    with pytest.raises(UserError) as info:
        module_state_dict([torch.ones(1)])
    assert str(info.value) == "list is not a network: it has no parameters or buffers."


class Empty:
    pass


def test_a_record_made_without_state_has_none(tmp_path):
    path = tmp_path / "empty.pkl"
    path.write_bytes(pickle.dumps([Empty()], protocol=2))
    record = load_release(path)[0]
    assert isinstance(record, InertObject) and record.state is None and record.qualname == f"{__name__}.Empty"
    assert (record.args, record.kwargs, record.items, record.listitems) == ((), {}, {}, [])


# --------------------------------------------------------------------------------------------------
# Further corners: fresh record classes, GPU-saved files, odd but harmless encodings


def test_each_class_name_gets_one_inert_class_of_its_own(tmp_path):
    """Fresh names (record classes are cached per name, so a name no other test used takes the path that
    makes the class): an InertObject subclass named after the name's last part, in zoo3d.upstream.records,
    made but never called."""
    module = f"fresh_{uuid.uuid4().hex}.nets"
    body = (b"(" + b"(" + f"i{module}\nNet\n".encode() + b"(" + f"i{module}\nNet\n".encode()
            + b"(" + f"i{module}.\n\n".encode() + b"t")
    first, second, unnamed = load_release(_write(tmp_path, body))
    assert type(first) is type(second) and isinstance(first, InertObject)
    cls = type(first)
    assert (cls.__name__, cls.__module__, repr(cls)) == ("Net", "zoo3d.upstream.records", f"<inert class {module}.Net>")
    assert first.qualname == f"{module}.Net" and first is not second
    assert type(unnamed).__name__ == "Record" and unnamed.qualname == f"{module}.."
    other = f"fresh_{uuid.uuid4().hex}"
    _refused(_write(tmp_path, b"(K\x01" + f"i{other}\nNet\n".encode(), "call.pkl"), f"a call to {other}.Net")


def test_a_release_saved_on_a_gpu_is_read_on_the_cpu(tmp_path, monkeypatch):
    """Authors save from their GPUs: the storages say 'cuda:0'. Written here by labelling CPU storages so."""
    import torch.serialization

    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    torch.save({"w": torch.tensor([1.0, 2.0])}, tmp_path / "state.pt")
    torch.save({"net": Empty(), "w": torch.tensor([3.0])}, tmp_path / "objects.pt")
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"w": torch.tensor([4.0])}, protocol=2))
    monkeypatch.undo()
    for name, value in (("state.pt", [1.0, 2.0]), ("objects.pt", [3.0]), ("plain.pkl", [4.0])):
        loaded = load_release(tmp_path / name)["w"]
        assert loaded.device.type == "cpu" and loaded.tolist() == value, name


def test_tensor_v3_and_parameters_with_state_check_hooks_and_geometry_too(tmp_path):
    def v3(size=(2,), hooks=None) -> bytes:
        hooks = _call(_global("collections", "OrderedDict")) if hooks is None else hooks
        return _call(_global("torch._utils", "_rebuild_tensor_v3"), _storage(torch.arange(4, dtype=torch.uint8)),
                     _data(0), _data(size), _data((1,)), _data(False), hooks, _global("torch", "uint8"))

    _refused(_write(tmp_path, v3(hooks=_data({"h": 1}))), "tensor backward hooks")
    _refused(_write(tmp_path, v3(size=(2.0,)), "size.pkl"), "a tensor size that is not integers")
    stride = _call(_global("torch._utils", "_rebuild_tensor_v3"), _storage(torch.arange(4, dtype=torch.uint8)),
                   _data(0), _data((2,)), _data(("1",)), _data(False), _data(None), _global("torch", "uint8"))
    _refused(_write(tmp_path, stride, "stride.pkl"), "a tensor stride that is not integers")
    with_state = _call(_global("torch._utils", "_rebuild_parameter_with_state"), v3(), _data(True), _data({"h": 1}),
                       _data({}))
    _refused(_write(tmp_path, with_state, "state.pkl"), "tensor backward hooks")


def test_odd_calls_are_named_as_well_as_they_can_be(tmp_path):
    _refused(_write(tmp_path, _call(_global("torch", "float16"), _data(1))), "a call to torch.dtype")
    body = _call(_global("copyreg", "_reconstructor"), _data(3), _global("builtins", "object"), _data(None))
    _refused(_write(tmp_path, body, "int.pkl"), "copyreg._reconstructor of int")
    shape = _call(_global("numpy.core.multiarray", "_reconstruct"), _global("numpy", "ndarray"), _data((0,)),
                  _data(b"b"))
    dtype = _call(_global("numpy", "dtype"), _data("f4"))
    _refused(_write(tmp_path, shape + b"(" + _data(1) + _data((1.0,)) + dtype + _data(False) + _data(b"\0" * 4)
                    + b"tb", "shape.pkl"), "a tensor shape that is not integers")


def test_defaults_of_encodings_and_dtypes(tmp_path):
    """_codecs.encode(text) is UTF-8; numpy.dtype(code) without a state is the native order."""
    assert load_release(_write(tmp_path, _call(_global("_codecs", "encode"), _data("é")))) == b"\xc3\xa9"
    one = np.float32(1.5).tobytes()  # native order
    body = _call(_global("numpy", "scalar"), _call(_global("numpy", "dtype"), _data("f4")), _data(one))
    assert load_release(_write(tmp_path, body, "scalar.pkl")) == 1.5
    # a state that names the order gives it; one too short to name it leaves the native order
    dtype = _call(_global("numpy", "dtype"), _data("i2"))
    pair = load_release(_write(tmp_path, b"(" + dtype + _data((3, ">")) + b"b" + dtype + _data((3,)) + b"b"
                               + dtype + _data({}) + b"bt", "orders.pkl"))
    assert pair == (np.dtype(">i2"), np.dtype("i2"), np.dtype("i2"))
    empty = _call(_global("numpy", "_reconstruct"), _global("numpy", "ndarray"), _data((0,)), _data(b"b"))
    assert load_release(_write(tmp_path, empty, "bare.pkl")) is None  # an array never given its data


def test_self_references_load(tmp_path):
    """A module that keeps a reference to itself (or a list holding itself) must not recurse forever."""
    loop = [1]
    loop.append(loop)
    holder = Plain()
    holder.me = holder
    path = tmp_path / "loops.pkl"
    path.write_bytes(pickle.dumps({"list": loop, "record": holder, "array": np.arange(2.0)}, protocol=2))
    loaded = load_release(path)
    assert loaded["list"][1] is loaded["list"] and loaded["record"].get("me") is loaded["record"]
    assert loaded["array"].tolist() == [0.0, 1.0]


def test_python_2_byte_strings_are_read_as_utf8_text(tmp_path):
    """Python 2 wrote str as SHORT_BINSTRING; the names in its checkpoints are UTF-8."""
    assert load_release(_write(tmp_path, b"U\x02\xc3\xa9")) == "é"


@pytest.mark.parametrize("module, name", [("evil", "_load_from_bytes"), ("evil", "_reconstructor"),
                                          ("evil", "encode"), ("evil", "_reconstruct_persistent_obj"),
                                          ("evil", "Parameter"), ("copyreg", "__newobj__"), ("_codecs", "decode"),
                                          ("torch.storage", "_new_shared"),
                                          ("torch_utils.persistence", "persistent_class"),
                                          ("torch.nn.parameter", "UninitializedParameter")])
def test_allowed_names_are_allowed_only_in_their_own_module(tmp_path, module, name):
    _refused(_write(tmp_path, _call(_global(module, name), _data("x"))), f"a call to {module}.{name}")


def test_the_old_torch_tensor_module_name_is_read(tmp_path):
    body = _v2(_storage(torch.tensor([5.0, 6.0]))).replace(b"ctorch._utils\n", b"ctorch.tensor\n")
    assert load_release(_write(tmp_path, body)).tolist() == [5.0, 6.0]
