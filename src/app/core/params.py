"""Bounded input types shared by the domains."""

from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator

# Database ids are 32-bit: a larger number is refused (422) instead of reaching the query.
ResourceId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)
"""Add to any `Annotated[str, ...]` body field that is stored: `Annotated[str, NoNul]`."""
