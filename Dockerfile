# The API image: `app serve` by default; the same image runs `app worker`, `app migrate`,
# `app create-superuser` and `app create-tier` (see docker-compose.yml).
#
#   docker build -t api-starter .
#   docker run --env-file .env -p 8000:8000 api-starter
#
# Two stages: `build` installs the locked runtime dependencies with uv; the final stage holds
# only the virtual environment and the source, runs as an unprivileged user and needs no uv.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

# Same uv as the Makefile (UV_VERSION), installed from PyPI.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

# The venv lives where the final stage expects it: its scripts hold absolute paths.
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /app

# Dependencies first, in their own layer: rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself (README.md is part of its metadata).
COPY README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app

WORKDIR /app
# Owned by root and read-only for the app user: the process cannot rewrite its own code.
COPY --from=build /app/.venv /app/.venv
COPY --from=build /app/src /app/src

USER 10001:10001

EXPOSE 8000

# Python's standard library only: the slim image has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

# The shell only expands WEB_CONCURRENCY (server processes, default 2), then `exec` replaces
# it with the server, so SIGTERM reaches the server itself, which lets in-flight requests
# finish before it exits. No --reload: that is for development only.
CMD ["/bin/sh", "-c", "exec app serve --host 0.0.0.0 --port 8000 --workers \"${WEB_CONCURRENCY:-2}\""]
