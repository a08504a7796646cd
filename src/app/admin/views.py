"""The panel's views: what each model shows, and how a change is written.

SQLAdmin reads (lists, details, forms) on the app's engine. Every write goes through
`transaction()` and, where the API has one, the domain's own service, so the panel keeps the
API's rules: fields validated by the API's schemas, a role's permissions checked against the
declared ones (and the actor's own) with the grants version bumped in the same transaction,
a tier's rate-limit rules forgotten, and cached pages invalidated once the change commits.
Nothing is deleted for good: users and posts are soft deleted (and restored) by actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError
from sqladmin import ModelView, action
from sqladmin.formatters import BASE_FORMATTERS
from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from wtforms import SelectMultipleField  # type: ignore[import-untyped]

from app.admin.auth import AdminContext, context_of
from app.api_keys.models import ApiKey
from app.api_keys.repository import ApiKeyRepository
from app.auth.repository import SessionRepository
from app.core import permissions
from app.core.cache.decorator import fill, invalidate_after_commit
from app.core.db import integrity_error_as, transaction
from app.core.errors import Forbidden, NotFound
from app.posts.models import Post
from app.posts.router import LIST_PATTERN, POST_KEY
from app.posts.schemas import PostUpdate
from app.roles import service as roles
from app.roles.models import Role
from app.roles.schemas import RoleCreate, RoleUpdate
from app.tiers import service as tiers
from app.tiers.models import RateLimit, Tier, UserTier
from app.tiers.rules import RulesCache
from app.tiers.schemas import RateLimitCreate, RateLimitUpdate, TierCreate, TierUpdate
from app.users.models import User
from app.users.schemas import UserUpdate
from app.users.service import ReservedUsernames

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# An action applies to at most this many selected rows.
MAX_SELECTED = 100
# The largest id (the id columns are 32-bit integers).
MAX_ID = 2**31 - 1


def validated(schema: type[M], **values: Any) -> M:
    """The form's values as the API's schema accepts them; else a ValueError that the form
    shows: the first reason per field."""
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        reasons: dict[str, str] = {}
        for error in exc.errors(include_url=False, include_input=False):
            # An optional field's "or None" branch says nothing useful.
            if error["type"] != "none_required":
                field = str(error["loc"][0]) if error["loc"] else "form"
                reasons.setdefault(field, error["msg"])
        raise ValueError("; ".join(f"{f}: {m}" for f, m in reasons.items())) from None


def _row_id(text: str) -> int | None:
    """A primary key as the URL gives it: an integer within the columns' range, else None."""
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def _as_id(pk: Any) -> int:
    found = _row_id(str(pk))
    if found is None:
        raise NotFound()
    return found


def selected_ids(request: Request) -> list[int]:
    """The rows an action was asked for (`?pks=1,2,3`), at most MAX_SELECTED."""
    parts = request.query_params.get("pks", "").split(",")[:MAX_SELECTED]
    return [found for part in parts if (found := _row_id(part)) is not None]


async def _get(session: AsyncSession, model: type[T], pk: Any) -> T:
    found = await session.get(model, _as_id(pk))
    if found is None:
        raise NotFound()
    return found


def _back_to_list(request: Request, view: ModelView) -> Response:
    return RedirectResponse(request.url_for("admin:list", identity=view.identity), 302)


def _names(model: Any, attribute: str) -> str:
    return ", ".join(getattr(model, attribute) or ())


def _rules(context: AdminContext) -> RulesCache:
    return RulesCache(context.resources.cache, context.resources.rate_limiter)


def _timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


class AppView(ModelView):
    """What every view shares: timestamps to the second (UTC), and no export (an export is
    every row at once)."""

    can_export = False
    column_type_formatters: ClassVar[dict[type, Any]] = {**BASE_FORMATTERS, datetime: _timestamp}

    def _stmt_by_identifier(self, identifier: str) -> Select[Any]:
        """The row of an id in the URL (every model here has an integer `id`): an id that no
        row can have finds none, a 404 rather than SQLAdmin's 500."""
        found = _row_id(identifier)
        condition = self.pk_columns[0] == found if found is not None else false()
        return select(self.model).where(condition)


class UserAdmin(AppView, model=User):
    name = "User"
    name_plural = "Users"
    icon = "fa-solid fa-user"
    column_list = (
        User.id,
        User.username,
        User.name,
        User.email,
        User.email_verified,
        User.is_superuser,
        User.is_deleted,
        User.created_at,
    )
    # Never the password hash.
    column_details_list = (
        *column_list,
        User.pending_email,
        User.profile_image_url,
        User.updated_at,
        User.deleted_at,
    )
    column_searchable_list = (User.username, User.email)
    column_sortable_list = (User.id, User.username, User.email, User.created_at)
    form_columns = (
        User.name,
        User.username,
        User.email,
        User.email_verified,
        User.is_superuser,
    )
    can_create = False
    can_delete = False

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> Any:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            user = await _get(session, User, pk)
            checked = validated(
                UserUpdate, name=data["name"], username=data["username"], email=data["email"]
            )
            # An operator may choose a reserved name (`admin`), never a word of the paths.
            reserved = ReservedUsernames(context.resources.path_words, names=frozenset())
            if checked.username != user.username and (
                reason := reserved.reason(str(checked.username))
            ):
                raise ValueError(f"username: {reason}")
            superuser = bool(data["is_superuser"])
            if superuser != user.is_superuser and not context.caller.user.is_superuser:
                raise Forbidden("Only a superuser may make or unmake superusers")
            old_username = user.username
            if checked.email != user.email:
                user.pending_email = None
            user.name = str(checked.name)
            user.username = str(checked.username)
            user.email = str(checked.email)
            user.email_verified = bool(data["email_verified"])
            user.is_superuser = superuser
            with integrity_error_as("Username or email is already taken"):
                await session.flush()
            for username in {old_username, user.username}:
                context.resources.user_pages.forget(session, username=username)
        return user

    async def _set_deleted(self, request: Request, deleted: bool) -> Response:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            users = (
                await session.scalars(
                    select(User).where(
                        User.id.in_(selected_ids(request)), User.is_deleted != deleted
                    )
                )
            ).all()
            for user in users:
                if user.is_superuser and not context.caller.user.is_superuser:
                    raise Forbidden("Only a superuser may delete or restore a superuser")
                if deleted:
                    # As DELETE /user/{username} does; and the user's sessions end, so that
                    # a restore does not bring them back.
                    user.soft_delete()
                    await SessionRepository(session).revoke_all(user.id)
                else:
                    user.is_deleted, user.deleted_at = False, None
                context.resources.user_pages.forget(session, username=user.username)
        return _back_to_list(request, self)

    @action(
        "soft-delete",
        "Soft delete",
        "Soft delete the selected users? They are signed out and can no longer sign in.",
    )
    async def soft_delete(self, request: Request) -> Response:
        return await self._set_deleted(request, True)

    @action("restore", "Restore", "Restore the selected users?")
    async def restore(self, request: Request) -> Response:
        return await self._set_deleted(request, False)


def _forget_post(session: AsyncSession, context: AdminContext, username: str, post: Post) -> None:
    """The post's cached page and its author's cached lists, once the change commits (the
    keys posts/router.py's @cache stores them under)."""
    values = {"username": username}
    invalidate_after_commit(
        session,
        context.resources.cache,
        [f"{fill(POST_KEY, values)}:{post.id}"],
        [fill(LIST_PATTERN, values, glob_safe=True)],
    )


async def _author(session: AsyncSession, post: Post) -> str:
    username = await session.scalar(select(User.username).where(User.id == post.created_by_user_id))
    return username or ""


class PostAdmin(AppView, model=Post):
    name = "Post"
    name_plural = "Posts"
    icon = "fa-solid fa-newspaper"
    column_list = (
        Post.id,
        Post.created_by_user_id,
        Post.title,
        Post.is_deleted,
        Post.created_at,
        Post.updated_at,
    )
    column_labels: ClassVar[dict[Any, str]] = {Post.created_by_user_id: "author id"}
    column_searchable_list = (Post.title,)
    column_sortable_list = (Post.id, Post.created_at)
    column_default_sort = (Post.id, True)
    form_columns = (Post.title, Post.text, Post.media_url)
    can_create = False
    can_delete = False

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> Any:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            post = await _get(session, Post, pk)
            checked = validated(
                PostUpdate,
                title=data["title"],
                text=data["text"],
                media_url=data.get("media_url") or None,
            )
            for field, value in checked.changes().items():
                setattr(post, field, value)
            await session.flush()
            _forget_post(session, context, await _author(session, post), post)
        return post

    async def _set_deleted(self, request: Request, deleted: bool) -> Response:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            posts = (
                await session.scalars(
                    select(Post).where(
                        Post.id.in_(selected_ids(request)), Post.is_deleted != deleted
                    )
                )
            ).all()
            for post in posts:
                if deleted:
                    post.soft_delete()
                else:
                    post.is_deleted, post.deleted_at = False, None
                _forget_post(session, context, await _author(session, post), post)
        return _back_to_list(request, self)

    @action("soft-delete", "Soft delete", "Soft delete the selected posts?")
    async def soft_delete(self, request: Request) -> Response:
        return await self._set_deleted(request, True)

    @action("restore", "Restore", "Restore the selected posts?")
    async def restore(self, request: Request) -> Response:
        return await self._set_deleted(request, False)


class TierAdmin(AppView, model=Tier):
    name = "Tier"
    name_plural = "Tiers"
    icon = "fa-solid fa-layer-group"
    category = "Limits"
    column_list = (Tier.id, Tier.name, Tier.created_at, Tier.updated_at)
    column_searchable_list = (Tier.name,)
    form_columns = (Tier.name,)

    async def insert_model(self, request: Request, data: dict[Any, Any]) -> Any:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            return await tiers.create_tier(session, validated(TierCreate, name=data["name"]))

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> Any:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            tier = await _get(session, Tier, pk)
            return await tiers.update_tier(
                session, tier.name, validated(TierUpdate, name=data["name"])
            )

    async def delete_model(self, request: Request, pk: Any) -> None:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            tier = await _get(session, Tier, pk)
            await tiers.delete_tier(session, _rules(context), tier.name)


class RateLimitAdmin(AppView, model=RateLimit):
    name = "Rate limit"
    name_plural = "Rate limits"
    icon = "fa-solid fa-gauge"
    category = "Limits"
    column_list = (
        RateLimit.id,
        RateLimit.tier_id,
        RateLimit.name,
        RateLimit.path,
        RateLimit.limit,
        RateLimit.period,
    )
    column_labels: ClassVar[dict[Any, str]] = {
        RateLimit.tier_id: "tier",
        RateLimit.period: "period (s)",
    }
    column_searchable_list = (RateLimit.name, RateLimit.path)
    form_columns = (
        RateLimit.tier_id,
        RateLimit.name,
        RateLimit.path,
        RateLimit.limit,
        RateLimit.period,
    )
    # For the tier id (a foreign key), chosen when the limit is created.
    form_include_pk = True
    form_edit_rules: ClassVar[list[str]] = ["name", "path", "limit", "period"]

    @staticmethod
    def _fields(data: dict[Any, Any]) -> dict[str, Any]:
        return {key: data.get(key) for key in ("name", "path", "limit", "period")}

    async def insert_model(self, request: Request, data: dict[Any, Any]) -> Any:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            tier = await _get(session, Tier, data.get("tier_id"))
            checked = validated(RateLimitCreate, **self._fields(data))
            return await tiers.create_rate_limit(session, _rules(context), tier.name, checked)

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> Any:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            rate_limit = await _get(session, RateLimit, pk)
            tier = await _get(session, Tier, rate_limit.tier_id)
            checked = validated(RateLimitUpdate, **self._fields(data))
            return await tiers.update_rate_limit(
                session, _rules(context), tier.name, rate_limit.id, checked
            )

    async def delete_model(self, request: Request, pk: Any) -> None:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            rate_limit = await _get(session, RateLimit, pk)
            tier = await _get(session, Tier, rate_limit.tier_id)
            await tiers.delete_rate_limit(session, _rules(context), tier.name, rate_limit.id)


class UserTierAdmin(AppView, model=UserTier):
    name = "User tier"
    name_plural = "User tiers"
    icon = "fa-solid fa-user-tag"
    category = "Limits"
    column_list = (UserTier.user_id, UserTier.tier_id)
    column_labels: ClassVar[dict[Any, str]] = {UserTier.user_id: "user", UserTier.tier_id: "tier"}
    form_columns = (UserTier.user_id, UserTier.tier_id)
    # For the user id (the primary key), chosen when the tier is given.
    form_include_pk = True
    form_edit_rules: ClassVar[list[str]] = ["tier_id"]

    async def _assign(self, request: Request, user_id: Any, tier_id: Any) -> Any:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            user = await _get(session, User, user_id)
            tier = await _get(session, Tier, tier_id)
            await tiers.set_user_tier(session, user.username, tier.id)
            return await _get(session, UserTier, user.id)

    async def insert_model(self, request: Request, data: dict[Any, Any]) -> Any:
        return await self._assign(request, data.get("user_id"), data.get("tier_id"))

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> Any:
        return await self._assign(request, pk, data.get("tier_id"))

    async def delete_model(self, request: Request, pk: Any) -> None:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            user = await _get(session, User, pk)
            await tiers.remove_user_tier(session, user.username)


def _permission_choices() -> list[tuple[str, str]]:
    return [(p.name, f"{p.name}: {p.description}") for p in permissions.registered()]


class RoleAdmin(AppView, model=Role):
    name = "Role"
    name_plural = "Roles"
    icon = "fa-solid fa-user-shield"
    column_list = (Role.id, Role.name, Role.description, Role.permissions, Role.updated_at)
    column_details_list = (*column_list, Role.created_at)
    column_formatters: ClassVar[dict[Any, Any]] = {Role.permissions: _names}
    column_formatters_detail: ClassVar[dict[Any, Any]] = {Role.permissions: _names}
    column_searchable_list = (Role.name,)
    form_columns = (Role.name, Role.description, Role.permissions)
    # One choice per declared permission: a name nobody declares cannot be chosen.
    form_overrides: ClassVar[dict[str, Any]] = {"permissions": SelectMultipleField}
    form_args: ClassVar[dict[str, dict[str, Any]]] = {
        "permissions": {"choices": _permission_choices, "render_kw": {"size": 12}}
    }

    @staticmethod
    async def _held(context: AdminContext) -> frozenset[str]:
        return await context.caller.permissions()

    @staticmethod
    def _fields(data: dict[Any, Any]) -> dict[str, Any]:
        chosen: Sequence[str] = data.get("permissions") or []
        return {
            "name": data.get("name"),
            "description": data.get("description") or "",
            "permissions": list(chosen),
        }

    async def insert_model(self, request: Request, data: dict[Any, Any]) -> Any:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            checked = validated(RoleCreate, **self._fields(data))
            return await roles.create_role(session, await self._held(context), checked)

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> Any:
        """Through roles.service: the names checked against the declared permissions and the
        actor's own, and the grants version bumped in the same transaction, so every holder's
        permissions change at once."""
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            role = await _get(session, Role, pk)
            checked = validated(RoleUpdate, **self._fields(data))
            return await roles.update_role(session, await self._held(context), role.name, checked)

    async def delete_model(self, request: Request, pk: Any) -> None:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            role = await _get(session, Role, pk)
            await roles.delete_role(session, await self._held(context), role.name)


class ApiKeyAdmin(AppView, model=ApiKey):
    name = "API key"
    name_plural = "API keys"
    icon = "fa-solid fa-key"
    # Never the secret's hash.
    column_list = (
        ApiKey.id,
        ApiKey.user_id,
        ApiKey.name,
        ApiKey.prefix,
        ApiKey.permissions,
        ApiKey.created_at,
        ApiKey.expires_at,
        ApiKey.last_used_at,
        ApiKey.revoked_at,
    )
    column_details_list = column_list
    column_labels: ClassVar[dict[Any, str]] = {ApiKey.user_id: "owner id"}
    column_formatters: ClassVar[dict[Any, Any]] = {ApiKey.permissions: _names}
    column_formatters_detail: ClassVar[dict[Any, Any]] = {ApiKey.permissions: _names}
    column_searchable_list = (ApiKey.name, ApiKey.prefix)
    column_default_sort = (ApiKey.id, True)
    can_create = False
    can_edit = False
    can_delete = False

    @action("revoke", "Revoke", "Revoke the selected API keys? They stop working at once.")
    async def revoke(self, request: Request) -> Response:
        context = context_of(request)
        async with transaction(context.resources.sessionmaker) as session:
            chosen = select(ApiKey).where(ApiKey.id.in_(selected_ids(request)))
            keys = (await session.scalars(chosen)).all()
            repository = ApiKeyRepository(session)
            for key in keys:
                await repository.revoke(key.user_id, key.id)
        return _back_to_list(request, self)


VIEWS: tuple[type[ModelView], ...] = (
    UserAdmin,
    PostAdmin,
    RoleAdmin,
    ApiKeyAdmin,
    TierAdmin,
    RateLimitAdmin,
    UserTierAdmin,
)
