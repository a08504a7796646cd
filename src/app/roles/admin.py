"""The admin panel's view of roles, written through roles.service: the names checked against
the declared permissions and the admin's own, and the grants version bumped in the same
transaction, so every holder's permissions change at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from starlette.requests import Request
from wtforms import SelectMultipleField  # type: ignore[import-untyped]

from app.core import permissions
from app.core.admin import AdminView, admin_context, get_row, names, validated
from app.core.db import unit_of_work
from app.roles import service
from app.roles.models import Role
from app.roles.schemas import RoleCreate, RoleUpdate


def _permission_choices() -> list[tuple[str, str]]:
    return [(p.name, f"{p.name}: {p.description}") for p in permissions.registered()]


def _fields(data: dict[Any, Any]) -> dict[str, Any]:
    chosen: Sequence[str] = data.get("permissions") or []
    return {
        "name": data.get("name"),
        "description": data.get("description") or "",
        "permissions": list(chosen),
    }


class RoleAdmin(AdminView, model=Role):
    name = "Role"
    name_plural = "Roles"
    icon = "fa-solid fa-user-shield"
    column_list = (Role.id, Role.name, Role.description, Role.permissions, Role.updated_at)
    column_details_list = (*column_list, Role.created_at)
    column_formatters: ClassVar[dict[Any, Any]] = {Role.permissions: names}
    column_formatters_detail: ClassVar[dict[Any, Any]] = {Role.permissions: names}
    column_searchable_list = (Role.name,)
    form_columns = (Role.name, Role.description, Role.permissions)
    # One choice per declared permission: a name nobody declares cannot be chosen.
    form_overrides: ClassVar[dict[str, Any]] = {"permissions": SelectMultipleField}
    form_args: ClassVar[dict[str, dict[str, Any]]] = {
        "permissions": {"choices": _permission_choices, "render_kw": {"size": 12}}
    }

    async def insert_model(self, request: Request, data: dict[Any, Any]) -> Role:
        context = admin_context(request)
        checked = validated(RoleCreate, **_fields(data))
        async with unit_of_work(context.resources) as db:
            return await service.create_role(db, await context.permissions(), checked)

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> Role:
        context = admin_context(request)
        checked = validated(RoleUpdate, **_fields(data))
        async with unit_of_work(context.resources) as db:
            role = await get_row(db, Role, pk)
            return await service.update_role(
                db, context.resources, await context.permissions(), role.name, checked
            )

    async def delete_model(self, request: Request, pk: Any) -> None:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            role = await get_row(db, Role, pk)
            await service.delete_role(db, context.resources, await context.permissions(), role.name)
