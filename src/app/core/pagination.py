"""Offset pages: bounded query parameters and the `{data, total_count, has_more, ...}` body."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from fastcrud import compute_offset, paginated_response
from pydantic import BaseModel

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
