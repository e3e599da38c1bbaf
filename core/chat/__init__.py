"""Conversations: commands, forms, buttons; one place for every channel."""
