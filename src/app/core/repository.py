"""The base every repository builds on: the session, and the writes they all share.
Queries stay in each domain's repository (FastCRUD inside where it helps)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastcrud import FastCRUD
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Base

ModelT = TypeVar("ModelT", bound=Base)


class Repository(Generic[ModelT]):
    """Queries and writes on one model, through one session.

    class NoteRepository(Repository[Note]):
        model = Note

        async def get(self, owner_id: int, note_id: int) -> Note | None: ...
    """

    model: type[ModelT]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.crud: FastCRUD[ModelT, Any, Any, Any, Any, Any] = FastCRUD(self.model)

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
