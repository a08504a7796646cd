"""Which optional features this checkout has (README, "Removing a feature"). The whole-stack
tests (several processes, the compose stack) walk through every installed feature and leave
out the steps of one that was removed; a feature's own tests live in its tests package."""

from __future__ import annotations

import pytest

from app.domains import DOMAINS


def installed(name: str) -> bool:
    """Whether app/domains.py lists the domain `name`."""
    return any(domain.name == name for domain in DOMAINS)


def needs(name: str) -> pytest.MarkDecorator:
    """Skip a whole-stack test that is about the feature `name` once it is removed."""
    return pytest.mark.skipif(not installed(name), reason=f"the {name} feature is removed")
