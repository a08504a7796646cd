"""The list of domains is the one registry: what each domain declares reaches the API, the
model registry, the worker, the embedded runner, the event reactions and the admin panel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from app.auth.events import PasswordChanged, SessionReused
from app.core.db import Base
from app.core.events import Event
from app.core.state import resources_of
from app.domains import DOMAINS
from app.platform.cache import forget_pages
from app.platform.queue import CronJob
from app.platform.queue.local import LocalQueue, next_run
from app.users.events import UserDeleted, UserRenamed
from app.worker import create_worker
from tests.helpers.cache import wait_out_fence
from tests.helpers.features import installed, needs
from tests.helpers.http import API, AppClientFactory, Headers, sign_up
from tests.helpers.settings import make_settings


def test_every_table_belongs_to_a_declared_domain() -> None:
    declared = {model.__tablename__ for domain in DOMAINS for model in domain.models}
    assert declared == set(Base.metadata.tables)
    names = [domain.name for domain in DOMAINS]
    assert len(names) == len(set(names))


def test_every_domain_event_handler_is_registered(app: FastAPI) -> None:
    events = resources_of(app).events
    for domain in DOMAINS:
        for handler in domain.handlers:
            assert events.reacts_to(handler), (domain.name, handler)
    # Auth ends a deleted account's sessions in the deletion's transaction.
    assert events.handlers_of(UserDeleted)
    if installed("api_keys"):
        # API keys react to the password and to reuse detection (auth publishes, never
        # imports).
        assert events.handlers_of(PasswordChanged)
        assert events.handlers_of(SessionReused)
    if installed("posts"):
        # Posts forget the user's pages after the deletion commits.
        assert events.on_commit_of(UserDeleted)


def test_every_domain_router_is_served(app: FastAPI) -> None:
    served = {
        (route.path, frozenset(route.methods or ())) for route in iter_route_contexts(app.routes)
    }
    for domain in DOMAINS:
        if domain.router is None:
            continue
        for route in domain.router.routes:
            path: str = getattr(route, "path", "")
            methods: set[str] = getattr(route, "methods", set())
            assert (f"{API}{path}", frozenset(methods)) in served, (domain.name, path)


def test_fixed_paths_are_matched_before_paths_that_start_with_a_username(app: FastAPI) -> None:
    paths = [route.path or "" for route in iter_route_contexts(app.routes)]
    api = [path.removeprefix(API) for path in paths if path.startswith(f"{API}/")]
    first_free = next((i for i, path in enumerate(api) if path.startswith("/{")), len(api))
    assert all(path.startswith("/{") for path in api[first_free:]), api


def test_the_worker_and_the_embedded_runner_have_every_job_and_cron_job(
    database_url: str,
) -> None:
    jobs = {job.__name__ for domain in DOMAINS for job in domain.jobs}
    crons = {cron.name for domain in DOMAINS for cron in domain.cron_jobs}
    assert "purge_auth_records_daily" in crons

    worker = create_worker(make_settings(database_url))
    assert set(worker.functions) >= jobs | crons

    local = LocalQueue(
        {name: fn for name, fn in worker.functions.items() if name in jobs},  # type: ignore[misc]
        make_settings(database_url, REDIS_URL=None),
        [cron for domain in DOMAINS for cron in domain.cron_jobs],
    )
    assert {cron.name for cron in local.cron_jobs} == crons
    assert crons <= set(local.functions)


async def test_the_embedded_app_schedules_the_cron_jobs(app_client: AppClientFactory) -> None:
    async with app_client(REDIS_URL=None) as client:
        queue = resources_of(client.app).queue
        assert isinstance(queue, LocalQueue)
        assert {cron.name for cron in queue.cron_jobs} == {
            cron.name for domain in DOMAINS for cron in domain.cron_jobs
        }


def test_next_run_follows_hour_and_minute() -> None:
    daily = CronJob(lambda ctx: None, name="daily", hour=3, minute=0)  # type: ignore[arg-type,return-value]
    assert next_run(daily, datetime(2026, 5, 1, 2, 59, 30, tzinfo=UTC)) == datetime(
        2026, 5, 1, 3, 0, tzinfo=UTC
    )
    assert next_run(daily, datetime(2026, 5, 1, 3, 0, 0, tzinfo=UTC)) == datetime(
        2026, 5, 2, 3, 0, tzinfo=UTC
    )
    quarters = CronJob(lambda ctx: None, name="q", minute={0, 15, 30, 45})  # type: ignore[arg-type,return-value]
    assert next_run(quarters, datetime(2026, 5, 1, 23, 50, tzinfo=UTC)) == datetime(
        2026, 5, 2, 0, 0, tzinfo=UTC
    )
    never = CronJob(lambda ctx: None, name="never", hour=25)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="never runs"):
        next_run(never, datetime(2026, 5, 1, tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class ThingDeleted(Event):
    username: str
    post_id: int


def test_pages_to_forget_are_checked_against_their_events() -> None:
    """`forget_pages` refuses at import what could never be filled or forgotten."""
    made = forget_pages("{username}_things:*", on=(UserDeleted, UserRenamed))
    assert [reaction.event for reaction in made] == [UserDeleted, UserRenamed]
    with pytest.raises(ValueError, match="UserDeleted has no field post_id"):
        forget_pages("{username}_post_{post_id}_things:*", on=(ThingDeleted, UserDeleted))
    with pytest.raises(ValueError, match="literal namespace"):
        forget_pages("*:{username}", on=UserDeleted)
    with pytest.raises(ValueError, match="needs templates"):
        forget_pages(on=UserDeleted)


async def _cached(client: httpx.AsyncClient, url: str) -> httpx.Response:
    first = await client.get(url)
    second = await client.get(url)
    assert second.headers.get("x-cache") == "HIT", (first.headers, second.headers)
    return second


async def _alice_with_cached_pages(client: httpx.AsyncClient) -> tuple[Headers, str, str]:
    headers = await sign_up(client, "alice")
    created = await client.post(
        f"{API}/alice/post", json={"title": "Hello", "text": "cached"}, headers=headers
    )
    assert created.status_code == 201, created.text
    await wait_out_fence()
    item, page = f"{API}/alice/post/{created.json()['id']}", f"{API}/alice/posts"
    await _cached(client, item)
    await _cached(client, page)
    return headers, item, page


@needs("posts")
async def test_renaming_a_user_retires_every_domain_page_of_the_old_name(
    client: httpx.AsyncClient,
) -> None:
    headers, item, page = await _alice_with_cached_pages(client)
    renamed = await client.patch(f"{API}/user/alice", json={"username": "alicia"}, headers=headers)
    assert renamed.status_code == 200, renamed.text
    assert (await client.get(item)).status_code == 404
    assert (await client.get(page)).status_code == 404
    moved = await client.get(f"{API}/alicia/posts")
    assert moved.status_code == 200
    assert moved.json()["total_count"] == 1


@needs("posts")
async def test_deleting_a_user_retires_every_domain_page(client: httpx.AsyncClient) -> None:
    headers, item, page = await _alice_with_cached_pages(client)
    deleted = await client.delete(f"{API}/user/alice", headers=headers)
    assert deleted.status_code == 204, deleted.text
    assert (await client.get(item)).status_code == 404
    assert (await client.get(page)).status_code == 404
