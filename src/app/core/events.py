"""Events: how one domain reacts to what another did without either importing the other's
insides. The domain that acts publishes a typed event (a dataclass in its own `events.py`);
a domain that cares declares its reactions in its `Domain(handlers=...)`; `app.domains`
collects them into the process's `Events`. The publisher never names a subscriber.

A reaction is one of two kinds:

- `Handler`: runs at once, inside the publisher's transaction, in the order of the domains.
  What it writes commits or rolls back with the change that caused it, and a handler that
  fails fails the publisher's request (API keys are revoked in the transaction that changes
  the password: never one without the other).
- `OnCommit`: runs once that transaction has committed, never if it rolls back, before the
  request's response is sent, in this process. For what must not run on a change that did
  not happen but must be done before the writer hears back: forgetting cached pages
  (`app.platform.cache.forget_pages` makes these), so nothing is stale once a write has returned.
  A failure is logged (an `AppError` is answered) and the change stays.

A durable reaction, one that must not be lost (a mail, a call to another system), is a
`Handler` that writes it down in the transaction (the mail outbox's `queue_mail`) or
enqueues a job with `enqueue_after_commit`: the job queue runs it, with retries, after the
commit, never in the request.

    @dataclass(frozen=True, slots=True)
    class PasswordChanged(Event):
        user_id: int

    await publish(db, resources, PasswordChanged(user.id))   # the publisher

    domain = Domain(
        name="keys",
        handlers=(
            Handler(PasswordChanged, revoke_keys),                # in the transaction
            OnCommit(UserRenamed, forget_key_pages),              # after the commit
            *forget_pages("{username}_keys:*", on=(UserDeleted, UserRenamed)),
        ),
    )
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from app.core.db import Db
    from app.core.state import Resources


class Event:
    """The base of every event: a frozen dataclass that says what happened, with ids (and the
    names that cached pages are filed under) rather than rows."""

    __slots__ = ()


E = TypeVar("E", bound=Event)


@dataclass(frozen=True, slots=True)
class EventContext:
    """What a `Handler` works in: the publisher's unit of work (and so its transaction) and
    the process's resources (settings, queue, cache, ...)."""

    db: Db
    resources: Resources


@dataclass(frozen=True, slots=True)
class Handler(Generic[E]):
    """`handle` runs for each published event of exactly the type `event`, inside the
    publisher's transaction."""

    event: type[E]
    handle: Callable[[EventContext, E], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class OnCommit(Generic[E]):
    """`handle` runs for each published event of exactly the type `event`, once the
    publisher's transaction has committed (never if it rolls back), before the response."""

    event: type[E]
    handle: Callable[[Resources, E], Awaitable[None]]


Reaction = Handler[Any] | OnCommit[Any]


class Events:
    """Every domain's reactions, by the type of event they react to."""

    __slots__ = ("_handlers", "_on_commit")

    def __init__(self, reactions: Iterable[Reaction] = ()) -> None:
        handlers: dict[type[Event], list[Handler[Any]]] = {}
        on_commit: dict[type[Event], list[OnCommit[Any]]] = {}
        for reaction in reactions:
            if isinstance(reaction, Handler):
                handlers.setdefault(reaction.event, []).append(reaction)
            else:
                on_commit.setdefault(reaction.event, []).append(reaction)
        self._handlers = {event: tuple(found) for event, found in handlers.items()}
        self._on_commit = {event: tuple(found) for event, found in on_commit.items()}

    def handlers_of(self, event: type[Event]) -> tuple[Handler[Any], ...]:
        """The reactions to `event` that run inside the publisher's transaction."""
        return self._handlers.get(event, ())

    def on_commit_of(self, event: type[Event]) -> tuple[OnCommit[Any], ...]:
        """The reactions to `event` that run after the publisher's commit."""
        return self._on_commit.get(event, ())

    def reacts_to(self, reaction: Reaction) -> bool:
        if isinstance(reaction, Handler):
            return reaction in self.handlers_of(reaction.event)
        return reaction in self.on_commit_of(reaction.event)


async def publish(db: Db, resources: Resources, event: Event) -> None:
    """Run every `Handler` of `event` now, in the unit of work `db`, and register every
    `OnCommit` reaction to run after its commit.

    await publish(db, resources, PasswordChanged(user.id))
    """
    kind = type(event)
    handlers = resources.events.handlers_of(kind)
    if handlers:
        context = EventContext(db, resources)
        for handler in handlers:
            await handler.handle(context, event)
    for reaction in resources.events.on_commit_of(kind):
        db.after_commit(functools.partial(reaction.handle, resources, event))
