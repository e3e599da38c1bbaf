"""Duban's rules, channel-independent: people, roles, invites, tasks, parsing, planning, texts.

Telegram handlers, the WeCom adapter, the console and the scheduler all call this layer.
"""
