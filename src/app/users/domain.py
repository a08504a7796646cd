from pathlib import Path

from app.core.domain import Domain
from app.users.admin import UserAdmin
from app.users.models import User
from app.users.permissions import PURGE, READ_PRIVATE
from app.users.router import router

domain = Domain(
    name="users",
    router=router,
    models=(User,),
    permissions=(READ_PRIVATE, PURGE),
    migrations=Path(__file__).with_name("migrations"),
    admin_views=(UserAdmin,),
)
