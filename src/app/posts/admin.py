"""The admin panel's view of posts: edited, soft-deleted and restored through posts.service,
so the panel publishes the API's events and the cached pages go as they do for the API."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin import action
from starlette.requests import Request
from starlette.responses import Response

from app.core.admin import (
    AdminView,
    admin_context,
    back_to_list,
    row_id,
    selected_ids,
    validated,
)
from app.core.db import unit_of_work
from app.posts import service
from app.posts.models import Post
from app.posts.schemas import PostUpdate


class PostAdmin(AdminView, model=Post):
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

    async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> Post:
        context = admin_context(request)
        changes = validated(
            PostUpdate,
            title=data["title"],
            text=data["text"],
            media_url=data.get("media_url") or None,
        )
        async with unit_of_work(context.resources) as db:
            return await service.edit_post(db, context.resources, row_id(pk), changes)

    @action("soft-delete", "Soft delete", "Soft delete the selected posts?")
    async def soft_delete(self, request: Request) -> Response:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            await service.delete_posts(db, context.resources, selected_ids(request))
        return back_to_list(request, self)

    @action("restore", "Restore", "Restore the selected posts?")
    async def restore(self, request: Request) -> Response:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            await service.restore_posts(db, context.resources, selected_ids(request))
        return back_to_list(request, self)
