from __future__ import annotations

from pydantic import Field

from app.core.config import FeatureSettings


class TierSettings(FeatureSettings):
    # The per-path limit of a caller whose tier has no rule for the path, who has no tier, or
    # who is anonymous (counted per client IP)
    DEFAULT_RATE_LIMIT_LIMIT: int = Field(default=10, ge=1)
    DEFAULT_RATE_LIMIT_PERIOD: int = Field(default=3600, ge=1)
    # The tier `app create-tier` creates
    TIER_NAME: str = "free"
