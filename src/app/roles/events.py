"""What roles publish (core/events.py). Every change of a role or of who holds it also bumps
the grants version (roles/repository.py), which is how cached permissions are read again; these
events are for domains that keep something derived from a user's permissions of their own."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.events import Event


@dataclass(frozen=True, slots=True)
class RolePermissionsChanged(Event):
    """The permissions the role grants changed: it was given others, or deleted (its
    holders lost them)."""

    role_id: int
    name: str


@dataclass(frozen=True, slots=True)
class UserRolesChanged(Event):
    """Roles were given to or taken from the user."""

    user_id: int
