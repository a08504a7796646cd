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
    admin_views=(UserAdmin,),
)
