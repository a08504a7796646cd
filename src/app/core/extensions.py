"""Extensions: what one feature offers another package without either importing the other.

The package that can be extended names a `Key`, typed by the interface it expects (a
Protocol of its own). A feature that fills it declares `Extension(KEY, build)` in its
`Domain(extensions=...)`. Each process builds every installed feature's extensions once, when
it opens its resources, and the package asks for one with `resources.extensions.get(KEY)`:
None when no installed feature fills the key (or its settings turn it off), and the package
goes on without it.

    SENDER: Key[MailSender] = Key("mail sender")                          # who asks
    domain = Domain(name="mail", extensions=(Extension(SENDER, open_sender),))  # who fills
    sender = resources.extensions.get(SENDER)                             # MailSender | None
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from app.core.state import Resources

T = TypeVar("T")


class Key(Generic[T]):
    """The name of an extension point, and the type of what fills it."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


@dataclass(frozen=True, slots=True)
class Extension(Generic[T]):
    """`build` makes what fills `key` from the process's resources (None: nothing, with these
    settings)."""

    key: Key[T]
    build: Callable[[Resources], T | None]


class Extensions:
    """The extensions one process built, by key."""

    __slots__ = ("_built",)

    def __init__(self) -> None:
        self._built: dict[Key[Any], object] = {}

    @classmethod
    def build(cls, extensions: Iterable[Extension[Any]], resources: Resources) -> Extensions:
        """Build each extension for `resources`; a key filled twice is refused."""
        built = cls()
        keys: set[Key[Any]] = set()
        for extension in extensions:
            if extension.key in keys:
                raise ValueError(f"{extension.key!r} is filled by two features")
            keys.add(extension.key)
            value = extension.build(resources)
            if value is not None:
                built._built[extension.key] = value
        return built

    def get(self, key: Key[T]) -> T | None:
        found: Any = self._built.get(key)
        result: T | None = found
        return result
