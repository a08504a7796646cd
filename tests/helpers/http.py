"""The app over HTTP, in-process: an app started from explicit settings and a client that
calls it; the API calls several test modules make (registering, signing in) and the
assertions they share on error responses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

import httpx
from fastapi import FastAPI

from app.core.config import Settings
from app.factory import create_app
from tests.helpers.database import make_superuser
from tests.helpers.settings import PASSWORD

API = "/api/v1"
SUPERUSER = "root"
Headers = dict[str, str]


# --- the app and its clients ---------------------------------------------------------------


class AppClient(httpx.AsyncClient):
    """A client of one app, in-process; `app` is that app."""

    app: FastAPI


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app with its lifespan started (engine, hasher), as a server would run it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def client_for(
    app: FastAPI, *, peer: tuple[str, int] | None = None, raise_app_exceptions: bool = True
) -> AsyncIterator[AppClient]:
    """A client of `app`. `peer`: the client's address as the app sees its socket;
    `raise_app_exceptions=False`: an unhandled error is the 500 the app sends, not an
    exception inside the test."""
    transport = httpx.ASGITransport(
        app=app, raise_app_exceptions=raise_app_exceptions, client=peer or ("127.0.0.1", 123)
    )
    async with AppClient(transport=transport, base_url="http://test") as client:
        client.app = app
        yield client


@asynccontextmanager
async def started_client(settings: Settings) -> AsyncIterator[AppClient]:
    """A client of a new app instance started with `settings` (stopped on the way out)."""
    async with running_app(settings) as app, client_for(app) as client:
        yield client


class AppClientFactory(Protocol):
    """The `app_client` fixture: `async with app_client(SETTING=value) as client`."""

    def __call__(self, **overrides: Any) -> AbstractAsyncContextManager[AppClient]: ...


# --- accounts ------------------------------------------------------------------------------


def user_body(username: str, /, **overrides: Any) -> dict[str, Any]:
    """A valid registration body for `username`, with some fields replaced."""
    body: dict[str, Any] = {
        "name": f"{username.title()} Tester",
        "username": username,
        "email": f"{username}@example.com",
        "password": PASSWORD,
    }
    body.update(overrides)
    return body


async def register(
    client: httpx.AsyncClient, username: str, *, password: str = PASSWORD, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/user", json=user_body(username, password=password, **fields)
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def login_response(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(f"{API}/login", data={"username": username, "password": password})


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await login_response(client, username, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


async def sign_up(client: httpx.AsyncClient, username: str, **fields: Any) -> Headers:
    """Register `username` and sign in: the bearer headers."""
    await register(client, username, **fields)
    return bearer(await login(client, username))


async def sign_up_superuser(
    client: httpx.AsyncClient, database_url: str, username: str = SUPERUSER
) -> Headers:
    """Register `username`, make them a superuser and sign in: the bearer headers."""
    await register(client, username)
    await make_superuser(database_url, username)
    return bearer(await login(client, username))


# --- responses -----------------------------------------------------------------------------


def error_detail(response: httpx.Response, status: int) -> Any:
    """Assert the status and a JSON error body with a non-empty `detail`; return the detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert "detail" in body, body
    assert body["detail"], body
    return body["detail"]


def assert_unauthorized(response: httpx.Response) -> None:
    """A 401 that asks for a bearer token and says why in words."""
    detail = error_detail(response, 401)
    assert isinstance(detail, str), detail
    assert response.headers.get("www-authenticate") == "Bearer"


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"timestamp without a timezone: {value}"
    return parsed
