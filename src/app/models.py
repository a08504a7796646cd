"""Every model, imported once so that Alembic sees the whole schema. Add new domains here."""

from app.auth.models import RevokedToken
from app.core.db import Base
from app.posts.models import Post
from app.tiers.models import RateLimit, Tier
from app.users.models import User

metadata = Base.metadata

__all__ = ["Post", "RateLimit", "RevokedToken", "Tier", "User", "metadata"]
