from pathlib import Path

from app.accounts.models import LinkToken
from app.accounts.router import router
from app.accounts.service import (
    open_verification,
    purge_link_tokens,
    resend_verification,
    retire_reset_links,
    start_password_reset,
)
from app.accounts.settings import AccountSettings
from app.auth.events import PasswordChanged
from app.core.domain import Domain
from app.core.events import Handler
from app.core.extensions import Extension
from app.platform.queue import CronJob
from app.users.verification import EMAIL_VERIFICATION

domain = Domain(
    name="accounts",
    router=router,
    models=(LinkToken,),
    jobs=(resend_verification, start_password_reset),
    cron_jobs=(CronJob(purge_link_tokens, name="purge_link_tokens_daily", hour=3, minute=40),),
    handlers=(Handler(PasswordChanged, retire_reset_links),),
    settings=AccountSettings,
    extensions=(Extension(EMAIL_VERIFICATION, open_verification),),
    migrations=Path(__file__).with_name("migrations"),
)
