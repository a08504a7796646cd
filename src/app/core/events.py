"""Events: how one domain reacts to what another did without either importing the other's
insides. The domain that acts publishes a typed event; a domain that cares declares a handler
in its `Domain(handlers=...)`; `app.domains` collects them into the process's `Events`.

Handlers run inside the publisher's transaction, in the order of the domains: what they write
commits or rolls back with the change that caused it, and a handler that fails fails the
publisher's request. A reaction that must wait for the commit (a cache invalidation, a job)
registers it from the handler with `after_commit`, as any other code does.

    @dataclass(frozen=True, slots=True)
    class PasswordChanged(Event):
        user_id: int

    await publish(session, resources, PasswordChanged(user.id))   # the publisher

    domain = Domain(name="keys", handlers=(Handler(PasswordChanged, revoke_keys),))
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from app.core.state import Resources


class Event:
    """The base of every event: a frozen dataclass that says what happened, with ids rather
    than rows."""

    __slots__ = ()


E = TypeVar("E", bound=Event)


@dataclass(frozen=True, slots=True)
class EventContext:
    """What a handler works in: the publisher's session (and so its transaction) and the
    process's resources (settings, queue, cache, ...)."""

    session: AsyncSession
    resources: Resources


@dataclass(frozen=True, slots=True)
class Handler(Generic[E]):
    """`handle` runs for each published event of exactly the type `event`."""

    event: type[E]
    handle: Callable[[EventContext, E], Awaitable[None]]


class Events:
    """Every domain's handlers, by the type of event they handle."""

    __slots__ = ("_handlers",)

    def __init__(self, handlers: Iterable[Handler[Any]] = ()) -> None:
        by_type: dict[type[Event], list[Handler[Any]]] = {}
        for handler in handlers:
            by_type.setdefault(handler.event, []).append(handler)
        self._handlers = {event: tuple(found) for event, found in by_type.items()}

    def handlers_of(self, event: type[Event]) -> tuple[Handler[Any], ...]:
        return self._handlers.get(event, ())


async def publish(session: AsyncSession, resources: Resources, event: Event) -> None:
    """Run every handler of `event` now, in `session`'s transaction.

    await publish(session, resources, PasswordChanged(user.id))
    """
    handlers = resources.events.handlers_of(type(event))
    if handlers:
        context = EventContext(session, resources)
        for handler in handlers:
            await handler.handle(context, event)
