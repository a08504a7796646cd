"""The admin panel at /admin (SQLAdmin), for holders of `admin.access`: its sign-in, its origin
check, and the views every installed domain declares (`Domain(admin_views=...)`: users,
posts, tiers and rate limits, roles, API keys). `app.admin.setup.install_admin` mounts it."""
