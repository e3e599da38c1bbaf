"""The commands, each a short function from (context, arguments) to replies.

`COMMANDS` is the single table of what exists and who may use it: the conversation checks it,
Telegram's command menu is built from it, and the authorization table test walks it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.chat import forms, imports, settings
from core.chat.away import away
from core.chat.context import Ctx
from core.chat.guidelines import guidelines
from core.chat.report import apply_report, parse_report, recorded
from core.chat.targets import target
from core.enums import Role
from core.errors import InputError
from core.parsing import parse_task_ref, split_fields
from core.people import parse_role
from core.permissions import Permission, has_permission, require
from core.replies import Action, Button, Reply
from core.summary.messages import summary_replies
from core.tasks import AssignRequest
from core.texts import Html
from core.views import fmt_date, roles_text, split_message, task_buttons, task_detail, task_line

Handler = Callable[[Ctx, str], Awaitable[list[Reply]]]
PAGE = 15

EDIT_FIELDS = {
    "责任人": "official", "official": "official",
    "领导": "leader", "包抓领导": "leader", "leader": "leader",
    "截止": "due", "截止日期": "due", "due": "due",
    "名称": "title", "项目名称": "title", "title": "title",
    "单位": "enterprise", "申报单位": "enterprise", "enterprise": "enterprise",
    "资金": "funding", "争取资金": "funding", "funding": "funding",
    "提醒": "offsets", "offsets": "offsets",
}


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    permission: Permission | None  # None: every registered person
    help_key: str | None
    menu: bool = True


async def help_(ctx: Ctx, args: str) -> list[Reply]:
    lines = [ctx.say("help_header")]
    for command in COMMANDS.values():
        if command.help_key and allowed(ctx, command):
            lines.append(ctx.say(command.help_key))
    lines += [ctx.say("help.reply"), ctx.say("help.cancel"), ctx.say("help.words")]
    return [Reply(Html("\n".join(lines)))]


async def invite(ctx: Ctx, args: str) -> list[Reply]:
    role_words, _, name = args.strip().partition(" ")
    if not role_words or not name.strip():
        raise InputError("invite_usage")
    roles = {parse_role(w) for w in role_words.replace("、", ",").split(",") if w}
    new = await ctx.core.invites.create(roles, name, ctx.person, ctx.channel)
    username = ctx.core.bot_username
    link = (f"https://t.me/{username}?start={new.code}" if username
            else ctx.say("invite_link_unknown", code=new.code))
    days = ctx.core.settings.invite_ttl_days
    return [ctx.reply("invite_created", name=new.name, roles=roles_text(ctx.lang, new.roles),
                      days=days, link=Html(link))]


async def assign(ctx: Ctx, args: str) -> list[Reply]:
    if not args.strip():
        return await forms.start_assign(ctx)
    fields = split_fields(args)
    if len(fields) < 3 or len(fields) > 7:
        raise InputError("assign_usage")
    fields += [""] * (7 - len(fields))
    official, due, title, leader, funding, enterprise, guideline = fields
    request = AssignRequest(official=official, due=due, title=title, leader=leader or None,
                            funding=funding or None, enterprise=enterprise or None,
                            guideline=guideline or None)
    return [await assigned_reply(ctx, request)]


async def assigned_reply(ctx: Ctx, request: AssignRequest) -> Reply:
    outcome = await ctx.core.tasks.assign(ctx.person, request, ctx.channel)
    task = outcome.task
    note = ctx.say("assigned_leader_note", leader=task.leader.name) if task.leader else ""
    text = ctx.say("assigned", task_id=task.id, title=task.title, official=task.official.name,
                   due=fmt_date(ctx.look(), task.due_at), leader_note=Html(note))
    if outcome.warning:
        text = Html(f"{text}\n{ctx.say(outcome.warning)}")
    return Reply(text, task_id=task.id)


async def cancel(ctx: Ctx, args: str) -> list[Reply]:
    if await ctx.state.get() is None:
        return [ctx.refuse("nothing_to_cancel")]
    await ctx.state.clear()
    return [ctx.reply("form_cancelled")]


async def tasks(ctx: Ctx, args: str) -> list[Reply]:
    page = max(1, parse_task_ref(args) or 1) if args.strip() else 1
    visible = await ctx.core.tasks.visible(ctx.person)
    if not visible:
        return [ctx.reply("no_tasks")]
    person = ctx.person
    title = ("tasks_title_all" if person.sees_everything
             else "tasks_title_portfolio" if person.has(Role.LEADER) else "tasks_title_own")
    shown = visible[(page - 1) * PAGE: page * PAGE]
    look = ctx.look()
    lines = [ctx.say("tasks_header", title=ctx.say(title), count=len(visible))]
    lines += [task_line(look, task, with_official=task.official.id != person.id) for task in shown]
    rest = len(visible) - page * PAGE
    if rest > 0:
        lines.append(ctx.say("tasks_more", rest=rest, page=page + 1))
    openers = [Button(f"#{task.id}", Action("view", task.id)) for task in shown]
    rows = tuple(tuple(openers[i:i + 5]) for i in range(0, len(openers), 5))
    parts = split_message("\n".join(lines))
    return [Reply(Html(p)) for p in parts[:-1]] + [Reply(Html(parts[-1]), rows)]


async def task(ctx: Ctx, args: str) -> list[Reply]:
    task_id = parse_task_ref(args.strip())
    if task_id is None:
        raise InputError("task_number_needed", command="task", choices=await _choices(ctx))
    return await show_task(ctx, task_id)


async def show_task(ctx: Ctx, task_id: int) -> list[Reply]:
    detail = await ctx.core.tasks.detail(ctx.person, task_id)
    text = task_detail(ctx.look(), detail)
    buttons = task_buttons(ctx.lang, detail.task, ctx.person)
    return [Reply(Html(p), buttons, task_id=task_id) for p in split_message(text)]


async def report(ctx: Ctx, args: str) -> list[Reply]:
    if not args.strip():
        raise InputError("report_usage")
    outcome = await apply_report(ctx, await parse_report(ctx, args))
    return [recorded(ctx, outcome)]


async def summary(ctx: Ctx, args: str) -> list[Reply]:
    require(ctx.person, Permission.SUMMARY)
    return await summary_replies(ctx.core, ctx.person, args)


async def edit(ctx: Ctx, args: str) -> list[Reply]:
    number, field_word, value = [*args.strip().split(maxsplit=2), "", "", ""][:3]
    task_id = parse_task_ref(number)
    if task_id is None or not field_word:
        raise InputError("edit_usage")
    field = EDIT_FIELDS.get(field_word.lower())
    if field is None:
        raise InputError("edit_field_unknown", value=field_word)
    outcome = await ctx.core.tasks.edit(ctx.person, task_id, field, value, ctx.channel)
    return [recorded(ctx, outcome)]


async def _choices(ctx: Ctx) -> Html:
    visible = await ctx.core.tasks.visible(ctx.person)
    return Html("、".join(f"#{t.id}" for t in visible[:15]) or "—")


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("start", help_, None, None, menu=False),
    Command("help", help_, None, None),
    Command("tasks", tasks, None, "help.tasks"),
    Command("task", task, None, "help.task"),
    Command("report", report, None, "help.report"),
    Command("summary", summary, Permission.SUMMARY, "help.summary"),
    Command("guidelines", guidelines, None, "help.guidelines"),
    Command("target", target, Permission.SET_TARGETS, "help.target"),
    Command("assign", assign, Permission.ASSIGN, "help.assign"),
    Command("edit", edit, Permission.EDIT_TASK, "help.edit"),
    Command("invite", invite, Permission.INVITE, "help.invite"),
    Command("import", imports.usage, Permission.IMPORT, "help.import"),
    Command("settings", settings.settings, None, "help.settings"),
    Command("away", away, None, "help.away"),
    Command("cancel", cancel, None, None),
)}

# Plain words that work as commands on every channel (WeCom has no command menu).
WORDS = {
    "任务": "tasks", "我的任务": "tasks", "汇报": "report", "进度": "report", "汇总": "summary",
    "帮助": "help", "取消": "cancel", "tasks": "tasks", "help": "help", "summary": "summary",
    "指南": "guidelines", "申报指南": "guidelines", "guidelines": "guidelines",
    "目标": "target", "年度目标": "target", "设置": "settings", "settings": "settings",
    "休假": "away",
}


def allowed(ctx: Ctx, command: Command) -> bool:
    return command.permission is None or has_permission(ctx.person, command.permission)
