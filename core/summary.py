"""Summaries for leaders and the director: counts by status, overdue, the open tasks with %."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.dto import PersonView, TaskView
from core.enums import Status
from core.replies import Reply
from core.texts import Html, t
from core.views import Look, split_message, status_label, task_line

if TYPE_CHECKING:
    from core.app import Core


async def summary_replies(core: Core, person: PersonView) -> list[Reply]:
    """The whole bureau for admins and the director; a leader's own portfolio otherwise."""
    leader_id = None if person.sees_everything else person.id
    tasks = await core.tasks.portfolio(leader_id)
    look = Look(person.language, core.settings.tz, core.clock.now(), core.settings.stale_days)
    scope = (t(look.lang, "summary_scope_all") if leader_id is None
             else t(look.lang, "summary_scope_leader", name=person.name))
    text = summary_text(look, scope, tasks)
    return [Reply(Html(part)) for part in split_message(text)]


def summary_text(look: Look, scope: str, tasks: list[TaskView]) -> str:
    lang = look.lang
    lines = [t(lang, "summary_header", scope=Html(scope), date=look.today.date().isoformat())]
    if not tasks:
        return "\n".join([*lines, t(lang, "summary_none")])
    counts = {status: sum(1 for task in tasks if task.status == status) for status in Status}
    parts = [f"{status_label(lang, s)} {n}" for s, n in counts.items() if n]
    lines.append(t(lang, "summary_counts", total=len(tasks), parts=Html(" · ".join(parts))))
    open_tasks = [task for task in tasks if not task.closed]
    overdue = [task for task in open_tasks
               if not task.status.submitted_or_later and task.due_at < look.now]
    if overdue:
        lines.append(t(lang, "summary_overdue", count=len(overdue)))
    if open_tasks:
        lines.append(t(lang, "summary_tasks"))
        lines += [task_line(look, task, with_official=True) for task in open_tasks]
    return "\n".join(lines)
