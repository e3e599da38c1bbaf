"""`/guidelines`: the guidelines whose deadline is still ahead, soonest first, a page at a time;
`/guidelines 订阅` / `退订` to hear (or stop hearing) when a guideline opens."""

from __future__ import annotations

from core.chat.context import Ctx
from core.errors import InputError
from core.parsing import normalize
from core.replies import Reply
from core.texts import Html
from core.views import guideline_card, split_message

PAGE = 10
SUBSCRIBE = {"订阅", "subscribe"}
UNSUBSCRIBE = {"退订", "取消订阅", "unsubscribe"}


async def guidelines(ctx: Ctx, args: str) -> list[Reply]:
    word = normalize(args).lower()
    if word in SUBSCRIBE | UNSUBSCRIBE:
        await ctx.core.guidelines.subscribe(ctx.person.id, word in SUBSCRIBE)
        return [ctx.reply("guidelines_subscribed" if word in SUBSCRIBE
                          else "guidelines_unsubscribed")]
    if word and not word.isdigit():
        raise InputError("guidelines_usage")
    upcoming = await ctx.core.guidelines.upcoming()
    if not upcoming:
        return [ctx.reply("guidelines_none")]
    pages = -(-len(upcoming) // PAGE)
    page = min(max(1, int(word or 1)), pages)
    look = ctx.look()
    header = ctx.say("guidelines_header", count=len(upcoming))
    if pages > 1:
        header = Html(f"{header} · {ctx.say('guidelines_page', page=page, pages=pages)}")
    lines: list[str] = [header]
    for guideline in upcoming[(page - 1) * PAGE: page * PAGE]:
        lines += ["", guideline_card(look, guideline, indent="    ")]
    if page < pages:
        lines += ["", ctx.say("guidelines_more", rest=len(upcoming) - page * PAGE, page=page + 1)]
    return [Reply(Html(part)) for part in split_message("\n".join(lines))]
