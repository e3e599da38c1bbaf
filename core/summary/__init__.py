"""Summaries for leaders and the director: gathered (`data`), worded (`render`), drawn
(`chart`) and delivered as replies or outbox rows (`messages`)."""
