"""Forms kept in aiogram's FSM storage (memory, or Redis when several copies run)."""

from __future__ import annotations

from typing import Any

from aiogram.fsm.context import FSMContext


class FsmFormState:
    def __init__(self, context: FSMContext) -> None:
        self.context = context

    async def get(self) -> dict[str, Any] | None:
        form = (await self.context.get_data()).get("form")
        return dict(form) if form else None

    async def set(self, data: dict[str, Any]) -> None:
        await self.context.set_data({"form": data})

    async def clear(self) -> None:
        await self.context.clear()
