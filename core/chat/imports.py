"""A file sent to the bot: checked (who, what type, how big) before it is downloaded, imported,
and answered with what was created, updated and unchanged — or with every mistake in it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.chat.context import Ctx, describe
from core.errors import InputError, NotAllowed
from core.importing.importer import ImportResult, file_type
from core.importing.problems import FileRejected, Problem
from core.permissions import Permission, has_permission
from core.replies import Reply
from core.texts import Html, t
from core.views import split_message

MAX_LISTED = 30  # mistakes listed one by one; a file with more is usually the wrong file


@dataclass(frozen=True)
class Upload:
    """A file as a channel announces it; `fetch` downloads it, only once it is wanted."""

    filename: str
    size: int | None
    fetch: Callable[[], Awaitable[bytes]]


async def receive(ctx: Ctx, upload: Upload) -> list[Reply]:
    if not has_permission(ctx.person, Permission.IMPORT):
        raise NotAllowed("import_not_allowed")
    file_type(upload.filename)
    limit = int(ctx.core.settings.import_max_mb * 1024 * 1024)
    if upload.size is not None and upload.size > limit:
        raise _too_big(ctx, upload.size)
    data = await upload.fetch()
    if len(data) > limit:
        raise _too_big(ctx, len(data))
    try:
        result = await ctx.core.imports.run(ctx.person, upload.filename, data, ctx.channel)
    except FileRejected as rejected:
        parts = split_message(rejection_text(ctx.lang, rejected))
        return [Reply(Html(part), error=True) for part in parts]
    return [Reply(Html(part)) for part in split_message(result_text(ctx.lang, result))]


async def usage(ctx: Ctx, args: str) -> list[Reply]:
    """`/import`: how to import (the file itself is simply sent to the bot)."""
    return [ctx.reply("import_usage", mb=f"{ctx.core.settings.import_max_mb:g}")]


def _too_big(ctx: Ctx, size: int) -> InputError:
    return InputError("import_too_big", size=f"{size / 1024 / 1024:.1f}",
                      limit=f"{ctx.core.settings.import_max_mb:g}")


def result_text(lang: str, result: ImportResult) -> Html:
    lines = [t(lang, "import_done", name=result.filename)]
    for section in result.sections:
        counts = {saved.value: n for saved, n in section.counts.items()}
        lines.append(t(lang, "import_section", kind=t(lang, f"import_kind.{section.kind}"),
                       **counts))
        if section.tasks_moved:
            lines.append(t(lang, "import_moved", count=section.tasks_moved))
    return Html("\n".join(lines))


def rejection_text(lang: str, rejected: FileRejected) -> Html:
    lines = [describe(lang, rejected)]
    lines += [t(lang, "import_problem", where=_where(lang, p), message=describe(lang, p.error))
              for p in rejected.problems[:MAX_LISTED]]
    if len(rejected.problems) > MAX_LISTED:
        lines.append(t(lang, "import_more", count=len(rejected.problems) - MAX_LISTED))
    lines.append(t(lang, "import_untouched"))
    return Html("\n".join(lines))


def _where(lang: str, problem: Problem) -> Html:
    unit = "import_where_event" if problem.event else "import_where_row"
    where = t(lang, unit, row=problem.row) if problem.row else Html("")
    if problem.sheet:
        where = t(lang, "import_where_sheet", sheet=problem.sheet, where=where)
    if problem.column:
        where = t(lang, "import_where_column", where=where, column=problem.column)
    return where
