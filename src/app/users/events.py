"""What users publish (core/events.py), whoever made the change: the API, the admin panel or
the CLI. Other domains react in their own `Domain(handlers=...)`: auth ends a deleted
account's sessions, domains with pages filed under a username forget them
(`forget_pages("{username}_posts:*", on=(UserDeleted, UserRenamed, ...))`).

`username` is always the name the user's cached pages were filed under: for a rename, the
old one.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.events import Event


@dataclass(frozen=True, slots=True)
class UserDeleted(Event):
    """The account was soft-deleted (by its owner, or by an admin): it signs in no more, and
    what it owns is no longer shown."""

    user_id: int
    username: str


@dataclass(frozen=True, slots=True)
class UserRestored(Event):
    """A soft-deleted account is active again (an admin restored it)."""

    user_id: int
    username: str


@dataclass(frozen=True, slots=True)
class UserRenamed(Event):
    """The account's username changed from `username` to `new_username`: whatever was filed
    under the old name is gone from there."""

    user_id: int
    username: str
    new_username: str


@dataclass(frozen=True, slots=True)
class UserPurged(Event):
    """The user's row is gone from the database, and with it (ON DELETE CASCADE) every row
    that referenced it. Handlers run after the delete, in its transaction."""

    user_id: int
    username: str
