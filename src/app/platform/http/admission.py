"""Admission: at most MAX_IN_FLIGHT_REQUESTS requests of the process run at once; the others
wait in arrival order, and one that waits longer than QUEUE_TIMEOUT_SECONDS is answered 503
with Retry-After (`replies.BUSY`), quickly, never a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class Admission:
    """The slots of one app's requests."""

    __slots__ = ("_slots", "leave", "timeout", "unqueued_paths")

    def __init__(self, max_in_flight: int, timeout: float, unqueued_paths: frozenset[str]) -> None:
        self._slots = asyncio.Semaphore(max_in_flight)
        self.timeout = timeout
        # Admitted without a slot: liveness checks must answer under load.
        self.unqueued_paths = unqueued_paths
        # Give back the slot `enter` gave: the semaphore's own method, one call less per
        # request than a method of ours that calls it.
        self.leave = self._slots.release

    def enter(self) -> Coroutine[Any, Any, bool]:
        """To await: True once the request holds a slot (give it back with `leave`), False
        when none came free within the timeout. Not a coroutine of its own: when a slot is
        free, the request awaits the semaphore alone, as it would without this class."""
        if self._slots.locked():
            return self._wait()
        return self._slots.acquire()

    async def _wait(self) -> bool:
        try:
            return await asyncio.wait_for(self._slots.acquire(), self.timeout)
        except TimeoutError:
            return False
