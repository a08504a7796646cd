"""Write the app's OpenAPI document, with every installed feature, to a file: what `make client`
generates the TypeScript client from (clients/typescript/), and what the client's drift check
compares with the committed one.

    python scripts/openapi.py clients/typescript/openapi.json

The document is the code's alone: the app is built with the settings' defaults, neither `.env`
nor the environment's settings, so that every machine writes the same bytes (a developer's
APP_NAME would otherwise show up as drift in CI). Nothing is connected to: building the app
opens no database and no Redis.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# What Python itself may still read; the app's settings are all left out.
_KEPT = frozenset({"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"})


def document() -> dict[str, Any]:
    """The OpenAPI document that the app serves at /openapi.json, with default settings."""
    for name in set(os.environ) - _KEPT:
        del os.environ[name]
    # Imported after the environment is cleared: nothing of the app reads it before.
    from app.core.config import Settings
    from app.factory import create_app

    schema: dict[str, Any] = create_app(Settings(_env_file=None)).openapi()
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="where to write the document (JSON)")
    args = parser.parse_args(argv)
    text = render(document())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
