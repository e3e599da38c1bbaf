"""The audit log: every change, with who made it, through which channel, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry


def record(
    session: AsyncSession,
    *,
    actor_id: int | None,
    channel: str,
    action: str,
    subject: str,
    at: datetime,
    **detail: Any,
) -> None:
    session.add(
        AuditEntry(
            actor_id=actor_id, channel=channel, action=action, subject=subject,
            detail={k: _plain(v) for k, v in detail.items()}, created_at=at,
        )
    )


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)
