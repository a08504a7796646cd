from app.core.domain import Domain
from app.core.identity import PermissionSource
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
    # What users hold: their roles' permissions, cached under the grants version.
    permission_source=PermissionSource(load_permissions, GRANTS_VERSION),
)
