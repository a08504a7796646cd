"""Who makes a request and what they may do: the kit routes depend on, and the two ways a
feature plugs into it.

- An `Authenticator` turns one kind of credential into a `Caller`. auth contributes the
  access token of a signed-in session; a feature adds its own kind in its
  `Domain(authenticators=...)` (API keys: a bearer token with a prefix of its own, or a
  header of its own). Without the feature, such a bearer token is an invalid token (401) and
  its header is not read.
- A `PermissionSource` says what users who are not superusers hold, in its
  `Domain(permission_source=...)` (roles). Without one, superusers hold every declared
  permission and nobody else holds any.

- Caller columns: what the features read with the caller, as more columns of the one
  statement that checks a credential (`Caller.row`, by label), so that a request pays no
  query of its own for them. The permission source's version of the grants is one
  (`GRANTS_VERSION`), so that the permissions cached in the process (`PermissionCache`) serve
  a request while the version matches; a feature adds its own in its
  `Domain(caller_columns=...)` (tiers: the caller's tier, for the per-path rate limits).

`app.domains` collects them all into the process's `Identity` (`resources.identity`), which
adds the caller columns to each authenticator's statement and compiles it once: a credential
is checked in one statement outside any transaction.

The dependencies here give `Caller[Any]`; users/dependencies.py names them with the app's
user (`CurrentUser`, `CurrentCaller`, ...), which is what routes use, beside
`require_permissions`:

    @router.delete("/notes/{id}", dependencies=[Depends(require_permissions("notes.delete_any"))])
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Generic, Protocol, TypeVar

from fastapi import Depends, Request
from fastapi.security.base import SecurityBase
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement, Label

from app.core import permissions
from app.core.errors import DATABASE_UNAVAILABLE, Forbidden, Unauthorized
from app.core.openapi import Credentials, documents
from app.core.query import Query
from app.core.state import get_resources

if TYPE_CHECKING:
    from app.core.state import Resources

INVALID_CREDENTIALS = "Invalid or expired credentials"
SIGN_IN = "Sign in to do this"
# The label of the permission source's version in the authenticators' rows.
GRANTS_VERSION = "grants_version"


class Principal(Protocol):
    """What the kit needs of a user: who they are, and whether they hold every permission."""

    @property
    def id(self) -> int: ...

    @property
    def is_superuser(self) -> bool: ...


UserT = TypeVar("UserT", bound=Principal)


class Caller(Generic[UserT]):
    """Who makes the request: a user, and how they proved it.

    `session_id` is the signed-in session that the credential belongs to (an access token's).
    A credential that acts without one (an API key) has None, and `refusal` says why the
    operations that manage the account turn it away (`get_session_caller`); `scope` is then
    the most it may do: its permissions are its user's among these.

    The permissions are read only when a check needs them: every declared one for a
    superuser; else from the process's cache under the grants version that the credential's
    check read (no query of its own when it matches), or none without a permission source.
    """

    __slots__ = (
        "_permissions",
        "_resources",
        "_scope",
        "_version",
        "refusal",
        "row",
        "session_id",
        "user",
    )

    def __init__(
        self,
        user: UserT,
        resources: Resources,
        row: Mapping[str, Any],
        *,
        session_id: int | None = None,
        scope: frozenset[str] | None = None,
        refusal: str = SIGN_IN,
    ) -> None:
        """`row` is the one the authenticator's statement read, with the caller columns (the
        grants version, the features' own) by label."""
        self.user = user
        self.row = row
        self.session_id = session_id
        self.refusal = refusal
        self._resources = resources
        self._version: int = row.get(GRANTS_VERSION, 0)
        self._scope = scope
        self._permissions: frozenset[str] | None = None

    async def permissions(self) -> frozenset[str]:
        if self._permissions is None:
            resources = self._resources
            source = resources.identity.source
            if self.user.is_superuser or source is None:
                # Nothing to read, or nothing to cache under the version.
                held = await resources.identity.held(resources.engine, self.user)
            else:
                held = await resources.permissions.get(
                    self.user.id, self._version, partial(source.load, resources.engine)
                )
            if self._scope is not None:
                held = held & self._scope
            self._permissions = held
        return self._permissions

    async def can(self, *names: str) -> bool:
        held = await self.permissions()
        return all(name in held for name in names)


Check = Callable[["Resources", str, Query], Awaitable[Caller[Any]]]


@dataclass(frozen=True, slots=True, eq=False)
class Authenticator:
    """One kind of credential, declared by the domain that issues it.

    A credential is this authenticator's when it is a bearer token that starts with `prefix`
    (the one authenticator without a prefix takes every other bearer token), or when it comes
    in `header` without a bearer token. `statement` is the one statement its check runs,
    selecting the user and what the check compares; the kit adds the caller columns to it
    and compiles it once (`Identity.query`). `check(resources, credential,
    query)` returns the caller, or raises `Unauthorized(INVALID_CREDENTIALS)`.

    `scheme` documents it (OpenAPI). `refusal`, for a credential that acts without a
    signed-in session: the 403 detail of the operations that manage the account, which the
    document then says do not take it.

        Authenticator(APIKeyHeader(name="X-API-Key"), KEY_OWNER, key_caller, prefix="ak_",
                      header="X-API-Key", refusal="API keys cannot manage the account")
    """

    scheme: SecurityBase
    statement: Select[*tuple[Any, ...]]
    check: Check
    prefix: str = ""
    header: str | None = None
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class PermissionSource:
    """Where the permissions of users who are not superusers come from.

    `load(engine, user_id)` reads a user's now, among the declared ones. `version` is a scalar
    that every change of the grants moves on, in the change's transaction: a caller column
    (labelled `GRANTS_VERSION`) that each authenticator's statement reads with the user, and
    the permissions cached in a process are used only by requests that read the version they
    were cached under.
    """

    load: Callable[[AsyncEngine, int], Awaitable[frozenset[str]]]
    version: ColumnElement[Any]


class Identity:
    """The process's authenticators, with their statements (and the caller columns) compiled
    once, and its permission source (`app.domains` collects them)."""

    __slots__ = ("_by_header", "_by_prefix", "_default", "_queries", "source")

    def __init__(
        self,
        authenticators: Iterable[Authenticator] = (),
        source: PermissionSource | None = None,
        columns: Iterable[Label[Any]] = (),
    ) -> None:
        """`columns` are the features' caller columns: labelled scalar expressions correlated
        on `users.id`, whose labels no authenticator's statement selects."""
        found = tuple(authenticators)
        extra = _added_columns(source, columns)
        self.source = source
        self._queries = {a: Query(_with_columns(a.statement, extra)) for a in found}
        defaults = [a for a in found if not a.prefix]
        if len(defaults) > 1:
            raise ValueError("only one authenticator may take bearer tokens without a prefix")
        self._default = defaults[0] if defaults else None
        self._by_prefix = tuple(a for a in found if a.prefix)
        self._by_header = tuple((a.header, a) for a in found if a.header is not None)

    def query(self, authenticator: Authenticator) -> Query:
        """The authenticator's statement, with the permission source's version."""
        return self._queries[authenticator]

    async def authenticate(self, request: Request, resources: Resources) -> Caller[Any] | None:
        """The caller of `request`; None when it brings no credentials, 401 when they do not
        hold (a bearer token that no authenticator takes too)."""
        headers = request.headers
        authorization = headers.get("authorization")
        scheme, token = get_authorization_scheme_param(authorization)
        if not authorization or scheme.lower() != "bearer":
            for name, authenticator in self._by_header:
                value = headers.get(name)
                if value is not None:
                    return await authenticator.check(resources, value, self.query(authenticator))
            return None
        for authenticator in self._by_prefix:
            if token.startswith(authenticator.prefix):
                return await authenticator.check(resources, token, self.query(authenticator))
        if self._default is None:
            raise Unauthorized(INVALID_CREDENTIALS)
        return await self._default.check(resources, token, self.query(self._default))

    async def held(self, engine: AsyncEngine, user: Principal) -> frozenset[str]:
        """A user's permissions read now, without the cache (a sign-in, which has no grants
        version read with the user to use it under)."""
        if user.is_superuser:
            return permissions.all_names()
        if self.source is None:
            return frozenset()
        return await self.source.load(engine, user.id)


def _added_columns(
    source: PermissionSource | None, columns: Iterable[Label[Any]]
) -> tuple[Label[Any], ...]:
    """The columns added to every credential check: the grants version, then the features'."""
    found = (
        *(() if source is None else (source.version.label(GRANTS_VERSION),)),
        *columns,
    )
    labels = [column.name for column in found]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ValueError(f"caller columns declared twice: {', '.join(twice)}")
    return found


def _with_columns(
    statement: Select[*tuple[Any, ...]], columns: tuple[Label[Any], ...]
) -> Select[*tuple[Any, ...]]:
    taken = {column.key for column in statement.selected_columns}
    clash = sorted(column.name for column in columns if column.name in taken)
    if clash:
        raise ValueError(f"caller columns clash with a credential check's own: {', '.join(clash)}")
    return statement.add_columns(*columns)


# Credentials are checked against the database: unreachable, it is a 503.
@documents(503, DATABASE_UNAVAILABLE)
async def get_optional_caller(request: Request) -> Caller[Any] | None:
    """The caller, or None for an anonymous request; a credential that does not hold is still
    a 401.

    Nothing is remembered between requests: a logout, a revoked key or a deleted account
    applies at once in every process."""
    # The resources straight from the request, not as a sub-dependency: this runs on every
    # signed-in request, and each dependency FastAPI resolves costs it.
    resources = get_resources(request)
    return await resources.identity.authenticate(request, resources)


async def get_current_caller(
    caller: Annotated[Caller[Any] | None, Depends(get_optional_caller)],
) -> Caller[Any]:
    if caller is None:
        raise Unauthorized()
    return caller


async def get_session_caller(
    caller: Annotated[Caller[Any], Depends(get_current_caller)],
) -> Caller[Any]:
    """The caller, signed in with a session: the operations that manage the account (its
    credentials, password, sessions, email, deletion) refuse (403) a credential that acts
    without one."""
    if caller.session_id is None:
        raise Forbidden(caller.refusal)
    return caller


def require_permissions(*names: str) -> Callable[[Caller[Any]], Awaitable[Caller[Any]]]:
    """A dependency that refuses (403) a caller without every one of these permissions:

        @router.delete("/x", dependencies=[Depends(require_permissions("posts.delete_any"))])
        async def handler(caller: Annotated[Caller, Depends(require_permissions("x.y"))]): ...

    Names must be declared by a domain (checked at start-up)."""
    permissions.note_required(names)

    async def check(caller: Annotated[Caller[Any], Depends(get_current_caller)]) -> Caller[Any]:
        held = await caller.permissions()
        missing = [name for name in names if name not in held]
        if missing:
            raise Forbidden(f"Permission required: {', '.join(missing)}")
        return caller

    return documents(403, f"Permission required: {', '.join(names)}")(check)


def document(authenticators: Iterable[Authenticator]) -> Credentials:
    """What the OpenAPI document says of credentials (core/openapi.py `install_openapi`)."""
    return Credentials(
        read_by=get_optional_caller,
        required_by=get_current_caller,
        session_only=get_session_caller,
        schemes=tuple((a.scheme, a.refusal) for a in authenticators),
    )
