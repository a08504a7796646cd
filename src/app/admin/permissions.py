from app.core.permissions import Permission

ACCESS = Permission(
    "admin.access",
    "Sign in to the admin panel (/admin) and manage users, posts, tiers, roles and API keys",
)
