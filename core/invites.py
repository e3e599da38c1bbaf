"""Invites: random, single-use, expiring join codes. Only a hash of each code is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.dto import PersonView
from core.enums import Channel, Role
from core.errors import InputError, NotAllowed
from core.parsing import MAX_NAME, check_text
from core.people import add_roles, find_by_name, view_of
from core.permissions import Permission, require
from storage.models import Invite, Person

if TYPE_CHECKING:
    from core.app import Core


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class NewInvite:
    code: str
    name: str
    roles: frozenset[Role]
    expires_at: datetime


@dataclass(frozen=True)
class Newcomer:
    """Who somebody became by redeeming an invite."""

    person: PersonView
    created: bool


class Invites:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def create(
        self, roles: set[Role], name: str, actor: PersonView | None, channel: Channel
    ) -> NewInvite:
        """`actor` None means the command line, which is trusted (it has the database)."""
        if actor is not None:
            require(actor, Permission.INVITE)
        name = check_text(name, "name", MAX_NAME)
        code = secrets.token_urlsafe(16)
        now = self.core.clock.now()
        expires = now + timedelta(days=self.core.settings.invite_ttl_days)
        async with self.core.db.write() as session:
            same_name = await find_by_name(session, name)
            # An invite for a known name (e.g. from the roster) links that person's account.
            person_id = same_name[0].id if len(same_name) == 1 else None
            invite = Invite(
                code_hash=_hash(code), name=name, roles=",".join(sorted(roles)),
                person_id=person_id, created_by=actor.id if actor else None,
                created_at=now, expires_at=expires,
            )
            session.add(invite)
            await session.flush()
            audit.record(session, actor_id=invite.created_by, channel=channel, action="invite",
                         subject=f"invite:{invite.id}", at=now, name=name,
                         roles=sorted(roles))
        return NewInvite(code=code, name=name, roles=frozenset(roles), expires_at=expires)

    async def redeem(
        self, code: str, channel: Channel, external_id: str, username: str | None, language: str
    ) -> Newcomer:
        now = self.core.clock.now()
        async with self.core.db.write() as session:
            invite = await session.scalar(select(Invite).where(Invite.code_hash == _hash(code)))
            if invite is None or invite.used_at is not None:
                raise InputError("invite_invalid")
            if invite.expires_at <= now:
                raise InputError("invite_expired")
            person, created = await self._bind(session, invite, channel, external_id, language)
            person.username = username or person.username
            await add_roles(session, person.id, {Role(r) for r in invite.roles.split(",")})
            # Claim the code atomically: a second redeemer racing us updates nothing and fails.
            claimed = await session.execute(
                update(Invite).where(Invite.id == invite.id, Invite.used_at.is_(None))
                .values(used_at=now, used_by=person.id)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                raise InputError("invite_invalid")
            audit.record(session, actor_id=person.id, channel=channel, action="join",
                         subject=f"person:{person.id}", at=now, invite=invite.id,
                         roles=invite.roles)
            return Newcomer(await view_of(session, person), created)

    @staticmethod
    async def _bind(
        session: AsyncSession, invite: Invite, channel: Channel, external_id: str, language: str
    ) -> tuple[Person, bool]:
        column = Person.telegram_id if channel == Channel.TELEGRAM else Person.wecom_id
        value: int | str = int(external_id) if channel == Channel.TELEGRAM else external_id
        current = await session.scalar(select(Person).where(column == value))
        if current is not None:
            if invite.person_id not in (None, current.id) or current.name != invite.name:
                raise NotAllowed("already_registered", name=current.name)
            return current, False
        if invite.person_id is not None:
            target = await session.get(Person, invite.person_id)
            assert target is not None
            if getattr(target, column.key) is not None:
                raise NotAllowed("invite_for_other_account", name=target.name)
            setattr(target, column.key, value)
            return target, False
        person = Person(name=invite.name, language=language)
        setattr(person, column.key, value)
        session.add(person)
        await session.flush()
        return person, True
