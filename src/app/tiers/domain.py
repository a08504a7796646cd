from pathlib import Path

from app.core.domain import Domain
from app.tiers.admin import VIEWS
from app.tiers.commands import COMMANDS
from app.tiers.models import RateLimit, Tier
from app.tiers.permissions import MANAGE
from app.tiers.router import router

domain = Domain(
    name="tiers",
    router=router,
    models=(Tier, RateLimit),
    permissions=(MANAGE,),
    commands=COMMANDS,
    migrations=Path(__file__).with_name("migrations"),
    admin_views=VIEWS,
)
