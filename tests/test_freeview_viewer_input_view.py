"""The viewer of an inverted image (``zoo3d view --inversion``, or ``zoo3d view face.glb`` of the file ``zoo3d export
--inversion`` writes) opens at the input view, docs/freeview.md "An inverted image": the page orbits in the camera
prior's range widened to take in that view.

Before, the range was the prior's alone and the page clamped its first view to it, so a photo inverted at yaw 0.9 (past
a FFHQ-like prior's mean + 2 std, 0.6) opened at yaw 0.6. The scene is one opaque quad written by zoo3d's GLB writer,
with the metadata export writes for an inversion.
"""

from __future__ import annotations

import math
import threading
import time

from headless_chromium import chromium_driver
import pytest
import torch

from zoo3d.cameras import CameraPrior
from zoo3d.freeview.cache import ManifoldCache, MeshLayer
from zoo3d.freeview.gltf import glb_bytes
from zoo3d.freeview.server import FileSource, SceneSource, make_server, url_of

#: a view to the side and from below, outside the default prior's yaw [-0.6, 0.6] and pitch [-0.31, 0.31]
SIDE = {"yaw": 0.9, "pitch": -0.4}


def quad_glb(view: dict) -> bytes:
    """One opaque grey quad at z = -0.12, as an inversion's file: the default prior and ``view`` as its input view."""
    quad = MeshLayer("background", torch.tensor([[-1, -1, -0.12], [1, -1, -0.12], [1, 1, -0.12], [-1, 1, -0.12]]),
                     torch.tensor([[0.0, 1], [1, 1], [1, 0], [0, 0]]), torch.tensor([[0, 1, 2], [0, 2, 3]]),
                     torch.full((4, 2, 2), 0.5), opaque=True)
    meta = {"image": "face.png", "input_view": {**view, "radius": 1.0, "fov": 12.0},
            "camera_prior": CameraPrior().model_dump()}
    return glb_bytes(ManifoldCache([quad], 0.12, meta=meta))


@pytest.mark.parametrize("view, yaw, pitch", [
    (SIDE, [-0.6, 0.9], [-0.4, 0.31]),
    ({"yaw": -1.2, "pitch": 0.5}, [-1.2, 0.6], [-0.31, 0.5]),
    ({"yaw": 0.2, "pitch": -0.1}, [-0.6, 0.6], [-0.31, 0.31]),  # inside the prior: its range as it is
], ids=["right-below", "left-above", "inside"])
def test_the_orbit_range_of_an_inverted_image_takes_in_its_input_view(tmp_path, view, yaw, pitch):
    path = tmp_path / "face.glb"
    path.write_bytes(quad_glb(view))
    for source in (FileSource(path), SceneSource(path.read_bytes(), CameraPrior(), None, "inversion inv/face",
                                                 "inversion 'inv/face'", centre=view)):
        info = source.info()
        assert info["centre_view"] == view
        assert info["view_limits"] == {"yaw": pytest.approx(yaw), "pitch": pytest.approx(pitch)}


def test_an_input_view_at_the_pole_widens_the_pitch_range_only_to_where_the_page_stops_short_of_it():
    limits = CameraPrior().view_limits(include={"yaw": 0.0, "pitch": math.pi / 2})
    assert limits == {"yaw": pytest.approx([-0.6, 0.6]), "pitch": pytest.approx([-0.31, math.pi / 2 - 0.01])}


@pytest.fixture(scope="module")
def browser():
    yield from chromium_driver("600,700")


def test_the_page_opens_at_an_input_view_outside_the_prior_and_orbits_back_into_it(browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    source = SceneSource(quad_glb(SIDE), CameraPrior(), None, "inversion inv/face", "inversion 'inv/face'",
                         centre=SIDE)
    server = make_server(source)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        browser.get(url_of(server) + "?size=64")
        deadline = time.monotonic() + 60
        while not browser.execute_script("return window.zoo3dViewer.ready") and time.monotonic() < deadline:
            time.sleep(0.1)
        state = browser.execute_script("return window.zoo3dViewer")
        assert state["ready"] and state["errors"] == []
        assert (state["yaw"], state["pitch"]) == pytest.approx((0.9, -0.4))
        assert browser.execute_script("return document.getElementById('pose').textContent") == "yaw 0.90  pitch -0.40"
        ActionChains(browser).send_keys(Keys.ARROW_RIGHT, Keys.ARROW_UP).perform()  # past the input view: held there
        assert browser.execute_script("return window.zoo3dViewer.yaw") == pytest.approx(0.9)
        assert browser.execute_script("return window.zoo3dViewer.pitch") == pytest.approx(-0.4)
        ActionChains(browser).send_keys(Keys.ARROW_LEFT, Keys.ARROW_DOWN).perform()  # back towards the prior
        assert browser.execute_script("return window.zoo3dViewer.yaw") == pytest.approx(0.88)
        assert browser.execute_script("return window.zoo3dViewer.pitch") == pytest.approx(-0.38)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
