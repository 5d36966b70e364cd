"""The viewer's server (``zoo3d view``) over HTTP, as a browser talks to it, against docs/freeview.md "The viewer".

The server runs in-process on an ephemeral 127.0.0.1 port with stand-in scene sources (a recording source, a stand-in
generator whose cache and GLB writer are replaced by recorders) or with a GLB written here byte by byte; every
answer is checked for its status, content type, headers and body: the page and static files are the package's files
read from disk, scenes the bytes the source handed over, errors the documented JSON ``{"error": ...}``.
"""

from __future__ import annotations

import http.client
import json
import threading

import pytest

from zoo3d.freeview.server import make_server

JSON = "application/json"


class RecordingSource:
    """A stand-in scene source: hands out ``b"scene <seed>"`` and records the seed each request asked for."""

    def __init__(self, info=None, fail=None):
        self.seeds, self._info, self.fail = [], info or {"seed": 3, "can_generate": True, "source": "stand-in"}, fail

    def info(self):
        return self._info

    def glb(self, seed):
        self.seeds.append(seed)
        if self.fail is not None:
            raise self.fail
        return f"scene {seed}".encode()


@pytest.fixture
def serve():
    """Starts servers on free ports; each is shut down and closed after the test."""
    started = []

    def start(source):
        server = make_server(source)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # quick to shut down
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(5)


def request(server, path, method="GET", body=None):
    """(status, headers as a dict, body) of one request on a fresh connection."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def assert_answer(answer, status, content_type, body):
    got_status, headers, got_body = answer
    assert (got_status, headers["Content-Type"], got_body) == (status, content_type, body)
    assert headers["Content-Length"] == str(len(body))
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"


def error(status, message):
    return status, JSON, json.dumps({"error": message}).encode()


def test_a_failure_while_making_a_scene_is_a_500_and_its_traceback_reaches_the_terminal(serve, capsys):
    """The page gets the error's one line; the traceback was swallowed by the handler's silenced request log."""
    server = serve(RecordingSource(fail=RuntimeError("out of memory")))
    assert_answer(request(server, "/scene.glb?seed=1"), *error(500, "RuntimeError: out of memory"))
    err = capsys.readouterr().err
    assert err.count("Traceback (most recent call last)") == 1 and "in glb" in err
    assert err.rstrip().endswith("RuntimeError: out of memory")
