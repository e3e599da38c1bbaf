"""Test doubles for Duban's external services.

``tests.fakes.telegram_api.FakeTelegram`` is a real HTTP server speaking the Telegram Bot
API, for driving the real aiogram Bot in tests.  Import from the submodules directly
(this package imports nothing eagerly, so ``python -m tests.fakes.telegram_api`` starts
without loading the module twice).
"""
