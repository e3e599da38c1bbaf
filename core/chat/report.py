"""Progress reports: `/report 12 60 可研初稿完成`, `/report 已提交 …` with one open task, and
free-text replies to a task message (a percentage or status word in them is understood)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from core.chat.context import Ctx
from core.enums import Status
from core.errors import InputError
from core.parsing import (
    find_percent,
    find_status,
    normalize,
    parse_amount,
    parse_percent,
    parse_status,
    parse_task_ref,
)
from core.permissions import can_update
from core.replies import Reply
from core.tasks import Outcome
from core.texts import Html, join, plain

UNBLOCK_WORDS = {"已解决", "解决", "解除受阻", "unblock", "unblocked"}
_GRANTED = re.compile(r"^\d+(\.\d+)?万元?$")


@dataclass(frozen=True)
class ReportRequest:
    task_id: int
    progress: int | None = None
    status: Status | None = None
    unblock: bool = False
    granted: Decimal | None = None
    note: str | None = None


def _head(text: str) -> tuple[str, str]:
    """The first word and the rest, with the rest's own spacing kept."""
    parts = text.strip().split(maxsplit=1)
    return (parts[0], parts[1] if len(parts) > 1 else "") if parts else ("", "")


def _is_value(token: str) -> bool:
    return (
        parse_status(token) is not None
        or normalize(token) in UNBLOCK_WORDS
        or parse_percent(token) is not None
    )


async def parse_report(ctx: Ctx, args: str) -> ReportRequest:
    first, rest = _head(args)
    if not first:
        raise InputError("report_usage")
    number = parse_task_ref(first)
    if number is not None and first.lstrip().startswith(("#", "＃")):
        return _values(number, rest)
    if number is not None and rest and _is_value(_head(rest)[0]):
        return _values(number, rest)
    single = await _single_open_task(ctx)
    if number is not None and (single is None or single == number or number > 100):
        return _values(number, rest)
    if single is None:
        raise InputError("task_number_needed", command="report", choices=await _choices(ctx))
    return _values(single, args)


def _values(task_id: int, text: str) -> ReportRequest:
    token, rest = _head(text)
    status = parse_status(token) if token else None
    if status is not None:
        granted = None
        amount, after = _head(rest)
        if status == Status.APPROVED and _GRANTED.match(normalize(amount)):
            granted, rest = parse_amount(amount, "funding"), after
        return ReportRequest(task_id, status=status, granted=granted, note=rest or None)
    if token and normalize(token) in UNBLOCK_WORDS:
        return ReportRequest(task_id, unblock=True, note=rest or None)
    progress = parse_percent(token) if token else None
    if progress is not None:
        return ReportRequest(task_id, progress=progress, note=rest or None)
    return ReportRequest(task_id, note=text.strip() or None)


async def _single_open_task(ctx: Ctx) -> int | None:
    tasks = await ctx.core.tasks.updatable(ctx.person)
    return tasks[0].id if len(tasks) == 1 else None


async def _choices(ctx: Ctx) -> Html:
    tasks = await ctx.core.tasks.updatable(ctx.person)
    return join(ctx.lang, [f"#{task.id} {task.title}" for task in tasks[:10]]) or Html("—")


async def apply_report(ctx: Ctx, request: ReportRequest) -> Outcome:
    tasks = ctx.core.tasks
    if request.unblock:
        outcome = await tasks.unblock(ctx.person, request.task_id, ctx.channel)
        if request.note:
            await tasks.report(ctx.person, request.task_id, ctx.channel, note=request.note)
        return outcome
    return await tasks.report(
        ctx.person, request.task_id, ctx.channel, progress=request.progress,
        status=request.status, note=request.note, granted=request.granted,
    )


async def reply_note(ctx: Ctx, task_id: int, text: str) -> Outcome:
    """A free-text reply to a message about a task: a note, plus progress/status when the
    author may update the task and the text mentions them."""
    task = await ctx.core.tasks.get(ctx.person, task_id)
    progress = status = None
    if can_update(ctx.person, task):
        progress, status = find_percent(text), find_status(text)
    return await ctx.core.tasks.report(
        ctx.person, task_id, ctx.channel, progress=progress, status=status, note=text
    )


def recorded(ctx: Ctx, outcome: Outcome) -> Reply:
    """The one-line acknowledgement: `已记录 #12 进度 60%，状态 已提交`."""
    task = outcome.task
    parts = []
    for change in outcome.changes:
        if change.startswith("edit_"):
            field = ctx.say(f"field.{change.removeprefix('edit_')}")
            parts.append(ctx.say("recorded.edit", field=field))
        else:
            parts.append(ctx.say(
                f"recorded.{change}", progress=task.progress, reason=task.blocked_reason or "",
                status=ctx.say(f"status.{task.status.value}"),
            ))
    what = Html("，" if ctx.lang == "zh" else ", ").join(parts)
    text = ctx.say("recorded", task_id=task.id, what=Html(what))
    if outcome.warning:
        text = Html(f"{text}\n{ctx.say(outcome.warning)}")
    return Reply(text, task_id=task.id, toast=plain(text)[:190])
