"""The tasks feature's settings (read only while the feature is installed)."""

from __future__ import annotations

from pydantic import Field

from app.core.config import FeatureSettings


class TaskSettings(FeatureSettings):
    # How long `sample_background_task` sleeps (seconds)
    SAMPLE_TASK_SLEEP_SECONDS: float = Field(default=5.0, ge=0, le=3600)
