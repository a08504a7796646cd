"""The extension point through which a feature that verifies addresses (app/accounts) takes
part in the rules of users and of sign-in (core/extensions.py).

Without it (no such feature installed, or its settings turn verification off) an account's
address is taken as given: nothing is sent at registration, a new address replaces the old
one at once (unverified), and nobody is refused a sign-in for it.
"""

from __future__ import annotations

from typing import Protocol

from app.core.db import Db
from app.core.extensions import Key
from app.users.models import User


class EmailVerification(Protocol):
    async def registered(self, db: Db, user: User) -> None:
        """A new account: send what verifies its address, in the registration's
        unit of work."""
        ...

    async def change_email(self, db: Db, user: User, new_email: str) -> None:
        """The account asks for `new_email` (another address than its own, or its own to
        withdraw a pending change): the feature decides when it becomes the account's."""
        ...

    def check_sign_in(self, user: User) -> None:
        """Raise an `AppError` (a 403) when the account may not sign in yet; the password
        has been checked."""
        ...


EMAIL_VERIFICATION: Key[EmailVerification] = Key("email verification")
