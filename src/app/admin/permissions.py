from app.core.permissions import Permission

ACCESS = Permission(
    "admin.access",
    "Sign in to the admin panel (/admin) and manage what its views show (users, posts, ...)",
)
