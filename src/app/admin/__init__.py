"""The admin panel at /admin (SQLAdmin): the app's users, posts, tiers and rate limits, roles
and API keys, for holders of `admin.access`. `app.admin.setup.install_admin` mounts it."""
