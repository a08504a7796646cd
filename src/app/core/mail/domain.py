from pathlib import Path

from app.core.domain import Domain
from app.core.mail.models import OutboxMail
from app.core.mail.outbox import resend_unsent_mail, send_mail
from app.core.queue import CronJob

domain = Domain(
    name="mail",
    models=(OutboxMail,),
    jobs=(send_mail,),
    cron_jobs=(CronJob(resend_unsent_mail, name="resend_unsent_mail"),),
    migrations=Path(__file__).with_name("migrations"),
)
