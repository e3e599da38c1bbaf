"""Who may do what. Checked on the server for every message and button; never trust a button."""

from __future__ import annotations

from enum import StrEnum

from core.dto import PersonView, TaskView
from core.enums import Role
from core.errors import NotAllowed, NotFound


class Permission(StrEnum):
    INVITE = "invite"
    ASSIGN = "assign"
    EDIT_TASK = "edit_task"
    IMPORT = "import"
    SET_TARGETS = "set_targets"
    MANAGE_PEOPLE = "manage_people"
    VIEW_ALL = "view_all"
    SUMMARY = "summary"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.DIRECTOR: frozenset({Permission.VIEW_ALL, Permission.SUMMARY}),
    Role.LEADER: frozenset({Permission.SUMMARY}),
    Role.OFFICIAL: frozenset(),
}


def has_permission(person: PersonView, permission: Permission) -> bool:
    return any(permission in GRANTS[role] for role in person.roles)


def require(person: PersonView, permission: Permission) -> None:
    if not has_permission(person, permission):
        raise NotAllowed("not_allowed")


def can_view(person: PersonView, task: TaskView) -> bool:
    """Seeing a task also allows a note on it: the leader's comment, the director's 批示."""
    return (
        person.sees_everything
        or task.official.id == person.id
        or (task.leader is not None and task.leader.id == person.id)
    )


def can_update(person: PersonView, task: TaskView) -> bool:
    """Progress, status, acknowledgement, blockers: the responsible official, or an admin."""
    return task.official.id == person.id or person.has(Role.ADMIN)


def require_view(person: PersonView, task: TaskView) -> None:
    # Someone else's task answers "not found", the same as a task that does not exist.
    if not can_view(person, task):
        raise NotFound("task_not_found", task_id=task.id)


def require_update(person: PersonView, task: TaskView) -> None:
    require_view(person, task)
    if not can_update(person, task):
        raise NotAllowed("task_update_not_allowed", task_id=task.id)
