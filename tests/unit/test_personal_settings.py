"""`/settings`: one's own language, and the channel reminders go to — only one registered for."""

from __future__ import annotations

from sqlalchemy import select

from core.app import Core
from core.chat.context import MemoryFormState, Speaker
from core.chat.conversation import Conversation
from core.enums import Channel, Role
from core.replies import Reply
from storage.models import AuditEntry
from tests.conftest import Staff


async def say(core: Core, telegram_id: int, text: str, data: str | None = None) -> Reply:
    speaker = Speaker(Channel.TELEGRAM, str(telegram_id))
    conversation = Conversation(core)
    if data is not None:
        return (await conversation.press(speaker, data, MemoryFormState()))[0]
    return (await conversation.message(speaker, text, MemoryFormState()))[0]


def labels(reply: Reply) -> list[str]:
    return [button.label for row in reply.buttons for button in row]


async def test_language_by_button_or_by_words(core: Core, staff: Staff) -> None:
    overview = await say(core, 1005, "设置")
    assert "语言：中文" in overview.text and labels(overview) == ["中文", "English"]
    changed = await say(core, 1005, "", data="lang:0:en")
    assert changed.text.startswith("Saved.") and "Language: English" in changed.text
    assert "已保存" in (await say(core, 1005, "/settings language 中文")).text
    assert "无法识别" in (await say(core, 1005, "/settings 语言 法语")).text
    assert "用法" in (await say(core, 1005, "/settings 颜色 红")).text


async def test_the_reminder_channel_must_be_one_registered_for(
    core: Core, staff: Staff
) -> None:
    refused = await say(core, 1005, "/settings 渠道 企业微信")
    assert "还没有登记企业微信账号" in refused.text
    await core.people.add("李明", {Role.OFFICIAL}, wecom_id="liming")
    overview = await say(core, 1005, "/settings")
    assert labels(overview) == ["中文", "English", "Telegram", "企业微信"]
    assert "接收提醒：自动" in overview.text
    chosen = await say(core, 1005, "", data="chan:0:wecom")
    assert "接收提醒：企业微信" in chosen.text
    assert (await core.people.get(staff.official.id)).preferred_channel == "wecom"
    async with core.db.read() as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert actions.count("person_settings") == 1
