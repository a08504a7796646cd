from app.core.permissions import Permission

MANAGE = Permission(
    "tiers.manage", "Create, change and delete tiers and rate limits; set users' tiers"
)
