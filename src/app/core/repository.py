"""The base every repository builds on: the unit of work (`Db`), and the writes they all share.
Queries stay in each domain's repository (prepared `Query` reads, FastCRUD where it helps),
and so does the choice of how each runs: a read to show through `self.db.rows`/`row` (one round
trip outside a transaction, or inside the one the unit of work has begun), a write or a row
loaded to change through `self.session`."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Generic, TypeVar

from fastcrud import FastCRUD
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Base, Db

ModelT = TypeVar("ModelT", bound=Base)


class Repository(Generic[ModelT]):
    """Queries and writes on one model, in one unit of work.

    BY_OWNER = Query(select(Note.id, Note.text).where(Note.owner_id == bindparam("owner_id")))

    class NoteRepository(Repository[Note]):
        model = Note

        async def of_owner(self, owner_id: int) -> Sequence[Mapping[str, Any]]:
            return await self.db.rows(BY_OWNER, owner_id=owner_id)

        async def get(self, owner_id: int, note_id: int) -> Note | None:
            return await self.session.scalar(select(Note).where(...))
    """

    model: type[ModelT]

    def __init__(self, db: Db) -> None:
        self.db = db

    @property
    def session(self) -> AsyncSession:
        """The unit of work's session (its transaction begins with the first statement)."""
        return self.db.session

    @cached_property
    def crud(self) -> FastCRUD[ModelT, Any, Any, Any, Any, Any]:
        return FastCRUD(self.model)

    async def add(self, obj: ModelT) -> ModelT:
        """Insert `obj` now (its id and defaults are then set)."""
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def flush(self) -> None:
        """Send pending changes now, so constraint violations surface here."""
        await self.session.flush()

    async def delete(self, obj: ModelT) -> None:
        await self.session.delete(obj)
        await self.session.flush()
