"""``load_release`` names a file a safetensors file (one of zoo3d's own checkpoints, not one of the authors' releases)
exactly when the safetensors library reads it: an 8-byte little-endian header length, then that many bytes of a JSON
object, all inside the file. The smallest such file (the header ``{}``, ending the file) is one; a header that claims
more bytes than the file has, or that is not a JSON object, is not, and is refused as unreadable like any other
stranger."""

from __future__ import annotations

import errno
import os
import struct

import pytest
import safetensors.torch
import torch

from zoo3d.errors import UserError
from zoo3d.upstream import load_release
from zoo3d.upstream import unpickle as unpickle_module


def _file(header: bytes, length: int | None = None, rest: bytes = b"") -> bytes:
    """``length`` (the header's own length unless given) as a little-endian u64, the header, then ``rest``."""
    return struct.pack("<Q", len(header) if length is None else length) + header + rest


FILES = {  # name -> (bytes, whether the safetensors library reads them)
    "an empty header, ending the file": (_file(b"{}"), True),
    "one tensor": (safetensors.torch.save({"w": torch.arange(3, dtype=torch.float32)}), True),
    "a header three bytes longer than the file": (_file(b"{}", length=5), False),
    "a header one byte longer than the file": (_file(b"{}", length=3), False),
    "a JSON list, not an object": (_file(b"[1]"), False),
}


def _safetensors_reads(data: bytes) -> bool:
    try:
        safetensors.torch.load(data)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("name", list(FILES))
def test_a_file_is_called_safetensors_exactly_when_safetensors_reads_it(name, tmp_path):
    data, readable = FILES[name]
    assert _safetensors_reads(data) is readable  # the reference, as the case says
    path = tmp_path / "weights.pth"
    path.write_bytes(data)
    with pytest.raises(UserError) as refused:
        load_release(path)
    if readable:
        assert str(refused.value).startswith(f"{path} is a safetensors file, as zoo3d's own checkpoints are, ")
    else:
        assert str(refused.value) == f"{path} is truncated or is not a checkpoint zoo3d can read (a torch .pt/.pth " \
                                     f"file or a pickle)."


def test_a_file_the_system_will_not_open_is_named_with_the_systems_reason(tmp_path, monkeypatch):
    path = tmp_path / "weights.pth"
    path.write_bytes(b"\x80\x02}q\x00.")

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(unpickle_module, "open", refuse, raising=False)  # found before the builtin
    with pytest.raises(UserError) as refused:
        load_release(path)
    assert str(refused.value) == f"{path} cannot be read ({os.strerror(errno.EACCES)})."
