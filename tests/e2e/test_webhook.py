"""Telegram in webhook mode: the fake Bot API pushes updates to the service's HTTP server with
the secret header; each update is stored before the 200, and handled from the store."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select

from core.clock import FrozenClock
from storage.models import InboundSeen, InboxItem
from tests.conftest import Staff, make_settings
from tests.e2e.conftest import People
from tests.e2e.harness import Running, ask, eventually, text_of
from tests.fakes.telegram_api import SECRET_HEADER, FakeTelegram

SECRET = "webhook-Secret_42"
PATH = "/telegram/hook"


def free_port() -> int:
    # Telegram must know the webhook URL, so the port is chosen before the service starts.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def hooked(
    fake: FakeTelegram, database_url: str, clock: FrozenClock, staff: Staff
) -> AsyncIterator[Running]:
    port = free_port()
    settings = make_settings(database_url, telegram_api_url=fake.base_url, http_port=port,
                             webhook_url=f"http://127.0.0.1:{port}{PATH}", webhook_secret=SECRET)
    running = await Running(fake, settings, clock).start()
    yield running
    await running.stop()


async def rows(running: Running, model: type[InboxItem] | type[InboundSeen]) -> list[object]:
    async with running.core.db.read() as session:
        return list(await session.scalars(select(model)))


async def test_updates_arrive_by_webhook_with_the_secret(
    hooked: Running, fake: FakeTelegram, people: People
) -> None:
    (call,) = fake.calls_to("setWebhook")
    assert call.params["secret_token"] == SECRET and call.params["url"].endswith(PATH)
    answer = await ask(people.official, "/start")
    assert "李明您好" in text_of(answer)
    assert not fake.calls_to("getUpdates")


async def test_a_request_without_the_right_secret_is_refused(
    hooked: Running, fake: FakeTelegram, people: People
) -> None:
    update = json.dumps({"update_id": 7, "message": {
        "message_id": 1, "date": 0, "chat": {"id": 1005, "type": "private", "first_name": "x"},
        "from": {"id": 1005, "is_bot": False, "first_name": "x"}, "text": "/tasks"}})
    url = f"{hooked.http_url}{PATH}"
    async with aiohttp.ClientSession() as client:
        for headers in ({}, {SECRET_HEADER: "guess"}, {SECRET_HEADER: SECRET + "x"}):
            async with client.post(url, data=update, headers=headers) as response:
                assert response.status == 403
    assert await rows(hooked, InboxItem) == [] and await rows(hooked, InboundSeen) == []
    assert fake.sent_to(1005) == []


async def test_an_update_answered_is_not_lost_when_handling_is_cut_short(
    hooked: Running, fake: FakeTelegram, people: People
) -> None:
    fake.pause()  # the Bot API stalls: handling cannot finish, yet the webhook is answered
    await people.official.send("/tasks")

    async def stored_and_answered() -> bool:
        return not fake.pending_updates and bool(await rows(hooked, InboxItem))

    await eventually(stored_and_answered)
    await hooked.stop()  # the service goes down in the middle of handling the update
    async with hooked.offline_core() as core, core.db.read() as session:
        waiting = await session.scalar(select(func.count()).select_from(InboxItem)
                                       .where(InboxItem.status == "pending"))
    assert waiting == 1
    fake.resume()
    await hooked.start()
    answer = await people.official.wait_for_message(lambda m: "没有进行中的任务" in text_of(m))
    assert answer
