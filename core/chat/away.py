"""/away: pausing a person's deadline nudges while they are on leave."""

from __future__ import annotations

from core.chat.context import Ctx
from core.errors import InputError
from core.people import AWAY_LIMIT
from core.replies import Reply
from core.views import fmt_date


async def away(ctx: Ctx, args: str) -> list[Reply]:
    """`/away 5`, `/away 0` (back), and for admins `/away 李明 5`."""
    words = args.split()
    if not words:
        raise InputError("away_usage")
    count = words[-1].lower().removesuffix("天").removesuffix("d")
    if not count.isdigit():
        raise InputError("away_days_invalid", value=words[-1], limit=AWAY_LIMIT)
    name = " ".join(words[:-1]) or None
    person = await ctx.core.people.set_away(ctx.person, name, int(count), ctx.channel)
    if person.away_until is None:
        return [ctx.reply("away_back", name=person.name)]
    return [ctx.reply("away_set", name=person.name, until=fmt_date(ctx.look(), person.away_until))]
