"""Every job function, registered once: the worker and the embedded runner both run these.
A domain's jobs live in its `tasks.py`; add them here."""

from app.core.queue import JobFunction, job_functions
from app.posts.tasks import purge_deleted_posts
from app.tasks.tasks import sample_background_task

JOBS: list[JobFunction] = [sample_background_task, purge_deleted_posts]

FUNCTIONS = job_functions(JOBS)
"""By name, each wrapped to retry transient errors."""
