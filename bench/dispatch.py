"""The sender at full stretch: 10,000 due notices to 2,000 people sent by the real dispatcher
through a real aiogram Bot over HTTP to the fake Bot API, which enforces Telegram's limits (30/s
overall, 1/s per chat) and answers 429 beyond them. `dispatch_rate_ratio` is the achieved rate,
from the first send to the last as the fake saw them, over DUBAN_SEND_RATE; `dispatch_429s` and
`per_chat_violations` count the limits broken (goals: ≥ 0.95, 0 and 0).

`python -m bench.dispatch 1000` runs a smaller burst (the full one takes about 7 minutes)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.seed import add_due_notices, add_people, bench_settings, fresh_database, sqlite_url
from bot.telegram.factory import create_bot
from bot.telegram.sender import TelegramSender
from core.app import Core
from scheduler.dispatch import OutboxDispatcher
from storage.models import OutboxItem
from tests.fakes.telegram_api import FakeTelegram

NUDGES = 10_000
PER_PERSON = 5
SEND_RATE = 25.0


async def measure(workdir: Path, nudges: int = NUDGES) -> dict[str, float]:
    path = workdir / "dispatch.db"
    db = await fresh_database(path)
    officials, _ = await add_people(db, nudges // PER_PERSON, 0)
    await add_due_notices(db, officials, PER_PERSON, datetime.now(UTC) - timedelta(minutes=1))
    async with FakeTelegram() as fake:
        for official in officials:
            fake.user(10_000 + official - 10, f"责任人{official}", started=True)
        settings = bench_settings(sqlite_url(path), telegram_api_url=fake.base_url,
                                  send_rate=SEND_RATE)
        core = Core(settings, db)
        bot = create_bot(settings)
        dispatcher = OutboxDispatcher(core, [TelegramSender(bot)], worker="bench")
        try:
            sending = asyncio.create_task(dispatcher.run())
            while await _unsent(core):  # noqa: ASYNC110 - the database has no event to wait on
                await asyncio.sleep(0.5)
            dispatcher.stop()
            await sending
        finally:
            await bot.session.close()
            await db.dispose()
        sends = [call.time for call in fake.calls_to("sendMessage") if call.ok]
        achieved = (len(sends) - 1) / (max(sends) - min(sends))
        return {"dispatch_rate_ratio": round(achieved / SEND_RATE, 3),
                "dispatch_429s": float(fake.stats["rate_limited"]),
                "per_chat_violations": float(fake.stats["per_chat_violations"])}


async def _unsent(core: Core) -> int:
    async with core.db.read() as session:
        unsent = select(func.count()).select_from(OutboxItem).where(OutboxItem.status != "sent")
        return int(await session.scalar(unsent) or 0)


async def _main(nudges: int) -> None:
    with tempfile.TemporaryDirectory(prefix="duban-bench-") as workdir:
        print(await measure(Path(workdir), nudges))


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]) if len(sys.argv) > 1 else NUDGES))
