"""What the fuzz suites share: one case budget, the bureau they run against, a dump of the database.

`DUBAN_FUZZ_EXAMPLES` is the number of cases across all the fuzz suites, split by `SHARES`: a
short run in `make test` (the default), 50,000 in `make soak`. Hypothesis prints the cases each
suite actually ran with `--hypothesis-show-statistics` (the soak target passes it)."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from sqlalchemy import select

from core.app import Core
from core.enums import Channel
from core.tasks import AssignRequest
from storage.models import Base
from tests.conftest import Staff
from tests.files import csv_file

TOTAL = int(os.environ.get("DUBAN_FUZZ_EXAMPLES", "800"))
# Shares of the cases: "texts" for messages and for commands each; a numbered-choice case is
# two messages; an import case builds and reads a file.
SHARES = {"texts": 0.24, "buttons": 0.2, "numbered": 0.12, "imports": 0.2}


def fuzz(kind: str) -> settings:
    return settings(max_examples=max(1, round(TOTAL * SHARES[kind])), deadline=None,
                    database=None, suppress_health_check=[
                        HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                        HealthCheck.data_too_large, HealthCheck.large_base_example])


async def populate(core: Core) -> Staff:
    """Every role, on Telegram and WeCom (so /settings offers both channels), a guideline and
    two tasks with different officials and leaders."""
    staff = await Staff(core).create()
    for person in staff.everyone():
        await core.people.add(person.name, person.roles, wecom_id=f"wecom{person.telegram_id}")
    guidelines = [["指南名称", "截止日期"], ["国家重点研发计划", "2027-03-15"]]
    await core.imports.run(staff.admin, "指南.csv", csv_file(guidelines), Channel.CLI)
    for title, official, leader in (("高新技术企业认定", "李明", "张副局长"),
                                    ("创新平台", "孙丽", "钱副局长")):
        request = AssignRequest(official, "2026-12-20", title, leader, "50")
        await core.tasks.assign(staff.admin, request, Channel.CLI)
    return staff


Dump = dict[str, list[tuple[Any, ...]]]


async def dump(core: Core, leave_out: frozenset[str] = frozenset()) -> Dump:
    """Every row of every table (but `leave_out`), in primary-key order: what "the database
    unchanged" means in these tests."""
    tables: Dump = {}
    async with core.db.read() as session:
        for table in Base.metadata.sorted_tables:
            if table.name not in leave_out:
                rows = await session.execute(select(table).order_by(*table.primary_key))
                tables[table.name] = [tuple(row) for row in rows]
    return tables
