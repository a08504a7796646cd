from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from app.accounts import service
from app.accounts.schemas import EmailRequest, PasswordResetConfirm, TokenRequest
from app.accounts.settings import AccountSettings
from app.auth.schemas import Message
from app.core.db import DbDep
from app.core.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, error_responses
from app.core.state import ResourcesDep, get_resources
from app.platform.queue import CRON_OWNER, QueueDep, new_job_id
from app.platform.rate_limit import Limit, RateLimiterDep, TooManyRequests, client_ip, enforce

router = APIRouter(tags=["auth"])


async def get_account_settings(request: Request) -> AccountSettings:
    return get_resources(request).settings.feature(AccountSettings)


AccountSettingsDep = Annotated[AccountSettings, Depends(get_account_settings)]


def _feature(enabled: bool, name: str) -> None:
    if not enabled:
        raise NotFound(f"{name} is turned off on this server")


@router.post(
    "/verify-email",
    response_model=Message,
    responses=error_responses(BadRequest, NotFound, Conflict),
)
async def verify_email(data: TokenRequest, db: DbDep, settings: AccountSettingsDep) -> Message:
    """Confirm an address with the token of its verification link."""
    _feature(settings.EMAIL_VERIFICATION_ENABLED, "Email verification")
    user = await service.verify_email(db, data.token)
    return Message(message=f"{user.email} is verified")


async def _mail_by_address(
    request: Request,
    email: str,
    limiter: RateLimiterDep,
    settings: AccountSettings,
    queue: QueueDep,
    function: str,
) -> None:
    """What a request for mail by address does, whether or not an account has the address:
    count it against the per-IP and per-address limits (so that a 429 tells nothing either),
    and enqueue the job that looks the address up."""
    per_ip = Limit(settings.MAIL_RATE_LIMIT_LIMIT, settings.MAIL_RATE_LIMIT_PERIOD)
    await enforce(request, await limiter.hit(per_ip, f"ip:{client_ip(request)}", "mail"))
    per_address = Limit(
        settings.MAIL_ADDRESS_RATE_LIMIT_LIMIT, settings.MAIL_ADDRESS_RATE_LIMIT_PERIOD
    )
    await enforce(request, await limiter.hit(per_address, f"address:{email}", "mail"))
    try:
        await queue.enqueue(function, email, job_id=new_job_id(), owner=CRON_OWNER)
    except ServiceUnavailable:
        raise ServiceUnavailable("Mail cannot be sent right now, try again shortly") from None


@router.post(
    "/verify-email/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses=error_responses(NotFound, TooManyRequests, ServiceUnavailable),
)
async def resend_verification(
    request: Request,
    data: EmailRequest,
    limiter: RateLimiterDep,
    settings: AccountSettingsDep,
    queue: QueueDep,
) -> Message:
    """Send a new verification link to an address that waits for one. The answer is the
    same whether or not it does."""
    _feature(settings.EMAIL_VERIFICATION_ENABLED, "Email verification")
    await _mail_by_address(request, data.email, limiter, settings, queue, "resend_verification")
    return Message(message="If the address waits for verification, a new link is on its way")


@router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses=error_responses(NotFound, TooManyRequests, ServiceUnavailable),
)
async def request_password_reset(
    request: Request,
    data: EmailRequest,
    limiter: RateLimiterDep,
    settings: AccountSettingsDep,
    queue: QueueDep,
) -> Message:
    """Mail a password-reset link to the account with this address. The answer, and its
    timing, are the same whether or not such an account exists."""
    _feature(settings.PASSWORD_RESET_ENABLED, "Password reset")
    await _mail_by_address(request, data.email, limiter, settings, queue, "start_password_reset")
    return Message(message="If an account has this address, a reset link is on its way")


@router.post(
    "/password-reset/confirm",
    response_model=Message,
    responses=error_responses(BadRequest, NotFound),
)
async def confirm_password_reset(
    data: PasswordResetConfirm,
    db: DbDep,
    resources: ResourcesDep,
    settings: AccountSettingsDep,
) -> Message:
    """Set a new password with the token of a reset link; every session of the account ends."""
    _feature(settings.PASSWORD_RESET_ENABLED, "Password reset")
    await service.confirm_password_reset(db, resources, data.token, data.new_password)
    return Message(message="Password changed; sign in with the new one")
