"""Loading the bench's data: posts and the first users through the public API; the other users
(sharing the first one's password hash) and the scale test's posts straight into PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.infra import Database, HarnessError, log

PASSWORD = "bench-password-1"  # noqa: S105 - the bench users' password
API = "/api/v1"


class Progress:
    """One progress line: rewritten in place on a terminal, a line every few seconds otherwise."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._shown = 0.0
        self._tty = sys.stdout.isatty()

    def _line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if not self.total:
            return f"  {self.label}: {elapsed:.0f} s"
        share = f"{self.done:,}/{self.total:,} ({100 * self.done / self.total:.0f} %)"
        return f"  {self.label}: {share}, {rate:,.0f}/s, {elapsed:.0f} s"

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._shown >= (0.2 if self._tty else 5.0):
            self._shown = now
            self._show()

    def tick(self) -> None:
        """Show the elapsed time only (for one long statement)."""
        self._show()

    def _show(self) -> None:
        if self._tty:
            sys.stdout.write("\r" + self._line().ljust(78))
            sys.stdout.flush()
        else:
            log(self._line())

    def finish(self) -> None:
        if self._tty:
            sys.stdout.write("\r" + self._line().ljust(78) + "\n")
            sys.stdout.flush()
        else:
            log(self._line())


@dataclass
class Sizes:
    bench_posts: int
    users: int
    scale_posts: int


@dataclass
class Loaded:
    bench_user_id: int
    bench_post_ids: list[int]
    users: int
    scale_user_id: int | None
    scale_posts: int
    seconds: float


def user_body(username: str) -> dict[str, str]:
    return {
        "name": f"User {username}"[:30],
        "username": username,
        "email": f"{username}@example.com",
        "password": PASSWORD,
    }


def _check(response: httpx.Response, expected: int, what: str) -> dict[str, Any]:
    if response.status_code != expected:
        raise HarnessError(
            f"{what}: expected {expected}, got {response.status_code}: {response.text[:500]}"
        )
    data: dict[str, Any] = response.json() if response.content else {}
    return data


async def register(client: httpx.AsyncClient, username: str) -> dict[str, Any]:
    response = await client.post(f"{API}/user", json=user_body(username))
    return _check(response, 201, f"POST {API}/user ({username})")


async def login(client: httpx.AsyncClient, username: str) -> str:
    response = await client.post(f"{API}/login", data={"username": username, "password": PASSWORD})
    token: str = _check(response, 200, f"POST {API}/login ({username})")["access_token"]
    return token


def login_sync(base_url: str, username: str) -> str:
    async def go() -> str:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            return await login(client, username)

    return asyncio.run(go())


async def _many(
    count: int, concurrency: int, progress: Progress, job: Callable[[int], Awaitable[Any]]
) -> list[Any]:
    """Run job(0..count-1) with at most `concurrency` at a time, in order of index."""
    results: list[Any] = [None] * count
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)

    async def worker() -> None:
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            results[index] = await job(index)
            progress.advance()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    progress.finish()
    return results


# Users registered through the API (each one an Argon2id hash); the rest are copies in SQL.
API_USERS = 50
USERS_INSERT = """
INSERT INTO users (name, username, email, hashed_password, created_at, is_deleted, is_superuser)
SELECT 'User user' || lpad(g::text, 6, '0'), 'user' || lpad(g::text, 6, '0'),
       'user' || lpad(g::text, 6, '0') || '@example.com',
       (SELECT hashed_password FROM users WHERE username = 'bench'),
       now() - make_interval(secs => :count - g), false, false
FROM generate_series(:first, :count - 1) AS g
"""

SCALE_INSERT = """
INSERT INTO posts (created_by_user_id, title, text, created_at, is_deleted)
SELECT :author, 'Scale post ' || g, 'Post ' || g || ' of the scale test, made by the bench.',
       now() - make_interval(secs => :count - g), false
FROM generate_series(1, :count) AS g
"""


async def _insert_scale_posts(db: Database, author_id: int, count: int) -> None:
    progress = Progress(f"{count:,} posts for 'scale' (one INSERT ... SELECT generate_series)", 0)
    task = asyncio.ensure_future(
        db.execute(SCALE_INSERT, params={"author": author_id, "count": count})
    )
    while not task.done():
        await asyncio.wait([task], timeout=2)
        if not task.done():
            progress.tick()
    await task
    log(f"  inserted {count:,} posts in {time.monotonic() - progress.started:.1f} s")


async def load(base_url: str, db: Database, sizes: Sizes, *, concurrency: int = 8) -> Loaded:
    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        bench = await register(client, "bench")
        token = await login(client, "bench")
        auth = {"Authorization": f"Bearer {token}"}

        async def post(index: int) -> int:
            body = {"title": f"Bench post {index}", "text": f"Text of bench post {index}."}
            response = await client.post(f"{API}/bench/post", json=body, headers=auth)
            post_id: int = _check(response, 201, f"POST {API}/bench/post")["id"]
            return post_id

        post_ids = await _many(
            sizes.bench_posts,
            concurrency,
            Progress("posts for 'bench' via the API", sizes.bench_posts),
            post,
        )

        async def user(index: int) -> None:
            await register(client, f"user{index:06d}")

        by_api = min(API_USERS, sizes.users)
        await _many(by_api, concurrency, Progress("users via the API", by_api), user)
        if sizes.users > by_api:
            await db.execute(USERS_INSERT, params={"first": by_api, "count": sizes.users})
            log(f"  inserted {sizes.users - by_api:,} more users in SQL (the same password hash)")

        scale_id: int | None = None
        if sizes.scale_posts:
            scale_id = int((await register(client, "scale"))["id"])
    if scale_id is not None:
        await _insert_scale_posts(db, scale_id, sizes.scale_posts)
    log("  VACUUM ANALYZE (so that autovacuum does not start during the measurements)")
    await db.execute("VACUUM ANALYZE", autocommit=True)
    return Loaded(
        bench_user_id=int(bench["id"]),
        bench_post_ids=sorted(post_ids),
        users=sizes.users + 1 + (1 if scale_id is not None else 0),
        scale_user_id=scale_id,
        scale_posts=sizes.scale_posts if scale_id is not None else 0,
        seconds=round(time.monotonic() - started, 1),
    )
