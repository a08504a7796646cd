"""What a domain's admin views are built from. A domain declares its views (SQLAdmin
`ModelView`s on `AdminView`) in its own `admin.py` and lists them in `Domain(admin_views=...)`;
the panel (admin/, an optional feature) collects them, signs the admin in and sets the
request's `AdminContext`. Removing a domain removes its views; removing the panel leaves
these declarations unused.

SQLAdmin reads (lists, details, forms) on the app's engine. Every write goes through the
domain's own service in a unit of work (`unit_of_work`, core/db.py), as the API's routes do, so
the panel keeps the API's rules, publishes the same events and forgets the same cached pages:

    class NoteAdmin(AdminView, model=Note):
        form_columns = (Note.text,)

        async def update_model(self, request: Request, pk: str, data: dict[Any, Any]) -> Any:
            context = admin_context(request)
            changes = validated(NoteUpdate, text=data["text"])
            async with unit_of_work(context.resources) as db:
                return await service.edit_note(db, context.resources, row_id(pk), changes)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError
from sqladmin import ModelView
from sqladmin.formatters import BASE_FORMATTERS
from sqlalchemy import Select, false, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.core.errors import NotFound, Unprocessable

if TYPE_CHECKING:
    from app.core.db import Db
    from app.core.state import Resources

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# An action applies to at most this many selected rows.
MAX_SELECTED = 100
# The largest id (the id columns are 32-bit integers).
MAX_ID = 2**31 - 1

_CONTEXT = "admin_context"


@dataclass(frozen=True, slots=True)
class AdminContext:
    """A panel request's signed-in admin (their id, whether a superuser, and their
    permissions, read when asked) and the app's resources."""

    resources: Resources
    user_id: int
    is_superuser: bool
    permissions: Callable[[], Awaitable[frozenset[str]]]


def enter_admin(request: Request, context: AdminContext) -> None:
    """Set by the panel once it has checked the admin's session, before any view runs."""
    setattr(request.state, _CONTEXT, context)


def admin_context(request: Request) -> AdminContext:
    found = getattr(request.state, _CONTEXT, None)
    if not isinstance(found, AdminContext):
        raise RuntimeError("admin views run after the panel has signed the admin in")
    return found


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


@contextmanager
def field_errors() -> Iterator[None]:
    """A value the service refuses (a 422 naming its field: a reserved username) shown on the
    form as `field: reason`, as `validated` shows the schema's own refusals. SQLAdmin shows any
    other error of a form's write with its message."""
    try:
        yield
    except Unprocessable as exc:
        field = str(exc.loc[-1]) if exc.loc else "form"
        raise ValueError(f"{field}: {exc.detail}") from None


def parse_id(text: str) -> int | None:
    """A primary key as the URL gives it: an integer within the columns' range, else None."""
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def row_id(pk: Any) -> int:
    """The id of the row a form or a link names; a 404 for one that no row can have."""
    found = parse_id(str(pk))
    if found is None:
        raise NotFound()
    return found


async def get_row(db: Db, model: type[T], pk: Any) -> T:
    """The row of `model` a form or a link names, by primary key, or a 404: for a view whose
    service names rows otherwise (a tier by its name)."""
    found = await db.session.get(model, row_id(pk))
    if found is None:
        raise NotFound()
    return found


def selected_ids(request: Request) -> list[int]:
    """The rows an action was asked for (`?pks=1,2,3`), at most MAX_SELECTED."""
    parts = request.query_params.get("pks", "").split(",")[:MAX_SELECTED]
    return [found for part in parts if (found := parse_id(part)) is not None]


def back_to_list(request: Request, view: ModelView) -> Response:
    """Where an action ends: the view's list."""
    return RedirectResponse(request.url_for("admin:list", identity=view.identity), 302)


def names(model: Any, attribute: str) -> str:
    """A column formatter for a list of names (a role's or a key's permissions)."""
    return ", ".join(getattr(model, attribute) or ())


def _timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


class AdminView(ModelView):
    """What every view shares: timestamps to the second (UTC), no export (an export is every
    row at once), and a 404 for an id in the URL that no row can have."""

    can_export = False
    column_type_formatters: ClassVar[dict[type, Any]] = {**BASE_FORMATTERS, datetime: _timestamp}

    def _stmt_by_identifier(self, identifier: str) -> Select[Any]:
        # Every model here has an integer `id`: an id out of its range is no row (SQLAdmin
        # would answer a 500).
        found = parse_id(identifier)
        condition = self.pk_columns[0] == found if found is not None else false()
        return select(self.model).where(condition)
