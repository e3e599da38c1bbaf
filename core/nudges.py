"""How reminders read when they finally go out: a deadline nudge (several at once as one digest,
most urgent first), the stale "进展如何？", overdue notices and escalations to the leader.

Each is worded from the task as it is at sending time; one that no longer applies (submitted,
reassigned, snoozed, its official on leave) says nothing and is marked skipped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.dto import PersonView, TaskView
from core.permissions import can_update
from core.planning import NUDGED_STATUSES, SNOOZE_DAYS
from core.replies import Action, Button, Reply
from core.texts import Html, t
from core.views import Look, days_left, due_phrase, fmt_date, status_label, task_card, task_line
from storage.models import OutboxItem

if TYPE_CHECKING:
    from core.app import Core

Buttons = tuple[tuple[Button, ...], ...]


def nudge_buttons(lang: str, task: TaskView, person: PersonView) -> Buttons:
    """已提交, 更新进度, 稍后提醒, 遇到困难 — checked again on the server when pressed."""
    if task.closed or not can_update(person, task):
        return ()
    return (
        (Button(t(lang, "button.submitted"), Action("status", task.id, "submitted")),
         Button(t(lang, "button.progress"), Action("prog", task.id))),
        (Button(t(lang, "button.snooze"), Action("snooze", task.id)),
         Button(t(lang, "button.blocked"), Action("block", task.id))),
    )


def digest_buttons(lang: str, tasks: list[TaskView]) -> Buttons:
    """One row per task, its number on every button, so a phone shows which is which."""
    return tuple(
        (Button(t(lang, "button.digest_submitted", task_id=task.id),
                Action("status", task.id, "submitted")),
         Button(t(lang, "button.digest_progress", task_id=task.id), Action("prog", task.id)),
         Button(t(lang, "button.digest_snooze", task_id=task.id), Action("snooze", task.id)),
         Button(t(lang, "button.digest_blocked", task_id=task.id), Action("block", task.id)))
        for task in tasks
    )


def snooze_picker(lang: str, task: TaskView) -> Buttons:
    return (tuple(Button(t(lang, "snooze.days", days=days), Action("snooze", task.id, str(days)))
                  for days in SNOOZE_DAYS),)


def paused(look: Look, person: PersonView, task: TaskView) -> bool:
    snoozed = task.snoozed_until is not None and task.snoozed_until > look.now
    return snoozed or (person.away_until is not None and person.away_until > look.now)


def nudge_due(look: Look, person: PersonView, task: TaskView | None) -> bool:
    """Whether a deadline nudge about `task` still has something to say to `person`."""
    return (task is not None and task.status in NUDGED_STATUSES
            and task.official.id == person.id and not paused(look, person, task))


def nudge_reply(look: Look, person: PersonView, items: list[OutboxItem], tasks: list[TaskView]
                ) -> Reply:
    """One task: its card and buttons. Several: one line each, soonest due first, and a row of
    numbered buttons per task."""
    lang = look.lang
    tasks = sorted({task.id: task for task in tasks}.values(), key=lambda v: (v.due_at, v.id))
    if len(tasks) == 1:
        task = tasks[0]
        resume = all(item.payload.get("offset") == "resume" for item in items)
        text = t(lang, "nudge.resume" if resume else "nudge.one", task_id=task.id,
                 left=due_phrase(look, task.due_at), card=task_card(look, task))
        return Reply(text, nudge_buttons(lang, task, person), task_id=task.id)
    lines = Html("\n".join(task_line(look, task, with_official=False) for task in tasks))
    text = t(lang, "nudge.digest", count=len(tasks), lines=lines)
    return Reply(text, digest_buttons(lang, tasks))


async def _stale(
    core: Core, look: Look, person: PersonView, item: OutboxItem, task: TaskView | None
) -> Reply | None:
    if task is None or task.closed or task.official.id != person.id or paused(look, person, task):
        return None
    days = (look.now - task.last_update_at).days
    if days < look.stale_days:
        return None  # updated after the check found it silent
    text = t(look.lang, "nudge.stale", task_id=task.id, days=days, card=task_card(look, task))
    return Reply(text, nudge_buttons(look.lang, task, person), task_id=task.id)


def _overdue(task: TaskView | None, look: Look) -> TaskView | None:
    if task is None or task.closed or task.status.submitted_or_later or task.due_at > look.now:
        return None
    return task


async def _overdue_official(
    core: Core, look: Look, person: PersonView, item: OutboxItem, task: TaskView | None
) -> Reply | None:
    task = _overdue(task, look)
    if task is None or task.official.id != person.id or paused(look, person, task):
        return None
    text = t(look.lang, "nudge.overdue", task_id=task.id, card=task_card(look, task))
    return Reply(text, nudge_buttons(look.lang, task, person), task_id=task.id)


async def _overdue_leader(
    core: Core, look: Look, person: PersonView, item: OutboxItem, task: TaskView | None
) -> Reply | None:
    task = _overdue(task, look)
    if task is None:
        return None
    text = t(look.lang, "nudge.overdue_leader", task_id=task.id, title=task.title,
             days=max(1, -days_left(look, task.due_at)), official=task.official.name,
             due=fmt_date(look, task.due_at))
    return Reply(text, task_id=task.id)


async def _escalation(
    core: Core, look: Look, person: PersonView, item: OutboxItem, task: TaskView | None
) -> Reply | None:
    if task is None or task.closed or task.status.submitted_or_later:
        return None
    text = t(look.lang, "nudge.escalation", task_id=task.id, title=task.title,
             hours=core.settings.escalation_hours, official=task.official.name,
             due=fmt_date(look, task.due_at, with_time=True),
             status=status_label(look.lang, task.status), progress=task.progress)
    return Reply(text, task_id=task.id)


RENDERERS = {
    "stale": _stale,
    "overdue": _overdue_official,
    "overdue_leader": _overdue_leader,
    "escalation": _escalation,
}
