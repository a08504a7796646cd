"""The admin panel's view of comments: read as SQLAdmin lists them, deleted through
comments.service, so the panel publishes the API's event and the post's cached pages go as
they do for the API."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin import action
from starlette.requests import Request
from starlette.responses import Response

from app.comments import service
from app.comments.models import Comment
from app.core.admin import AdminView, admin_context, back_to_list, selected_ids
from app.core.db import unit_of_work


class CommentAdmin(AdminView, model=Comment):
    name = "Comment"
    name_plural = "Comments"
    icon = "fa-solid fa-comment"
    column_list = (Comment.id, Comment.post_id, Comment.author_id, Comment.text, Comment.created_at)
    column_labels: ClassVar[dict[Any, str]] = {Comment.author_id: "writer id"}
    column_searchable_list = (Comment.text,)
    column_sortable_list = (Comment.id, Comment.created_at)
    column_default_sort = (Comment.id, True)
    can_create = False
    can_edit = False
    can_delete = False

    @action("delete", "Delete", "Delete the selected comments?")
    async def delete(self, request: Request) -> Response:
        context = admin_context(request)
        async with unit_of_work(context.resources) as db:
            await service.delete_comments(db, context.resources, selected_ids(request))
        return back_to_list(request, self)
