"""``zoo3d view FILE.glb`` reads the colour behind every layer, ``asset.extras.zoo3d.backdrop``, as export writes it:
three numbers from 0 to 1 (or none: black). Anything else is zoo3d metadata export would not have written, refused
in the one sentence docs/freeview.md promises for such a file ("The viewer").

Before, the file was served as it was and the page cleared to whatever three.js made of it: ``"white"`` drew a black
backdrop and ``[1, 1]`` a yellow one (seen in headless Chromium on a model without a background plane).
"""

from __future__ import annotations

import json
import struct

import pytest

from conftest import run_in_process as zoo3d
from zoo3d.errors import UserError
from zoo3d.freeview.server import FileSource


def write_glb(path, meta) -> None:
    """A GLB 2.0 container (header and one JSON chunk, padded with spaces per the spec) whose asset holds ``meta``."""
    text = json.dumps({"asset": {"version": "2.0", "extras": {"zoo3d": meta}}}).encode()
    text += b" " * (-len(text) % 4)
    path.write_bytes(struct.pack("<III", 0x46546C67, 2, 20 + len(text)) + struct.pack("<II", len(text), 0x4E4F534A)
                     + text)


@pytest.mark.parametrize("backdrop", ["white", [1, 1], [1, 1, 1, 1], [255, 255, 255], [1, -0.5, 0], [1, True, 1],
                                      [float("nan")] * 3, {"r": 1, "g": 1, "b": 1}])
def test_a_backdrop_export_would_not_write_is_refused_naming_the_key(tmp_path, backdrop):
    path = tmp_path / "head.glb"
    write_glb(path, {"seed": 2, "backdrop": backdrop})
    with pytest.raises(UserError) as refused:
        FileSource(path)
    assert str(refused.value) == (f"'{path}' has zoo3d metadata the viewer cannot use (asset.extras.zoo3d.backdrop: "
                                  f"{backdrop!r} is not three numbers from 0 to 1); write it again with zoo3d export.")


@pytest.mark.parametrize("backdrop", [None, [1.0, 1.0, 1.0], [0, 0.5, 1]])
def test_a_backdrop_export_writes_or_none_opens(tmp_path, backdrop):
    path = tmp_path / "head.glb"
    write_glb(path, {"seed": 2, "backdrop": backdrop})
    source = FileSource(path)
    assert source.seed == 2 and source.glb(None) == path.read_bytes()


def test_zoo3d_view_refuses_it_in_one_sentence_with_status_2(tmp_path, capsys, monkeypatch):
    from zoo3d.freeview import server as server_module

    real = server_module.make_server

    def make_server(*args, **kwargs):  # a viewer that starts serving fails the test instead of running forever
        server = real(*args, **kwargs)
        server.serve_forever = lambda *a: (_ for _ in ()).throw(AssertionError("the viewer was started"))
        return server

    monkeypatch.setattr(server_module, "make_server", make_server)
    path = tmp_path / "head.glb"
    write_glb(path, {"backdrop": "white"})
    code, out, err = zoo3d(capsys, "view", path)
    assert (code, out) == (2, "")
    assert err.strip() == (f"Error: '{path}' has zoo3d metadata the viewer cannot use (asset.extras.zoo3d.backdrop: "
                           "'white' is not three numbers from 0 to 1); write it again with zoo3d export.")
