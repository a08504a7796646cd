"""Mail: templates (`Templates`), senders (SMTP, console, file; `create_sender`), and the
outbox that sends through a job after the transaction commits (`queue_mail`).

    from app.core.mail import Templates, queue_mail
    queue_mail(session, queue, templates.render("welcome", to=user.email, name=user.name))
"""

from app.core.mail.message import Mail, Templates, compose
from app.core.mail.outbox import queue_mail
from app.core.mail.senders import DeliveryError, MailSender, create_sender

__all__ = [
    "DeliveryError",
    "Mail",
    "MailSender",
    "Templates",
    "compose",
    "create_sender",
    "queue_mail",
]
