"""Offset pages: bounded query parameters and the `{data, total_count, has_more, ...}` body."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from fastcrud import compute_offset, paginated_response
from pydantic import BaseModel

from app.core.errors import Unprocessable

MAX_ITEMS_PER_PAGE = 100
MAX_PAGE = 1_000_000


class PageParams(BaseModel):
    page: int
    items_per_page: int

    @property
    def offset(self) -> int:
        return compute_offset(self.page, self.items_per_page)

    def respond(self, data: list[Any], total_count: int) -> dict[str, Any]:
        return paginated_response(
            {"data": data, "total_count": total_count}, self.page, self.items_per_page
        )


def page_params(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1")] = 1,
    items_per_page: Annotated[
        int, Query(ge=1, le=MAX_ITEMS_PER_PAGE, description="Items per page, 1 to 100")
    ] = 10,
) -> PageParams:
    return PageParams(page=page, items_per_page=items_per_page)


PageDep = Annotated[PageParams, Depends(page_params)]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    total_count: int
    has_more: bool
    page: int
    items_per_page: int


# Cursor pages: an opaque cursor names the last row seen; the next page starts after it,
# through an index, so page 10,000 costs what page 1 does.

PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Offset pages: page number")]
ItemsPerPage = Annotated[
    int, Query(ge=1, le=MAX_ITEMS_PER_PAGE, description="Offset pages: items per page")
]
Cursor = Annotated[
    str | None,
    Query(max_length=64, description="Cursor pages: `next_cursor` of the previous page"),
]
CursorLimit = Annotated[
    int | None,
    Query(ge=1, le=MAX_ITEMS_PER_PAGE, description="Cursor pages: items per page (starts them)"),
]


class CursorPage(BaseModel, Generic[T]):
    data: list[T]
    limit: int
    next_cursor: str | None
    has_more: bool


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, value = raw.split(":", 1)
        row_id = int(value)
    except (ValueError, UnicodeDecodeError):
        raise Unprocessable("Invalid cursor", loc=("query", "cursor")) from None
    if version != "v1" or not 0 <= row_id < 2**31:
        raise Unprocessable("Invalid cursor", loc=("query", "cursor"))
    return row_id


def cursor_page(rows: list[Any], limit: int, row_id: Callable[[Any], int]) -> dict[str, Any]:
    """Build a cursor page from up to `limit + 1` rows (the extra one says there is more)."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(row_id(rows[-1])) if has_more and rows else None
    return {"data": rows, "limit": limit, "next_cursor": next_cursor, "has_more": has_more}


def wants_cursor(request: Request, cursor: str | None, limit: int | None) -> bool:
    """Cursor pages when `cursor` or `limit` is given; mixing both forms is a 422."""
    if cursor is None and limit is None:
        return False
    if "page" in request.query_params or "items_per_page" in request.query_params:
        raise Unprocessable(
            "Use either page/items_per_page or cursor/limit, not both", loc=("query",)
        )
    return True
