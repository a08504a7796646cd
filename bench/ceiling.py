"""The ceiling: the least an ASGI app can do under the app's own server settings.

One route returns a fixed small JSON body, served by uvicorn exactly as `app serve` serves the
API (see `serve` in src/app/cli.py): same workers, event loop and HTTP parser (uvloop and
httptools from uvicorn[standard], with the app's bounds on request headers), no proxy headers,
no server header, the app's keep-alive and graceful timeouts, no access log. Whatever the API
reaches is measured as a share of this.

    python -m bench.ceiling --port 8001 --workers 2

`/health` names the worker's pid, so the harness can tell when every worker is up; it is not
what is measured.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BODY = {"status": "ok"}


async def fixed(request: Request) -> Response:
    return JSONResponse(BODY)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "instance": f"ceiling:{os.getpid()}"})


app = Starlette(routes=[Route("/", fixed), Route("/health", health)])


def serve(target: str, host: str, port: int, workers: int) -> None:
    """uvicorn with the options `app serve` passes it: the yardsticks' server settings."""
    from app.cli import serve_uvicorn
    from app.core.config import load_settings

    serve_uvicorn(target, load_settings(), host, port, workers)


def serve_main(
    target: str, prog: str, description: str | None, port: int, argv: Sequence[str] | None
) -> int:
    """The command line of a yardstick app: `--host`, `--port`, `--workers`."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    serve(target, args.host, args.port, args.workers)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main("bench.ceiling:app", "python -m bench.ceiling", __doc__, 8001, argv)


if __name__ == "__main__":
    raise SystemExit(main())
