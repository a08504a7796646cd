"""Commands a feature adds to the `app` CLI, declared in its `Domain(commands=...)`:

    async def create_note(resources: Resources, args: argparse.Namespace) -> int:
        async with unit_of_work(resources) as db:
            await service.create_note(db, args.title)
        print("note created")
        return 0

    Command("create-note", "create a note (harmless to rerun)", create_note,
            arguments=lambda parser: parser.add_argument("title"))

`app` opens the process's resources on a reachable, migrated database before it runs one,
and closes them after; a `CommandFailed` ends it with its message on one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.core.state import Resources


class CommandFailed(Exception):
    """Ends a command with its message on one line and exit code `code`."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Command:
    """`app NAME ...`: `arguments` adds its arguments to its parser; `run` does the work."""

    name: str
    help: str
    run: Callable[[Resources, argparse.Namespace], Awaitable[int]]
    arguments: Callable[[argparse.ArgumentParser], object] = _no_arguments
