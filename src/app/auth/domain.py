from app.auth.account import purge_auth_records, resend_verification, start_password_reset
from app.auth.dependencies import TOKENS
from app.auth.models import AuthSession, LinkToken
from app.auth.router import router
from app.core.domain import Domain
from app.core.queue import CronJob

domain = Domain(
    name="auth",
    router=router,
    models=(AuthSession, LinkToken),
    jobs=(resend_verification, start_password_reset),
    cron_jobs=(CronJob(purge_auth_records, name="purge_auth_records_daily", hour=3, minute=30),),
    authenticators=(TOKENS,),
)
