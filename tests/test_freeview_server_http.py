"""The viewer's server (``zoo3d view``) over HTTP, as a browser talks to it, against docs/freeview.md "The viewer".

The server runs in-process on an ephemeral 127.0.0.1 port with stand-in scene sources (a recording source, a stand-in
generator whose cache and GLB writer are replaced by recorders) or with a GLB written here byte by byte; every
answer is checked for its status, content type, headers and body: the page and static files are the package's files
read from disk, scenes the bytes the source handed over, errors the documented JSON ``{"error": ...}``.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
from types import SimpleNamespace

import pytest

from zoo3d.cameras import CameraPrior
from zoo3d.errors import UserError
from zoo3d.freeview import server as server_module
from zoo3d.freeview.server import STATIC_ROOT, FileSource, GeneratorSource, SceneError, make_server, url_of
from zoo3d.limits import MAX_VIEWER_SEED

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


# ----------------------------------------------------------------------------------------- routes
def test_the_page_is_index_html_at_the_root_and_by_name(serve):
    server = serve(RecordingSource())
    page = (STATIC_ROOT / "index.html").read_bytes()
    for path in ("/", "/index.html", "/static/index.html", "/?yaw=0.3&pitch=-0.1&size=64"):  # the page reads the query
        assert_answer(request(server, path), 200, "text/html; charset=utf-8", page)
    assert_answer(request(server, "/viewer.js"), *error(404, "Not found: /viewer.js"))


def test_static_files_are_served_with_their_types_and_only_from_the_static_folder(serve, tmp_path, monkeypatch):
    """The type follows the suffix (a LICENSE is text); a suffix without a type, a folder, a missing file and a path
    that leaves the folder are 404s naming what was asked for."""
    root = tmp_path / "static"
    files = {"a.html": "text/html; charset=utf-8", "b.js": "text/javascript; charset=utf-8",
             "c.css": "text/css; charset=utf-8", "d.md": "text/plain; charset=utf-8", "e.json": JSON,
             "vendor/LICENSE": "text/plain; charset=utf-8"}
    for name in [*files, "f.png", "NOTICE", "dir.js/x.css"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(f"bytes of {name}".encode())
    (tmp_path / "outside.js").write_text("secret")
    monkeypatch.setattr(server_module, "STATIC_ROOT", root)
    server = serve(RecordingSource())
    for name, kind in files.items():
        assert_answer(request(server, "/static/" + name), 200, kind, f"bytes of {name}".encode())
    assert_answer(request(server, "/static/vendor/%4CICENSE"), 200, files["vendor/LICENSE"], b"bytes of vendor/LICENSE")
    for name in ("f.png", "NOTICE", "dir.js", "missing.js", "../outside.js", "..%2foutside.js", "vendor/../../outside.js",
                 "b.js%00", "a" * 300 + ".js"):  # a NUL byte and a name too long for the file system: no such file
        shown = name.replace("%2f", "/").replace("%00", "\0")
        assert_answer(request(server, "/static/" + name), *error(404, f"Not found: /static/{shown}"))
    status, headers, rest = raw_head(server, "/static/f.png")  # a file without a type: the 404's headers only
    assert (status, headers["Content-Length"], rest) == (404, str(len(error(404, "Not found: /static/f.png")[2])), b"")


def test_the_real_static_folder_serves_the_viewer_script_and_the_vendored_three_js(serve):
    server = serve(RecordingSource())
    for name, kind in (("viewer.js", "text/javascript; charset=utf-8"),
                       ("vendor/three/build/three.module.js", "text/javascript; charset=utf-8"),
                       ("vendor/three/LICENSE", "text/plain; charset=utf-8"),
                       ("vendor/three/VENDORED.md", "text/plain; charset=utf-8")):
        assert_answer(request(server, "/static/" + name), 200, kind, (STATIC_ROOT / name).read_bytes())


def test_api_info_is_the_sources_info_as_json(serve):
    info = {"seed": 11, "can_generate": False, "source": "héad.glb", "view_limits": {"yaw": [-0.5, 0.25]}}
    server = serve(RecordingSource(info))
    status, headers, body = request(server, "/api/info")
    assert (status, headers["Content-Type"], json.loads(body)) == (200, JSON, info)
    assert headers["Content-Length"] == str(len(body)) and headers["Cache-Control"] == "no-store"
    assert request(server, "/api/info?seed=4")[2] == body


@pytest.mark.parametrize("query, seed", [("", None), ("?seed=5", 5), ("?seed=0", 0), ("?seed=%37", 7),
                                         (f"?seed={MAX_VIEWER_SEED}", MAX_VIEWER_SEED), ("?seed=1&seed=2", 2),
                                         ("?seed=", None), ("?other=9", None), ("?seed=" + "0" * 5000 + "7", 7)])
def test_the_scene_is_the_sources_glb_for_the_seed_asked_for(serve, query, seed):
    """The last ``seed`` of the query reaches the source as an int, none (or an empty one) as None: its default."""
    source = RecordingSource()
    server = serve(source)
    assert_answer(request(server, "/scene.glb" + query), 200, "model/gltf-binary", f"scene {seed}".encode())
    assert source.seeds == [seed]


@pytest.mark.parametrize("value, message", [
    ("five", "seed must be a whole number, not 'five'."),
    ("2.5", "seed must be a whole number, not '2.5'."),
    ("-1", f"seed must be between 0 and {MAX_VIEWER_SEED}, not -1."),
    (str(MAX_VIEWER_SEED + 1), f"seed must be between 0 and {MAX_VIEWER_SEED}, not {MAX_VIEWER_SEED + 1}."),
    ("1_0", "seed must be a whole number, not '1_0'."),  # int() read it as seed 10
    ("%D9%A3", "seed must be a whole number, not '\u0663'."),  # an Arabic-Indic three, which int() read as seed 3
    ("%EF%BC%95", "seed must be a whole number, not '\uff15'."),  # a fullwidth five
    ("9" * 5000, f"seed must be between 0 and {MAX_VIEWER_SEED}, not {'9' * 5000}."),  # int() called it no number
])
def test_a_seed_out_of_range_or_not_a_number_is_a_400_and_never_reaches_the_source(serve, value, message):
    source = RecordingSource()
    server = serve(source)
    assert_answer(request(server, "/scene.glb?seed=" + value), *error(400, message))
    assert source.seeds == []


def raw_head(server, path) -> tuple[int, dict, bytes]:
    """A HEAD request on a bare socket: (status, headers, every byte after them until the server closes)."""
    with socket.create_connection(server.server_address[:2], timeout=30) as conn:
        conn.sendall(f"HEAD {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return int(lines[0].split()[1]), dict(line.split(": ", 1) for line in lines[1:]), rest


def test_head_answers_as_get_would_without_the_body(serve, monkeypatch, tmp_path):
    """Every route and every error, the headers GET would give and not one byte of body."""
    source = RecordingSource()
    server = serve(source)
    failing = serve(RecordingSource(fail=RuntimeError("out of memory")))
    refusing = serve(RecordingSource(fail=SceneError("no other seeds")))
    for at, path in ((server, "/"), (server, "/static/viewer.js"), (server, "/api/info"),
                     (server, "/scene.glb?seed=4"), (server, "/scene.glb?seed=x"), (server, "/nowhere"),
                     (server, "/static/missing.js"), (server, "/static/vendor"), (failing, "/scene.glb"),
                     (refusing, "/scene.glb")):
        want_status, want_headers, want_body = request(at, path)
        status, headers, rest = raw_head(at, path)
        assert (status, headers["Content-Type"], headers["Content-Length"], rest) == (
            want_status, want_headers["Content-Type"], str(len(want_body)), b""), path
    assert source.seeds == [4, 4]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"])
def test_other_methods_are_405_in_json(serve, method):
    source = RecordingSource()
    server = serve(source)
    path = "127.0.0.1:1" if method == "CONNECT" else "/scene.glb"
    assert_answer(request(server, path, method, body=b"x"), *error(405, f"{method} is not supported."))
    assert source.seeds == []


def test_unknown_paths_are_404_in_json_naming_the_decoded_path(serve):
    server = serve(RecordingSource())
    for path, shown in (("/api", "/api"), ("/api/info/", "/api/info/"), ("/scene.gltf", "/scene.gltf"),
                        ("/scene%2Eglb%3F", "/scene.glb?"), ("/static", "/static")):
        assert_answer(request(server, path), *error(404, f"Not found: {shown}"))


def test_a_scene_the_source_refuses_is_a_400_with_its_sentence(serve):
    for fail in (SceneError("This viewer cannot make other seeds."), UserError("The cache holds no triangles.")):
        server = serve(RecordingSource(fail=fail))
        assert_answer(request(server, "/scene.glb?seed=1"), *error(400, str(fail)))


def test_a_failure_while_making_a_scene_is_a_500_and_its_traceback_reaches_the_terminal(serve, capsys):
    """The page gets the error's one line; the traceback was swallowed by the handler's silenced request log."""
    server = serve(RecordingSource(fail=RuntimeError("out of memory")))
    assert_answer(request(server, "/scene.glb?seed=1"), *error(500, "RuntimeError: out of memory"))
    err = capsys.readouterr().err
    assert err.count("Traceback (most recent call last)") == 1 and "in glb" in err
    assert err.rstrip().endswith("RuntimeError: out of memory")


# ------------------------------------------------------------------------------------- the socket
def test_the_server_listens_on_localhost_at_the_port_asked_for_and_frees_it_when_closed():
    with socket.socket() as probe:  # a port free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = make_server(RecordingSource(), port)
    assert server.server_address == ("127.0.0.1", port) and url_of(server) == f"http://127.0.0.1:{port}/"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    status, _, body = request(server, "/scene.glb?seed=9")
    assert (status, body) == (200, b"scene 9")
    server.shutdown()
    server.server_close()
    thread.join(5)
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    again = make_server(RecordingSource(), port)  # a new viewer can take the port at once
    assert again.server_address == ("127.0.0.1", port)
    again.server_close()


def test_closing_does_not_wait_for_a_scene_still_being_made(serve):
    """Ctrl-C while a seed is being cached stops the viewer at once; the request's thread is left to the process."""
    started, release = threading.Event(), threading.Event()

    class Slow(RecordingSource):
        def glb(self, seed):
            started.set()
            release.wait(30)
            return b"late"

    server = make_server(Slow())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    client = threading.Thread(target=lambda: request(server, "/scene.glb"), daemon=True)
    client.start()
    try:
        assert started.wait(10)
        t0 = time.perf_counter()
        server.shutdown()
        server.server_close()
        assert time.perf_counter() - t0 < 5
    finally:
        release.set()
        client.join(5)


# ------------------------------------------------------------------------------------- the sources
@pytest.fixture
def recorded(monkeypatch):
    """GeneratorSource's cache and GLB writer replaced by recorders: the GLB says which seed, psi and model."""
    calls = []

    def cache_instance(generator, seed, psi, model=None):
        calls.append((generator, seed, psi))
        return SimpleNamespace(meta={"seed": seed, "psi": psi, "model": model})

    monkeypatch.setattr("zoo3d.freeview.cache.cache_instance", cache_instance)
    monkeypatch.setattr("zoo3d.freeview.gltf.glb_bytes", lambda cache: json.dumps(cache.meta).encode())
    return calls


def test_a_generator_source_caches_the_seed_asked_for_with_its_psi_and_model_name(recorded):
    gen = SimpleNamespace(camera_prior=CameraPrior())
    source = GeneratorSource(gen, seed=6, psi=0.45, label="run-1", model="gram_hd")
    assert json.loads(source.glb(None)) == {"seed": 6, "psi": 0.45, "model": "gram_hd"}
    assert json.loads(source.glb(2)) == {"seed": 2, "psi": 0.45, "model": "gram_hd"}
    assert recorded == [(gen, 6, 0.45), (gen, 2, 0.45)]
    assert source.glb(6) == source.glb(None) and len(recorded) == 2  # made once, then kept


def test_a_generator_source_keeps_the_last_few_scenes_it_served(recorded):
    source = GeneratorSource(SimpleNamespace(camera_prior=CameraPrior()), keep=2)
    for seed in (1, 2, 1, 3):  # 1 was served after 2, so 2 is the one dropped for 3
        source.glb(seed)
    assert [call[1] for call in recorded] == [1, 2, 3]
    source.glb(1)
    source.glb(3)
    source.glb(2)
    assert [call[1] for call in recorded] == [1, 2, 3, 2]
    default = GeneratorSource(SimpleNamespace(camera_prior=CameraPrior()))
    for seed in (0, 1, 2, 3, 0, 4, 1):  # four kept: 0 (served again) stays, 1 is dropped for 4
        default.glb(seed)
    assert [call[1:] for call in recorded[4:]] == [(0, 0.7), (1, 0.7), (2, 0.7), (3, 0.7), (4, 0.7), (1, 0.7)]


def test_two_requests_for_one_new_seed_make_it_once(monkeypatch):
    """Scenes are made one at a time: the second request waits for the first's scene instead of making its own."""
    inside, release, calls = threading.Event(), threading.Event(), []

    def cache_instance(generator, seed, psi, model=None):
        calls.append(seed)
        inside.set()
        release.wait(10)
        return SimpleNamespace(meta={"seed": seed})

    monkeypatch.setattr("zoo3d.freeview.cache.cache_instance", cache_instance)
    monkeypatch.setattr("zoo3d.freeview.gltf.glb_bytes", lambda cache: b"scene %d" % cache.meta["seed"])
    source = GeneratorSource(SimpleNamespace(camera_prior=CameraPrior()))
    answers = []
    first = threading.Thread(target=lambda: answers.append(source.glb(8)))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=lambda: answers.append(source.glb(8)))
    second.start()
    second.join(0.3)
    release.set()
    first.join(10)
    second.join(10)
    assert calls == [8] and answers == [b"scene 8", b"scene 8"]


def test_generator_info_gives_the_prior_its_orbit_ranges_and_centre_view_as_the_docs_say():
    """Gaussian: mean +- 2 std; uniform: its support; the view opens at (yaw_mean, pitch_mean)."""
    gauss = CameraPrior(yaw_mean=0.1, yaw_std=0.2, pitch_mean=0.05, pitch_std=0.1, fov=14.0, radius=1.5)
    info = GeneratorSource(SimpleNamespace(camera_prior=gauss), seed=12, label="my run").info()
    assert info == {"camera_prior": {"distribution": "gaussian", "yaw_mean": 0.1, "yaw_std": 0.2, "pitch_mean": 0.05,
                                     "pitch_std": 0.1, "radius": 1.5, "fov": 14.0},
                    "view_limits": {"yaw": pytest.approx([-0.3, 0.5]), "pitch": pytest.approx([-0.15, 0.25])},
                    "centre_view": {"yaw": 0.1, "pitch": 0.05}, "seed": 12, "can_generate": True, "source": "my run"}
    uniform = CameraPrior(distribution="uniform", yaw_mean=-0.1, yaw_std=0.4, pitch_mean=0.2, pitch_std=0.1)
    info = GeneratorSource(SimpleNamespace(camera_prior=uniform)).info()
    assert info["view_limits"] == {"yaw": pytest.approx([-0.5, 0.3]), "pitch": pytest.approx([0.1, 0.3])}
    assert info["centre_view"] == {"yaw": -0.1, "pitch": 0.2} and info["seed"] == 0 and info["source"] == ""


# ------------------------------------------------------------------------------------- a .glb file
def glb_with(doc) -> bytes:
    """A GLB 2.0 container (header, one JSON chunk padded with spaces) holding ``doc``."""
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    return struct.pack("<III", 0x46546C67, 2, 20 + len(text)) + struct.pack("<II", len(text), 0x4E4F534A) + text


def write(tmp_path, doc, name="scene.glb"):
    path = tmp_path / name
    path.write_bytes(glb_with(doc))
    return path


def test_a_file_source_serves_its_bytes_for_its_own_seed_only(serve, tmp_path):
    prior = {"yaw_std": 0.25, "pitch_mean": 0.1, "fov": 18.0}
    path = write(tmp_path, {"asset": {"version": "2.0", "extras": {"zoo3d": {"seed": 4, "camera_prior": prior}}}},
                 "héad.glb")
    source = FileSource(path)
    server = serve(source)
    data = path.read_bytes()
    for query in ("", "?seed=4"):
        assert_answer(request(server, "/scene.glb" + query), 200, "model/gltf-binary", data)
    assert_answer(request(server, "/scene.glb?seed=5"),
                  *error(400, "This viewer shows the file héad.glb; it cannot make other seeds."))
    info = json.loads(request(server, "/api/info")[2])
    expected = CameraPrior(**prior)
    assert info["camera_prior"] == {**CameraPrior().model_dump(), **prior} and info["seed"] == 4
    assert info["view_limits"] == {"yaw": pytest.approx([-0.5, 0.5]), "pitch": pytest.approx([-0.21, 0.41])}
    assert info["centre_view"] == {"yaw": expected.yaw_mean, "pitch": 0.1}
    assert info["can_generate"] is False and info["source"] == "héad.glb"


@pytest.mark.parametrize("asset", [None, {"version": "2.0"}, {"extras": ["made elsewhere"]}, {"extras": {"other": 1}},
                                   {"extras": {"zoo3d": {}}}, "not an object"])
def test_a_file_without_zoo3d_metadata_opens_at_the_default_prior_without_a_seed(tmp_path, asset):
    doc = {} if asset is None else {"asset": asset}
    source = FileSource(write(tmp_path, doc))
    info = source.info()
    assert info["camera_prior"] == CameraPrior().model_dump() and info["seed"] is None and source.seed is None
    assert source.glb(None) == glb_with(doc) and source.glb(None) == source.glb(None)
    with pytest.raises(SceneError):
        source.glb(0)


def test_a_file_that_is_not_a_whole_glb_is_refused_naming_it(tmp_path):
    path = write(tmp_path, {"asset": {"version": "2.0"}}, "cut.glb")
    data = path.read_bytes()
    path.write_bytes(data[:-4])
    with pytest.raises(UserError) as refused:
        FileSource(path)
    assert str(refused.value) == (f"'{path}' is truncated or corrupt: its header says {len(data)} bytes, the file has "
                                  f"{len(data) - 4}.")
    path.write_bytes(b"PK\x03\x04" + data[4:])
    with pytest.raises(UserError, match="^'" + str(path).replace(".", r"\.") + r"' is not a binary glTF 2\.0 file"):
        FileSource(path)


@pytest.mark.parametrize("meta, where", [
    ({"seed": True}, "asset.extras.zoo3d.seed: True is not a whole number"),
    ({"seed": 2.0}, "asset.extras.zoo3d.seed: 2.0 is not a whole number"),
    ({"seed": "3"}, "asset.extras.zoo3d.seed: '3' is not a whole number"),
    ({"camera_prior": {"fov": 0}}, "asset.extras.zoo3d.camera_prior.fov: input should be greater than 0"),
    ({"camera_prior": {"yaw": 1}}, "asset.extras.zoo3d.camera_prior.yaw: extra inputs are not permitted"),
    ({"camera_prior": []}, "asset.extras.zoo3d.camera_prior: input should be a valid dictionary or instance of CameraPrior"),
    ([], "asset.extras.zoo3d: not an object"),
])
def test_zoo3d_metadata_export_would_not_write_is_refused_in_one_sentence(tmp_path, meta, where):
    path = write(tmp_path, {"asset": {"extras": {"zoo3d": meta}}})
    with pytest.raises(UserError) as refused:
        FileSource(path)
    assert str(refused.value) == (f"'{path}' has zoo3d metadata the viewer cannot use ({where}); write it again "
                                  "with zoo3d export.")
