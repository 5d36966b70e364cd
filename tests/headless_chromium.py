"""A headless Chromium driven by Selenium, for the tests that load the viewer page as a browser does; the tests skip
where Chromium and ChromeDriver are not on PATH (``make test`` installs them where apt-get is usable)."""

from __future__ import annotations

import shutil
import tempfile
from typing import Iterator

import pytest


def chromium_driver(window: str, browser_logs: bool = False) -> Iterator:
    """Yields a headless Chromium of a ``window`` ("W,H") size, with a profile of its own removed afterwards;
    ``browser_logs`` keeps the page's console for ``driver.get_log("browser")``. Skips the test without Chromium."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not (browser and chromedriver):
        pytest.skip("the viewer's browser test needs Chromium and ChromeDriver on PATH (Debian: apt-get install "
                    "chromium chromium-driver; `make test` installs them where apt-get is usable)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--enable-unsafe-swiftshader", f"--window-size={window}"):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="zoo3d-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.binary_location = browser
    if browser_logs:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
