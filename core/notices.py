"""Messages to people other than the one who acted: what goes in the outbox for an event, and
how an outbox row reads when it is finally sent (rendered then, so it shows the task as it is)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import nudges
from core.calendar import after_quiet_hours
from core.dto import PersonView, TaskView
from core.enums import Role
from core.outbox import enqueue
from core.planning import NUDGE
from core.replies import Reply
from core.summary import messages as summary_messages
from core.texts import t
from core.views import Look, fmt_date, guideline_card, task_buttons, task_card
from storage.models import OutboxItem, Person, PersonRole, Task

if TYPE_CHECKING:
    from core.app import Core


@dataclass(frozen=True)
class Rendered:
    """One message to send, and the outbox rows it carries (several when digested)."""

    reply: Reply
    item_ids: tuple[int, ...]


# ---- enqueueing ------------------------------------------------------------------------------

async def notify(
    core: Core, session: AsyncSession, person_id: int, kind: str, task: Task | None,
    now: datetime, key: str | None = None, guideline_id: int | None = None, **payload: object,
) -> bool:
    """Enqueue a notice for now (or the end of quiet hours). `key` names the event for
    de-duplication; by default every call is its own event. False if it was enqueued before."""
    settings = core.settings
    key = key or f"{task.id if task else 0}:{int(now.timestamp() * 1_000_000)}"
    return await enqueue(
        session, person_id=person_id, kind=kind, task_id=task.id if task else None,
        guideline_id=guideline_id, payload=dict(payload),
        dedupe_key=f"{kind}:{person_id}:{key}", due_at=now,
        send_at=after_quiet_hours(now, settings.tz, settings.quiet_hours),
    )


async def task_assigned(core: Core, session: AsyncSession, task: Task, now: datetime) -> None:
    await notify(core, session, task.official_id, "assigned", task, now)
    if task.leader_id and task.leader_id != task.official_id:
        await notify(core, session, task.leader_id, "leader_assigned", task, now)


async def task_blocked(core: Core, session: AsyncSession, task: Task, now: datetime) -> None:
    """The leader hears of a blocker at once; a task without a leader tells the admins."""
    recipients = [task.leader_id] if task.leader_id else await ids_with_role(session, Role.ADMIN)
    for person_id in recipients:
        if person_id != task.official_id:
            await notify(core, session, person_id, "blocked", task, now,
                         reason=task.blocked_reason or "")


async def task_edited(
    core: Core, session: AsyncSession, task: Task, before: TaskView, now: datetime
) -> None:
    if task.official_id != before.official.id:
        await notify(core, session, task.official_id, "assigned", task, now)
        await notify(core, session, before.official.id, "unassigned", task, now)
    if task.leader_id and task.leader_id != (before.leader.id if before.leader else None):
        await notify(core, session, task.leader_id, "leader_assigned", task, now)
    if task.due_at != before.due_at and task.official_id == before.official.id:
        await notify(core, session, task.official_id, "due_changed", task, now)


async def person_unreachable(
    core: Core, session: AsyncSession, person: Person, channel: str, now: datetime
) -> None:
    """Tell the admins, once a day per person and channel, that messages no longer arrive."""
    day = now.astimezone(core.settings.tz).date().isoformat()
    for admin_id in await ids_with_role(session, Role.ADMIN):
        if admin_id != person.id:
            await notify(core, session, admin_id, "unreachable", None, now,
                         key=f"{person.id}:{channel}:{day}", name=person.name, channel=channel)


async def ids_with_role(session: AsyncSession, role: Role) -> list[int]:
    rows = await session.scalars(
        select(Person.id).join(PersonRole).where(PersonRole.role == role.value, Person.active)
    )
    return list(rows)


# ---- rendering -------------------------------------------------------------------------------

Renderer = Callable[
    ["Core", Look, PersonView, OutboxItem, TaskView | None], Awaitable[Reply | None]
]


async def _assigned(
    core: Core, look: Look, person: PersonView, item: OutboxItem, task: TaskView | None
) -> Reply | None:
    if task is None or task.closed or task.official.id != person.id:
        return None  # reassigned or closed before it went out: nothing to say any more
    text = t(look.lang, "notice.assigned", task_id=task.id, card=task_card(look, task))
    return Reply(text, task_buttons(look.lang, task, person), task_id=task.id)


async def _leader_assigned(
    core: Core, look: Look, person: PersonView, item: OutboxItem, task: TaskView | None
) -> Reply | None:
    if task is None or task.closed:
        return None
    text = t(look.lang, "notice.leader_assigned", task_id=task.id, card=task_card(look, task))
    return Reply(text, task_id=task.id)


async def _unassigned(
    core: Core, look: Look, person: PersonView, item: OutboxItem, task: TaskView | None
) -> Reply | None:
    if task is None:
        return None
    text = t(look.lang, "notice.unassigned", task_id=task.id, title=task.title,
             official=task.official.name)
    return Reply(text)


async def _due_changed(
    core: Core, look: Look, person: PersonView, item: OutboxItem, task: TaskView | None
) -> Reply | None:
    if task is None or task.closed:
        return None
    due = fmt_date(look, task.due_at)
    text = t(look.lang, "notice.due_changed", task_id=task.id, title=task.title, due=due)
    return Reply(text, task_buttons(look.lang, task, person), task_id=task.id)


async def _blocked(
    core: Core, look: Look, person: PersonView, item: OutboxItem, task: TaskView | None
) -> Reply | None:
    if task is None:
        return None
    text = t(look.lang, "notice.blocked", task_id=task.id, title=task.title,
             official=task.official.name, reason=str(item.payload.get("reason", "")))
    return Reply(text, task_id=task.id)


async def _unreachable(
    core: Core, look: Look, person: PersonView, item: OutboxItem, task: TaskView | None
) -> Reply | None:
    channel = t(look.lang, f"channel.{item.payload.get('channel', 'telegram')}")
    return Reply(t(look.lang, "notice.unreachable", name=str(item.payload.get("name", "")),
                   channel=channel))


async def _missed(
    core: Core, look: Look, person: PersonView, item: OutboxItem, task: TaskView | None
) -> Reply | None:
    return Reply(t(look.lang, "notice.missed", count=int(item.payload.get("count", 0)),
                   hours=core.settings.catch_up_grace_hours))


async def _opening(
    core: Core, look: Look, person: PersonView, item: OutboxItem, task: TaskView | None
) -> Reply | None:
    guideline = await core.guidelines.get(item.guideline_id or 0)
    if guideline is None or guideline.deadline_at <= look.now:
        return None  # closed again (or re-imported away) before it went out
    return Reply(t(look.lang, "notice.opening", card=guideline_card(look, guideline)))


RENDERERS: dict[str, Renderer] = {
    "missed": _missed,
    "unreachable": _unreachable,
    "assigned": _assigned,
    "leader_assigned": _leader_assigned,
    "unassigned": _unassigned,
    "due_changed": _due_changed,
    "blocked": _blocked,
    "opening": _opening,
    **summary_messages.RENDERERS,
    **nudges.RENDERERS,
}


async def render(core: Core, person: PersonView, items: list[OutboxItem]) -> list[Rendered]:
    """The messages for one person's due rows. Rows with nothing left to say are returned with
    an empty text so the dispatcher can mark them done without sending."""
    look = Look(person.language, core.settings.tz, core.clock.now(), core.settings.stale_days)
    task_ids = {i.task_id for i in items if i.task_id}
    tasks = await core.tasks.views_by_id(task_ids)
    rendered = []
    for item in items:
        if item.kind != NUDGE:
            renderer = RENDERERS[item.kind]
            reply = await renderer(core, look, person, item, tasks.get(item.task_id or 0))
            rendered.append(Rendered(reply or Reply(""), (item.id,)))
    return rendered + _digest(look, person, [i for i in items if i.kind == NUDGE], tasks)


def _digest(
    look: Look, person: PersonView, items: list[OutboxItem], tasks: dict[int, TaskView]
) -> list[Rendered]:
    """The person's deadline nudges due now, as one message (and the rows with nothing left to
    say, as an empty one)."""
    due = [i for i in items if nudges.nudge_due(look, person, tasks.get(i.task_id or 0))]
    rendered = []
    if due:
        reply = nudges.nudge_reply(look, person, due, [tasks[i.task_id or 0] for i in due])
        rendered.append(Rendered(reply, tuple(i.id for i in due)))
    if len(due) < len(items):
        rendered.append(Rendered(Reply(""), tuple(i.id for i in items if i not in due)))
    return rendered
