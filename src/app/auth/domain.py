from pathlib import Path

from app.auth.account import purge_auth_records
from app.auth.dependencies import TOKENS
from app.auth.events import HANDLERS
from app.auth.models import AuthSession
from app.auth.router import router
from app.core.domain import Domain
from app.platform.queue import CronJob

domain = Domain(
    name="auth",
    router=router,
    models=(AuthSession,),
    cron_jobs=(CronJob(purge_auth_records, name="purge_auth_records_daily", hour=3, minute=30),),
    migrations=Path(__file__).with_name("migrations"),
    handlers=HANDLERS,
    authenticators=(TOKENS,),
)
