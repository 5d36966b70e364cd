"""``zoo3d view --port N`` takes the port before it loads anything: a busy port is refused in its one sentence before
the model is loaded and the first scene made (docs/errors.md: refusals come before any work), and a refusal after
the port was taken (a ``.gltf``) frees it again.

Before, the model was loaded and seed 0 cached first; only then was the port found taken, which for a large model
is minutes spent on a command that could not run.
"""

from __future__ import annotations

import errno
import os
import socket

from conftest import run_in_process as zoo3d


def test_a_busy_port_is_refused_before_the_model_is_loaded(monkeypatch, capsys):
    loads = []  # viewer_source loads the model and makes the first scene

    def viewer_source(run, loaded_factory, seed, psi, given=()):
        loads.append(run)
        return "the source"

    monkeypatch.setattr("zoo3d.freeview.commands.viewer_source", viewer_source)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        code, out, err = zoo3d(capsys, "view", "runs/r", "--port", busy)
    assert (code, out) == (2, "") and loads == []
    assert err.strip() == (f"Error: Cannot listen on 127.0.0.1:{busy} ({os.strerror(errno.EADDRINUSE)}); "
                           "pass another --port, or 0.")


def test_a_refusal_after_the_port_was_taken_frees_it(monkeypatch, capsys, tmp_path):
    from zoo3d.freeview import server as server_module

    real, made = server_module.make_server, []

    def make_server(*args, **kwargs):  # held here, so only the command's own close can free the port
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(server_module, "make_server", make_server)
    with socket.socket() as probe:  # a port free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = zoo3d(capsys, "view", str(tmp_path / "head.gltf"), "--port", port)
    assert code == 2 and "The viewer reads binary glTF (.glb)" in err
    assert len(made) == 1 and made[0].server_address[1] == port  # the port was taken before the refusal
    with socket.socket() as again:  # no listening socket was left behind
        again.bind(("127.0.0.1", port))
