"""Which optional features are installed (listed in app/domains.py). A feature's tests
package goes with it; a test elsewhere that also needs another optional feature says so with
`needs`, and is skipped once that feature is removed; the whole-stack tests (several
processes, the compose stack) leave out the steps of a removed feature with `installed`.

    @needs("accounts")
    async def test_a_password_reset_revokes_every_key(...): ...
"""

from __future__ import annotations

import pytest

from app.domains import DOMAINS


def installed(name: str) -> bool:
    return any(domain.name == name for domain in DOMAINS)


def needs(*names: str) -> pytest.MarkDecorator:
    missing = [name for name in names if not installed(name)]
    return pytest.mark.skipif(bool(missing), reason=f"needs the {', '.join(missing)} feature")
