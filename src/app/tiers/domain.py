from pathlib import Path

from app.auth.limits import LIMIT_SOURCE
from app.core.domain import Domain
from app.core.extensions import Extension
from app.tiers.admin import VIEWS
from app.tiers.commands import COMMANDS
from app.tiers.events import HANDLERS
from app.tiers.limits import TierLimits
from app.tiers.models import RateLimit, Tier, UserTier
from app.tiers.permissions import MANAGE
from app.tiers.repository import CALLER_TIER
from app.tiers.router import router
from app.tiers.settings import TierSettings

domain = Domain(
    name="tiers",
    router=router,
    models=(Tier, RateLimit, UserTier),
    permissions=(MANAGE,),
    settings=TierSettings,
    commands=COMMANDS,
    migrations=Path(__file__).with_name("migrations"),
    admin_views=VIEWS,
    handlers=HANDLERS,
    # The caller's tier comes with them, in the credential check's one statement...
    caller_columns=(CALLER_TIER,),
    # ... for the limits of the routes that ask for them (`RATE_LIMITED`).
    extensions=(Extension(LIMIT_SOURCE, TierLimits),),
)
