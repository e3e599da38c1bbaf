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
from core.views import fmt_date

ASSIGN_STEPS = ("official", "title", "enterprise", "guideline", "due", "leader", "funding",
                "confirm")
SKIPPABLE = {"enterprise", "guideline", "leader", "funding"}
PEOPLE_BUTTONS = 24
GUIDELINE_BUTTONS = 8
BUTTON_LABEL = 30


async def start_assign(ctx: Ctx) -> list[Reply]:
    # The guideline step is offered only when there are guidelines to pick from.
    offered = bool(await ctx.core.guidelines.upcoming())
    steps = [step for step in ASSIGN_STEPS if offered or step != "guideline"]
    form = {"form": "assign", "step": "official", "steps": steps, "data": {}}
    await ctx.state.set(form)
    return [await prompt(ctx, form)]


def _steps(form: dict[str, Any]) -> list[str]:
    # Forms stored before the guideline step existed have no list of their own.
    steps: list[str] = form.get("steps") or [s for s in ASSIGN_STEPS if s != "guideline"]
    return steps


def _skippable(form: dict[str, Any]) -> bool:
    step = form["step"]
    return step in SKIPPABLE or (step == "due" and bool(form["data"].get("guideline")))


async def prompt(ctx: Ctx, form: dict[str, Any]) -> Reply:
    step = form["step"]
    if step == "confirm":
        return Reply(ctx.say("form.confirm", card=preview(ctx, form["data"])), (
            (Button(ctx.say("button.confirm"), Action("ok")),
             Button(ctx.say("button.cancel"), Action("cancel"))),
        ))
    rows: list[tuple[Button, ...]] = []
    text = ctx.say(f"form.{step}", n=_steps(form).index(step) + 1)
    if step in ("official", "leader"):
        role = Role.OFFICIAL if step == "official" else Role.LEADER
        people = (await ctx.core.people.with_role(role))[:PEOPLE_BUTTONS]
        buttons = [Button(p.name, Action("pick", 0, str(p.id))) for p in people]
        rows.extend(tuple(buttons[i:i + 3]) for i in range(0, len(buttons), 3))
        if not people:
            text = Html(text + "\n" + ctx.say("form.no_people", role_label=ctx.say(f"role.{role}")))
    if step == "guideline":
        upcoming = (await ctx.core.guidelines.upcoming())[:GUIDELINE_BUTTONS]
        rows.extend((Button(g.name[:BUTTON_LABEL], Action("pick", 0, str(g.id))),)
                    for g in upcoming)
    data = form["data"]
    if step == "due" and data.get("guideline"):
        text = Html(text + "\n" + ctx.say("form.due_default", name=data["guideline_name"],
                                           due=data["guideline_due"]))
    if _skippable(form):
        rows.append((Button(ctx.say("button.skip"), Action("skip")),))
    rows.append((Button(ctx.say("button.cancel"), Action("cancel")),))
    return Reply(text, tuple(rows))


async def answer(ctx: Ctx, form: dict[str, Any], value: str | int | None) -> list[Reply]:
    """Take one answer (`None` = skip, int = a picked person) and move to the next step."""
    step = form["step"]
    if value is None and not _skippable(form):
        raise InputError("form_expired")
    if value is not None:
        form["data"].update(await _checked(ctx, step, value))
    steps = _steps(form)
    form["step"] = steps[steps.index(step) + 1]
    await ctx.state.set(form)
    return [await prompt(ctx, form)]


async def _checked(ctx: Ctx, step: str, value: str | int) -> dict[str, Any]:
    if step in ("official", "leader"):
        role = Role.OFFICIAL if step == "official" else Role.LEADER
        person = await ctx.core.people.find(value, step, role)
        return {step: person.id, f"{step}_name": person.name}
    if step == "guideline":
        guideline = await ctx.core.guidelines.find(value)
        return {"guideline": guideline.id, "guideline_name": guideline.name,
                "guideline_due": fmt_date(ctx.look(), guideline.internal_due_at)}
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
    data = dict(data)
    if not data.get("due") and data.get("guideline"):
        data["due"] = ctx.say("form.due_from_guideline", due=data["guideline_due"])
    labelled = (("enterprise", "enterprise"), ("official", "official_name"),
                ("guideline", "guideline_name"), ("due", "due"), ("leader", "leader_name"),
                ("funding", "funding"))
    for field, key in labelled:
        if data.get(key):
            lines.append(f"{ctx.say(f'field.{field}')}：{escape(str(data[key]))}")
    return Html("\n".join(lines))


async def confirm(ctx: Ctx, form: dict[str, Any]) -> AssignRequest:
    if form.get("step") != "confirm":
        raise InputError("form_expired")
    data = form["data"]
    return AssignRequest(
        official=int(data["official"]), due=data.get("due", ""), title=data["title"],
        leader=int(data["leader"]) if data.get("leader") else None,
        funding=data.get("funding"), enterprise=data.get("enterprise"),
        guideline=int(data["guideline"]) if data.get("guideline") else None,
    )

