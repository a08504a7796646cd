"""The admin panel's settings."""

from __future__ import annotations

from app.core.config import Environment, FeatureSettings, Settings


class AdminSettings(FeatureSettings):
    # The panel at /admin, for holders of `admin.access`: empty means on in local and
    # staging, off in production; true or false decides everywhere.
    ADMIN_PANEL_ENABLED: bool | None = None

    def enabled(self, settings: Settings) -> bool:
        """Whether /admin is served: ADMIN_PANEL_ENABLED, else everywhere but production."""
        if self.ADMIN_PANEL_ENABLED is not None:
            return self.ADMIN_PANEL_ENABLED
        return settings.ENVIRONMENT is not Environment.PRODUCTION
