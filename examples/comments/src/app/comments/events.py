"""What comments publish, whoever made the change: the API or the admin panel. Comments
forget a post's cached pages on them (domain.py).

`username` is the post's author's: the name the post's pages are filed under.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.events import Event


@dataclass(frozen=True, slots=True)
class CommentAdded(Event):
    """A comment was written on the post."""

    comment_id: int
    post_id: int
    username: str


@dataclass(frozen=True, slots=True)
class CommentDeleted(Event):
    """A comment was deleted (by its writer, a holder of `comments.delete_any`, or an
    admin)."""

    comment_id: int
    post_id: int
    username: str
