# Everything goes through uv. When uv is not on PATH, a private copy is installed into .tools/
# with the Python that runs make, so a machine with only Python 3.11+ and make is enough.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
UV_VERSION ?= 0.13.9
HOST ?= 127.0.0.1
PORT ?= 8000

UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON ?= $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
export UV_PROJECT_ENVIRONMENT := .venv
RUN := $(UV) run --frozen --no-sync
# Bytecode caches stay on under make, whatever the environment says: without them every test
# process, and every `app` process the tests start, compiles the app, its dependencies and
# pytest's rewritten test modules from source again (collecting the suite takes 2.5 times as
# long).
unexport PYTHONDONTWRITEBYTECODE

SERVICES_POSTGRES_PORT ?= 5432
SERVICES_REDIS_PORT ?= 6379
SERVICES_PROJECT ?= api-starter-services
SERVICES_COMPOSE = docker compose -p $(SERVICES_PROJECT) -f docker-compose.yml -f deploy/compose.services.yml

.PHONY: help install services services-down run serve migrate migration superuser tier lint format typecheck check migrations-check check-removal check-extending test test-fast test-embedded test-deploy deploy-check multi-instance bench bench-smoke client clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: .venv/.installed ## install the app and its dev tools into .venv

# Each of the two is started only when nothing answers on its port yet (a local server, or
# the containers of an earlier `make services`). The tests' defaults point at these ports.
services: ## start PostgreSQL and Redis (docker-compose.yml, loopback ports 5432 and 6379) unless they already answer
	@start=; \
	if (exec 3<>/dev/tcp/127.0.0.1/$(SERVICES_POSTGRES_PORT)) 2>/dev/null; then \
		echo "PostgreSQL already answers on 127.0.0.1:$(SERVICES_POSTGRES_PORT)"; else start="db"; fi; \
	if (exec 3<>/dev/tcp/127.0.0.1/$(SERVICES_REDIS_PORT)) 2>/dev/null; then \
		echo "Redis already answers on 127.0.0.1:$(SERVICES_REDIS_PORT)"; else start="$$start redis"; fi; \
	if [ -n "$$start" ]; then \
		echo "Starting$$(printf ' %s' $$start) with Docker Compose (project $(SERVICES_PROJECT))"; \
		POSTGRES_PASSWORD=$${POSTGRES_PASSWORD:-postgres} SERVICES_POSTGRES_PORT=$(SERVICES_POSTGRES_PORT) \
			SERVICES_REDIS_PORT=$(SERVICES_REDIS_PORT) $(SERVICES_COMPOSE) up -d --wait $$start; \
	fi

services-down: ## stop and remove what `make services` started (add ARGS=-v to drop its data too)
	POSTGRES_PASSWORD=$${POSTGRES_PASSWORD:-postgres} $(SERVICES_COMPOSE) down $(ARGS)

run: install migrate ## migrate, then serve the API at http://$(HOST):$(PORT) (embedded default)
	$(RUN) app serve --host $(HOST) --port $(PORT)

serve: install ## serve without migrating (add ARGS="--reload" for development)
	$(RUN) app serve --host $(HOST) --port $(PORT) $(ARGS)

migrate: install ## apply database migrations
	$(RUN) app migrate

# A domain's first migration starts its branch (labelled with its name) in
# src/app/$(DOMAIN)/migrations, depending on the branches in DEPENDS, whose tables it refers
# to; the next ones go on top of its head, in the same folder.
DEPENDS ?= users
migration: install ## generate a migration in a domain's branch: make migration DOMAIN=notes MSG="add notes" (database at heads)
	@test -n "$(DOMAIN)" -a -n "$(MSG)" || { echo 'usage: make migration DOMAIN=<domain> MSG="what it does" [DEPENDS="users ..."]' >&2; exit 2; }
	@if grep -rqE --include='*.py' "^branch_labels.*['\"]$(DOMAIN)['\"]" src/app; then \
		$(RUN) alembic revision --autogenerate --head "$(DOMAIN)@head" -m "$(MSG)"; \
	else \
		$(RUN) alembic revision --autogenerate --head base --branch-label "$(DOMAIN)" \
			$(foreach branch,$(DEPENDS),--depends-on "$(branch)") \
			--version-path "src/app/$(DOMAIN)/migrations" -m "$(MSG)"; \
	fi

superuser: install ## create the first superuser from ADMIN_* (harmless to rerun)
	$(RUN) app create-superuser

tier: install ## create the tier TIER_NAME (harmless to rerun)
	$(RUN) app create-tier

lint: install ## ruff lint and format check, and the import contracts (pyproject.toml)
	$(RUN) ruff check src tests bench scripts
	$(RUN) ruff format --check src tests bench scripts
	$(RUN) lint-imports --no-logo

format: install ## apply ruff fixes and formatting
	$(RUN) ruff check --fix src tests bench scripts
	$(RUN) ruff format src tests bench scripts

typecheck: install ## mypy (strict for src/app)
	$(RUN) mypy

check: lint typecheck ## lint and type check

migrations-check: install ## migrations run up, down and up, and match the models (PostgreSQL and SQLite)
	$(RUN) pytest -q -p no:cacheprovider tests/test_migrations.py

check-removal: install ## each optional feature, and all at once, removed as README says: still lints, migrates, serves (ARGS="tasks": one)
	$(RUN) python scripts/removal_check.py --uv $(abspath $(UV)) $(ARGS)

check-extending: install ## README's comments on posts added to a scratch copy as README says (one package, its tests, one line, one migration); lint, types, migrations, its tests
	$(RUN) python scripts/extending_check.py --uv $(abspath $(UV)) $(ARGS)

# The suite runs on TEST_WORKERS processes (pytest-xdist), each with a PostgreSQL database and
# a Redis database of its own; a module whose tests share what a module fixture starts is run
# by one worker (xdist_group). TEST_WORKERS=0 runs it in this process. Two by default: with
# four, the app processes the slow legs start overran PostgreSQL's 100 connections.
TEST_WORKERS ?= 2
XDIST = -n $(TEST_WORKERS) --dist loadgroup

test: check ## lint, types, migration drift and the whole suite with coverage (PostgreSQL, Redis, Docker)
	$(RUN) pytest $(XDIST) --cov --cov-report=term-missing:skip-covered --durations=25

test-fast: check ## lint, types and the suite without its slow legs (app processes, nginx, bench, deploy files)
	$(RUN) pytest -q -p no:cacheprovider $(XDIST) -m "not slow" --durations=10

test-embedded: install ## only the embedded-default (SQLite) leg
	$(RUN) pytest -q tests/test_embedded.py

test-deploy: install ## only the compose test: build the image, run README's compose sequence (needs Docker)
	$(RUN) pytest -q -p no:cacheprovider tests/deploy

deploy-check: install ## Dockerfile, docker-compose.yml (Compose schema) and nginx configs, without a Docker engine
	$(RUN) pytest -q -p no:cacheprovider tests/test_deploy_files.py

multi-instance: install ## two app servers and a worker behind nginx (installs nginx if missing), on PostgreSQL and Redis
	$(RUN) pytest -q -p no:cacheprovider tests/test_multi_instance.py

bench: install ## the load benchmark (minutes): 2 server processes on PostgreSQL and Redis, wrk, report and chart in bench/results
	$(UV) sync --frozen --group bench
	$(RUN) python -m bench.run $(ARGS)

bench-smoke: install ## the benchmark harness on tiny data, 1 s per scenario (also part of make test)
	$(RUN) python -m bench.run --smoke --out bench/results-smoke

# The TypeScript client (clients/typescript/): the app's OpenAPI document, written from the code
# (scripts/openapi.py), and the types openapi-typescript makes of it, both committed; the
# generator and openapi-fetch are pinned in package.json and installed from the lock.
CLIENT := clients/typescript

client: install $(CLIENT)/node_modules/.installed ## the typed TypeScript client from the OpenAPI document (clients/typescript; needs node and npm)
	$(RUN) python scripts/openapi.py $(CLIENT)/openapi.json
	cd $(CLIENT) && npm run --silent generate

$(CLIENT)/node_modules/.installed: $(CLIENT)/package.json $(CLIENT)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo 'make client needs node and npm: apt-get install nodejs npm (as root)' >&2; exit 1; }
	cd $(CLIENT) && npm ci --no-audit --no-fund
	@touch $@

clean: ## remove virtual environments, caches and the local SQLite database
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .coverage htmlcov app.db app.db-* bench/results-smoke $(CLIENT)/node_modules
