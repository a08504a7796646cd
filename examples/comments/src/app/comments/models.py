from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, IdMixin, TimestampMixin


class Comment(IdMixin, TimestampMixin, Base):
    __tablename__ = "comments"
    __table_args__ = (
        # A post's comments oldest first: the page and its count walk this index.
        Index("ix_comments_post_id_id", "post_id", "id"),
    )

    # A comment goes with its post (a purge of the post, or of the post's author).
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    # SET NULL, not CASCADE: when its writer's row is purged, the comment stays, ownerless,
    # until the purge's handler has read which pages showed it, then goes (events.py).
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
