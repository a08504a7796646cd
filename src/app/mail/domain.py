from pathlib import Path

from app.core.domain import Domain
from app.core.events import Handler
from app.core.extensions import Extension
from app.core.messages import Mail
from app.mail.models import OutboxMail
from app.mail.outbox import put_in_outbox, resend_unsent_mail, send_mail
from app.mail.senders import SENDER, open_sender
from app.mail.settings import MailSettings
from app.platform.queue import CronJob

domain = Domain(
    name="mail",
    models=(OutboxMail,),
    jobs=(send_mail,),
    cron_jobs=(CronJob(resend_unsent_mail, name="resend_unsent_mail"),),
    handlers=(Handler(Mail, put_in_outbox),),
    settings=MailSettings,
    extensions=(Extension(SENDER, open_sender),),
    migrations=Path(__file__).with_name("migrations"),
)
