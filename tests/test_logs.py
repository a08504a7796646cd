"""Logs that a request cannot forge: the installed `app serve`, its output read as an operator
reads it. (That they hold nothing of people who have no account is tested with the flows that
take an address: tests/accounts.)"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from app.platform.logging import TextFormatter
from tests.helpers.processes import APP, Process, free_port
from tests.helpers.settings import app_env

# What an attacker would like the log to say, on a line of its own.
FORGED = "2026-12-07 12:00:00,000 INFO app.auth [-] login of admin succeeded from 203.0.113.9"


def _lines_with(log: str, needle: str) -> list[str]:
    return [line for line in log.splitlines() if needle in line]


@pytest.mark.slow
def test_control_characters_in_the_path_stay_on_one_escaped_line(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = app_env(database_url, LOG_LEVEL="INFO")
    with Process("serve", [APP, "serve", "--port", str(port)], cwd=tmp_path, env=env) as server:
        server.wait_for_http(f"{url}/health")
        forged = httpx.get(
            f"{url}/api/v1/nowhere%0d%0a{quote(FORGED)}", headers={"X-Request-ID": "forge-1"}
        )
        nul = httpx.get(f"{url}/api/v1/a%00b%1b[31m", headers={"X-Request-ID": "forge-2"})
        assert forged.status_code == 404
        assert nul.status_code == 400
        server.wait_for_log("[forge-2]")
    log = server.log()
    assert "\x00" not in log
    assert "\x1b" not in log
    assert not [line for line in log.splitlines() if line.startswith(FORGED)], log
    (line,) = _lines_with(log, "[forge-1]")
    assert "/api/v1/nowhere\\r\\n" + FORGED + " 404" in line
    (line,) = _lines_with(log, "[forge-2]")
    assert "/api/v1/a\\x00b\\x1b[31m 400" in line


def test_a_traceback_cannot_start_a_line_of_its_own() -> None:
    try:
        raise ValueError("bad input\n" + FORGED)
    except ValueError as exc:
        record = logging.LogRecord(
            "app", logging.ERROR, __file__, 1, "failed: %s", ("a\rb",), (ValueError, exc, None)
        )
    record.request_id = "r1"
    text = TextFormatter().format(record)
    first, *rest = text.splitlines()
    assert first.endswith("[r1] failed: a\\rb")
    assert rest
    assert all(line.startswith("    ") for line in rest), text
