"""Routers, one per kind of event; `get_routers()` builds them afresh (a router can belong to
one dispatcher only, and tests build several) in the order they must match."""

from __future__ import annotations

from aiogram import Router

from bot.telegram.handlers import callbacks, messages


def get_routers() -> list[Router]:
    return [callbacks.router(), messages.router()]
