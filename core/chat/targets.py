"""`/target`: the year's targets with progress, or set / delete one (admins).

    /target                          the year's targets and how far they have come
    /target 争取资金 5000             funding won, counted from approved tasks (万元)
    /target 立项数 20                 projects approved, counted from the tasks
    /target 高新技术企业新增 15 12     any other metric: target, and the actual so far
    /target 2027 争取资金 6000        another year
    /target 删除 高新技术企业新增      remove one
"""

from __future__ import annotations

import re

from core.chat.context import Ctx
from core.errors import InputError
from core.parsing import normalize
from core.replies import Reply
from core.summary.render import metric_label, target_line
from core.texts import Html

_YEAR = re.compile(r"^(20\d\d)年?$")
_VALUE = re.compile(r"^\d[\d,]*(\.\d+)?(万元|万|元|项|家|个|件)?$")
DELETE_WORDS = {"删除", "delete", "remove"}


async def target(ctx: Ctx, args: str) -> list[Reply]:
    words = normalize(args).split()
    year = None
    if words and (match := _YEAR.match(words[0])):
        year, words = int(match[1]), words[1:]
    if not words:
        return [await _progress(ctx, year)]
    targets = ctx.core.targets
    if words[0].lower() in DELETE_WORDS:
        if len(words) < 2:
            raise InputError("target_usage")
        year = year or targets.this_year()
        key = await targets.delete(ctx.person, " ".join(words[1:]), year, ctx.channel)
        return [ctx.reply("target_deleted", year=year, label=metric_label(ctx.lang, key))]
    values = _trailing_values(words)
    metric = " ".join(words[:len(words) - len(values)])
    if not metric or not 1 <= len(values) <= 2:
        raise InputError("target_usage")
    actual = values[1] if len(values) == 2 else None
    progress = await targets.set_target(ctx.person, metric, values[0], actual, year,
                                        ctx.channel)
    return [ctx.reply("target_set", year=year or targets.this_year(),
                      line=target_line(ctx.lang, progress))]


def _trailing_values(words: list[str]) -> list[str]:
    values: list[str] = []
    for word in reversed(words):
        if not _VALUE.match(word):
            break
        values.insert(0, word)
    return values


async def _progress(ctx: Ctx, year: int | None) -> Reply:
    year = year or ctx.core.targets.this_year()
    progress = await ctx.core.targets.progress(year)
    if not progress:
        return ctx.reply("targets_none", year=year)
    lines = [ctx.say("targets_header", year=year)]
    lines += [target_line(ctx.lang, p) for p in progress]
    return Reply(Html("\n".join(lines)))
