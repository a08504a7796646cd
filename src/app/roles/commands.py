"""`app create-role` and `app grant`: roles and grants from the command line."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from app.core import permissions
from app.core.commands import Command, CommandFailed
from app.core.db import unit_of_work
from app.core.errors import NotFound
from app.core.state import Resources
from app.roles import service
from app.roles.schemas import RoleCreate


async def create_role(resources: Resources, args: argparse.Namespace) -> int:
    names = [n.strip() for value in args.permissions for n in value.split(",") if n.strip()]
    try:
        data = RoleCreate(name=args.name, description=args.description or "", permissions=names)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise CommandFailed(f"invalid role: {problems}") from None
    missing = permissions.unknown(data.permissions)
    if missing:
        known = ", ".join(p.name for p in permissions.registered())
        raise CommandFailed(f"unknown permissions: {', '.join(missing)} (known: {known})")
    async with unit_of_work(resources) as db:
        outcome = await service.ensure_role(db, resources, data, description=args.description)
    print(f"role '{data.name}' {outcome}: {', '.join(data.permissions) or 'no permissions'}")
    return 0


async def grant(resources: Resources, args: argparse.Namespace) -> int:
    try:
        async with unit_of_work(resources) as db:
            granted = await service.grant(db, resources, args.username, args.role)
    except NotFound as exc:
        raise CommandFailed(
            f"{exc.detail}: cannot grant '{args.role}' to '{args.username}'"
        ) from None
    held = "granted to" if granted else "already held by"
    print(f"role '{args.role}' {held} '{args.username}'")
    return 0


def _role_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument(
        "--permissions",
        nargs="*",
        default=[],
        metavar="PERMISSION",
        help="resource.action names, space- or comma-separated (GET /permissions lists them)",
    )
    parser.add_argument("--description")


def _grant_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username")
    parser.add_argument("role")


COMMANDS = (
    Command(
        "create-role",
        "create a role, or set the permissions of an existing one (harmless to rerun)",
        create_role,
        arguments=_role_arguments,
    ),
    Command("grant", "give a user a role (harmless to rerun)", grant, arguments=_grant_arguments),
)
