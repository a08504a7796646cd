from app.core.permissions import Permission

MANAGE = Permission(
    "roles.manage", "Create, change and delete roles; give users the roles (of held permissions)"
)
