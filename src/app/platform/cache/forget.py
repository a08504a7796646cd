"""Cached pages forgotten on another domain's events: a domain declares which of its pages go
when something happens elsewhere (a user deleted or renamed, a post deleted), and nobody else
edits anything for it.

    domain = Domain(
        name="comments",
        handlers=(
            *forget_pages("{username}_comments:*", on=(UserDeleted, UserRenamed)),
            *forget_pages("{username}_comments:post_{post_id}:*", on=(PostDeleted, PostPurged)),
        ),
    )
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.events import Event, OnCommit
from app.platform.cache.decorator import check_pattern, fill, invalidate_now, placeholders

if TYPE_CHECKING:
    from app.core.state import Resources

_GLOB = frozenset("*?[]")


def _is_pattern(template: str) -> bool:
    """Whether the template's own text (its `{name}`s left out) has glob characters: a pattern
    (`{username}_posts:*`) rather than one key (`{username}_post_cache:{post_id}`)."""
    literal = template
    for name in placeholders(template):
        literal = literal.replace("{" + name + "}", "")
    return bool(_GLOB & set(literal))


@dataclass(frozen=True, slots=True)
class _Forget:
    keys: tuple[str, ...]
    patterns: tuple[str, ...]

    async def __call__(self, resources: Resources, event: Event) -> None:
        values = {field.name: getattr(event, field.name) for field in dataclasses.fields(event)}  # type: ignore[arg-type]
        await invalidate_now(
            resources.cache,
            [fill(key, values) for key in self.keys],
            # The values are escaped: a username such as `a*` forgets only its own pages.
            [fill(pattern, values, glob_safe=True) for pattern in self.patterns],
        )


def forget_pages(
    *templates: str, on: type[Event] | tuple[type[Event], ...]
) -> tuple[OnCommit[Any], ...]:
    """Reactions (one per event type in `on`) that forget the cached pages of `templates`
    once the publisher's transaction has committed, before its response: each `{name}` is
    filled from the event's field of that name. A template with glob characters is a
    pattern (`{username}_posts:*`, forgotten through its namespace's index); one without is
    a single key (`{username}_post_cache:{post_id}`). Every name must be a field of every
    event, checked here, at import.

        handlers=(*forget_pages("{username}_posts:*", on=(UserDeleted, UserRenamed)),)
    """
    kinds = on if isinstance(on, tuple) else (on,)
    if not templates or not kinds:
        raise ValueError("forget_pages needs templates and the events to forget them on")
    for template in templates:
        check_pattern(template)
    forget = _Forget(
        keys=tuple(t for t in templates if not _is_pattern(t)),
        patterns=tuple(t for t in templates if _is_pattern(t)),
    )
    wanted = set().union(*(placeholders(t) for t in templates))
    for kind in kinds:
        if not (dataclasses.is_dataclass(kind) and issubclass(kind, Event)):
            raise ValueError(f"forget_pages: {kind!r} is not an event dataclass")
        missing = wanted - {field.name for field in dataclasses.fields(kind)}
        if missing:
            raise ValueError(
                f"forget_pages: {kind.__name__} has no field {', '.join(sorted(missing))} "
                f"for {templates}"
            )
    return tuple(OnCommit(kind, forget) for kind in kinds)
