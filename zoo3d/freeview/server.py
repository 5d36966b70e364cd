"""The local viewer (``zoo3d view``): a single page on 127.0.0.1 that draws a cache's glTF with three.js.

Routes (GET/HEAD only; anything else is 404, or 405 for other methods):

* ``/`` — the page (``static/index.html``); ``/static/<file>`` — the page's script and the vendored three.js,
  served only when the resolved path lies inside the package's ``static`` folder;
* ``/api/info`` — JSON: camera prior, the yaw and pitch ranges to orbit in, the view to open at, default seed,
  whether other seeds can be generated, a source label;
* ``/scene.glb[?seed=S]`` — the scene as GLB: made from the generator for seed S (default: the one given on
  the command line), or the one scene the viewer was started with (a ``.glb`` file, an inversion's cache), which
  has no other seed.

Scenes are made one at a time (a lock around the generator) and the last few are kept.
A client that has gone (a page closed or reloaded) is dropped without a word, while its request is read or answered.
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
import traceback
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from zoo3d.errors import UserError
from zoo3d.limits import MAX_VIEWER_SEED

__all__ = ["FileSource", "GeneratorSource", "STATIC_ROOT", "SceneSource", "make_server"]

STATIC_ROOT = Path(__file__).resolve().parent / "static"
#: A seed as the page sends it: decimal digits in ASCII, after an optional sign.
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".md": "text/plain; charset=utf-8", ".json": "application/json"}


class SceneError(Exception):
    """A request the source cannot answer (HTTP 400 with this message)."""


def view_info(prior, centre: dict | None = None) -> dict:
    """What the page needs of a camera prior: the prior, the ranges to orbit in and the view it opens at
    (``centre_view``: ``centre``, an inversion's input view, which the ranges are widened to take in, so that the page
    opens there; else ``yaw_mean`` and ``centre_pitch``, the view ``zoo3d sample`` and ``render`` look from)."""
    centre = {"yaw": prior.yaw_mean, "pitch": prior.centre_pitch} if centre is None else dict(centre)
    return {"camera_prior": prior.model_dump(), "view_limits": prior.view_limits(include=centre),
            "centre_view": centre}


class GeneratorSource:
    """Scenes of a generator: any seed, cached as textured layers and written as GLB on request."""

    def __init__(self, generator, seed: int = 0, psi: float = 0.7, label: str = "", model: str = "",
                 keep: int = 4):
        self.generator, self.seed, self.psi, self.label, self.model = generator, seed, psi, label, model
        self._lock = threading.Lock()
        self._scenes: OrderedDict[int, bytes] = OrderedDict()
        self._keep = keep

    def info(self) -> dict:
        return {**view_info(self.generator.camera_prior), "seed": self.seed, "can_generate": True,
                "source": self.label}

    def glb(self, seed: int | None) -> bytes:
        from zoo3d.freeview.cache import cache_instance
        from zoo3d.freeview.gltf import glb_bytes

        seed = self.seed if seed is None else seed
        with self._lock:
            if seed not in self._scenes:
                cache = cache_instance(self.generator, seed, psi=self.psi, model=self.model)
                self._scenes[seed] = glb_bytes(cache)
                while len(self._scenes) > self._keep:
                    self._scenes.popitem(last=False)
            self._scenes.move_to_end(seed)
            return self._scenes[seed]


def _is_rgb(value) -> bool:
    """Three numbers in [0, 1], as export writes ``backdrop``."""
    return (isinstance(value, list) and len(value) == 3
            and all(isinstance(c, (int, float)) and not isinstance(c, bool) and 0 <= c <= 1 for c in value))


def _is_view(value) -> bool:
    """An object with a finite ``yaw`` and ``pitch``, as export writes an inversion's ``input_view``."""
    return isinstance(value, dict) and all(
        isinstance(value.get(k), (int, float)) and not isinstance(value.get(k), bool) and math.isfinite(value[k])
        for k in ("yaw", "pitch"))


def _file_meta(doc: dict, path: Path):
    """The camera prior, seed and first view (an inversion's ``input_view``, else None: the prior's centre view) a
    ``zoo3d export`` file holds in ``asset.extras.zoo3d`` (and its backdrop, checked).

    glTF lets ``extras`` be any value, so a file without zoo3d's object opens at the default prior (as one without
    extras does); zoo3d's own metadata, where it is there, must be what export writes: the page would otherwise
    orbit with a prior it cannot use, so the file is refused in one sentence."""
    from pydantic import ValidationError

    from zoo3d.cameras import CameraPrior

    asset = doc.get("asset")
    extras = asset.get("extras") if isinstance(asset, dict) else None
    meta = extras.get("zoo3d", {}) if isinstance(extras, dict) else {}
    where, why = "asset.extras.zoo3d", "not an object"
    if isinstance(meta, dict):
        seed, backdrop, view = meta.get("seed"), meta.get("backdrop"), meta.get("input_view")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            where, why = where + ".seed", f"{seed!r} is not a whole number"
        elif backdrop is not None and not _is_rgb(backdrop):  # the page clears to it: "white" drew black
            where, why = where + ".backdrop", f"{backdrop!r} is not three numbers from 0 to 1"
        elif view is not None and not _is_view(view):
            where, why = where + ".input_view", f"{view!r} is no view (a finite yaw and pitch)"
        else:
            centre = None if view is None else {"yaw": float(view["yaw"]), "pitch": float(view["pitch"])}
            try:
                return CameraPrior.model_validate(meta.get("camera_prior", {})), seed, centre
            except ValidationError as exc:
                err = exc.errors()[0]
                where += ".camera_prior" + "".join(f".{part}" for part in err["loc"])
                why = err["msg"][0].lower() + err["msg"][1:]
    raise UserError(f"'{path}' has zoo3d metadata the viewer cannot use ({where}: {why}); write it again with "
                    f"zoo3d export.")


class SceneSource:
    """One scene made before serving (GLB bytes): the page's seed box is off and no other seed is made.

    ``source``: the label the page shows; ``shows``: what a request for another seed is told this viewer shows;
    ``centre``: the view (``yaw``, ``pitch``) to open at, where it is not the prior's centre view."""

    def __init__(self, data: bytes, prior, seed: int | None, source: str, shows: str, centre: dict | None = None):
        self._data, self._prior, self.seed, self.source, self.shows = data, prior, seed, source, shows
        self._centre = centre

    def info(self) -> dict:
        return {**view_info(self._prior, self._centre), "seed": self.seed, "can_generate": False,
                "source": self.source}

    def glb(self, seed: int | None) -> bytes:
        if seed is not None and seed != self.seed:
            raise SceneError(f"This viewer shows {self.shows}; it cannot make other seeds.")
        return self._data


class FileSource(SceneSource):
    """One ``.glb`` file written by ``zoo3d export`` (its camera prior, and an inversion's input view to open at, are
    read from ``asset.extras.zoo3d``)."""

    def __init__(self, path: str | Path):
        from zoo3d.freeview.gltf import read_glb_json

        self.path = Path(path)
        data = self.path.read_bytes()
        prior, seed, centre = _file_meta(read_glb_json(data, self.path), self.path)
        super().__init__(data, prior, seed, self.path.name, f"the file {self.path.name}", centre)


class _Handler(BaseHTTPRequestHandler):
    server_version = "zoo3d-viewer"

    @property
    def source(self):
        return self.server.source

    def log_message(self, format, *args):  # noqa: A002 - quiet: the command prints its own line
        pass

    def handle(self):
        try:
            super().handle()
        except ConnectionError:  # reset while its request was read: a client gone is no failure of the server's
            self.close_connection = True

    def do_HEAD(self):
        self._respond(head=True)

    def do_GET(self):
        self._respond(head=False)

    def _send(self, status: int, body: bytes, content_type: str, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        try:
            self.end_headers()
            if not head:
                self.wfile.write(body)
        except ConnectionError:  # the page was closed or reloaded while its scene was made: nobody to answer
            self.close_connection = True

    def _error(self, status: HTTPStatus, message: str, head: bool) -> None:
        self._send(status, json.dumps({"error": message}).encode(), "application/json", head)

    def _respond(self, head: bool) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        try:
            if path in ("/", "/index.html"):
                return self._static("index.html", head)
            if path.startswith("/static/"):
                return self._static(path[len("/static/"):], head)
            if path == "/api/info":
                return self._send(HTTPStatus.OK, json.dumps(self.source.info()).encode(), "application/json", head)
            if path == "/scene.glb":
                return self._scene(parse_qs(url.query).get("seed"), head)
        except (SceneError, UserError) as exc:  # a seed that cannot be made is the request's problem, said in JSON
            return self._error(HTTPStatus.BAD_REQUEST, str(exc), head)
        except Exception as exc:  # noqa: BLE001 - the page gets an answer, the terminal the traceback
            sys.stderr.write(traceback.format_exc())  # not log_error: it goes through the silenced log_message
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}", head)
        self._error(HTTPStatus.NOT_FOUND, f"Not found: {path}", head)

    def _static(self, relative: str, head: bool) -> None:
        try:
            target = (STATIC_ROOT / relative).resolve()
            found = target.is_relative_to(STATIC_ROOT) and target.is_file()
        except (ValueError, OSError):  # a NUL byte, a name too long: no such file (and no server path in a 500)
            found = False
        if not found:
            return self._error(HTTPStatus.NOT_FOUND, f"Not found: /static/{relative}", head)
        kind = _TYPES.get(target.suffix, "text/plain; charset=utf-8" if target.name == "LICENSE" else None)
        if kind is None:
            return self._error(HTTPStatus.NOT_FOUND, f"Not found: /static/{relative}", head)
        self._send(HTTPStatus.OK, target.read_bytes(), kind, head)

    def _scene(self, seeds: list[str] | None, head: bool) -> None:
        seed = None
        if seeds:
            text = seeds[-1].strip()
            if not _WHOLE_NUMBER.fullmatch(text):  # int() alone read '1_0' as seed 10 and '٣' (Arabic-Indic) as 3
                raise SceneError(f"seed must be a whole number, not '{seeds[-1]}'.")
            # int() refuses thousands of digits, leading zeros too, with a ValueError: a seed is read without them
            digits = text.lstrip("+-").lstrip("0") or "0"
            seed = (-1 if text.startswith("-") else 1) * int(digits) if len(digits) <= 20 else None
            if seed is None or not 0 <= seed <= MAX_VIEWER_SEED:
                raise SceneError(f"seed must be between 0 and {MAX_VIEWER_SEED}, not {text}.")
        self._send(HTTPStatus.OK, self.source.glb(seed), "model/gltf-binary", head)

    def _method_not_allowed(self):
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} is not supported.", False)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _method_not_allowed


def make_server(source, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server for ``source`` (a :class:`GeneratorSource` or :class:`SceneSource`) on host:port (0: any free
    port); ``server.server_address`` tells which. Call ``serve_forever()``; ``shutdown()`` from another thread.
    ``source`` may be None and set as ``server.source`` before serving: the port is taken at once, so a command can
    refuse a busy one before it loads a model."""
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    server.source = source
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"
