"""A real headless Chromium for the browser tests (tests/admin/test_admin_browser.py): Debian's
`chromium` and `chromium-driver`, installed with apt-get when missing and running as root (as
tests/helpers/deploy.py does for nginx), and driven by Selenium pointed at those binaries, so
that Selenium Manager never downloads a browser or a driver."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from tests.helpers.deploy import debian_binary


@functools.cache
def chromium_binaries() -> tuple[str, str]:
    """(the browser, its driver); installed from Debian's packages when missing and running as
    root."""
    needed_by = "the admin panel's browser test"
    browser = debian_binary("chromium", ("chromium", "/usr/bin/chromium"), needed_by)
    driver = debian_binary("chromium-driver", ("chromedriver", "/usr/bin/chromedriver"), needed_by)
    return browser, driver


@contextmanager
def headless_chromium(width: int = 1366, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A headless Chromium session with a profile of its own, quit on the way out."""
    browser, driver = chromium_binaries()
    options = Options()
    options.binary_location = browser
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        for argument in (
            "--headless=new",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            f"--window-size={width},{height}",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(argument)
        if os.geteuid() == 0:
            options.add_argument("--no-sandbox")  # Chromium refuses to run as root otherwise
        session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        try:
            yield session
        finally:
            session.quit()


def screenshot_dir(default: Path) -> Path:
    """Where the browser tests save their screenshots: ADMIN_SCREENSHOTS_DIR, else `default`
    (pytest's temporary directory of the test)."""
    chosen = Path(os.environ.get("ADMIN_SCREENSHOTS_DIR") or default)
    chosen.mkdir(parents=True, exist_ok=True)
    return chosen
