"""People and their roles: finding who is talking, naming people in commands, adding them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, planning
from core.dto import PersonView
from core.enums import Channel, Role, Saved
from core.errors import InputError, NotFound
from core.parsing import MAX_NAME, check_text, normalize
from core.permissions import Permission, require
from storage.models import Person, PersonRole, Task
from storage.queries import roles_of

if TYPE_CHECKING:
    from core.app import Core

ROLE_WORDS: dict[str, Role] = {
    "管理员": Role.ADMIN, "admin": Role.ADMIN,
    "局长": Role.DIRECTOR, "director": Role.DIRECTOR,
    "包抓领导": Role.LEADER, "领导": Role.LEADER, "leader": Role.LEADER,
    "责任人": Role.OFFICIAL, "official": Role.OFFICIAL,
}

AWAY_LIMIT = 365
# The column holding a person's id on each channel a reminder can be sent over.
# people.telegram_id is a signed 64-bit integer (BigInteger); Telegram's ids are positive.
MAX_TELEGRAM_ID = 2**63 - 1
CHANNEL_IDS = {Channel.TELEGRAM: "telegram_id", Channel.WECOM: "wecom_id"}


def parse_role(word: str) -> Role:
    role = ROLE_WORDS.get(normalize(word).lower())
    if role is None:
        raise InputError("role_unknown", value=word)
    return role


async def view_of(session: AsyncSession, person: Person) -> PersonView:
    roles = (await roles_of(session, [person.id]))[person.id]
    return PersonView.of(person, frozenset(Role(r) for r in roles))


async def views_of(session: AsyncSession, people: Iterable[Person]) -> list[PersonView]:
    people = list(people)
    roles = await roles_of(session, [p.id for p in people])
    return [PersonView.of(p, frozenset(Role(r) for r in roles[p.id])) for p in people]


async def find_by_name(session: AsyncSession, name: str) -> list[Person]:
    rows = await session.scalars(select(Person).where(Person.name == name, Person.active))
    return list(rows)


async def resolve(
    session: AsyncSession, ref: str | int, field: str, role: Role | None = None
) -> Person:
    """A person named by registered name, `@username`, Telegram id or WeCom id; an int is our
    own id (a person picked from a button)."""
    matches = await _by_ref(session, ref, field)
    if not matches:
        raise InputError("person_unknown", field=field, value=str(ref))
    if len(matches) > 1:
        raise InputError("person_ambiguous", field=field, value=str(ref),
                         choices="、".join(_handle(p) for p in matches))
    person = matches[0]
    if role is not None and role not in (await roles_of(session, [person.id]))[person.id]:
        raise InputError("person_lacks_role", field=field, value=person.name, role=role.value)
    return person


async def _by_ref(session: AsyncSession, ref: str | int, field: str) -> list[Person]:
    if isinstance(ref, int):
        person = await session.get(Person, ref)
        if person is None or not person.active:
            raise InputError("person_unknown", field=field, value=str(ref))
        return [person]
    ref = normalize(ref)
    if not ref:
        raise InputError("text_empty", field=field)
    return await _matches(session, ref)


async def _matches(session: AsyncSession, ref: str) -> list[Person]:
    active = select(Person).where(Person.active)
    if ref.startswith("@"):
        handle = ref[1:].lower()
        return list(await session.scalars(active.where(func.lower(Person.username) == handle)))
    conditions = [Person.name == ref, Person.wecom_id == ref]
    if ref.isdigit() and len(ref) < 19:
        conditions.append(Person.telegram_id == int(ref))
    return list(await session.scalars(active.where(or_(*conditions))))


def _handle(person: Person) -> str:
    if person.username:
        return f"{person.name}(@{person.username})"
    return f"{person.name}({person.telegram_id or person.wecom_id or '#' + str(person.id)})"


def _writer_where(condition: ColumnElement[bool]) -> Select[Any]:
    return (select(*Person.__table__.columns, PersonRole.role).outerjoin(PersonRole)
            .where(condition, Person.active).order_by(Person.id))


# The person behind a chat, by the channel's id for them (WeCom's userids ignore case); other
# channels (the console) use Duban's own ids.
_WRITER = {
    Channel.TELEGRAM: _writer_where(Person.telegram_id == bindparam("ref")),
    Channel.WECOM: _writer_where(func.lower(Person.wecom_id) == bindparam("ref")),
}
_WRITER_BY_ID = _writer_where(Person.id == bindparam("ref"))


class People:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def by_channel(self, channel: Channel, external_id: str) -> PersonView | None:
        """Who is writing. Every message asks, so the person and their roles come in one query,
        built once per channel."""
        ref: int | str = external_id.lower() if channel == Channel.WECOM else int(external_id)
        async with self.core.db.read_one() as connection:
            statement = _WRITER.get(channel, _WRITER_BY_ID)
            rows = (await connection.execute(statement, {"ref": ref})).all()
        if not rows:
            return None
        person = rows[0]  # the person's columns, named as the model's attributes, and a role
        return PersonView.of(person, frozenset(
            Role(row.role) for row in rows if row.id == person.id and row.role is not None))

    async def get(self, person_id: int) -> PersonView:
        async with self.core.db.read() as session:
            person = await session.get(Person, person_id)
            if person is None:
                raise NotFound("person_unknown", field="", value=str(person_id))
            return await view_of(session, person)

    async def find(self, ref: str | int, field: str, role: Role | None = None) -> PersonView:
        async with self.core.db.read() as session:
            return await view_of(session, await resolve(session, ref, field, role))

    async def with_role(self, role: Role) -> list[PersonView]:
        async with self.core.db.read() as session:
            rows = await session.scalars(
                select(Person).join(PersonRole).where(PersonRole.role == role.value, Person.active)
                .order_by(Person.name)
            )
            return await views_of(session, rows)

    async def everyone(self) -> list[PersonView]:
        async with self.core.db.read() as session:
            rows = await session.scalars(select(Person).where(Person.active).order_by(Person.id))
            return await views_of(session, rows)

    async def choose(
        self, actor: PersonView, channel: Channel, *, language: str | None = None,
        preferred: Channel | None = None,
    ) -> PersonView:
        """A person's own settings: their language, and the channel their reminders go to (one
        they are registered on)."""
        async with self.core.db.write() as session:
            person = await session.get(Person, actor.id)
            assert person is not None
            if preferred is not None:
                if getattr(person, CHANNEL_IDS[preferred]) is None:
                    raise InputError("settings_channel_missing", channel=preferred.value)
                person.preferred_channel = preferred.value
            person.language = language or person.language
            audit.record(session, actor_id=actor.id, channel=channel, action="person_settings",
                         subject=f"person:{person.id}", at=self.core.clock.now(),
                         language=person.language, preferred_channel=person.preferred_channel)
            return await view_of(session, person)

    async def set_away(
        self, actor: PersonView, ref: str | None, days: int, channel: Channel
    ) -> PersonView:
        """/away: no deadline nudges for `ref` (the actor when None; someone else needs an
        admin) until local midnight `days` days from today; 0 means back now. Their open tasks
        are re-planned at once."""
        if ref is not None:
            require(actor, Permission.MANAGE_PEOPLE)
        if not 0 <= days <= AWAY_LIMIT:
            raise InputError("away_days_invalid", value=str(days), limit=AWAY_LIMIT)
        now, tz = self.core.clock.now(), self.core.settings.tz
        back = now.astimezone(tz).date() + timedelta(days=days)
        async with self.core.db.write() as session:
            person = (await session.get(Person, actor.id) if ref is None
                      else await resolve(session, ref, "name"))
            assert person is not None
            person.away_until = datetime.combine(back, time(0), tzinfo=tz) if days else None
            audit.record(session, actor_id=actor.id, channel=channel, action="person_away",
                         subject=f"person:{person.id}", at=now, days=days)
            tasks = await session.scalars(select(Task).where(
                Task.official_id == person.id,
                Task.status.in_([s.value for s in planning.NUDGED_STATUSES])))
            await planning.replan_tasks(self.core, session, list(tasks), now)
            return await view_of(session, person)

    async def remember_username(self, person_id: int, username: str | None) -> None:
        async with self.core.db.write() as session:
            person = await session.get(Person, person_id)
            if person is not None and person.username != username:
                person.username = username

    async def mark_reachable(self, person_id: int, channel: Channel) -> None:
        """They wrote to us on this channel, so it reaches them again (e.g. unblocked the bot)."""
        column = {Channel.TELEGRAM: "telegram_unreachable_at",
                  Channel.WECOM: "wecom_unreachable_at"}.get(channel)
        async with self.core.db.write() as session:
            person = await session.get(Person, person_id)
            if person is not None and column:
                setattr(person, column, None)

    async def add(
        self,
        name: str,
        roles: Iterable[Role],
        *,
        telegram_id: int | None = None,
        wecom_id: str | None = None,
        title: str | None = None,
        channel: Channel = Channel.CLI,
        actor_id: int | None = None,
    ) -> PersonView:
        """Create a person, or update the one with the same Telegram id / WeCom id (or the same
        name, when that is unique and neither id says otherwise): never a duplicate."""
        record = person_record(name, roles, telegram_id=telegram_id, wecom_id=wecom_id,
                               title=title)
        async with self.core.db.write() as session:
            person, _ = await self.save(session, record, actor_id=actor_id, channel=channel,
                                        now=self.core.clock.now())
            return await view_of(session, person)

    async def save(
        self, session: AsyncSession, record: PersonRecord, *, actor_id: int | None,
        channel: Channel, now: datetime,
    ) -> tuple[Person, Saved]:
        """`add` inside a caller's transaction (a roster import): the roles become exactly the
        record's; ids and title not given keep their stored values."""
        person = await self._existing(session, record.name, record.telegram_id, record.wecom_id)
        await _check_ids_free(session, person, record)
        created = person is None
        if person is None:
            person = Person(name=record.name, language=self.core.settings.language)
            session.add(person)
            before: tuple[object, ...] = ()
        else:
            before = (*_details(person), (await roles_of(session, [person.id]))[person.id])
        person.name = record.name
        if record.telegram_id is not None:
            person.telegram_id = record.telegram_id
        person.wecom_id = record.wecom_id or person.wecom_id
        person.title = record.title or person.title
        await session.flush()
        if before == (*_details(person), {r.value for r in record.roles}):
            return person, Saved.UNCHANGED
        await set_roles(session, person.id, set(record.roles))
        audit.record(session, actor_id=actor_id, channel=channel,
                     action="person_add" if created else "person_update",
                     subject=f"person:{person.id}", at=now, name=record.name,
                     roles=sorted(r.value for r in record.roles))
        return person, Saved.CREATED if created else Saved.UPDATED

    @staticmethod
    async def _existing(
        session: AsyncSession, name: str, telegram_id: int | None, wecom_id: str | None
    ) -> Person | None:
        for column, value in ((Person.telegram_id, telegram_id), (Person.wecom_id, wecom_id)):
            if value is not None:
                found = await session.scalar(select(Person).where(column == value))
                if found is not None:
                    return found
        same_name = await find_by_name(session, name)
        if len(same_name) == 1:
            only = same_name[0]
            clash = (telegram_id is not None and only.telegram_id not in (None, telegram_id)) or (
                wecom_id is not None and only.wecom_id not in (None, wecom_id))
            return None if clash else only
        return None


@dataclass(frozen=True)
class PersonRecord:
    """A person as the command line or a roster row describes them, checked."""

    name: str
    roles: frozenset[Role]
    telegram_id: int | None = None
    wecom_id: str | None = None
    title: str | None = None


def person_record(
    name: str, roles: Iterable[Role], *, telegram_id: int | None = None,
    wecom_id: str | None = None, title: str | None = None,
) -> PersonRecord:
    roles = frozenset(roles)
    if not roles:
        raise InputError("role_missing", field="roles")
    if telegram_id is not None and not 0 < telegram_id <= MAX_TELEGRAM_ID:
        raise InputError("telegram_id_invalid", field="telegram_id",
                         value=str(telegram_id)[:30])
    return PersonRecord(
        name=check_text(name, "name", MAX_NAME), roles=roles, telegram_id=telegram_id,
        wecom_id=check_text(wecom_id, "wecom_id", MAX_NAME) if wecom_id else None,
        title=check_text(title, "job_title", MAX_NAME) if title else None,
    )


def _details(person: Person) -> tuple[object, ...]:
    return (person.name, person.telegram_id, person.wecom_id, person.title)


async def _check_ids_free(
    session: AsyncSession, person: Person | None, record: PersonRecord
) -> None:
    """An id that already belongs to someone else would make two people one: refused."""
    for field, column, value in (("telegram_id", Person.telegram_id, record.telegram_id),
                                 ("wecom_id", Person.wecom_id, record.wecom_id)):
        if value is None:
            continue
        owner = await session.scalar(select(Person).where(column == value))
        if owner is not None and owner is not person:
            raise InputError("person_id_taken", field=field, value=str(value), name=owner.name)


async def set_roles(session: AsyncSession, person_id: int, roles: set[Role]) -> None:
    await session.execute(delete(PersonRole).where(PersonRole.person_id == person_id))
    session.add_all(PersonRole(person_id=person_id, role=r.value) for r in sorted(roles))


async def add_roles(session: AsyncSession, person_id: int, roles: set[Role]) -> None:
    current = (await roles_of(session, [person_id]))[person_id]
    session.add_all(
        PersonRole(person_id=person_id, role=r.value)
        for r in sorted(roles) if r.value not in current
    )
