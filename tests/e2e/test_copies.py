"""Three running copies (`duban run` processes) on one PostgreSQL database and one Redis, in
webhook mode, all sending to one fake Bot API server that enforces Telegram's limits strictly.
3,000 nudges fall due at once; one copy is killed (SIGKILL) in the middle of the burst. Every
nudge still arrives once (the killed copy's in-flight one may arrive twice), no chat gets two
within a second, and the bot stays under 30 a second overall. The weekly summary and the
catch-up report, which every copy's start-up runs, arrive once too.

`DUBAN_TEST_COPIES_NUDGES` sets the number of nudges (3,000 by default, at the real limits).
`make soak` runs this test alone and prints its figures."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import re
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import aiohttp
import pytest
from sqlalchemy import func, insert, select

from core.enums import Role
from storage.db import Database
from storage.models import JobRun, OutboxItem, Person, PersonRole, Task
from tests.conftest import BACKEND, TOKEN, TZ
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres",
    reason="several copies share a server database: runs on PostgreSQL "
           "(DUBAN_TEST_BACKEND=postgres, make test's second pass, make soak)")

NUDGES = int(os.environ.get("DUBAN_TEST_COPIES_NUDGES", "3000"))
PER_OFFICIAL = 5
COPIES = 3
# Under Telegram's 30/s by 10: the default 25 leaves 5/s, and on a shared 2-core VM a stall of
# ~200 ms in all three copies at once bunches more than that into one second (seen once in five
# runs: 31 requests in a second, one 429). The test is about the copies sharing one limit.
SEND_RATE = 20
# How long the killed copy's claimed nudges wait for the others; well beyond the few seconds a
# copy needs for its batch of 50, even on a busy machine (a lease running out under a copy
# still sending would show as duplicates).
LEASE_SECONDS = 45
# Not the forms tests' database, which they flush. A second run of this test at the same time
# shares the limits with this one: both go slower, neither breaks them.
REDIS_URL = "redis://127.0.0.1:6379/13"
ADMIN, DIRECTOR, LEADERS = 1, 2, (3, 4)
FIRST_OFFICIAL = 10
ASSIGNED = re.compile(r"新任务 #(\d+)")
SEND_METHODS = ("sendMessage", "sendPhoto", "sendDocument")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def seed(db: Database, now: datetime) -> dict[int, int]:
    """The bureau: an admin, a director, two leaders and NUDGES / 5 officials with five tasks
    each, every task's "new task" notice due within the last two minutes (in random order, so
    one official's notices are claimed by different copies), and one notice too old to send.
    Returns each nudge's task id -> the official's Telegram id."""
    officials = range(FIRST_OFFICIAL, FIRST_OFFICIAL + NUDGES // PER_OFFICIAL)
    people = [(ADMIN, Role.ADMIN), (DIRECTOR, Role.DIRECTOR)]
    people += [(leader, Role.LEADER) for leader in LEADERS]
    people += [(official, Role.OFFICIAL) for official in officials]
    chance = random.Random(7)
    tasks, nudges, expected = [], [], {}
    for number, official in enumerate(itertools.chain.from_iterable(
            itertools.repeat(officials, PER_OFFICIAL)), start=1):
        tasks.append({"id": number, "title": f"项目{number}", "official_id": official,
                      "leader_id": LEADERS[number % 2], "due_at": now + timedelta(days=30),
                      "status": "preparing", "last_update_at": now, "created_at": now,
                      "updated_at": now})
        nudges.append({"person_id": official, "kind": "assigned", "task_id": number,
                       "dedupe_key": f"assigned:{official}:{number}", "due_at": now,
                       "send_at": now - timedelta(seconds=chance.uniform(0, 120)),
                       "status": "pending", "attempts": 0, "payload": {}, "created_at": now})
        expected[number] = 10_000 + official
    # Weeks late (the service was down): marked missed by every copy's start-up, reported once.
    nudges.append({**nudges[0], "dedupe_key": "assigned:late", "send_at": now - timedelta(days=9)})
    async with db.write() as session:
        await session.execute(insert(Person), [
            {"id": pid, "name": f"{role.value}{pid}", "telegram_id": 10_000 + pid,
             "language": "zh", "active": True, "subscribed_openings": False,
             "created_at": now, "updated_at": now} for pid, role in people])
        await session.execute(insert(PersonRole), [
            {"person_id": pid, "role": role.value} for pid, role in people])
        await session.execute(insert(Task), tasks)
        await session.execute(insert(OutboxItem), nudges)
    return expected


class Copy:
    """One `duban run` process, its output in a file."""

    def __init__(self, number: int, env: dict[str, str], workdir: Path) -> None:
        self.number = number
        self.env = env
        self.port = int(env["DUBAN_HTTP_PORT"])
        self.log_path = workdir / f"copy{number}.log"
        self.process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    async def start(self, workdir: Path) -> None:
        self._log = self.log_path.open("wb")
        # In its own folder: no `.env` of the checkout is read.
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "duban", "run", env=self.env, cwd=workdir,
            stdout=self._log, stderr=asyncio.subprocess.STDOUT)

    async def ready(self, session: aiohttp.ClientSession) -> None:
        async with asyncio.timeout(60):
            while True:
                assert self.process is not None and self.process.returncode is None, self.tail()
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/healthz") as answer:
                        if answer.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(how)
            async with asyncio.timeout(30):
                await self.process.wait()
        if self._log is not None:
            self._log.close()

    def tail(self) -> str:
        return f"copy {self.number}:\n" + self.log_path.read_text(errors="replace")[-3000:]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:  # Telegram's limits, strictly: no bursts
        yield server


async def wait_until_all_sent(database_url: str, copies: list[Copy], nudges: int) -> None:
    busy = OutboxItem.status.in_(("pending", "sending"))
    db = Database(database_url)
    try:
        async with asyncio.timeout(nudges / SEND_RATE + LEASE_SECONDS + 180):
            while True:
                async with db.read() as session:
                    left = await session.scalar(select(func.count()).where(busy))
                if not left:
                    return
                assert all(c.alive() for c in copies), "\n".join(c.tail() for c in copies)
                await asyncio.sleep(1)
    finally:
        await db.dispose()


def busiest_second(times: list[float]) -> int:
    """The most sends in any one-second window."""
    times = sorted(times)
    start, most = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_three_copies_send_every_nudge_once_under_the_limits_when_one_is_killed(
    fake: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    db = Database(database_url)
    try:
        expected = await seed(db, now)
    finally:
        await db.dispose()
    for telegram_id in {*expected.values(), *(10_000 + p for p in (ADMIN, DIRECTOR, *LEADERS))}:
        fake.user(telegram_id, f"user{telegram_id}", started=True)

    summary_at = now.astimezone(TZ) - timedelta(minutes=1)  # a run every copy catches up on
    ports = [free_port() for _ in range(COPIES)]
    base = {**os.environ, "DUBAN_DATABASE_URL": database_url, "DUBAN_BOT_TOKEN": TOKEN,
            "DUBAN_TELEGRAM_API_URL": fake.base_url, "DUBAN_REDIS_URL": REDIS_URL,
            # Behind a load balancer all copies share one public address; here it is copy 0's.
            "DUBAN_WEBHOOK_URL": f"http://127.0.0.1:{ports[0]}/telegram",
            "DUBAN_WEBHOOK_SECRET": "copies-test", "DUBAN_QUIET_HOURS": "",
            "DUBAN_SEND_RATE": str(SEND_RATE), "DUBAN_SEND_LEASE_SECONDS": str(LEASE_SECONDS),
            "DUBAN_SUMMARY_CRON": f"{summary_at.minute} {summary_at.hour} * * *",
            "DUBAN_TIMEZONE": "Asia/Shanghai", "DUBAN_LOG_LEVEL": "WARNING"}
    copies = [Copy(n, {**base, "DUBAN_HTTP_PORT": str(port)}, tmp_path)
              for n, port in enumerate(ports)]
    victim = copies[1]
    try:
        for copy in copies:
            await copy.start(tmp_path)
        async with aiohttp.ClientSession() as session:
            for copy in copies:
                await copy.ready(session)
        await fake.wait_until(lambda: fake.stats["sends_ok"] >= NUDGES // 3, timeout=300)
        await victim.stop(signal.SIGKILL)
        survivors = [c for c in copies if c is not victim]
        await wait_until_all_sent(database_url, survivors, NUDGES)
    finally:
        for copy in copies:
            await copy.stop()

    # Every nudge arrived, once (the killed copy's message in flight may have gone twice).
    received: Counter[tuple[int, int]] = Counter()
    for telegram_id in set(expected.values()):
        for message in fake.sent_to(telegram_id):
            match = ASSIGNED.search(str(message.get("text", "")))
            assert match, message.get("text")
            received[(telegram_id, int(match[1]))] += 1
    wanted = {(telegram_id, task) for task, telegram_id in expected.items()}
    lost = len(wanted - set(received))
    duplicates = sum(received.values()) - len(received)
    # Everyone else got exactly what was stored for them: one weekly summary run, one report
    # of the late notice.
    db = Database(database_url)
    try:
        async with db.read() as session:
            statuses = Counter(await session.scalars(select(OutboxItem.status)))
            runs = list(await session.scalars(
                select(JobRun.run_key).where(JobRun.run_key.like("summary:weekly:%"))))
            stored = Counter(await session.scalars(
                select(OutboxItem.person_id).where(OutboxItem.status == "sent",
                                                   OutboxItem.person_id < FIRST_OFFICIAL)))
    finally:
        await db.dispose()
    for person in (ADMIN, DIRECTOR, *LEADERS):
        assert stored[person], person
        assert len(fake.sent_to(10_000 + person)) == stored[person], person

    sends = [call.time for call in fake.calls if call.ok and call.method in SEND_METHODS]
    busiest = busiest_second(sends)
    rate = len(sends) / (max(sends) - min(sends))
    print(f"\ncopies test: {NUDGES} nudges, {COPIES} copies, 1 killed mid-burst; "
          f"duplicates {duplicates}, lost {lost}, per-chat violations "
          f"{fake.stats['per_chat_violations']}, overall violations "
          f"{fake.stats['global_violations']}, busiest second {busiest} sends, "
          f"achieved {rate:.1f}/s over {len(sends)} sends; outbox {dict(statuses)}")
    assert lost == 0
    assert duplicates <= 1
    assert set(statuses) == {"sent", "missed"} and statuses["missed"] == 1
    assert len(runs) == 1
    assert stored[ADMIN] == 1  # "1 message was too late to send", once
    assert fake.stats["per_chat_violations"] == 0
    assert fake.stats["global_violations"] == 0
    assert busiest < 30
