"""Small statements shared by several parts of the core."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base, Person, PersonRole


async def insert_ignore(
    session: AsyncSession, model: type[Base], rows: list[dict[str, Any]], keys: list[str]
) -> int:
    """Insert rows, skipping those whose unique `keys` exist already; returns how many went in."""
    if not rows:
        return 0
    statement = ignoring(_dialect(session), model, keys).values(rows)
    result = await session.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def insert_many_ignore(
    session: AsyncSession, model: type[Base], rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """`insert_ignore` for many rows at once, as one executemany of a single cached statement:
    compiling a VALUES list of thousands of rows costs far more than sending them."""
    if rows:
        await session.execute(ignoring(_dialect(session), model, keys), rows)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def ignoring(dialect: str, model: type[Base], keys: list[str]) -> Any:
    """An INSERT into `model`'s table that skips rows whose unique `keys` exist already."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # The table, not the mapped class: a plain executemany, not the ORM's bulk-insert path.
    table = cast(Table, model.__table__)
    return insert(table).on_conflict_do_nothing(index_elements=keys)


async def roles_of(session: AsyncSession, person_ids: list[int]) -> dict[int, set[str]]:
    roles: dict[int, set[str]] = {pid: set() for pid in person_ids}
    rows = await session.execute(
        select(PersonRole.person_id, PersonRole.role).where(PersonRole.person_id.in_(person_ids))
    )
    for person_id, role in rows:
        roles[person_id].add(role)
    return roles


# Built once: `Person.id.in_(ids)` builds a new expression per call, which cost more than the
# query itself on the path of every progress report.
_NAMES = select(Person.id, Person.name).where(Person.id.in_(bindparam("ids", expanding=True)))


async def names_of(session: AsyncSession, person_ids: set[int]) -> dict[int, str]:
    if not person_ids:
        return {}
    rows = await session.execute(_NAMES, {"ids": list(person_ids)})
    return dict(rows.all())
