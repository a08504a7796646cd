"""Jobs of the posts domain: the pattern for a job that reads and writes the database."""

from __future__ import annotations

from datetime import timedelta

from app.core.db import unit_of_work, utcnow
from app.platform.queue import JobContext
from app.posts.repository import PostRepository

PURGE_BATCH = 1000


async def purge_deleted_posts(ctx: JobContext, older_than_days: int | None = None) -> int:
    """Hard-delete posts soft-deleted more than `older_than_days` ago (default:
    PURGE_DELETED_POSTS_AFTER_DAYS); returns how many. Runs daily from the worker's cron, in
    batches of one transaction each, so running it twice, or after a crash, does no harm."""
    settings = ctx["resources"].settings
    days = settings.PURGE_DELETED_POSTS_AFTER_DAYS if older_than_days is None else older_than_days
    if days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = utcnow() - timedelta(days=days)
    purged = 0
    while True:
        async with unit_of_work(ctx["resources"]) as db:
            count = len(await PostRepository(db).purge_deleted(cutoff, PURGE_BATCH))
        purged += count
        if count < PURGE_BATCH:
            return purged
