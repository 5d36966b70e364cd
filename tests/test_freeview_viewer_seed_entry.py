"""The viewer page's seeds (``zoo3d view``, docs/freeview.md "The viewer"), in a headless Chromium: the seed box and
the ``?seed=`` of the URL reach the server as typed, so what is not a whole number is refused in the server's
sentence naming it, never read as another seed.

Before, the page read both with ``parseInt``: a box holding ``1e3`` (a number the box accepts) showed seed 1, a URL's
``?seed=12abc`` seed 12, and ``?seed=abc`` was refused as ``'NaN'``. The scenes are a stand-in source's: one opaque
quad written by zoo3d's GLB writer, whose ``asset.extras.zoo3d.seed`` is the seed asked for.
"""

from __future__ import annotations

import threading
import time

from headless_chromium import chromium_driver
import pytest
import torch

from zoo3d.cameras import CameraPrior
from zoo3d.freeview.cache import ManifoldCache, MeshLayer
from zoo3d.freeview.gltf import glb_bytes
from zoo3d.freeview.server import make_server, url_of, view_info


class QuadSource:
    """Scenes of any seed: one opaque grey quad at z = -0.12; records the seeds asked for (None: the default)."""

    def __init__(self, seed=3):
        self.seed, self.asked = seed, []

    def info(self):
        return {**view_info(CameraPrior()), "seed": self.seed, "can_generate": True, "source": "quad"}

    def glb(self, seed):
        self.asked.append(seed)
        quad = MeshLayer("background", torch.tensor([[-1, -1, -0.12], [1, -1, -0.12], [1, 1, -0.12], [-1, 1, -0.12]]),
                         torch.tensor([[0.0, 1], [1, 1], [1, 0], [0, 0]]), torch.tensor([[0, 1, 2], [0, 2, 3]]),
                         torch.full((4, 2, 2), 0.5), opaque=True)
        seed = self.seed if seed is None else seed
        return glb_bytes(ManifoldCache([quad], 0.12, meta={"seed": seed, "camera_prior": CameraPrior().model_dump()}))


@pytest.fixture(scope="module")
def browser():
    yield from chromium_driver("600,700")


@pytest.fixture
def page(browser):
    """Opens the page of a fresh QuadSource's server at a query; yields (source, open)."""
    source = QuadSource()
    server = make_server(source)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    def open_at(query):
        browser.get(url_of(server) + "?size=64" + query)

    yield source, open_at
    server.shutdown()
    server.server_close()
    thread.join(5)


def status_when(browser, done: str, timeout: float = 60.0) -> str:
    """The page's status line once the JavaScript condition ``done`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if browser.execute_script(f"return Boolean({done})"):
            return browser.execute_script("return document.getElementById('status').textContent")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {done}; status "
                         f"{browser.execute_script('return document.getElementById(`status`).textContent')!r}")


ERROR_SHOWN = "document.getElementById('status').classList.contains('error')"


@pytest.mark.parametrize("typed", ["12abc", "abc", "1e3", "2.0"])
def test_a_url_seed_that_is_not_a_whole_number_is_refused_naming_it(browser, page, typed):
    source, open_at = page
    open_at(f"&seed={typed}")
    assert status_when(browser, ERROR_SHOWN) == f"seed must be a whole number, not '{typed}'."
    assert source.asked == [] and browser.execute_script("return window.zoo3dViewer.seed") is None


def test_a_url_seed_opens_that_seed_and_an_empty_one_the_default(browser, page):
    source, open_at = page
    open_at("&seed=%2042%20")
    assert status_when(browser, "window.zoo3dViewer.seed === 42") == "seed 42 · quad"
    open_at("&seed=")
    assert status_when(browser, "window.zoo3dViewer.seed === 3") == "seed 3 · quad"
    assert source.asked == [42, None]


def test_the_seed_box_sends_what_is_typed(browser, page):
    from selenium.webdriver.common.by import By

    source, open_at = page
    open_at("")
    status_when(browser, "window.zoo3dViewer.ready")
    box = browser.find_element(By.ID, "seed")
    box.clear()
    box.send_keys("1e3")  # a number the box takes: parseInt made it seed 1
    browser.find_element(By.ID, "go").click()
    assert status_when(browser, ERROR_SHOWN) == "seed must be a whole number, not '1e3'."
    box.clear()
    box.send_keys("17")
    browser.find_element(By.ID, "go").click()
    assert status_when(browser, "window.zoo3dViewer.seed === 17") == "seed 17 · quad"
    assert source.asked == [None, 17]
