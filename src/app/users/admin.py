"""The admin panel's view of users: edited, soft-deleted and restored through users.service,
so the panel keeps the API's rules and publishes its events: a deleted account's sessions
end and its cached pages go, exactly as when its owner deletes it."""

from __future__ import annotations

from typing import Any

from sqladmin import action
from starlette.requests import Request
from starlette.responses import Response

from app.core.admin import (
    AdminView,
    admin_context,
    back_to_list,
    field_errors,
    row_id,
    selected_ids,
    validated,
)
from app.core.db import unit_of_work
from app.users import service
from app.users.models import User
from app.users.schemas import UserAdminUpdate


class UserAdmin(AdminView, model=User):
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

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> User:
        context = admin_context(request)
        changes = validated(
            UserAdminUpdate,
            name=data["name"],
            username=data["username"],
            email=data["email"],
            email_verified=bool(data["email_verified"]),
            is_superuser=bool(data["is_superuser"]),
        )
        with field_errors():
            async with unit_of_work(context.resources) as db:
                return await service.edit_user(
                    db,
                    context.resources,
                    row_id(pk),
                    changes,
                    by_superuser=context.is_superuser,
                )

    @action(
        "soft-delete",
        "Soft delete",
        "Soft delete the selected users? They are signed out and can no longer sign in.",
    )
    async def soft_delete(self, request: Request) -> Response:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            await service.delete_users(
                db, context.resources, selected_ids(request), by_superuser=context.is_superuser
            )
        return back_to_list(request, self)

    @action("restore", "Restore", "Restore the selected users?")
    async def restore(self, request: Request) -> Response:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            await service.restore_users(
                db, context.resources, selected_ids(request), by_superuser=context.is_superuser
            )
        return back_to_list(request, self)
