"""What posts publish (core/events.py), whoever made the change: the API or the admin panel.
Posts itself forgets its cached pages on them (posts/domain.py), and so can a domain whose
pages show a post: comments on posts (examples/comments) declares
`forget_pages("{username}_comments:post_{post_id}:*", on=(PostDeleted, PostPurged))`.

`username` is the author's: the name the post's pages are filed under.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.events import Event


@dataclass(frozen=True, slots=True)
class PostUpdated(Event):
    """The post's title, text or media changed (by its author, or by an admin)."""

    post_id: int
    author_id: int
    username: str


@dataclass(frozen=True, slots=True)
class PostDeleted(Event):
    """The post was soft-deleted (by its author, a holder of `posts.delete_any`, or an
    admin): it is no longer shown."""

    post_id: int
    author_id: int
    username: str


@dataclass(frozen=True, slots=True)
class PostRestored(Event):
    """A soft-deleted post is shown again (an admin restored it)."""

    post_id: int
    author_id: int
    username: str


@dataclass(frozen=True, slots=True)
class PostPurged(Event):
    """The post's row is gone from the database (`DELETE /{username}/db_post/{id}`), and
    with it every row that referenced it. The daily purge of posts deleted long ago publishes
    nothing: their pages went when they were deleted."""

    post_id: int
    author_id: int
    username: str
