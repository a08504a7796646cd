"""The job queue: ARQ on Redis in production (`arq_backend`), an in-process runner in the
embedded default (`local`); both run the domains' jobs and cron jobs with the same retry
policy (`retry`). Domains import from here:

    from app.platform.queue import JobContext, QueueDep, enqueue_after_commit
"""

from app.platform.queue.jobs import (
    ANONYMOUS,
    CRON_OWNER,
    CronJob,
    JobContext,
    JobFunction,
    JobQueue,
    JobStatus,
    JobView,
    QueueDep,
    enqueue_after_commit,
    new_job_id,
    owner_of,
)
from app.platform.queue.retry import job_functions, retry_delay, retrying, transient

__all__ = [
    "ANONYMOUS",
    "CRON_OWNER",
    "CronJob",
    "JobContext",
    "JobFunction",
    "JobQueue",
    "JobStatus",
    "JobView",
    "QueueDep",
    "enqueue_after_commit",
    "job_functions",
    "new_job_id",
    "owner_of",
    "retry_delay",
    "retrying",
    "transient",
]
