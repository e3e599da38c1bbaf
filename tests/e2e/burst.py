"""A burst of due notices sent by `duban run` running as a real process against the fake Bot API
(strict about Telegram's limits), killed with SIGKILL at random moments and started again, with
faults injected if asked; then what the fake received is counted per (chat, task): planned,
delivered, duplicated, lost. Used by tests/e2e/test_crash.py (short) and `make soak` (long)."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import func, select

from bench.seed import add_due_notices, add_people
from storage.db import Database
from storage.models import OutboxItem, Person
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram

ADMIN_CHAT = 1  # bench.seed's admin
BLOCKED_CHAT = 10_000  # the first official blocks the bot when faults are on
TASK_REF = re.compile(r"#(\d+)")
STOP_WAIT = 30.0


@dataclass(frozen=True)
class Burst:
    people: int
    per_person: int
    kills: int = 0
    faults: bool = False  # 10% 5xx, 5% stalled requests, 429 bursts, one blocked user
    seed: int = 1
    send_rate: float = 25
    lease_seconds: int = 2
    send_timeout_seconds: int = 1

    @property
    def size(self) -> int:
        return self.people * self.per_person


@dataclass
class Tally:
    planned: int
    delivered: int
    duplicated: int
    lost: int
    kills: int
    # Delivered but not yet recorded when a kill struck: these alone may arrive twice.
    in_flight_at_kills: int
    blocked_rows_failed: int
    unreachable_notices: int
    per_chat_violations: int
    global_violations: int
    injected_errors: int
    seconds: float
    achieved_rate: float
    send_rate: float

    def as_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


class DubanProcess:
    """`python -m duban run` with its output in a log file."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        log = (self.workdir / f"duban-{self.starts}.log").open("wb")
        # The working directory has no .env, so only the settings given here apply.
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "duban", "run", env=self.env, cwd=self.workdir,
            stdout=log, stderr=log)
        log.close()

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def terminate(self) -> int:
        """SIGTERM; the exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_WAIT):
            return await self.process.wait()


def environment(burst: Burst, database_url: str, fake: FakeTelegram) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env.update({
        "DUBAN_DATABASE_URL": database_url, "DUBAN_BOT_TOKEN": DEFAULT_TOKEN,
        "DUBAN_TELEGRAM_API_URL": fake.base_url, "DUBAN_QUIET_HOURS": "",
        "DUBAN_HTTP_PORT": "0", "DUBAN_LOG_LEVEL": "WARNING",
        "DUBAN_DISPATCH_INTERVAL_SECONDS": "0.5", "DUBAN_SEND_RATE": str(burst.send_rate),
        "DUBAN_SEND_LEASE_SECONDS": str(burst.lease_seconds),
        "DUBAN_SEND_TIMEOUT_SECONDS": str(burst.send_timeout_seconds),
    })
    return env


async def seed(database_url: str, burst: Burst) -> dict[int, int]:
    """People, tasks and their due notices; each task's chat."""
    db = Database(database_url)
    try:
        officials, _ = await add_people(db, burst.people, 0)
        return await add_due_notices(db, officials, burst.per_person,
                                     datetime.now(UTC) - timedelta(minutes=1))
    finally:
        await db.dispose()


def received(fake: FakeTelegram, chats: set[int]) -> Counter[tuple[int, int]]:
    """How many times each (chat, task) arrived."""
    copies: Counter[tuple[int, int]] = Counter()
    for chat in chats:
        for message in fake.sent_to(chat):
            for task in {int(ref) for ref in TASK_REF.findall(message.get("text", ""))}:
                copies[(chat, task)] += 1
    return copies


async def run_burst(database_url: str, burst: Burst, workdir: Path) -> Tally:
    chance = random.Random(burst.seed)
    task_chats = await seed(database_url, burst)
    async with FakeTelegram() as fake:
        fake.user(ADMIN_CHAT, "管理员", started=True)
        for chat in set(task_chats.values()):
            fake.user(chat, f"责任人{chat}", started=True)
        planned = {(chat, task) for task, chat in task_chats.items()}
        if burst.faults:
            fake.set_faults(p_5xx=0.10, p_stall=0.05, seed=burst.seed, methods=["sendMessage"],
                            timeout_seconds=burst.send_timeout_seconds + 0.5)
            fake.block(BLOCKED_CHAT)
            planned = {(chat, task) for chat, task in planned if chat != BLOCKED_CHAT}
        duban = DubanProcess(environment(burst, database_url, fake), workdir)
        started = time.monotonic()
        await duban.start()
        chats = {chat for chat, _ in planned}
        in_flight = await _interrupt(fake, duban, burst, chance, database_url, chats)
        await _until(lambda: planned <= set(received(fake, chats)),
                     timeout=burst.size / burst.send_rate * 3 + 60 + burst.kills * 10)
        # Late copies (a duplicate) would still arrive now.
        await asyncio.sleep(burst.lease_seconds * 2)
        exit_code = await duban.terminate()
        assert exit_code == 0, f"duban run exited with {exit_code}; see {workdir}"
        seconds = time.monotonic() - started
        copies = received(fake, chats)
        sends = [call.time for call in fake.calls_to("sendMessage") if call.ok]
        admin = [m for m in fake.sent_to(ADMIN_CHAT) if "收不到消息" in m.get("text", "")]
        delivered = sum(1 for key in planned if copies[key])
        return Tally(
            planned=len(planned), delivered=delivered,
            duplicated=sum(copies[key] - 1 for key in planned if copies[key] > 1),
            lost=len(planned) - delivered, kills=burst.kills, in_flight_at_kills=in_flight,
            blocked_rows_failed=await _failed_rows_of(database_url, BLOCKED_CHAT),
            unreachable_notices=len(admin),
            per_chat_violations=fake.stats["per_chat_violations"],
            global_violations=fake.stats["global_violations"],
            injected_errors=fake.stats["errors_injected"],
            seconds=round(seconds, 1),
            achieved_rate=round((len(sends) - 1) / (max(sends) - min(sends)), 2)
            if len(sends) > 1 else 0.0,
            send_rate=burst.send_rate,
        )


async def _interrupt(
    fake: FakeTelegram, duban: DubanProcess, burst: Burst, chance: random.Random,
    database_url: str, chats: set[int],
) -> int:
    """SIGKILL (and start again) at random points of the burst; with faults, also a few bursts
    of 429 answers. Returns how many notices had arrived but were not recorded as sent at the
    kills (the messages in flight)."""
    planned, in_flight = burst.size, 0
    events = [(point, "kill") for point in chance.sample(range(planned // 20, planned * 9 // 10),
                                                         burst.kills)]
    if burst.faults:
        middle = range(planned // 10, planned // 2)
        events += [(point, "429") for point in chance.sample(middle, 3)]
    for point, event in sorted(events):
        await _until(partial(_sent_at_least, fake, point),
                     timeout=point / burst.send_rate * 3 + 60)
        if event == "kill":
            await asyncio.sleep(chance.uniform(0, 0.3))
            await duban.kill()
            in_flight += len(received(fake, chats)) - await _recorded(database_url)
            await duban.start()
        else:
            fake.fail_next("sendMessage", 429, retry_after=1, count=chance.randint(2, 4))
    return in_flight


def _sent_at_least(fake: FakeTelegram, count: int) -> bool:
    return fake.stats["sends_ok"] >= count


async def _until(check: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - polled: the fake is in this loop, duban is not
            await asyncio.sleep(0.1)


async def _recorded(database_url: str) -> int:
    """Notices recorded as sent."""
    db = Database(database_url)
    try:
        async with db.read() as session:
            return int(await session.scalar(
                select(func.count()).select_from(OutboxItem)
                .where(OutboxItem.kind == "assigned", OutboxItem.status == "sent")) or 0)
    finally:
        await db.dispose()


async def _failed_rows_of(database_url: str, chat: int) -> int:
    db = Database(database_url)
    try:
        async with db.read() as session:
            return int(await session.scalar(
                select(func.count()).select_from(OutboxItem).join(Person)
                .where(Person.telegram_id == chat, OutboxItem.status == "failed")) or 0)
    finally:
        await db.dispose()
