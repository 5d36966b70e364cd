"""The viewer's server (``zoo3d view``) with clients that go away: a page closed or reloaded while its scene is being
made, while the scene is still downloading, or before its request is read, is no error of the server's
(docs/freeview.md, "The viewer").

Before, the answer written to the closed connection raised ConnectionResetError or BrokenPipeError, which the server
reported as a failure of the scene (a traceback), then failed again writing its 500 to the same closed connection
(socketserver's second traceback): a terminal full of tracebacks for a reloaded page.
A connection reset while its request was still being read gave socketserver's traceback too.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time

import pytest

from zoo3d.freeview.server import make_server

BIG = 8 << 20  # more than any socket buffer holds: writing it to a closed connection fails


class HeldSource:
    """Hands out ``BIG`` bytes for any seed once ``release`` is set; ``asked`` is set when a request arrives."""

    def __init__(self):
        self.asked, self.release = threading.Event(), threading.Event()

    def info(self):
        return {"seed": 0, "can_generate": True, "source": "held"}

    def glb(self, seed):
        self.asked.set()
        self.release.wait(30)
        return b"g" * BIG


@pytest.fixture
def served():
    """A server on a free port whose request threads set ``done`` when they end; shut down after the test."""
    source = HeldSource()
    server = make_server(source)
    done = []
    handle = server.process_request_thread

    def process_request_thread(request, client_address):
        ended = threading.Event()
        done.append(ended)
        try:
            handle(request, client_address)
        finally:
            ended.set()

    server.process_request_thread = process_request_thread
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server, source, done
    source.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def reset(conn: socket.socket) -> None:
    """Close ``conn`` with a reset (SO_LINGER 0), as a browser drops a request it no longer wants."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def test_a_page_closed_while_its_scene_is_made_leaves_the_terminal_quiet_and_the_server_serving(served, capsys):
    server, source, done = served
    conn = socket.create_connection(server.server_address[:2], timeout=30)
    conn.sendall(b"GET /scene.glb?seed=4 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert source.asked.wait(10)
    reset(conn)  # the page goes away before the scene is ready
    source.release.set()
    assert done[0].wait(10)
    assert capsys.readouterr().err == ""
    again = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    again.request("GET", "/scene.glb?seed=4")
    answer = again.getresponse()
    assert (answer.status, len(answer.read())) == (200, BIG)  # the next page is served as before
    again.close()
    assert capsys.readouterr().err == ""


def test_a_page_closed_while_its_scene_downloads_leaves_the_terminal_quiet(served, capsys):
    server, source, done = served
    source.release.set()
    conn = socket.create_connection(server.server_address[:2], timeout=30)
    conn.sendall(b"GET /scene.glb HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert conn.recv(12).startswith(b"HTTP/1.0 200")  # the answer has begun: 8 MiB cannot all be sent yet
    reset(conn)
    assert done[0].wait(10)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("sent", [b"", b"GET /api/in"], ids=["nothing", "half a request line"])
def test_a_client_reset_before_its_request_is_read_leaves_the_terminal_quiet(served, capsys, sent):
    """A connection reset while the server waits for (the rest of) its request line."""
    server, source, done = served
    conn = socket.create_connection(server.server_address[:2], timeout=30)
    conn.sendall(sent)
    deadline = time.monotonic() + 10
    while not done and time.monotonic() < deadline:  # the server has taken the connection and is reading it
        time.sleep(0.01)
    time.sleep(0.2)
    reset(conn)
    assert done[0].wait(10)
    assert capsys.readouterr().err == "" and not source.asked.is_set()
