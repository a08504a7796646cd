"""Sending mail without losing it, and without a request waiting for SMTP.

Every `Mail` a domain publishes (core/messages.py) reaches `put_in_outbox`, which writes it
into the outbox in the publisher's transaction and, once that commits, enqueues `send_mail`
for it. The job claims the message, hands it to the sender and
deletes it; a failure that may pass (the server unreachable, a 4xx answer) is tried again with
backoff. `resend_unsent_mail`, run every minute by cron, enqueues again whatever is still
waiting: a message whose enqueue failed (the queue was down) or whose job ran out of tries.
A message is therefore sent at least once; it is sent twice only when a sender dies between
the server's acceptance and the deletion.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

from arq.worker import Retry

from app.core.db import Db, unit_of_work, utcnow
from app.core.errors import AppError
from app.core.events import EventContext
from app.core.messages import Mail
from app.mail.models import OutboxMail
from app.mail.repository import OutboxRepository
from app.mail.senders import SENDER, DeliveryError, compose
from app.mail.settings import MailSettings
from app.platform.queue.jobs import CRON_OWNER, JobContext, JobQueue, new_job_id
from app.platform.queue.retry import last_try, retry_delay

logger = logging.getLogger("app.mail")

# A message younger than this is left to the job its request enqueued.
RESEND_AFTER = timedelta(seconds=60)
RESEND_BATCH = 500


def claim_seconds(settings: MailSettings) -> float:
    """How long one try may hold a message: connecting, each SMTP command, and a margin."""
    return 4 * settings.SMTP_TIMEOUT_SECONDS + 30


async def put_in_outbox(context: EventContext, mail: Mail) -> None:
    """The handler of every published `Mail`."""
    queue_mail(context.db, context.resources.queue, mail)


def queue_mail(db: Db, queue: JobQueue, mail: Mail) -> None:
    """Put `mail` in the outbox, in the unit of work's transaction; once it commits, enqueue
    its sending. A queue that cannot be reached then is logged, not raised: the message waits
    in the outbox for `resend_unsent_mail`."""
    row = OutboxRepository(db).put(mail)
    db.after_commit(functools.partial(_enqueue, queue, row))


async def _enqueue(queue: JobQueue, row: OutboxMail) -> None:
    try:
        await queue.enqueue("send_mail", row.id, job_id=new_job_id(), owner=CRON_OWNER)
    except AppError:
        logger.warning("mail %s waits in the outbox: the job queue is unavailable", row.id)


async def send_mail(ctx: JobContext, outbox_id: int) -> str:
    """Send one message of the outbox; returns what happened (the job's result)."""
    resources = ctx["resources"]
    settings = resources.settings.feature(MailSettings)
    sender = resources.extensions.get(SENDER)
    if sender is None:
        raise RuntimeError("the mail sender is built with the resources: open them first")
    now = utcnow()
    async with unit_of_work(resources) as db:
        hold = timedelta(seconds=claim_seconds(settings))
        row = await OutboxRepository(db).claim(outbox_id, now, hold)
    if row is None:
        return "nothing to send"  # sent already, or another try holds it
    message = compose(
        Mail(row.recipient, row.subject, row.text_body, row.html_body),
        settings.MAIL_FROM,
    )
    try:
        await sender.send(message)
    except DeliveryError as exc:
        return await _failed(ctx, row, exc)
    async with unit_of_work(resources) as db:
        await OutboxRepository(db).remove(row.id)
    logger.info("mail %s sent (try %d)", row.id, row.attempts)
    return "sent"


async def _failed(ctx: JobContext, row: OutboxMail, exc: DeliveryError) -> str:
    now = utcnow()
    reason = str(exc)[:255]
    delay = retry_delay(row.attempts)
    if exc.permanent:
        values: dict[str, object] = {"failed_at": now, "locked_until": None, "last_error": reason}
        logger.error("mail %s refused for good, kept in the outbox: %s", row.id, reason)
    elif last_try(ctx):
        # The runner would not run this job again: `resend_unsent_mail` enqueues a new one
        # once the lock has lapsed and the message is old enough for it.
        values = {"locked_until": now + timedelta(seconds=delay), "last_error": reason}
        resend_from = max(now + timedelta(seconds=delay), row.created_at + RESEND_AFTER)
        logger.warning(
            "mail %s try %d failed (%s); its job has no tries left: it waits in the outbox, "
            "and resend_unsent_mail (every minute) enqueues it again at its first run after "
            "%s UTC",
            row.id,
            row.attempts,
            reason,
            f"{resend_from:%H:%M:%S}",
        )
    else:
        values = {"locked_until": now + timedelta(seconds=delay), "last_error": reason}
        logger.warning(
            "mail %s try %d failed (%s); trying again in %.0f s",
            row.id,
            row.attempts,
            reason,
            delay,
        )
    async with unit_of_work(ctx["resources"]) as db:
        await OutboxRepository(db).note(row.id, values)
    if exc.permanent:
        return "refused"
    if last_try(ctx):
        raise exc
    raise Retry(defer=delay)


async def resend_unsent_mail(ctx: JobContext) -> int:
    """Enqueue every message still waiting whose claim has lapsed; returns how many."""
    now = utcnow()
    async with unit_of_work(ctx["resources"]) as db:
        ids = await OutboxRepository(db).waiting(now, now - RESEND_AFTER, RESEND_BATCH)
    queue = ctx["resources"].queue
    for outbox_id in ids:
        await queue.enqueue("send_mail", outbox_id, job_id=new_job_id(), owner=CRON_OWNER)
    return len(ids)
