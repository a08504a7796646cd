"""The flows that mail a link: email verification, email change, password reset.

Mail is published as `Mail` (core/messages.py) in the caller's transaction; the mail feature
puts it in its outbox and sends it after the commit. Requests that name an address rather than
a signed-in user (a verification resend, a password reset) do no lookup at all: they enqueue a
job that does, so their answer and timing are the same whether or not the account exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from app.accounts.repository import AccountRepository, LinkTokenRepository
from app.accounts.settings import AccountSettings
from app.auth.events import PasswordChanged
from app.auth.repository import SessionRepository
from app.core.db import Db, integrity_error_as, unit_of_work
from app.core.errors import BadRequest, Forbidden
from app.core.events import EventContext, publish
from app.core.messages import Templates
from app.core.state import Resources
from app.platform.queue import JobContext
from app.users.models import User

TEMPLATES = Templates(Path(__file__).parent / "templates")
VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 (a purpose, not a password)
BAD_LINK = "Invalid, expired or already used link"
UNVERIFIED = (
    "Email address not verified: follow the link sent to it, or ask for a new one with "
    "POST /api/v1/verify-email/resend"
)


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


@dataclass(frozen=True, slots=True)
class AccountMail:
    """The account mails, rendered from accounts/templates and published in the caller's
    transaction."""

    resources: Resources
    settings: AccountSettings

    @classmethod
    def of(cls, resources: Resources) -> AccountMail:
        return cls(resources, resources.settings.feature(AccountSettings))

    async def _link_mail(
        self,
        db: Db,
        user: User,
        template: str,
        purpose: str,
        email: str,
        ttl: timedelta,
        path: str,
    ) -> None:
        """The mail `template` to `email`, with a link that carries a new token of `purpose`
        (the user's earlier ones of that purpose stop working)."""
        token = await LinkTokenRepository(db).issue(user.id, purpose, email, ttl)
        mail = TEMPLATES.render(
            template,
            to=email,
            app_name=self.resources.settings.APP_NAME,
            name=user.name,
            email=email,
            link=f"{self.settings.PUBLIC_BASE_URL}{path}?{urlencode({'token': token})}",
            valid_for=_duration(ttl),
        )
        await publish(db, self.resources, mail)

    async def verification(self, db: Db, user: User, email: str) -> None:
        """A link that confirms `email` (the account's address, or the new one it asked
        for)."""
        ttl = timedelta(hours=self.settings.EMAIL_VERIFICATION_EXPIRE_HOURS)
        path = self.settings.VERIFY_EMAIL_PATH
        await self._link_mail(db, user, "verify_email", VERIFY_EMAIL, email, ttl, path)

    async def email_change_notice(self, db: Db, user: User, new_email: str) -> None:
        mail = TEMPLATES.render(
            "email_change_notice",
            to=user.email,
            app_name=self.resources.settings.APP_NAME,
            name=user.name,
            email=user.email,
            new_email=new_email,
        )
        await publish(db, self.resources, mail)

    async def password_reset(self, db: Db, user: User) -> None:
        ttl = timedelta(minutes=self.settings.PASSWORD_RESET_EXPIRE_MINUTES)
        path = self.settings.PASSWORD_RESET_PATH
        await self._link_mail(db, user, "password_reset", RESET_PASSWORD, user.email, ttl, path)


@dataclass(frozen=True, slots=True)
class Verification:
    """Email verification as users and sign-in take part in it (users/verification.py):
    registration mails a link, a new address waits for its own, and with
    REQUIRE_VERIFIED_EMAIL an unverified account may not sign in."""

    mail: AccountMail

    async def registered(self, db: Db, user: User) -> None:
        if not user.email_verified:
            await self.mail.verification(db, user, user.email)

    async def change_email(self, db: Db, user: User, new_email: str) -> None:
        await change_email(db, self.mail, user, new_email)

    def check_sign_in(self, user: User) -> None:
        if self.mail.settings.REQUIRE_VERIFIED_EMAIL and not user.email_verified:
            raise Forbidden(UNVERIFIED)


def open_verification(resources: Resources) -> Verification | None:
    """The `EMAIL_VERIFICATION` extension: there while EMAIL_VERIFICATION_ENABLED."""
    mail = AccountMail.of(resources)
    return Verification(mail) if mail.settings.EMAIL_VERIFICATION_ENABLED else None


async def verify_email(db: Db, token: str) -> User:
    """Spend a verification token: its address becomes the account's, verified."""
    spent = await LinkTokenRepository(db).spend(token, VERIFY_EMAIL)
    user = None if spent is None else await AccountRepository(db).live(spent[0])
    if spent is None or user is None:
        raise BadRequest(BAD_LINK)
    email = spent[1]
    if email == user.pending_email:
        user.email, user.pending_email = email, None
    elif email != user.email:
        # For an address the account no longer has, nor asks for.
        raise BadRequest(BAD_LINK)
    user.email_verified = True
    with integrity_error_as("Email is already registered"):
        await AccountRepository(db).flush()
    return user


async def change_email(db: Db, mail: AccountMail, user: User, new_email: str) -> None:
    """Ask to move the account to `new_email`: it stays pending, and the current address
    stays the account's, until the link sent to the new one is followed. The current address
    is told. Asking for the current address withdraws a pending change."""
    if new_email == user.email:
        user.pending_email = None
        await LinkTokenRepository(db).retire(user.id, VERIFY_EMAIL)
        return
    user.pending_email = new_email
    await mail.verification(db, user, new_email)
    await mail.email_change_notice(db, user, new_email)


async def confirm_password_reset(db: Db, resources: Resources, token: str, password: str) -> None:
    """Spend a reset token: set the password and end every session of the account; the
    handlers of `PasswordChanged` run in the same transaction (API keys are revoked)."""
    spent = await LinkTokenRepository(db).spend(token, RESET_PASSWORD)
    user = None if spent is None else await AccountRepository(db).live(spent[0])
    if spent is None or user is None:
        raise BadRequest(BAD_LINK)
    user.hashed_password = await resources.hasher.hash(password)
    if spent[1] == user.email:
        user.email_verified = True  # the link reached that mailbox
    await SessionRepository(db).revoke_all(user.id)
    await publish(db, resources, PasswordChanged(user.id, reset=True))


async def retire_reset_links(context: EventContext, event: PasswordChanged) -> None:
    """A password changed by its owner: the reset links sent before stop working."""
    if not event.reset:
        await LinkTokenRepository(context.db).retire(event.user_id, RESET_PASSWORD)


# --- jobs: the lookups behind the answers that must not tell whether an account exists ---


async def resend_verification(ctx: JobContext, email: str) -> str:
    """Send a new verification link to `email` if an account has it unverified (as its
    address, or as the new address it asked for)."""
    async with unit_of_work(ctx["resources"]) as db:
        user = await AccountRepository(db).with_address(email)
        if user is None or (user.email == email and user.email_verified):
            return "nothing to send"
        await AccountMail.of(ctx["resources"]).verification(db, user, email)
    return "sent"


async def start_password_reset(ctx: JobContext, email: str) -> str:
    """Send a reset link to `email` if an active account has that address."""
    async with unit_of_work(ctx["resources"]) as db:
        user = await AccountRepository(db).with_email(email)
        if user is None:
            return "nothing to send"
        await AccountMail.of(ctx["resources"]).password_reset(db, user)
    return "sent"


async def purge_link_tokens(ctx: JobContext) -> int:
    """Delete link tokens that were spent or expired over a day ago; returns how many."""
    async with unit_of_work(ctx["resources"]) as db:
        return await LinkTokenRepository(db).purge()
