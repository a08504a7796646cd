"""Tests that exercise one feature together with another: `requires("posts")` skips them when
that optional feature has been removed (its package deleted), so the rest of the suite still
runs on a stripped-down app. A feature's own tests live in its own tests package instead, and
go with it."""

from __future__ import annotations

import importlib.util

import pytest


def installed(feature: str) -> bool:
    """Whether the optional feature's package (`app.<feature>`) is there."""
    return importlib.util.find_spec(f"app.{feature}") is not None


def requires(*features: str) -> pytest.MarkDecorator:
    missing = [feature for feature in features if not installed(feature)]
    return pytest.mark.skipif(bool(missing), reason=f"needs the removed {', '.join(missing)}")
