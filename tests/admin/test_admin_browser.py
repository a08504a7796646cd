"""The admin panel in a real browser: Debian's headless Chromium, driven by Selenium, against
`app serve` on a fresh PostgreSQL database and the run's Redis, with a superuser made by
`app create-superuser`, another user and a post made through the API.

Signing in, the users' list, an action (a soft delete), editing a post (its new title served
at once by the public API, whose cached copy the edit invalidated), signing out, and a user
without admin.access refused. A screenshot is saved at each step, into ADMIN_SCREENSHOTS_DIR
or the test's temporary directory, and their paths printed (shown with -s, or on failure).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from app.admin.auth import NOT_ALLOWED
from tests.helpers.browser import headless_chromium, screenshot_dir
from tests.helpers.database import create_database, drop_database, migrate
from tests.helpers.http import API, bearer, user_body
from tests.helpers.processes import APP, Process, free_port, run_app
from tests.helpers.settings import CACHE_WRITE_FENCE_SECONDS, PASSWORD, app_env

pytestmark = pytest.mark.slow

ADMIN, ADMIN_PASSWORD = "admin", "Panel-admin-pass-7"
NEW_TITLE = "Edited in the panel"
WAIT_SECONDS = 15


@dataclass
class Site:
    url: str
    post_id: int


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """`app serve` on a fresh, migrated database (dropped afterwards) with a superuser made by
    `app create-superuser`, and alice with one post, made through the API."""
    database_url = asyncio.run(create_database())
    try:
        migrate(database_url)
        env = app_env(
            database_url,
            ENVIRONMENT="local",
            LOG_LEVEL="WARNING",
            ADMIN_USERNAME=ADMIN,
            ADMIN_EMAIL="admin@example.com",
            ADMIN_PASSWORD=ADMIN_PASSWORD,
            CACHE_WRITE_FENCE_SECONDS=CACHE_WRITE_FENCE_SECONDS,
        )
        made = run_app("create-superuser", cwd=tmp_path, env=env)
        assert made.returncode == 0, made.stdout + made.stderr
        port = free_port()
        argv = [APP, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        with Process("serve", argv, cwd=tmp_path, env=env) as server:
            url = f"http://127.0.0.1:{port}"
            server.wait_for_http(f"{url}/health")
            with httpx.Client(base_url=url) as client:
                for username in ("alice", "bob"):
                    client.post(f"{API}/user", json=user_body(username)).raise_for_status()
                token = client.post(
                    f"{API}/login", data={"username": "alice", "password": PASSWORD}
                ).json()["access_token"]
                post = client.post(
                    f"{API}/alice/post",
                    json={"title": "Hello", "text": "The first post."},
                    headers=bearer(token),
                )
                post.raise_for_status()
            yield Site(url, post.json()["id"])
    finally:
        asyncio.run(drop_database(database_url))


class Steps:
    """The browser, and a screenshot after each step."""

    def __init__(self, browser: webdriver.Chrome, site: Site, directory: Path) -> None:
        self.browser = browser
        self.site = site
        self.directory = directory
        self.taken: list[Path] = []

    def wait_for_path(self, path: str) -> None:
        WebDriverWait(self.browser, WAIT_SECONDS).until(
            expected_conditions.url_to_be(self.site.url + path)
        )

    def shot(self, name: str) -> None:
        path = self.directory / f"{len(self.taken) + 1:02d}-{name}.png"
        assert self.browser.save_screenshot(str(path)), path
        self.taken.append(path)
        print(f"admin panel screenshot: {path}")

    def sign_in(self, login: str, password: str) -> None:
        self.browser.get(self.site.url + "/admin/login")
        self.browser.find_element(By.NAME, "username").send_keys(login)
        self.browser.find_element(By.NAME, "password").send_keys(password)
        self.browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_an_admin_signs_in_lists_users_edits_a_post_and_signs_out(
    site: Site, tmp_path: Path
) -> None:
    post_url = f"{site.url}{API}/alice/post/{site.post_id}"
    with httpx.Client() as api:
        # The post's page cached before the edit (once the creation's write fence is over).
        time.sleep(CACHE_WRITE_FENCE_SECONDS + 0.05)
        api.get(post_url)
        assert api.get(post_url).headers.get("x-cache") == "HIT"

        with headless_chromium() as browser:
            steps = Steps(browser, site, screenshot_dir(tmp_path / "screenshots"))
            try:
                steps.browser.get(site.url + "/admin/user/list")
                steps.wait_for_path("/admin/login")  # signed out: the login page
                steps.sign_in(ADMIN, ADMIN_PASSWORD)
                steps.wait_for_path("/admin/")
                steps.shot("signed-in")

                browser.find_element(By.LINK_TEXT, "Users").click()
                steps.wait_for_path("/admin/user/list")
                listed = browser.find_element(By.TAG_NAME, "table").text
                for username in (ADMIN, "alice", "bob"):
                    assert username in listed, listed
                steps.shot("users")

                # An action (a GET link: the origin check reads its Referer): soft delete bob.
                browser.find_element(
                    By.XPATH, "//tr[td[normalize-space()='bob']]//input[@type='checkbox']"
                ).click()
                browser.find_element(By.ID, "dropdownMenuButton").click()
                browser.find_element(By.ID, "action-customconfirm-soft-delete").click()
                WebDriverWait(browser, WAIT_SECONDS).until(
                    expected_conditions.element_to_be_clickable(
                        (By.ID, "action-custom-modal-soft-delete")
                    )
                ).click()
                WebDriverWait(browser, WAIT_SECONDS).until(
                    lambda _: api.get(f"{site.url}{API}/user/bob").status_code == 404
                )
                steps.wait_for_path("/admin/user/list")
                steps.shot("bob-soft-deleted")

                browser.get(f"{site.url}/admin/post/edit/{site.post_id}")
                title = browser.find_element(By.NAME, "title")
                title.clear()
                title.send_keys(NEW_TITLE)
                steps.shot("editing-a-post")
                browser.find_element(By.CSS_SELECTOR, "input[type=submit][value=Save]").click()
                steps.wait_for_path("/admin/post/list")
                assert NEW_TITLE in browser.find_element(By.TAG_NAME, "table").text
                steps.shot("post-saved")
                edited = api.get(post_url)
                assert edited.json()["title"] == NEW_TITLE, edited.headers

                browser.find_element(By.CSS_SELECTOR, "a[href$='/admin/logout']").click()
                steps.wait_for_path("/admin/login")
                steps.shot("signed-out")
                browser.get(site.url + "/admin/user/list")
                steps.wait_for_path("/admin/login")

                steps.sign_in("alice", PASSWORD)
                error = WebDriverWait(browser, WAIT_SECONDS).until(
                    expected_conditions.visibility_of_element_located((By.ID, "login-error"))
                )
                assert error.text == NOT_ALLOWED
                steps.shot("refused")
            except Exception:
                steps.shot("failure")
                raise
