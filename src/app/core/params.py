"""Bounded input types shared by the domains."""

import re
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, Field
from pydantic.fields import FieldInfo

# Database ids are 32-bit: a larger number is refused (422) instead of reaching the query.
ResourceId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)
"""Add to any `Annotated[str, ...]` field that is stored, with its schema:
`Annotated[str, NoNul, stored_text()]`."""


# Unicode's White_Space: what `StringConstraints(strip_whitespace=True)` trims, and what JSON
# Schema's `\s` matches (less U+FEFF). Python's `\s` and str.isspace() also take \x1c-\x1f, so
# the set is spelled out wherever a rule and its schema must agree.
SPACE = r"\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
SPACE_CHARS = "".join(ch for ch in map(chr, range(0x3001)) if re.fullmatch(f"[{SPACE}]", ch))
"""The characters of SPACE, for str.strip()."""


def stored_text(visible: int = 0) -> FieldInfo:
    """The JSON Schema `pattern` of a stored string (see NoNul): no NUL and, for one that is
    trimmed and then needs `visible` characters (0 to 2), that many characters that are not
    whitespace. Documentation only: NoNul and the string's constraints enforce it."""
    anything = r"[^\x00]*"
    pattern = "^" + anything + rf"[^{SPACE}\x00]{anything}" * visible + "$"
    info: FieldInfo = Field(json_schema_extra={"pattern": pattern})
    return info
