from app.core.domain import Domain
from app.tiers.commands import COMMANDS
from app.tiers.limits import limit_request
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
    caller_columns=(CALLER_TIER,),
    rate_limit_source=limit_request,
)
