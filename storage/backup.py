"""A consistent copy of a live SQLite database, through SQLite's online backup API.

The copy is made in one step, inside one read transaction: in WAL mode writers carry on
meanwhile, and the copy is the database as it was when the step began. Copying in several steps
instead restarts from the first page whenever another connection commits between two steps, so
under a steady stream of commits a large database's backup never finished."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """Why no backup was made, in one line."""


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or not url.database:
        raise BackupError("duban backup 只适用于 SQLite 数据库；PostgreSQL 请用 pg_dump")
    return Path(url.database)


def _backup(source: Path, target: Path) -> None:
    if not source.exists():
        raise BackupError(f"数据库文件不存在：{source}")
    if target.exists():
        raise BackupError(f"目标文件已存在，不会覆盖：{target}")
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst, pages=-1)  # all pages in one step: see the module's docstring
        if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError("备份文件完整性检查未通过")


async def backup(database_url: str, target: Path) -> Path:
    await asyncio.to_thread(_backup, sqlite_path(database_url), target)
    return target
