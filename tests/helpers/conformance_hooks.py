"""Schemathesis hooks for tests/test_schema_conformance.py, loaded by the `schemathesis run` that it
starts (SCHEMATHESIS_HOOKS=tests.helpers.conformance_hooks).

- The run's bearer token, for one identity. The run may log that identity out (its tokens are
  revoked), rename it or delete it: Schemathesis then gets a 401 and asks for a new token, and
  the provider signs in again, or, when the account can no longer sign in, makes a new account
  of the same kind and signs that in. With CONFORMANCE_CREDENTIAL=key the run authenticates
  with an API key of that identity in `X-API-Key` instead (made anew the same way).
- Email addresses as the API reads them: `format: email` allows, and Schemathesis draws,
  addresses under the special-use domains of RFC 6761 (`x@y.test`), which email-validator (and
  so the API) refuses with a 422; valid data is drawn from the addresses it accepts.
- The 422s that no schema can rule out, and only those, are not failures of "valid data
  should be accepted" (see KNOWN_REJECTIONS).
"""

from __future__ import annotations

import itertools
import os
import string
import subprocess
import threading
from typing import Any

import httpx
import schemathesis
from email_validator import EmailNotValidError, validate_email
from hypothesis import strategies as st
from schemathesis.openapi.checks import RejectedPositiveData

BASE_URL = os.environ.get("CONFORMANCE_BASE_URL", "")


def _deliverable(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


# Schemathesis' own shape of address, with its reserved top-level domains left out.
_LOCAL_PART = st.text(
    string.ascii_lowercase + string.digits + "!#$%&'*+-/=?^_`{|}~", min_size=1, max_size=64
)
_LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
_EMAILS = st.builds(
    lambda local, labels, top: "@".join([local, ".".join([*labels, top])]),
    _LOCAL_PART,
    st.lists(_LABEL, min_size=1, max_size=2),
    st.sampled_from(["com", "org", "net", "io", "dev", "example"]),
)
schemathesis.openapi.format("email", _EMAILS.filter(_deliverable))


@schemathesis.auth()
class IdentityAuth:
    """A token for CONFORMANCE_USERNAME (CONFORMANCE_SUPERUSER=1: a superuser's)."""

    def __init__(self) -> None:
        self.username = os.environ["CONFORMANCE_USERNAME"]
        self.password = os.environ["CONFORMANCE_PASSWORD"]
        self.superuser = os.environ.get("CONFORMANCE_SUPERUSER") == "1"
        self.app_command = os.environ["CONFORMANCE_APP"]
        self.with_key = os.environ.get("CONFORMANCE_CREDENTIAL") == "key"
        # The token the test signed in for; used until the server refuses it.
        self._first_token: str | None = os.environ.get("CONFORMANCE_TOKEN") or None
        base = self.username
        self._spares = (f"{base}{n}" for n in itertools.count(1))
        self._lock = threading.Lock()

    def get(self, case: Any, context: Any) -> str:
        with self._lock:
            if self._first_token is not None:
                first, self._first_token = self._first_token, None
                return first
            token = self._login()
            # Signed out is fine; renamed or deleted: a new account of the same kind.
            for _ in range(5):
                if token is not None:
                    break
                self.username = next(self._spares)
                self._create_account()
                token = self._login()
            if token is None:
                raise RuntimeError(f"cannot sign in as {self.username}")
            return self._new_key(token) if self.with_key else token

    def set(self, case: Any, data: str, context: Any) -> None:
        header = {"X-API-Key": data} if self.with_key else {"Authorization": f"Bearer {data}"}
        case.headers = {**(case.headers or {}), **header}

    def _new_key(self, token: str) -> str:
        response = httpx.post(
            f"{BASE_URL}/api/v1/user/me/api-keys",
            json={"name": "conformance"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        if response.status_code != 201:
            raise RuntimeError(f"cannot make an API key: {response.status_code} {response.text}")
        key: str = response.json()["key"]
        return key

    def _login(self) -> str | None:
        response = httpx.post(
            f"{BASE_URL}/api/v1/login",
            data={"username": self.username, "password": self.password},
            timeout=30,
        )
        if response.status_code != 200:
            return None
        token: str = response.json()["access_token"]
        return token

    def _create_account(self) -> None:
        email = f"{self.username}@example.com"
        if self.superuser:
            subprocess.run(
                [
                    self.app_command,
                    "create-superuser",
                    f"--username={self.username}",
                    f"--email={email}",
                ],
                env={**os.environ, "ADMIN_PASSWORD": self.password},
                check=False,
                capture_output=True,
                timeout=60,
            )
            return
        body = {"name": "Conformance User", "username": self.username, "email": email}
        # A 409 (the name was taken meanwhile) leaves the login to fail: the next spare is tried.
        httpx.post(f"{BASE_URL}/api/v1/user", json={**body, "password": self.password}, timeout=30)


def _is_invalid_cursor(error: dict[str, Any]) -> bool:
    # A cursor is opaque: a well-formed one that no page issued, or one sent with
    # page/items_per_page, is refused.
    return (error.get("loc") or [None])[0] == "query" and error.get("msg") in {
        "Invalid cursor",
        "Use either page/items_per_page or cursor/limit, not both",
    }


def _is_long_normalized_url(error: dict[str, Any]) -> bool:
    # A URL is limited to 2048 characters as stored, normalized (a trailing slash added,
    # percent-encoded): a schema can only bound it as sent.
    field = (error.get("loc") or [None])[-1]
    return field in {"media_url", "profile_image_url"} and error.get("type") == "too_long"


def _is_reserved_username(error: dict[str, Any]) -> bool:
    # The reserved usernames are the words of the API's paths, derived from its routes when it
    # starts, and a few names: the schema says so in words, a `pattern` could not.
    field = (error.get("loc") or [None])[-1]
    return field == "username" and str(error.get("msg", "")).startswith("This username is reserved")


KNOWN_REJECTIONS = (_is_invalid_cursor, _is_long_normalized_url, _is_reserved_username)


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a schema-valid request refused only for a KNOWN_REJECTIONS reason."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return True
    try:
        errors = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        return True
    known = isinstance(errors, list) and all(
        isinstance(error, dict) and any(rule(error) for rule in KNOWN_REJECTIONS)
        for error in errors
    )
    return not known
