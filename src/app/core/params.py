"""Bounded path parameters shared by the domains."""

from typing import Annotated

from fastapi import Path

# Database ids are 32-bit: a larger number is refused (422) instead of reaching the query.
ResourceId = Annotated[int, Path(ge=1, le=2**31 - 1)]
