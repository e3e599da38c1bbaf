"""The fixed vocabularies: roles, task statuses, channels, kinds of update."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DIRECTOR = "director"
    LEADER = "leader"
    OFFICIAL = "official"


class Status(StrEnum):
    NOT_STARTED = "not_started"
    PREPARING = "preparing"
    SUBMITTED = "submitted"
    RECOMMENDED = "recommended"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def closed(self) -> bool:
        return self in CLOSED

    @property
    def submitted_or_later(self) -> bool:
        return self in {Status.SUBMITTED, Status.RECOMMENDED, Status.APPROVED, Status.REJECTED}


CLOSED = frozenset({Status.APPROVED, Status.REJECTED, Status.WITHDRAWN})
OPEN_STATUSES = tuple(s for s in Status if s not in CLOSED)


class Channel(StrEnum):
    TELEGRAM = "telegram"
    WECOM = "wecom"
    CONSOLE = "console"
    CLI = "cli"
    SYSTEM = "system"


class UpdateKind(StrEnum):
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "ack"
    PROGRESS = "progress"
    STATUS = "status"
    NOTE = "note"
    BLOCKED = "blocked"
    UNBLOCKED = "unblocked"
    EDITED = "edited"
    SNOOZED = "snoozed"


class Saved(StrEnum):
    """What saving a record from an imported file did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
