from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    """Plain, one-line records on stderr; no request bodies, headers or tokens are logged."""
    root = logging.getLogger()
    if not any(getattr(h, "_app_handler", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._app_handler = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
