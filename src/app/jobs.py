"""Every job and cron job of every domain (from `app.domains`): the worker and the embedded
runner both run these."""

from __future__ import annotations

from app.domains import DOMAINS
from app.platform.queue import CronJob, JobFunction, job_functions

JOBS: tuple[JobFunction, ...] = tuple(job for domain in DOMAINS for job in domain.jobs)
CRON_JOBS: tuple[CronJob, ...] = tuple(cron for domain in DOMAINS for cron in domain.cron_jobs)

FUNCTIONS = job_functions(JOBS)
"""By name, each wrapped to retry transient errors."""
