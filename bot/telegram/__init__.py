"""Telegram through aiogram 3: routers, keyboards, the outbox sender, the command menu."""
