"""The Host allow-list (ALLOWED_HOSTS, outside local): a request that names another host is
answered 400 before anything runs, so that no redirect or link can carry a forged host."""

from __future__ import annotations

from collections.abc import Iterable

from app.platform.http.replies import Refusal

INVALID_HOST = Refusal(400, "Invalid host header")


class HostCheck:
    """The allowed hosts: a Host header must name one of them (its port aside); a `*.` entry
    allows every subdomain of the name after it."""

    __slots__ = ("_exact", "_suffixes", "exempt_paths")

    def __init__(self, hosts: Iterable[str], exempt_paths: Iterable[str] = ("/health",)) -> None:
        # Liveness probes and scrapers reach the server by internal names.
        self.exempt_paths = frozenset(exempt_paths)
        self._exact = frozenset(h for h in hosts if not h.startswith("*."))
        self._suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))

    def check(self, path: str, header: bytes | None) -> Refusal | None:
        """The refusal of a request to `path` with this Host header, or None to go on."""
        if header:
            host = header.decode("latin-1").lower()
            host = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
            if host in self._exact or (bool(self._suffixes) and host.endswith(self._suffixes)):
                return None
        return None if path in self.exempt_paths else INVALID_HOST
