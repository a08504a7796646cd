"""uvicorn's HTTP/1.1 protocol (httptools) with each request's head bounded in time and size.

uvicorn alone reads a request line and headers for as long as a client takes, of any size and
number, and keeps a new connection that sends nothing open for good. Here:

- the head must arrive within `HeadLimits.timeout` seconds, counted from the connection's
  start for its first request and from the first byte of each later one (the time between
  requests is the keep-alive timeout's); a client that sent part of a head then gets a 408,
  one that sent nothing is closed;
- at most `max_headers` headers, and `max_bytes` bytes of URL and headers, are read: more is
  answered 431 (414 for the URL alone), as soon as it arrives; a head that never ends is
  counted as it comes.

Granian has these bounds built in (`HTTP1Settings`); `app serve` sets both servers from the
same settings (src/app/cli.py).

    uvicorn.run(app, http=functools.partial(BoundedHttpToolsProtocol, limits=HeadLimits()))
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState


@dataclass(frozen=True, slots=True)
class HeadLimits:
    timeout: float = 10.0
    max_headers: int = 100
    max_bytes: int = 32_768


class _HeadRefused(Exception):
    """Raised in a parser callback to stop parsing; the refusal is answered instead of
    uvicorn's 400 (see `send_400_response`)."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HeadLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._head_timer: asyncio.TimerHandle | None = None
        # True while the bytes that arrive belong to a request's head (or to the wait for one).
        self._in_head = True
        # A request's head has begun (its first byte was parsed) and has not ended.
        self._head_started = False
        # Bytes received since the head began to arrive, and the size of its URL and headers.
        self._head_received = 0
        self._head_size = 0
        self._refusal: tuple[int, str] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.limits.timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_received += len(data)
        super().data_received(data)
        # A head that has not ended yet is all that arrived since it began.
        if (
            self._in_head
            and self._head_received > self.limits.max_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(431, "Request headers too large")

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True
        self._head_size = 0
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.timeout, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        if self._head_size > self.limits.max_bytes:
            self._refusal = (414, "Request URL too long")
            raise _HeadRefused
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value)
        if self._head_size > self.limits.max_bytes:
            self._refusal = (431, "Request headers too large")
            raise _HeadRefused
        if len(self.headers) >= self.limits.max_headers:
            self._refusal = (431, "Too many request headers")
            raise _HeadRefused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        self._in_head = self._head_started = False
        self._head_received = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True

    # Refusals

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:
            self._refuse(*self._refusal)
        else:
            super().send_400_response(msg)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request's head is late while a response is on its way: the
            # connection closes once that response is sent.
            self.cycle.keep_alive = False
            return
        if self._head_started:
            self._refuse(408, "Request headers not received in time")
        else:
            self.transport.close()

    def _refuse(self, status: int, detail: str) -> None:
        self._stop_head_timer()
        body = json.dumps({"detail": detail}).encode()
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
