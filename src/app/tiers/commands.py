"""`app create-tier`: the first tier, from TIER_NAME."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from app.core.commands import Command, CommandFailed
from app.core.db import unit_of_work
from app.core.state import Resources
from app.tiers import service
from app.tiers.schemas import TierCreate
from app.tiers.settings import TierSettings


async def create_tier(resources: Resources, args: argparse.Namespace) -> int:
    try:
        default = resources.settings.feature(TierSettings).TIER_NAME
        name = TierCreate(name=args.name or default).name
    except ValidationError:
        raise CommandFailed(
            "invalid tier name: use 1-50 letters, digits, '_', '.' or '-'"
        ) from None
    async with unit_of_work(resources) as db:
        created = await service.ensure_tier(db, name)
    print(f"tier '{name}' created" if created else f"tier '{name}' exists: nothing to do")
    return 0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="default: TIER_NAME")


COMMANDS = (
    Command(
        "create-tier",
        "create the tier TIER_NAME (harmless to rerun)",
        create_tier,
        arguments=_arguments,
    ),
)
