"""The list of domains: the one place that names them. The API router (`api.py`), the model
registry (`metadata` below, for Alembic and every process that opens the database), the jobs
(`jobs.py`, for the worker and the embedded runner) and the user-page invalidations are built
from it. Adding an entity is one new folder with its `domain.py`, and one line here.
"""

from __future__ import annotations

from app.auth.domain import domain as auth
from app.core.db import Base
from app.core.domain import Domain
from app.core.mail.domain import domain as mail
from app.posts.domain import domain as posts
from app.tasks.domain import domain as tasks
from app.tiers.domain import domain as tiers
from app.users.domain import domain as users

DOMAINS: tuple[Domain, ...] = (
    mail,
    auth,
    users,
    tiers,
    tasks,
    posts,
)

# Every model of every domain is imported above, so the metadata holds the whole schema.
metadata = Base.metadata


def user_cache_patterns() -> tuple[str, ...]:
    """Every domain's cache patterns of one user's pages (filled with `{username}`)."""
    return tuple(pattern for domain in DOMAINS for pattern in domain.user_cache_patterns)
