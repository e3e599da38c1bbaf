"""The local console channel: chat with Duban in a terminal as any registered person."""
