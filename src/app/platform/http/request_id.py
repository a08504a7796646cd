"""The request's id, sent back as `X-Request-ID` and set for the request's log lines
(platform/logging.py `request_id_var`). A client's own id is kept when it is a plain token, so
that one id follows a request from a proxy that made it up; anything else is replaced: the id
reaches the logs, where a header value must not be able to forge a line."""

from __future__ import annotations

import os
import re

_PLAIN_TOKEN = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


def request_id(given: bytes | None) -> str:
    """`given` (the request's X-Request-ID) when it is 1 to 128 of `A-Za-z0-9._:-`, else a new
    random UUID (version 4) in 32 hex digits."""
    if given and _PLAIN_TOKEN.match(given):
        return given.decode()
    # uuid.uuid4().hex, from the same 16 random bytes with the same version and variant bits,
    # without building a UUID object: that took a hundred bytecodes of every request.
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # variant: RFC 4122
    return raw.hex()
