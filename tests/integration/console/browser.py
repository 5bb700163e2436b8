"""Debian's chromium, headless, driven by selenium through Debian's chromedriver.

:func:`chromium` starts a fresh browser (its own profile directory, no
network features that reach out) at a given window size; the tests skip
nothing: if chromium is missing, `make test` installs it first (the
``browser`` target), so a missing browser is an error here.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@contextmanager
def chromium(profile: Path, width: int = 1280, height: int = 800) -> Iterator[webdriver.Chrome]:
    """A headless chromium with a fresh profile in ``profile``, window ``width`` x ``height``."""
    for program in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(program) is None:
            raise AssertionError(f"{program} is missing: `make browser` installs it")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
