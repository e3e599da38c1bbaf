"""The `duban` command line: run the service, migrate, add people, invite, back up, import files,
summaries, the Excel register, yearly targets and the console."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from aiogram.exceptions import TelegramAPIError

from bot.telegram.channel import learn_username
from bot.telegram.factory import create_bot
from config.logging import setup_logging
from config.settings import Settings, SettingsError, load_settings
from core.chat.context import describe
from core.chat.imports import rejection_text, result_text
from core.dto import PersonRef
from core.enums import Channel, Role
from core.errors import DubanError
from core.export import export_register
from core.importing.problems import FileRejected
from core.people import parse_role
from core.summary.data import gather
from core.summary.messages import look_for
from core.summary.render import metric_label, summary_html, target_line
from core.texts import plain, t
from core.views import roles_text
from duban.runtime import StartupError, open_core, run_console, send_summary_now, serve
from storage import backup, migrate

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duban", description="督办 Duban")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="the bot, the scheduler and the sender in one process")

    db = commands.add_parser("db", help="database migrations").add_subparsers(
        dest="db_command", required=True)
    db.add_parser("upgrade", help="create or migrate the database to the newest version")
    downgrade = db.add_parser("downgrade", help="migrate back (default: to empty)")
    downgrade.add_argument("revision", nargs="?", default="base")

    user = commands.add_parser("user", help="people").add_subparsers(
        dest="user_command", required=True)
    add = user.add_parser("add", help="add a person or update their roles")
    add.add_argument("--name", required=True)
    add.add_argument("--role", action="append", required=True,
                     help="admin, director, leader or official (repeat for several)")
    add.add_argument("--telegram-id", type=int)
    add.add_argument("--wecom-id")
    add.add_argument("--title")

    backup = commands.add_parser("backup", help="consistent online backup of the SQLite database")
    backup.add_argument("file", type=Path)

    invite = commands.add_parser("invite", help="print a single-use invite link")
    invite.add_argument("--role", action="append", required=True)
    invite.add_argument("--name", required=True)

    imports = commands.add_parser(
        "import", help="import guidelines (.ics/.csv/.xlsx), a roster or a task sheet")
    imports.add_argument("file", type=Path)

    summary = commands.add_parser("summary", help="print (or send) the summary now")
    summary.add_argument("--leader", help="one leader's portfolio instead of the bureau")
    summary.add_argument("--send", action="store_true",
                         help="send it now: to the director and each leader (or to --leader), "
                              "and to the group robots")

    export = commands.add_parser("export", help="write every task and update to an Excel file")
    export.add_argument("file")

    target = commands.add_parser("target", help="yearly targets").add_subparsers(
        dest="target_command", required=True)
    target_set = target.add_parser("set", help="set a target (and a manual metric's actual)")
    target_set.add_argument("metric", help="争取资金, 立项数 or any other metric name")
    target_set.add_argument("value")
    target_set.add_argument("actual", nargs="?", help="the actual so far (manual metrics)")
    target_list = target.add_parser("list", help="the year's targets with progress")
    target_delete = target.add_parser("delete", help="remove a target")
    target_delete.add_argument("metric")
    for sub in (target_set, target_list, target_delete):
        sub.add_argument("--year", type=int)

    console = commands.add_parser("console", help="chat with Duban in this terminal")
    console.add_argument("--as", dest="acting", metavar="NAME",
                         help="whom to act as first (default: the first admin)")
    return parser


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    await serve(settings)
    return 0


async def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    # Only warnings and errors on the terminal the conversation runs in.
    logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
    await run_console(settings, stdin_lines(), lambda text: print(text, flush=True), args.acting)
    return 0


async def stdin_lines() -> AsyncIterator[str]:
    """Lines typed (or piped) on stdin. A daemon thread reads, so a line being waited for never
    keeps the process from ending."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the console has ended
            for line in sys.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


async def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    if args.db_command == "upgrade":
        await migrate.upgrade_async(settings.database_url)
        print("数据库已是最新版本。")
    else:
        await migrate.downgrade_async(settings.database_url, args.revision)
        print(f"数据库已回退到 {args.revision}。")
    return 0


async def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    core = await open_core(settings)
    try:
        roles = {parse_role(r) for r in args.role}
        person = await core.people.add(args.name, roles, telegram_id=args.telegram_id,
                                       wecom_id=args.wecom_id, title=args.title)
    finally:
        await core.db.dispose()
    print(f"已保存 {person.name}（{plain(roles_text('zh', person.roles))}），编号 {person.id}。")
    return 0


async def cmd_invite(settings: Settings, args: argparse.Namespace) -> int:
    core = await open_core(settings)
    try:
        roles = {parse_role(r) for r in args.role}
        new = await core.invites.create(roles, args.name, actor=None, channel=Channel.CLI)
    finally:
        await core.db.dispose()
    username = await _bot_username(settings)
    if username:
        print(f"https://t.me/{username}?start={new.code}")
    else:
        print(f"机器人用户名未知（未设置 DUBAN_BOT_TOKEN 或无法连接）。请让 {new.name} "
              f"在机器人对话中发送：/start {new.code}")
    print(f"{settings.invite_ttl_days} 天内有效，仅可使用一次。")
    return 0


async def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    try:
        target = await backup.backup(settings.database_url, args.file)
    except backup.BackupError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"已备份到 {target}（{target.stat().st_size // 1024} KB）。")
    return 0


async def _bot_username(settings: Settings) -> str | None:
    if settings.bot_token is None:
        return None
    bot = create_bot(settings)
    try:
        return await learn_username(bot)
    except (TelegramAPIError, OSError, TimeoutError, StartupError):
        return None
    finally:
        await bot.session.close()


async def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when imported, 1 when the file was rejected (every mistake printed)."""
    try:
        data = args.file.read_bytes()
    except OSError as error:
        print(f"无法读取文件 {args.file}：{error.strerror}", file=sys.stderr)
        return 2
    core = await open_core(settings)
    try:
        result = await core.imports.run(None, args.file.name, data, Channel.CLI)
    except FileRejected as rejected:
        print(plain(rejection_text(settings.language, rejected)), file=sys.stderr)
        return 1
    finally:
        await core.db.dispose()
    print(plain(result_text(settings.language, result)))
    return 0


async def cmd_summary(settings: Settings, args: argparse.Namespace) -> int:
    core = await open_core(settings)
    try:
        leader = (await core.people.find(args.leader, "leader", Role.LEADER)
                  if args.leader else None)
        if args.send:
            print(await send_summary_now(settings, core, leader))
            return 0
        look = look_for(core, settings.language)
        scope = PersonRef(leader.id, leader.name) if leader else None
        print(plain(summary_html(look, await gather(core, look, scope))))
    finally:
        await core.db.dispose()
    return 0


async def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    core = await open_core(settings)
    try:
        register = await export_register(core, look_for(core, settings.language))
    finally:
        await core.db.dispose()
    await asyncio.to_thread(Path(args.file).write_bytes, register.data)
    print(f"已导出 {register.tasks} 项任务、{register.updates} 条进展记录：{args.file}")
    return 0


async def cmd_target(settings: Settings, args: argparse.Namespace) -> int:
    core = await open_core(settings)
    lang = settings.language
    try:
        targets = core.targets
        year = args.year or targets.this_year()
        if args.target_command == "set":
            progress = await targets.set_target(None, args.metric, args.value, args.actual,
                                                year, Channel.CLI)
            print(plain(t(lang, "target_set", year=year, line=target_line(lang, progress))))
        elif args.target_command == "delete":
            key = await targets.delete(None, args.metric, year, Channel.CLI)
            print(plain(t(lang, "target_deleted", year=year, label=metric_label(lang, key))))
        else:
            lines = [target_line(lang, p) for p in await targets.progress(year)]
            print(plain("\n".join(lines) or t(lang, "targets_none", year=year)))
    finally:
        await core.db.dispose()
    return 0


def _command(args: argparse.Namespace) -> Command:
    if args.command == "user":
        return cmd_user_add
    return {"run": cmd_run, "db": cmd_db, "invite": cmd_invite, "backup": cmd_backup,
            "import": cmd_import, "summary": cmd_summary, "export": cmd_export,
            "target": cmd_target, "console": cmd_console}[args.command]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.secrets())
    try:
        return asyncio.run(_command(args)(settings, args))
    except (StartupError, SettingsError) as error:
        print(error, file=sys.stderr)
        return 2
    except DubanError as error:
        print(plain(describe(settings.language, error)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
