"""The summary as messages: the replies to `/summary`, and the outbox rows of a scheduled (or
`duban summary --send`) run with how each renders when it is sent. Text first, then the chart
as a photo, then (for the director) the Excel 台账: separate messages, so a failed photo never
holds back the text."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.calendar import after_quiet_hours
from core.dto import PersonRef, PersonView, TaskView
from core.enums import OPEN_STATUSES, Role
from core.errors import NotAllowed
from core.export import export_register
from core.outbox import enqueue
from core.replies import Attachment, Reply
from core.summary.chart import chart_png
from core.summary.data import Summary, gather
from core.summary.render import scope_text, summary_html
from core.texts import Html, plain, t
from core.views import Look, fmt_date, split_message
from storage.models import JobRun, OutboxItem, Task
from storage.queries import insert_ignore

if TYPE_CHECKING:
    from core.app import Core

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipient:
    person: PersonView
    leader: PersonRef | None  # whose portfolio; None: the whole bureau

    @property
    def gets_register(self) -> bool:
        return self.leader is None


def look_for(core: Core, lang: str) -> Look:
    settings = core.settings
    return Look(lang, settings.tz, core.clock.now(), settings.stale_days)


# ---- /summary --------------------------------------------------------------------------------

async def summary_replies(core: Core, person: PersonView, leader_name: str = "") -> list[Reply]:
    """The summary `person` receives on Monday, now: the bureau for the director and admins
    (or one leader's portfolio when they name one), a leader's own portfolio otherwise."""
    if leader_name.strip():
        if not person.sees_everything:
            raise NotAllowed("not_allowed")
        found = await core.people.find(leader_name.strip(), "leader", Role.LEADER)
        recipient = Recipient(person, PersonRef(found.id, found.name))
    else:
        recipient = Recipient(person, None if person.sees_everything
                              else PersonRef(person.id, person.name))
    look = look_for(core, person.language)
    summary = await gather(core, look, recipient.leader)
    replies = [Reply(Html(part)) for part in split_message(summary_html(look, summary))]
    attachments = [chart_reply(look, summary)]
    if person.sees_everything and recipient.leader is None:
        attachments.append(register_reply(core, look))
    for making in attachments:
        if (attachment := await _attachment(making)) is not None:
            replies.append(attachment)
    return replies


async def _attachment(making: Awaitable[Reply]) -> Reply | None:
    """A chart or register that cannot be made must not hold back the text, nor (in the
    outbox) anybody else's messages: it is logged and left out."""
    try:
        return await making
    except Exception:
        log.exception("a summary attachment could not be made")
        return None


async def chart_reply(look: Look, summary: Summary) -> Reply:
    data = await asyncio.to_thread(chart_png, look, summary)
    caption = t(look.lang, "summary_chart_caption", scope=scope_text(look.lang, summary))
    return Reply(caption, attachment=Attachment("summary.png", data, kind="photo"))


async def register_reply(core: Core, look: Look) -> Reply:
    register = await export_register(core, look)
    day = look.today.date().isoformat()
    name = f"{plain(t(look.lang, 'summary_export_name'))}-{day}.xlsx"
    caption = t(look.lang, "summary_export_caption", date=fmt_date(look, look.now))
    return Reply(caption, attachment=Attachment(name, register.data, kind="document"))


async def bureau_html(core: Core) -> Html:
    """The whole bureau's summary in the default language: what group robots are sent."""
    look = look_for(core, core.settings.language)
    return summary_html(look, await gather(core, look, None))


# ---- scheduled runs ----------------------------------------------------------------------------

async def recipients(core: Core, leader: PersonView | None = None) -> list[Recipient]:
    """Each director gets the bureau; each other leader with open tasks their portfolio.
    `leader` alone: only that leader's portfolio, to them."""
    if leader is not None:
        return [Recipient(leader, PersonRef(leader.id, leader.name))]
    directors = await core.people.with_role(Role.DIRECTOR)
    chosen = [Recipient(person, None) for person in directors]
    async with core.db.read() as session:  # not every task's view: only who leads open ones
        leading = set(await session.scalars(select(Task.leader_id).distinct().where(
            Task.leader_id.is_not(None), Task.status.in_([s.value for s in OPEN_STATUSES]))))
    chosen += [Recipient(person, PersonRef(person.id, person.name))
               for person in await core.people.with_role(Role.LEADER)
               if person.id in leading and not person.has(Role.DIRECTOR)]
    return chosen


async def enqueue_run(core: Core, run_key: str, run_at: datetime,
                      only: PersonView | None = None) -> int:
    """Store one run's summaries in the outbox, once: the run is claimed in `job_runs` in the
    same transaction, so a second run, a restart or another copy adds nothing. Returns how many
    people the run was stored for (0: done before)."""
    claim_key = f"summary:{run_key}"
    async with core.db.read() as session:
        if await session.get(JobRun, claim_key) is not None:
            return 0  # the common case of a restart after the run: no need to word it all
    rows = []
    # The bureau's tasks read once for the whole run, each leader's portfolio sliced from them.
    bureau = await core.tasks.portfolio(None) if only is None else None
    for recipient in await recipients(core, only):
        look = look_for(core, recipient.person.language)
        leader = recipient.leader
        portfolio = None if bureau is None else [
            task for task in bureau
            if leader is None or (task.leader is not None and task.leader.id == leader.id)]
        summary = await gather(core, look, leader, portfolio)
        rows.append((recipient, split_message(summary_html(look, summary))))
    settings = core.settings
    send_at = after_quiet_hours(run_at, settings.tz, settings.quiet_hours)
    async with core.db.write() as session:
        claim = {"run_key": claim_key, "owner": "summary", "created_at": run_at}
        if not await insert_ignore(session, JobRun, [claim], ["run_key"]):
            return 0
        for recipient, parts in rows:
            person_id = recipient.person.id
            messages: list[tuple[str, str, dict[str, Any]]] = [
                ("summary", f"{index}", {"text": part}) for index, part in enumerate(parts)]
            leader_id = recipient.leader.id if recipient.leader else None
            messages.append(("summary_chart", "chart", {"leader_id": leader_id}))
            if recipient.gets_register:
                messages.append(("summary_export", "register", {}))
            for kind, part, payload in messages:
                await enqueue(session, person_id=person_id, kind=kind, send_at=send_at,
                              due_at=run_at, payload=payload,
                              dedupe_key=f"summary:{run_key}:{person_id}:{part}")
    core.outbox_signal.wake()
    return len(rows)


# ---- rendering the stored rows when they are sent --------------------------------------------

async def _text(core: Core, look: Look, person: PersonView, item: OutboxItem,
                task: TaskView | None) -> Reply | None:
    # Worded when the run was stored: the summary as of the scheduled moment.
    return Reply(Html(str(item.payload["text"])))


async def _chart(core: Core, look: Look, person: PersonView, item: OutboxItem,
                 task: TaskView | None) -> Reply | None:
    return await _attachment(_chart_of(core, look, item.payload.get("leader_id")))


async def _chart_of(core: Core, look: Look, leader_id: int | None) -> Reply:
    leader = None
    if leader_id is not None:
        view = await core.people.get(int(leader_id))
        leader = PersonRef(view.id, view.name)
    return await chart_reply(look, await gather(core, look, leader))


async def _register(core: Core, look: Look, person: PersonView, item: OutboxItem,
                    task: TaskView | None) -> Reply | None:
    return await _attachment(register_reply(core, look))


RENDERERS = {"summary": _text, "summary_chart": _chart, "summary_export": _register}
