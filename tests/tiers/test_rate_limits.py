"""Per-path rate limits (tiers/limits.py, the limit source of the routes marked
`RATE_LIMITED`): the default limit, per client IP for anonymous callers, a tier's limit for a
path, its changes applied at once on every instance, and atomic counting shared by every
instance; posting and enqueuing a task are limited. Posts and tasks are the routes limited
here: a test needs the one it limits."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from arq.connections import ArqRedis

from app.platform.queue.arq_backend import QUEUE_NAME
from tests.helpers.features import needs
from tests.helpers.http import API, AppClientFactory, Headers, client_for, error_detail, sign_up
from tests.helpers.settings import TEST_REDIS_URL

TASK = f"{API}/tasks/task"


async def post(
    client: httpx.AsyncClient, username: str, headers: Headers | None = None
) -> httpx.Response:
    return await client.post(
        f"{API}/{username}/post", json={"title": "Hello", "text": "text"}, headers=headers
    )


def assert_limited(response: httpx.Response, limit: int, period: int) -> None:
    assert response.status_code == 429, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert "rate limit" in detail.lower()
    assert 1 <= int(response.headers["Retry-After"]) <= period
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(response.headers["X-RateLimit-Reset"]) <= period


async def post_count(client: httpx.AsyncClient, username: str) -> int:
    response = await client.get(f"{API}/{username}/posts")
    assert response.status_code == 200
    total: int = response.json()["total_count"]
    return total


@needs("posts")
async def test_a_user_without_a_tier_gets_the_default_limit(app_client: AppClientFactory) -> None:
    async with app_client(DEFAULT_RATE_LIMIT_LIMIT=3, DEFAULT_RATE_LIMIT_PERIOD=60) as client:
        headers = await sign_up(client, "bob")
        for remaining in (2, 1, 0):
            response = await post(client, "bob", headers)
            assert response.status_code == 201, response.text
            assert response.headers["X-RateLimit-Limit"] == "3"
            assert response.headers["X-RateLimit-Remaining"] == str(remaining)
            assert 1 <= int(response.headers["X-RateLimit-Reset"]) <= 60
            assert "Retry-After" not in response.headers
        for _ in range(2):
            assert_limited(await post(client, "bob", headers), limit=3, period=60)
        assert await post_count(client, "bob") == 3

        # another user has a budget of their own
        other = await sign_up(client, "carol")
        response = await post(client, "carol", other)
        assert response.status_code == 201
        assert response.headers["X-RateLimit-Remaining"] == "2"


@needs("posts")
async def test_anonymous_callers_are_limited_per_client_ip(app_client: AppClientFactory) -> None:
    async with (
        app_client(DEFAULT_RATE_LIMIT_LIMIT=3, DEFAULT_RATE_LIMIT_PERIOD=60) as base,
        client_for(base.app, peer=("203.0.113.7", 1234)) as first,
        client_for(base.app, peer=("203.0.113.8", 1234)) as second,
    ):
        for remaining in (2, 1, 0):
            response = await post(first, "bob")
            assert response.status_code == 401  # counted, then refused: not signed in
            assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        assert_limited(await post(first, "bob"), limit=3, period=60)

        # another address has its own budget
        response = await post(second, "bob")
        assert response.status_code == 401
        assert response.headers["X-RateLimit-Remaining"] == "2"

        # a signed-in user behind the exhausted address is counted as that user
        headers = await sign_up(first, "bob")
        response = await post(first, "bob", headers)
        assert response.status_code == 201, response.text
        assert response.headers["X-RateLimit-Remaining"] == "2"


@needs("posts")
@pytest.mark.parametrize(
    "path",
    ["api/v1/{username}/post", "api/v1/carol/post", "/api/v1/{username}/post/"],
    ids=["route-template", "request-path", "template-with-slashes"],
)
async def test_a_tiered_user_gets_the_tier_limit_for_the_path(
    app_client: AppClientFactory, superuser_headers: Headers, path: str
) -> None:
    async with app_client(DEFAULT_RATE_LIMIT_LIMIT=3, DEFAULT_RATE_LIMIT_PERIOD=60) as client:
        root = superuser_headers
        tier = await client.post(f"{API}/tier", json={"name": "pro"}, headers=root)
        assert tier.status_code == 201, tier.text
        rule = await client.post(
            f"{API}/tier/pro/rate_limit",
            json={"path": path, "limit": 2, "period": 60},
            headers=root,
        )
        assert rule.status_code == 201, rule.text
        tiered = await sign_up(client, "carol")
        untiered = await sign_up(client, "dave")
        moved = await client.patch(
            f"{API}/user/carol/tier", json={"tier_id": tier.json()["id"]}, headers=root
        )
        assert moved.status_code == 200, moved.text

        for remaining in (1, 0):
            response = await post(client, "carol", tiered)
            assert response.status_code == 201, response.text
            assert response.headers["X-RateLimit-Limit"] == "2"
            assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        assert_limited(await post(client, "carol", tiered), limit=2, period=60)

        for remaining in (2, 1, 0):
            response = await post(client, "dave", untiered)
            assert response.status_code == 201, response.text
            assert response.headers["X-RateLimit-Limit"] == "3"
            assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        assert_limited(await post(client, "dave", untiered), limit=3, period=60)

        assert await post_count(client, "carol") == 2
        assert await post_count(client, "dave") == 3


@needs("posts")
async def test_a_changed_tier_limit_applies_at_once_on_every_instance(
    app_client: AppClientFactory, superuser_headers: Headers
) -> None:
    root = superuser_headers
    async with (
        app_client(DEFAULT_RATE_LIMIT_LIMIT=100) as ca,
        app_client(DEFAULT_RATE_LIMIT_LIMIT=100) as cb,
    ):
        tier = (await ca.post(f"{API}/tier", json={"name": "pro"}, headers=root)).json()
        rule = await ca.post(
            f"{API}/tier/pro/rate_limit",
            json={"path": "api/v1/carol/post", "limit": 50, "period": 60},
            headers=root,
        )
        assert rule.status_code == 201
        headers = await sign_up(ca, "carol")
        moved = await ca.patch(f"{API}/user/carol/tier", json={"tier_id": tier["id"]}, headers=root)
        assert moved.status_code == 200

        response = await post(cb, "carol", headers)  # B loads (and caches) the tier's rules
        assert response.status_code == 201
        assert response.headers["X-RateLimit-Limit"] == "50"

        changed = await ca.patch(
            f"{API}/tier/pro/rate_limit/{rule.json()['id']}", json={"limit": 2}, headers=root
        )
        assert changed.status_code == 200
        # (a new limit may start a new count: at most 2 more posts, then refused)
        statuses = []
        for _ in range(3):
            response = await post(cb, "carol", headers)
            assert response.headers["X-RateLimit-Limit"] == "2"
            statuses.append(response.status_code)
        assert statuses[0] == 201
        assert statuses[-1] == 429
        assert_limited(await post(ca, "carol", headers), limit=2, period=60)


@needs("posts")
async def test_retry_after_is_long_enough_and_no_longer(app_client: AppClientFactory) -> None:
    async with app_client(DEFAULT_RATE_LIMIT_LIMIT=2, DEFAULT_RATE_LIMIT_PERIOD=2) as client:
        headers = await sign_up(client, "bob")
        for _ in range(2):
            assert (await post(client, "bob", headers)).status_code == 201
        refused = await post(client, "bob", headers)
        assert_limited(refused, limit=2, period=2)
        await asyncio.sleep(int(refused.headers["Retry-After"]) + 0.05)
        response = await post(client, "bob", headers)
        assert response.status_code == 201, response.text


@needs("posts")
async def test_counting_is_atomic_and_shared_by_every_instance(
    app_client: AppClientFactory,
) -> None:
    limit = 5
    limits = {"DEFAULT_RATE_LIMIT_LIMIT": limit, "DEFAULT_RATE_LIMIT_PERIOD": 3600}
    async with app_client(**limits) as ca, app_client(**limits) as cb:
        headers = await sign_up(ca, "bob")
        requests = [post(ca if i % 2 else cb, "bob", headers) for i in range(3 * limit)]
        responses = await asyncio.gather(*requests)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] * limit + [429] * (2 * limit), statuses
        assert await post_count(ca, "bob") == limit
        assert_limited(await post(ca, "bob", headers), limit=limit, period=3600)
        assert_limited(await post(cb, "bob", headers), limit=limit, period=3600)


@needs("posts")
async def test_post_creation_is_rate_limited(app_client: AppClientFactory) -> None:
    async with (
        app_client(DEFAULT_RATE_LIMIT_LIMIT=2) as base,
        client_for(base.app, raise_app_exceptions=False) as api,
    ):
        headers = await sign_up(api, "alice")
        for _ in range(2):
            assert (await post(api, "alice", headers)).status_code == 201
        error_detail(await post(api, "alice", headers), 429)
        assert await post_count(api, "alice") == 2


@needs("tasks")
async def test_the_task_endpoint_is_rate_limited(app_client: AppClientFactory) -> None:
    async with app_client(DEFAULT_RATE_LIMIT_LIMIT=2) as client:
        assert (await client.post(TASK, params={"message": "a"})).status_code == 201
        assert (await client.post(TASK, params={"message": "b"})).status_code == 201
        limited = await client.post(TASK, params={"message": "c"})
        assert limited.status_code == 429
        assert limited.headers["retry-after"]
        redis = ArqRedis.from_url(TEST_REDIS_URL)
        try:
            assert await redis.zcard(QUEUE_NAME) == 2
        finally:
            await redis.aclose()


@needs("posts", "tasks")
async def test_the_limited_routes_document_the_429(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path, method in ((f"{API}/{{username}}/post", "post"), (f"{API}/tasks/task", "post")):
        responses = paths[path][method]["responses"]
        assert responses["429"]["description"] == "Rate limit exceeded", (path, responses)
    assert "429" not in paths[f"{API}/{{username}}/posts"]["get"]["responses"]
