from pathlib import Path

from app.core.domain import Domain
from app.core.identity import PermissionSource
from app.roles.admin import RoleAdmin
from app.roles.commands import COMMANDS
from app.roles.models import GrantsVersion, Role, UserRole
from app.roles.permissions import MANAGE
from app.roles.repository import GRANTS_VERSION, load_permissions
from app.roles.router import router

domain = Domain(
    name="roles",
    router=router,
    models=(Role, UserRole, GrantsVersion),
    permissions=(MANAGE,),
    commands=COMMANDS,
    migrations=Path(__file__).with_name("migrations"),
    admin_views=(RoleAdmin,),
    # What users hold: their roles' permissions, cached under the grants version.
    permission_source=PermissionSource(load_permissions, GRANTS_VERSION),
)
