"""Guided forms: `/assign` step by step with buttons, and the 遇到困难 reason question.

Each step's answer is checked at once (a bad date is refused at the date step, the form stays
there); the final confirmation re-checks everything on the server through `Tasks.assign`."""

from __future__ import annotations

from html import escape
from typing import Any

from core.chat.context import Ctx
from core.enums import Role
from core.errors import InputError
from core.parsing import MAX_TITLE, check_text, parse_amount
from core.replies import Action, Button, Reply
from core.tasks import AssignRequest
from core.texts import Html

ASSIGN_STEPS = ("official", "title", "enterprise", "due", "leader", "funding", "confirm")
SKIPPABLE = {"enterprise", "leader", "funding"}
PEOPLE_BUTTONS = 24


async def start_assign(ctx: Ctx) -> list[Reply]:
    form = {"form": "assign", "step": "official", "data": {}}
    await ctx.state.set(form)
    return [await prompt(ctx, form)]


async def prompt(ctx: Ctx, form: dict[str, Any]) -> Reply:
    step = form["step"]
    if step == "confirm":
        return Reply(ctx.say("form.confirm", card=preview(ctx, form["data"])), (
            (Button(ctx.say("button.confirm"), Action("ok")),
             Button(ctx.say("button.cancel"), Action("cancel"))),
        ))
    rows: list[tuple[Button, ...]] = []
    text = ctx.say(f"form.{step}")
    if step in ("official", "leader"):
        role = Role.OFFICIAL if step == "official" else Role.LEADER
        people = (await ctx.core.people.with_role(role))[:PEOPLE_BUTTONS]
        buttons = [Button(p.name, Action("pick", 0, str(p.id))) for p in people]
        rows.extend(tuple(buttons[i:i + 3]) for i in range(0, len(buttons), 3))
        if not people:
            text = Html(text + "\n" + ctx.say("form.no_people", role_label=ctx.say(f"role.{role}")))
    if step in SKIPPABLE:
        rows.append((Button(ctx.say("button.skip"), Action("skip")),))
    rows.append((Button(ctx.say("button.cancel"), Action("cancel")),))
    return Reply(text, tuple(rows))


async def answer(ctx: Ctx, form: dict[str, Any], value: str | int | None) -> list[Reply]:
    """Take one answer (`None` = skip, int = a picked person) and move to the next step."""
    step = form["step"]
    if value is None and step not in SKIPPABLE:
        raise InputError("form_expired")
    if value is not None:
        form["data"].update(await _checked(ctx, step, value))
    form["step"] = ASSIGN_STEPS[ASSIGN_STEPS.index(step) + 1]
    await ctx.state.set(form)
    return [await prompt(ctx, form)]


async def _checked(ctx: Ctx, step: str, value: str | int) -> dict[str, Any]:
    if step in ("official", "leader"):
        role = Role.OFFICIAL if step == "official" else Role.LEADER
        person = await ctx.core.people.find(value, step, role)
        return {step: person.id, f"{step}_name": person.name}
    if isinstance(value, int):
        raise InputError("form_expired")
    if step in ("title", "enterprise"):
        return {step: check_text(value, step, MAX_TITLE)}
    if step == "due":
        due = ctx.core.tasks.parse_due(value)
        return {"due": value, "due_at": due.isoformat()}
    if step == "funding":
        return {"funding": str(parse_amount(value, "funding"))}
    raise InputError("form_expired")


def preview(ctx: Ctx, data: dict[str, Any]) -> Html:
    lines = [f"<b>{escape(data['title'])}</b>"]
    labelled = (("enterprise", "enterprise"), ("official", "official_name"),
                ("due", "due"), ("leader", "leader_name"), ("funding", "funding"))
    for field, key in labelled:
        if data.get(key):
            lines.append(f"{ctx.say(f'field.{field}')}：{escape(str(data[key]))}")
    return Html("\n".join(lines))


async def confirm(ctx: Ctx, form: dict[str, Any]) -> AssignRequest:
    if form.get("step") != "confirm":
        raise InputError("form_expired")
    data = form["data"]
    return AssignRequest(
        official=int(data["official"]), due=data["due"], title=data["title"],
        leader=int(data["leader"]) if data.get("leader") else None,
        funding=data.get("funding"), enterprise=data.get("enterprise"),
    )

