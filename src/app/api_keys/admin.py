"""The admin panel's view of API keys: listed (never their secret's hash) and revoked through
api_keys.service; no key is made, edited or deleted from the panel."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin import action
from starlette.requests import Request
from starlette.responses import Response

from app.api_keys import service
from app.api_keys.models import ApiKey
from app.core.admin import AdminView, admin_context, back_to_list, names, selected_ids
from app.core.db import unit_of_work


class ApiKeyAdmin(AdminView, model=ApiKey):
    name = "API key"
    name_plural = "API keys"
    icon = "fa-solid fa-key"
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
    column_formatters: ClassVar[dict[Any, Any]] = {ApiKey.permissions: names}
    column_formatters_detail: ClassVar[dict[Any, Any]] = {ApiKey.permissions: names}
    column_searchable_list = (ApiKey.name, ApiKey.prefix)
    column_default_sort = (ApiKey.id, True)
    can_create = False
    can_edit = False
    can_delete = False

    @action("revoke", "Revoke", "Revoke the selected API keys? They stop working at once.")
    async def revoke(self, request: Request) -> Response:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            await service.revoke_keys(db, selected_ids(request))
        return back_to_list(request, self)
