"""The authorization table: every command and every button × every role × own/other's task.

Checked at the conversation, the one place every channel goes through; the Telegram flow tests
prove the same refusals arrive over the wire."""

from __future__ import annotations

import pytest

from core.app import Core
from core.chat.commands import COMMANDS
from core.chat.context import MemoryFormState, Speaker
from core.chat.conversation import Conversation
from core.dto import PersonView
from core.enums import Channel, Role
from core.replies import Action
from core.tasks import AssignRequest
from core.texts import t
from tests.conftest import Staff

ADMIN_ONLY = {"assign", "edit", "invite", "import", "target"}
SUMMARY = {Role.ADMIN, Role.DIRECTOR, Role.LEADER}
ARGS = {"assign": "李明 | 2026-12-20 | 测试项目", "edit": "1 名称 新名称",
        "invite": "责任人 新人", "task": "1", "report": "1 50", "tasks": "", "summary": "",
        "help": "", "cancel": "", "start": "", "guidelines": "", "import": "",
        "target": "争取资金 5000", "settings": "", "away": "3"}


def speaker(person: PersonView) -> Speaker:
    return Speaker(Channel.TELEGRAM, str(person.telegram_id))


def expected_allowed(command: str, role: Role) -> bool:
    if command in ADMIN_ONLY:
        return role == Role.ADMIN
    if command == "summary":
        return role in SUMMARY
    return True


@pytest.fixture
async def task_id(core: Core, staff: Staff) -> int:
    request = AssignRequest(official="李明", due="2026-12-20", title="高新技术企业认定",
                            leader="张副局长")
    outcome = await core.tasks.assign(staff.admin, request, Channel.CLI)
    return outcome.task.id


@pytest.mark.parametrize("command", sorted(COMMANDS))
async def test_every_command_for_every_role(
    core: Core, staff: Staff, task_id: int, command: str
) -> None:
    conversation = Conversation(core)
    for person in staff.everyone():
        (role,) = person.roles
        replies = await conversation.message(speaker(person), f"/{command} {ARGS[command]}",
                                             MemoryFormState())
        refused = any(r.text == t("zh", "not_allowed") for r in replies)
        assert refused != expected_allowed(command, role), (command, role, replies[0].text)


def test_the_table_covers_every_command() -> None:
    assert set(ARGS) == set(COMMANDS)


BUTTONS = [Action("ack", 0), Action("status", 0, "submitted"), Action("pct", 0, "60"),
           Action("step", 0, "10"), Action("step", 0, "-10"), Action("prog", 0),
           Action("block", 0), Action("snooze", 0), Action("snooze", 0, "1"),
           Action("snooze", 0, "3")]


@pytest.mark.parametrize("button", BUTTONS, ids=lambda a: a.encode())
async def test_every_button_for_every_role_on_own_and_others_task(
    core: Core, staff: Staff, task_id: int, button: Action
) -> None:
    """李明 is the official and 张副局长 the leader of the task; 孙丽 and 钱副局长 are not."""
    conversation = Conversation(core)
    outcomes = {
        staff.admin.name: "ok", staff.official.name: "ok",
        staff.director.name: "task_update_not_allowed", staff.leader.name:
        "task_update_not_allowed", staff.official2.name: "task_not_found",
        staff.leader2.name: "task_not_found",
    }
    data = Action(button.verb, task_id, button.arg).encode()
    for person in staff.everyone():
        before = await core.tasks.detail(staff.admin, task_id)
        replies = await conversation.press(speaker(person), data, MemoryFormState())
        expected = outcomes[person.name]
        after = await core.tasks.detail(staff.admin, task_id)
        if expected == "ok":
            assert not any("未找到" in r.text or "只有" in r.text for r in replies), replies
        else:
            assert replies[0].text == t("zh", expected, task_id=task_id), (person.name, replies)
            assert after == before, "a refused button changed the task"


async def test_forged_button_data_is_refused_and_changes_nothing(
    core: Core, staff: Staff, task_id: int
) -> None:
    conversation = Conversation(core)
    before = await core.tasks.detail(staff.admin, task_id)
    for data in (f"pct:{task_id}:999", f"status:{task_id}:bogus", f"drop:{task_id}:",
                 f"snooze:{task_id}:999", f"snooze:{task_id}:x",
                 "ack:abc:", "x" * 80, "", "ack:99999:", "pick:0:1"):
        replies = await conversation.press(speaker(staff.official), data, MemoryFormState())
        assert replies and replies[0].text
    assert await core.tasks.detail(staff.admin, task_id) == before


async def test_only_admins_send_someone_else_away(core: Core, staff: Staff) -> None:
    conversation = Conversation(core)
    for person in staff.everyone():
        replies = await conversation.message(speaker(person), "/away 孙丽 3", MemoryFormState())
        refused = replies[0].text == t("zh", "not_allowed")
        assert refused != person.has(Role.ADMIN), person.name
    assert (await core.people.get(staff.official2.id)).away_until is not None


async def test_strangers_get_only_the_refusal(core: Core, staff: Staff, task_id: int) -> None:
    conversation = Conversation(core)
    stranger = Speaker(Channel.TELEGRAM, "999999")
    for text in ["/tasks", "/task 1", "/assign a | b | c", "/start", "/start bogus", "hello"]:
        replies = await conversation.message(stranger, text, MemoryFormState())
        expected = "invite_invalid" if text == "/start bogus" else "stranger"
        assert [r.text for r in replies] == [t("zh", expected)]
    replies = await conversation.press(stranger, f"ack:{task_id}:", MemoryFormState())
    assert replies[0].text == t("zh", "stranger")
