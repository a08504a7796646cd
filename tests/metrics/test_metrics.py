"""Prometheus metrics: `GET /metrics` in-process (what is counted, with which labels, and who may
read it), then `app serve --workers 2` and `app worker` scraped by a real Prometheus server, and
nginx keeping /metrics from the public.

The in-process apps share one registry (the process's), so each test compares a scrape taken
after its requests with one taken before.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq.connections import RedisSettings, create_pool
from fastapi import APIRouter, FastAPI
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import Settings
from app.core.state import resources_of
from app.metrics.endpoint import serve_worker_metrics
from app.metrics.prometheus import RequestMetrics
from app.platform.http.middleware import EdgeConfig, EdgeMiddleware
from app.platform.queue import job_functions
from app.platform.queue.arq_backend import QUEUE_NAME
from app.platform.queue.local import LocalQueue
from tests.helpers.cache import wait_out_fence
from tests.helpers.deploy import prometheus_binary, start_nginx
from tests.helpers.features import needs
from tests.helpers.http import (
    API,
    AppClient,
    AppClientFactory,
    bearer,
    login_response,
    register,
)
from tests.helpers.processes import APP, Process, clean_env, free_port, run
from tests.helpers.settings import TEST_REDIS_URL, TEST_SECRET_KEY, app_env

Labels = frozenset[tuple[str, str]]
TOKEN = "metrics-token-" + "m" * 32
PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": TEST_SECRET_KEY,
    "ADMIN_PASSWORD": "Another-admin-pass-9",
    "EMAIL_VERIFICATION_ENABLED": False,
    "PASSWORD_RESET_ENABLED": False,
}


class Scrape:
    """One exposition, by sample name and labels."""

    def __init__(self, text: str) -> None:
        self.values: dict[tuple[str, Labels], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.values[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def get(self, name: str, **labels: str) -> float:
        return self.values.get((name, frozenset(labels.items())), 0.0)

    def label_values(self, label: str) -> set[str]:
        return {value for _, labels in self.values for name, value in labels if name == label}


async def scrape(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> Scrape:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    assert response.headers["cache-control"] == "no-store"
    return Scrape(response.text)


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.get(name, **labels) - before.get(name, **labels)


async def test_requests_are_counted_by_route_template_method_and_status(
    client: httpx.AsyncClient,
) -> None:
    user = {"method": "GET", "route": f"{API}/user/{{username}}", "status": "404"}
    before = await scrape(client)
    for number in range(3):
        assert (await client.get(f"{API}/user/ghost-{number}")).status_code == 404
    stray = f"/no/such/{uuid.uuid4().hex}"
    assert (await client.get(stray)).status_code == 404
    assert (await client.request("BREW", f"{API}/user/ghost")).status_code == 405
    assert (await client.get("/health")).status_code == 200
    after = await scrape(client)

    assert delta(before, after, "app_http_requests_total", **user) == 3
    assert delta(before, after, "app_http_request_duration_seconds_count", **user) == 3
    assert delta(before, after, "app_http_request_duration_seconds_bucket", **user, le="+Inf") == 3
    assert delta(before, after, "app_http_request_duration_seconds_sum", **user) > 0
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert delta(before, after, "app_http_requests_total", **unmatched) == 1
    brewed = {"method": "OTHER", "route": f"{API}/user/{{username}}", "status": "405"}
    assert delta(before, after, "app_http_requests_total", **brewed) == 1
    # Never a raw path; scrapes and probes are not counted.
    routes = after.label_values("route")
    assert not {route for route in routes if "ghost" in route or route == stray}, routes
    assert not routes & {"/metrics", "/health", "/ready"}, routes
    assert after.get("app_http_requests_in_flight") == 0


async def test_a_router_included_twice_is_counted_under_each_prefix() -> None:
    router = APIRouter()

    @router.get("/item/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app = FastAPI()
    app.include_router(router, prefix="/a")
    app.include_router(router, prefix="/b")
    metrics = RequestMetrics(app.routes)
    app.add_middleware(
        EdgeMiddleware, config=EdgeConfig(max_body_bytes=1024, client_max_age=0, observer=metrics)
    )
    before = Scrape(generate_latest().decode())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/a/item/1", "/b/item/2", "/b/item/3"):
            assert (await client.get(path)).status_code == 200
    after = Scrape(generate_latest().decode())
    for prefix, count in (("/a", 1), ("/b", 2)):
        labels = {"method": "GET", "route": f"{prefix}/item/{{item_id}}", "status": "200"}
        assert delta(before, after, "app_http_requests_total", **labels) == count


@needs("posts")
async def test_cache_hits_and_misses_are_counted_by_backend_and_key_template(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "cachy")
    await wait_out_fence()
    # The posts list's key template (posts/router.py LIST_KEY).
    list_key = (
        "{username}_posts:page_{page}:items_per_page:{items_per_page}:cursor_{cursor}:limit_{limit}"
    )
    labels = {"backend": "redis", "cache": list_key}
    listed = {"method": "GET", "route": f"{API}/{{username}}/posts", "status": "200"}
    before = await scrape(client)
    first = await client.get(f"{API}/cachy/posts")
    second = await client.get(f"{API}/cachy/posts")  # answered by the middleware, unrouted
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    after = await scrape(client)
    assert delta(before, after, "app_cache_misses_total", **labels) == 1
    assert delta(before, after, "app_cache_hits_total", **labels) == 1
    assert delta(before, after, "app_http_requests_total", **listed) == 2


async def test_logins_and_rate_limit_refusals_are_counted(app_client: AppClientFactory) -> None:
    login = {"method": "POST", "route": f"{API}/login"}
    async with app_client(LOGIN_RATE_LIMIT_LIMIT=2) as client:
        await register(client, "limited")
        before = await scrape(client)
        assert (await login_response(client, "limited")).status_code == 200
        assert (await login_response(client, "limited", "Wrong-password-1")).status_code == 401
        assert (await login_response(client, "limited")).status_code == 429
        after = await scrape(client)
    assert delta(before, after, "app_logins_total", outcome="success") == 1
    assert delta(before, after, "app_logins_total", outcome="failure") == 1
    assert delta(before, after, "app_rate_limit_refusals_total", route=f"{API}/login") == 1
    assert delta(before, after, "app_http_requests_total", **login, status="429") == 1
    assert delta(before, after, "app_http_requests_total", **login, status="401") == 1


async def flaky(ctx: Any) -> None:
    raise ConnectionError("the database went away")


@needs("posts")
async def test_jobs_are_counted_by_function_and_outcome(app_client: AppClientFactory) -> None:
    purge = "purge_deleted_posts"
    async with app_client(REDIS_URL=None) as client:
        queue = resources_of(client.app).queue
        assert isinstance(queue, LocalQueue)
        before = await scrape(client)
        await queue.enqueue(purge, 30, job_id="good", owner="-")
        await queue.enqueue(purge, -5, job_id="bad", owner="-")  # refused by the job: fails
        await queue.drain()
        # A transient error: retried once after 1 s, then the last try fails.
        resources = resources_of(client.app)
        settings = resources.settings.model_copy(update={"WORKER_MAX_TRIES": 2})
        retried = LocalQueue(job_functions([flaky]), settings)
        retried.start(resources, run_cron=False)
        await retried.enqueue("flaky", job_id="flaky", owner="-")
        await retried.drain()
        await retried.close()
        after = await scrape(client)
    assert delta(before, after, "app_jobs_total", function=purge, outcome="success") == 1
    assert delta(before, after, "app_jobs_total", function=purge, outcome="failure") == 1
    assert (
        delta(before, after, "app_job_duration_seconds_count", function=purge, outcome="success")
        == 1
    )
    assert delta(before, after, "app_jobs_total", function="flaky", outcome="retry") == 1
    assert delta(before, after, "app_jobs_total", function="flaky", outcome="failure") == 1


async def test_pool_connections_in_use_are_read_when_scraped(client: AppClient) -> None:
    name = "app_db_pool_connections_in_use"
    idle = (await scrape(client)).get(name)
    async with resources_of(client.app).engine.connect():
        busy = (await scrape(client)).get(name)
    assert busy == idle + 1


async def test_metrics_are_outside_the_schema_and_can_be_turned_off(
    client: httpx.AsyncClient, app_client: AppClientFactory
) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert not [path for path in schema["paths"] if "metrics" in path]
    async with app_client(METRICS_ENABLED=False) as off:
        assert (await off.get("/metrics")).status_code == 404


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        # (settings, statuses without a token, with a wrong one, with the right one)
        ({}, (200, 200, 200)),
        ({**PRODUCTION, "ENVIRONMENT": "staging"}, (200, 200, 200)),
        ({"METRICS_TOKEN": TOKEN}, (401, 401, 200)),
        (PRODUCTION, (404, 404, 404)),
        ({**PRODUCTION, "METRICS_TOKEN": TOKEN}, (404, 404, 200)),
    ],
    ids=["local", "staging", "local-token", "production", "production-token"],
)
async def test_who_may_read_the_metrics(
    app_client: AppClientFactory, settings: dict[str, Any], expected: tuple[int, ...]
) -> None:
    async with app_client(**settings) as client:
        unknown = await client.get(f"/no/such/{uuid.uuid4().hex}")
        answers = []
        for headers in ({}, bearer("not-" + TOKEN), bearer(TOKEN)):
            response = await client.get("/metrics", headers=headers)
            answers.append(response.status_code)
            if response.status_code == 404:  # as if there were no such path
                assert response.json() == unknown.json()
            if response.status_code == 401:
                assert response.headers["www-authenticate"] == "Bearer"
    assert tuple(answers) == expected


def test_the_worker_endpoint_follows_the_same_rule() -> None:
    assert serve_worker_metrics(Settings(_env_file=None)) is None  # WORKER_METRICS_PORT=0
    port = free_port()
    settings = Settings(_env_file=None, WORKER_METRICS_PORT=port, METRICS_TOKEN=TOKEN)
    server = serve_worker_metrics(settings)
    assert server is not None
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        refused = httpx.get(url, headers=bearer("not-" + TOKEN))
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        allowed = httpx.get(url, headers=bearer(TOKEN))
        assert allowed.status_code == 200
        assert "app_jobs_total" in allowed.text
    finally:
        server.shutdown()
        server.server_close()


class PrometheusServer:
    """Prometheus scraping `targets` ({job: "host:port"}) every second."""

    def __init__(self, workdir: Path, targets: dict[str, str]) -> None:
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            for job, target in targets.items()
        )
        config = workdir / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{jobs}"
        )
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process = Process(
            "prometheus",
            [
                prometheus_binary(),
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'prometheus-data'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
            ],
            cwd=workdir,
            env=clean_env(),
        )

    def query(self, expression: str) -> float | None:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=5)
        assert response.status_code == 200, response.text
        result = response.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expression: str, at_least: float, timeout: float = 30) -> float | None:
        """The expression's value once it reaches `at_least` (or when time runs out)."""
        deadline = time.monotonic() + timeout
        while (value := self.query(expression)) is None or value < at_least:
            if time.monotonic() > deadline:
                break
            time.sleep(0.25)
        return value


def files_in(directory: Path, pattern: str, count: int, within: float = 5.0) -> list[Path]:
    """The files matching `pattern`, once there are `count` of them (or when time runs out):
    a request's figures are written just after its response has gone, so a client that looks
    at once may be there first."""
    deadline = time.monotonic() + within
    while len(found := list(directory.glob(pattern))) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    try:
        yield started
    finally:
        for process in reversed(started):
            process.stop(timeout=15)


async def _enqueue(function: str, count: int) -> None:
    redis = await create_pool(RedisSettings.from_dsn(TEST_REDIS_URL), default_queue_name=QUEUE_NAME)
    try:
        for _ in range(count):
            assert await redis.enqueue_job(function) is not None
    finally:
        await redis.aclose()


@pytest.mark.slow
@pytest.mark.parametrize("server", ["granian", "uvicorn"])
@needs("posts")
def test_prometheus_scrapes_the_sum_over_the_server_processes_and_the_worker(
    tmp_path: Path, database_url: str, processes: list[Process], server: str
) -> None:
    prometheus_binary()  # before anything starts: installing may take a while
    web, worker_port = free_port(), free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    stale = metrics_dir / "counter_1.db"
    stale.write_bytes(b"an earlier run's values")
    # The worker shares the directory, as it would on one machine: it must not matter.
    env = app_env(database_url, METRICS_DIR=metrics_dir, WORKER_METRICS_PORT=worker_port)
    argv = [APP, "serve", "--port", str(web), "--workers", "2", "--server", server]
    serve = Process("serve", argv, cwd=tmp_path, env=env)
    processes.append(serve)
    worker = Process("worker", [APP, "worker"], cwd=tmp_path, env=env)
    processes.append(worker)
    prometheus = PrometheusServer(
        tmp_path, {"web": f"127.0.0.1:{web}", "worker": f"127.0.0.1:{worker_port}"}
    )
    processes.append(prometheus.process)
    base = f"http://127.0.0.1:{web}"
    serve.wait_for_http(f"{base}/health")
    worker.wait_for_http(f"http://127.0.0.1:{worker_port}/metrics")
    prometheus.process.wait_for_http(f"{prometheus.url}/-/ready")
    assert not stale.exists(), "METRICS_DIR is emptied when app serve starts"

    requests, jobs = 25, 3
    for number in range(requests):  # a connection each: both processes take some
        assert httpx.get(f"{base}{API}/user/ghost-{number}").status_code == 404
    asyncio.run(_enqueue("purge_deleted_posts", jobs))
    assert len(files_in(metrics_dir, "histogram_*.db", 2)) == 2, "both processes served"

    logs = f"{serve.log()}\n{worker.log()}\n{prometheus.process.log()[-3000:]}"
    counted = f'sum(app_http_requests_total{{job="web",route="{API}/user/{{username}}"}})'
    assert prometheus.wait_for(counted, requests) == requests, logs
    observed = counted.replace("requests_total", "request_duration_seconds_count")
    assert prometheus.query(observed) == requests, logs
    ran = 'sum(app_jobs_total{job="worker",function="purge_deleted_posts",outcome="success"})'
    assert prometheus.wait_for(ran, jobs) == jobs, logs
    assert prometheus.query('sum(app_jobs_total{job="web"})') is None, "jobs are the worker's"
    # Whichever process answers a scrape reports the sum.
    for _ in range(4):
        assert (
            Scrape(httpx.get(f"{base}/metrics").text).get(
                "app_http_requests_total",
                method="GET",
                route=f"{API}/user/{{username}}",
                status="404",
            )
            == requests
        )


@pytest.mark.slow
def test_serve_keeps_its_own_metrics_directory_only_while_it_runs(
    tmp_path: Path, database_url: str
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    port = free_port()
    env = app_env(database_url, TMPDIR=temporary)
    argv = [APP, "serve", "--port", str(port), "--server", "uvicorn"]
    with Process("serve", argv, cwd=tmp_path, env=env) as serve:
        serve.wait_for_http(f"http://127.0.0.1:{port}/health")
        assert httpx.get(f"http://127.0.0.1:{port}{API}/user/nobody").status_code == 404
        (directory,) = temporary.glob("app-metrics-*")
        assert files_in(directory, "histogram_*.db", 1), serve.log()
        # uvicorn ends by raising SIGTERM again: the directory goes all the same.
        assert serve.stop() == -signal.SIGTERM, serve.log()
    assert not list(temporary.iterdir()), serve.log()


def test_nothing_imports_prometheus_client_before_a_process_serves(tmp_path: Path) -> None:
    # It chooses its mode (PROMETHEUS_MULTIPROC_DIR) when first imported: `app serve`'s parent
    # sets the variable, and `app worker` clears it, after importing every domain.
    code = (
        "import sys, app.cli, app.worker; app.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m.startswith('prometheus_client')))"
    )
    result = run([sys.executable, "-c", code], cwd=tmp_path, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_nginx_keeps_the_metrics_from_the_public(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    argv = [APP, "serve", "--port", str(port), "--server", "uvicorn"]
    with Process("serve", argv, cwd=tmp_path, env=app_env(database_url)) as serve:
        serve.wait_for_http(f"http://127.0.0.1:{port}/health")
        proxy, url = start_nginx(tmp_path, [port])
        with proxy:
            proxy.wait_for_http(f"{url}/health")
            # For the scraper, on the process's own port; not through nginx.
            assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
            hidden = httpx.get(f"{url}/metrics")
            assert hidden.status_code == 404, proxy.log()
