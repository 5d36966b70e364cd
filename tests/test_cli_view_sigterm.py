"""``zoo3d view`` stopped by SIGTERM (a service manager, ``timeout``, a scheduler) closes its server, says so in one
line and exits with 128 + 15, as ``zoo3d train`` and ``zoo3d demo`` do (docs/training.md, "Signals"); before, the
signal's default action ended the process with no word and the socket unclosed. Ctrl-C still ends it with
``Stopped.`` and status 0 (tests/test_cli_view_options.py). The server is a stand-in: no model loads."""

from __future__ import annotations

import signal

import pytest

from conftest import run_in_process as zoo3d


class Killed(Exception):
    """Raised by the test's own SIGTERM handler: what the signal would have done had the command not caught it."""


@pytest.fixture
def own_handler():
    """A SIGTERM handler of the test's, so a command that leaves SIGTERM alone fails the test, not the test run."""
    def handler(signum, frame):
        raise Killed

    previous = signal.signal(signal.SIGTERM, handler)
    yield handler
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def viewer(monkeypatch):
    seen = {"closed": 0, "when": None}

    class Server:
        server_address = ("127.0.0.1", 4321)

        def serve_forever(self):
            if seen["when"] == "serving":
                signal.raise_signal(signal.SIGTERM)
            raise KeyboardInterrupt

        def server_close(self):
            seen["closed"] += 1

    def viewer_source(run, loaded_factory, seed, psi, given=()):
        if seen["when"] == "loading":
            signal.raise_signal(signal.SIGTERM)
        return "the source"

    monkeypatch.setattr("zoo3d.freeview.commands.viewer_source", viewer_source)
    monkeypatch.setattr("zoo3d.freeview.server.make_server", lambda source, port=0, host="127.0.0.1": Server())
    return seen


@pytest.mark.parametrize("when", ["serving", "loading"])
def test_sigterm_closes_the_server_says_one_line_and_exits_143(viewer, own_handler, capsys, when):
    viewer["when"] = when
    code, out, err = zoo3d(capsys, "view", "runs/r")
    assert code == 128 + signal.SIGTERM == 143
    assert err == "Stopped by SIGTERM.\n" and "Stopped." not in out
    assert viewer["closed"] == 1
    assert signal.getsignal(signal.SIGTERM) is own_handler  # put back after the command


def test_ctrl_c_is_unchanged_and_the_handler_is_put_back(viewer, own_handler, capsys):
    code, out, err = zoo3d(capsys, "view", "runs/r")
    assert (code, out.splitlines()[-1], err) == (0, "Stopped.", "")
    assert signal.getsignal(signal.SIGTERM) is own_handler
