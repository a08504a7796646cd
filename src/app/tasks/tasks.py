"""Jobs of the tasks domain."""

from __future__ import annotations

import asyncio

from app.platform.queue import JobContext
from app.tasks.settings import TaskSettings


async def sample_background_task(ctx: JobContext, message: str) -> str:
    """Sleep SAMPLE_TASK_SLEEP_SECONDS (5 s by default), then return a message."""
    await asyncio.sleep(ctx["resources"].settings.feature(TaskSettings).SAMPLE_TASK_SLEEP_SECONDS)
    return f"task {ctx.get('job_id')} is complete: {message}"
