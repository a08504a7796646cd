"""The metrics' settings (README.md, "Metrics")."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from app.core.config import FeatureSettings


class MetricsSettings(FeatureSettings):
    # GET /metrics, and the worker's own endpoint; false: neither, and nothing is counted
    METRICS_ENABLED: bool = True
    # Where the `app serve` processes write their values (emptied at start); empty: a
    # directory of its own under the temporary directory, removed at exit
    METRICS_DIR: Path | None = None
    # A bearer token scrapes must bring; without one, /metrics answers 404 in production
    METRICS_TOKEN: SecretStr | None = None
    # `app worker`'s metrics endpoint (0: none)
    WORKER_METRICS_PORT: int = Field(default=0, ge=0, le=65535)
    WORKER_METRICS_HOST: str = "127.0.0.1"
