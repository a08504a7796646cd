"""Rules for users: registration, visibility, who may change or delete an account."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.db import Db, integrity_error_as
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.events import publish
from app.core.pagination import PageParams, cursor_page, decode_cursor
from app.core.state import Resources
from app.platform.security import PasswordHasher
from app.users.events import UserDeleted, UserPurged, UserRenamed, UserRestored
from app.users.models import User
from app.users.repository import UserRepository
from app.users.schemas import (
    RESERVED_USERNAMES,
    UserAdminUpdate,
    UserCreate,
    UserRead,
    UserReadPrivate,
    UserUpdate,
)
from app.users.verification import EmailVerification

if TYPE_CHECKING:
    from sqlalchemy.exc import IntegrityError

USER_NOT_FOUND = "User not found"
RESERVED_PATH = "This username is reserved: it is a path of the API"
RESERVED_NAME = "This username is reserved"
SUPERUSERS_ONLY = "Only a superuser may delete or restore a superuser"


@dataclass(frozen=True, slots=True)
class ReservedUsernames:
    """The usernames that are refused, compared lower-cased: the words of the API's paths
    (`path_words`, from the app's routes at start-up: a user named `roles` would have their
    posts at `/roles/posts`, where the roles API answers) and `names`.

    Registration and renames through the API refuse both. Operators' tools (the CLI's
    create-superuser, the admin panel) give no `names`: they may choose `admin`, never a path.
    """

    path_words: frozenset[str]
    names: frozenset[str] = RESERVED_USERNAMES

    def reason(self, username: str) -> str | None:
        """Why `username` is refused, or None when it is not reserved."""
        name = username.lower()
        if name in self.path_words:
            return RESERVED_PATH
        if name in self.names:
            return RESERVED_NAME
        return None

    def check(self, username: str) -> None:
        """A 422 at the body's `username` when it is reserved."""
        reason = self.reason(username)
        if reason is not None:
            raise Unprocessable(reason, ("body", "username"))


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who looks at users: their own id, and whether they may see everyone's private fields
    (`users.read_private`)."""

    id: int
    sees_private: bool = False


def present(row: Mapping[str, Any], viewer: Viewer | None) -> UserRead | UserReadPrivate:
    """The view of a user (a row of PRIVATE_COLUMNS) that `viewer` may see: private fields
    only for that user or a holder of `users.read_private`."""
    data = dict(row)
    if viewer is not None and (viewer.id == data["id"] or viewer.sees_private):
        return UserReadPrivate.model_validate(data)
    return UserRead.model_validate(data)


def _conflict_from(exc: IntegrityError) -> Conflict:
    message = str(exc.orig).lower()
    if "email" in message:
        return Conflict("Email is already registered")
    if "username" in message:
        return Conflict("Username is already taken")
    return Conflict("The user conflicts with an existing one")


async def _check_free(repo: UserRepository, username: str | None, email: str | None) -> None:
    if username is not None and await repo.username_taken(username):
        raise Conflict("Username is already taken")
    if email is not None and await repo.email_taken(email):
        raise Conflict("Email is already registered")


async def register(
    db: Db,
    hasher: PasswordHasher,
    data: UserCreate,
    *,
    is_superuser: bool = False,
    email_verified: bool = False,
    verification: EmailVerification | None = None,
    reserved: ReservedUsernames | None = None,
) -> User:
    """Create the account; with `verification`, what verifies its address is sent once the
    transaction commits. A username in `reserved` is refused (422)."""
    if reserved is not None:
        reserved.check(data.username)
    repo = UserRepository(db)
    await _check_free(repo, data.username, data.email)
    user = User(
        name=data.name,
        username=data.username,
        email=data.email,
        hashed_password=await hasher.hash(data.password),
        is_superuser=is_superuser,
        email_verified=email_verified,
    )
    with integrity_error_as(_conflict_from):
        await repo.add(user)
    if verification is not None:
        await verification.registered(db, user)
    return user


async def read_user(db: Db, username: str, viewer: Viewer | None) -> UserRead | UserReadPrivate:
    """An active user by username, as `viewer` may see them."""
    row = await UserRepository(db).read(username)
    if row is None:
        raise NotFound(USER_NOT_FOUND)
    return present(row, viewer)


async def list_users(db: Db, page: PageParams, viewer: Viewer | None) -> dict[str, Any]:
    rows, total = await UserRepository(db).page(page.offset, page.items_per_page)
    return page.respond([present(row, viewer) for row in rows], total)


async def list_users_by_cursor(
    db: Db, cursor: str | None, limit: int, viewer: Viewer | None
) -> dict[str, Any]:
    after = decode_cursor(cursor) if cursor else 0
    rows = await UserRepository(db).after(after, limit + 1)
    return cursor_page([present(row, viewer) for row in rows], limit, lambda u: u.id)


async def require_user(db: Db, username: str) -> None:
    """The 404 of an unknown or deleted user (for a read of what they own that found
    nothing: no such user, or nothing of theirs)."""
    if await UserRepository(db).read(username) is None:
        raise NotFound(USER_NOT_FOUND)


async def get_user(db: Db, username: str, *, lock: bool = False) -> User:
    user = await UserRepository(db).get_by_username(username, lock=lock)
    if user is None:
        raise NotFound(USER_NOT_FOUND)
    return user


async def _own_account(db: Db, actor: UserReadPrivate, username: str) -> User:
    user = await get_user(db, username)
    if user.id != actor.id:
        raise Forbidden("You can only change your own account")
    return user


async def update_user(
    db: Db,
    resources: Resources,
    actor: UserReadPrivate,
    username: str,
    data: UserUpdate,
    verification: EmailVerification | None = None,
    reserved: ReservedUsernames | None = None,
) -> User:
    """Change the caller's own account; a new username publishes `UserRenamed`, so the pages
    of the old one go. A new username in `reserved` is refused (422); keeping a reserved one
    the account already has is not a change.

    With `verification` (users/verification.py), the feature decides when a new email becomes
    the account's; without, it replaces the old one at once, unverified."""
    if reserved is not None and data.username is not None and data.username != username:
        reserved.check(data.username)
    user = await _own_account(db, actor, username)
    changes = data.changes()
    new_email = changes.pop("email", None)
    if new_email is not None and verification is not None:
        await verification.change_email(db, user, str(new_email))
    elif new_email is not None and new_email != user.email:
        changes.update(email=new_email, email_verified=False, pending_email=None)
    repo = UserRepository(db)
    await _check_free(
        repo,
        data.username if data.username not in (None, user.username) else None,
        data.email if data.email not in (None, user.email) else None,
    )
    for field, value in changes.items():
        setattr(user, field, value)
    with integrity_error_as(_conflict_from):
        await repo.flush()
    if user.username != username:
        await publish(db, resources, UserRenamed(user.id, username, user.username))
    return user


async def _soft_delete(db: Db, resources: Resources, user: User) -> None:
    user.soft_delete()
    await UserRepository(db).flush()
    await publish(db, resources, UserDeleted(user.id, user.username))


async def delete_user(db: Db, resources: Resources, actor: UserReadPrivate, username: str) -> None:
    """Soft delete of the caller's own account. Its tokens stop working at once (token checks
    need an active user); `UserDeleted` ends its sessions (auth) and revokes its API keys, in
    this transaction, and its cached pages, in every domain, go once the deletion commits."""
    user = await _own_account(db, actor, username)
    await _soft_delete(db, resources, user)


async def hard_delete_user(db: Db, resources: Resources, username: str) -> None:
    """Remove the user row and, through ON DELETE CASCADE, everything the user owns; then
    `UserPurged`."""
    repo = UserRepository(db)
    user = await repo.get_by_username(username, include_deleted=True)
    if user is None:
        raise NotFound(USER_NOT_FOUND)
    user_id = user.id
    await repo.delete(user)
    await publish(db, resources, UserPurged(user_id, username))


# --- operators' tools (the admin panel): any account, by id ---------------------------------


def _may_manage(user: User, by_superuser: bool, refusal: str = SUPERUSERS_ONLY) -> None:
    if user.is_superuser and not by_superuser:
        raise Forbidden(refusal)


async def edit_user(
    db: Db,
    resources: Resources,
    user_id: int,
    data: UserAdminUpdate,
    *,
    by_superuser: bool,
) -> User:
    """An operator's change of any account, deleted ones too. The same rules as the owner's
    own (free username and email; a rename publishes `UserRenamed`), and more: a new username
    may be a reserved name (`admin`) but never a word of the API's paths; only a superuser
    may change a superuser, or make or unmake one. A changed email replaces the old one at
    once, as the operator set it (a pending change is dropped)."""
    repo = UserRepository(db)
    user = await repo.get_by_id(user_id)
    if user is None:
        raise NotFound(USER_NOT_FOUND)
    # An admin who could change a superuser's email could reset their password.
    _may_manage(user, by_superuser, "Only a superuser may change a superuser")
    if data.is_superuser != user.is_superuser and not by_superuser:
        raise Forbidden("Only a superuser may make or unmake superusers")
    old_username = user.username
    if data.username != old_username:
        ReservedUsernames(resources.path_words, names=frozenset()).check(data.username)
    await _check_free(
        repo,
        data.username if data.username != old_username else None,
        data.email if data.email != user.email else None,
    )
    if data.email != user.email:
        user.pending_email = None
    for field, value in data.model_dump().items():
        setattr(user, field, value)
    with integrity_error_as(_conflict_from):
        await repo.flush()
    if user.username != old_username:
        await publish(db, resources, UserRenamed(user.id, old_username, user.username))
    return user


async def delete_users(
    db: Db, resources: Resources, user_ids: Sequence[int], *, by_superuser: bool
) -> int:
    """Soft-delete the live accounts among `user_ids` as `delete_user` does its own (their
    sessions end); only a superuser may delete a superuser. Returns how many."""
    users = await UserRepository(db).by_ids(user_ids, deleted=False)
    for user in users:
        _may_manage(user, by_superuser)
    for user in users:
        await _soft_delete(db, resources, user)
    return len(users)


async def restore_users(
    db: Db, resources: Resources, user_ids: Sequence[int], *, by_superuser: bool
) -> int:
    """Make the deleted accounts among `user_ids` active again (`UserRestored`); only a
    superuser may restore a superuser. Their sessions stay ended: they sign in anew. Returns
    how many."""
    users = await UserRepository(db).by_ids(user_ids, deleted=True)
    for user in users:
        _may_manage(user, by_superuser)
    for user in users:
        user.is_deleted, user.deleted_at = False, None
    await UserRepository(db).flush()
    for user in users:
        await publish(db, resources, UserRestored(user.id, user.username))
    return len(users)
