"""The authorization table: every command, every button verb and a file sent × every role
(admin, director, leader, official, a stranger) × their own task and someone else's.

The commands come from `COMMANDS`, the verbs from the code itself (every `Action("verb", …)` a
reply can carry and every verb the conversation compares against): one added without a row
here fails `test_the_table_covers_*` by name. The expected outcome is written from the rules
(PRODUCT.md), not read from core/permissions.py. A refusal is the exact Chinese message, flagged
as an error, and the database is unchanged (every table compared). Checked at the conversation,
the one place every channel goes through; the Telegram flow tests prove the same refusals arrive
over the wire."""

from __future__ import annotations

import ast
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

import core
from core.app import Core
from core.chat.commands import COMMANDS
from core.chat.context import MemoryFormState, Speaker
from core.chat.conversation import Conversation
from core.chat.imports import Upload
from core.dto import PersonView
from core.enums import Channel
from core.replies import Reply
from core.texts import t
from storage.models import Task
from tests.conftest import Staff
from tests.files import csv_file
from tests.fuzzing import dump, populate

ROLES = ("admin", "director", "leader", "official", "stranger")
STRANGER = Speaker(Channel.TELEGRAM, "999999")
OK = "ok"

# The rules, per (role, is it their own task): the outcome — OK or the refusal's text key.
Rule = Callable[[str, bool], str]


def everyone(role: str, own: bool) -> str:
    return OK


def admins(role: str, own: bool) -> str:
    return OK if role == "admin" else "not_allowed"


def summaries(role: str, own: bool) -> str:
    return OK if role in ("admin", "director", "leader") else "not_allowed"


def files(role: str, own: bool) -> str:
    return OK if role == "admin" else "import_not_allowed"


def seeing(role: str, own: bool) -> str:
    """Admins and directors see every task; leaders and officials their own."""
    return OK if role in ("admin", "director") or own else "task_not_found"


def updating(role: str, own: bool) -> str:
    """Progress, status, acknowledgement, blockers: the responsible official, or an admin.
    Others who can see the task are told so; others are told it does not exist."""
    if role == "admin" or (role == "official" and own):
        return OK
    return "task_update_not_allowed" if seeing(role, own) == OK else "task_not_found"


# Arguments; {task} is the task's number.
COMMAND_TABLE: dict[str, tuple[str, Rule]] = {
    "start": ("", everyone), "help": ("", everyone), "tasks": ("", everyone),
    "task": ("{task}", seeing), "report": ("{task} 50", updating),
    "summary": ("", summaries), "guidelines": ("", everyone),
    "target": ("争取资金 5000", admins), "assign": ("李明 | 2026-12-20 | 测试项目", admins),
    "edit": ("{task} 名称 新名称", admins), "invite": ("责任人 新人", admins),
    "import": ("", admins), "settings": ("", everyone), "cancel": ("", everyone),
    "away": ("3", everyone),
}


@dataclass(frozen=True)
class VerbRow:
    arg: str
    rule: Rule
    on_task: bool = True  # otherwise task 0: the person's own settings or form
    # The /assign step the person's form is at when pressing: a form's buttons act on it, and
    # its confirmation must still be refused to anyone who may not assign.
    form_step: str | None = None


VERB_TABLE: dict[str, VerbRow] = {
    "view": VerbRow("", seeing), "ack": VerbRow("", updating),
    "status": VerbRow("submitted", updating), "pct": VerbRow("60", updating),
    "step": VerbRow("10", updating), "prog": VerbRow("", updating),
    "block": VerbRow("", updating), "snooze": VerbRow("1", updating),
    "lang": VerbRow("zh", everyone, on_task=False),
    "chan": VerbRow("telegram", everyone, on_task=False),
    "cancel": VerbRow("", everyone, on_task=False, form_step="official"),
    "pick": VerbRow("{official}", everyone, on_task=False, form_step="official"),
    "skip": VerbRow("", everyone, on_task=False, form_step="enterprise"),
    "ok": VerbRow("", admins, on_task=False, form_step="confirm"),
}


def button_verbs() -> set[str]:
    """Every verb in core: `Action("verb", …)` built for a reply, `verb == "…"` or
    `verb in (…)` compared when one arrives."""
    verbs = set()
    for path in Path(core.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _name(node.func) == "Action" and node.args:
                verbs |= _strings(node.args[0])
            elif isinstance(node, ast.Compare) and _name(node.left) == "verb":
                for comparator in node.comparators:
                    verbs |= _strings(comparator)
    return verbs


def _name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else (
        node.attr if isinstance(node, ast.Attribute) else None)


def _strings(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return {s for element in node.elts for s in _strings(element)}
    return set()


def test_the_table_covers_every_command() -> None:
    assert set(COMMAND_TABLE) == set(COMMANDS), "commands without a row (or rows without one)"


def test_the_table_covers_every_button_verb() -> None:
    found = button_verbs()
    assert {"view", "ack", "ok"} <= found, "the verb scan no longer finds the verbs"
    assert set(VERB_TABLE) == found, "button verbs without a row (or rows without one)"


@dataclass(frozen=True)
class Bureau:
    core: Core
    staff: Staff
    own: int  # 李明's task, led by 张副局长
    other: int  # 孙丽's task, led by 钱副局长

    def person(self, role: str) -> PersonView | None:
        return getattr(self.staff, role, None)

    def speaker(self, role: str) -> Speaker:
        person = self.person(role)
        return Speaker(Channel.TELEGRAM, str(person.telegram_id)) if person else STRANGER


@pytest.fixture
async def bureau(core: Core) -> Bureau:
    staff = await populate(core)
    async with core.db.read() as session:
        ids = {task.title: task.id for task in await session.scalars(select(Task))}
    return Bureau(core, staff, ids["高新技术企业认定"], ids["创新平台"])


def cases() -> list[tuple[str, bool]]:
    return [(role, own) for role in ROLES for own in (True, False)]


async def check(
    bureau: Bureau, role: str, own: bool, rule: Rule, acting: Awaitable[list[Reply]],
    task_id: int,
) -> None:
    """`acting` is not yet awaited: it runs after the database is dumped."""
    expected = "stranger" if role == "stranger" else rule(role, own)
    before = await dump(bureau.core)
    replies = await acting
    where = (role, "own" if own else "other's", [r.text[:80] for r in replies])
    assert replies, where
    if expected == OK:
        assert not any(reply.error for reply in replies), where
        return
    assert replies[0].text == t("zh", expected, task_id=task_id), where
    assert all(reply.error for reply in replies), where
    assert await dump(bureau.core) == before, ("a refusal changed the database", where)


@pytest.mark.parametrize("command", sorted(COMMAND_TABLE))
async def test_every_command_for_every_role_on_own_and_others_task(
    bureau: Bureau, command: str
) -> None:
    args, rule = COMMAND_TABLE[command]
    for role, own in cases():
        task_id = bureau.own if own else bureau.other
        state = MemoryFormState()
        if command == "cancel":  # something to cancel
            state.data = {"form": "reason", "task": task_id}
        text = f"/{command} {args.format(task=task_id)}"
        acting = Conversation(bureau.core).message(bureau.speaker(role), text, state)
        await check(bureau, role, own, rule, acting, task_id)


def form_at(step: str | None, bureau: Bureau) -> MemoryFormState:
    """The /assign form at `step`, as the admin's would be there."""
    state = MemoryFormState()
    if step is None:
        return state
    official = bureau.staff.official
    data = {} if step == "official" else {"official": official.id, "official_name": official.name,
                                          "title": "测试项目"}
    if step == "confirm":
        data |= {"due": "2026-12-20"}
    steps = ["official", "title", "enterprise", "due", "leader", "funding", "confirm"]
    state.data = {"form": "assign", "step": step, "steps": steps, "data": data}
    return state


@pytest.mark.parametrize("verb", sorted(VERB_TABLE))
async def test_every_button_for_every_role_on_own_and_others_task(
    bureau: Bureau, verb: str
) -> None:
    row = VERB_TABLE[verb]
    arg = row.arg.format(official=bureau.staff.official.id)
    for role, own in cases():
        task_id = (bureau.own if own else bureau.other) if row.on_task else 0
        state = form_at(row.form_step, bureau)
        acting = Conversation(bureau.core).press(bureau.speaker(role), f"{verb}:{task_id}:{arg}",
                                                 state)
        await check(bureau, role, own, row.rule, acting, task_id)


@pytest.mark.parametrize("role", ROLES)
async def test_a_file_sent_by_every_role(bureau: Bureau, role: str) -> None:
    data = csv_file([["指南名称", "截止日期"], ["省重点研发计划", "2027-02-10"]])

    async def fetch() -> bytes:
        return data

    upload = Upload("指南.csv", len(data), fetch)
    acting = Conversation(bureau.core).document(bureau.speaker(role), upload, MemoryFormState())
    await check(bureau, role, True, files, acting, 0)


async def test_forged_button_data_is_refused_and_changes_nothing(bureau: Bureau) -> None:
    conversation = Conversation(bureau.core)
    speaker = bureau.speaker("official")
    own = bureau.own
    before = await dump(bureau.core)
    for data in (f"pct:{own}:999", f"status:{own}:bogus", f"drop:{own}:", "ack:abc:", "x" * 80,
                 "", "ack:99999:", "pick:0:1", f"view:{own}:{'x' * 70}",
                 f"snooze:{own}:999", f"snooze:{own}:x"):
        replies = await conversation.press(speaker, data, MemoryFormState())
        assert replies and replies[0].error and replies[0].text, data
    assert await dump(bureau.core) == before


async def test_only_admins_send_someone_else_away(bureau: Bureau) -> None:
    conversation = Conversation(bureau.core)
    for role in ROLES[:-1]:
        replies = await conversation.message(bureau.speaker(role), "/away 孙丽 3",
                                             MemoryFormState())
        refused = replies[0].text == t("zh", "not_allowed")
        assert refused != (role == "admin"), role
    assert (await bureau.core.people.get(bureau.staff.official2.id)).away_until is not None


async def test_strangers_get_only_the_refusal(bureau: Bureau) -> None:
    conversation = Conversation(bureau.core)
    for text in ["/tasks", "/task 1", "/assign a | b | c", "/start", "/start bogus", "hello"]:
        replies = await conversation.message(STRANGER, text, MemoryFormState())
        expected = "invite_invalid" if text == "/start bogus" else "stranger"
        assert [r.text for r in replies] == [t("zh", expected)]
