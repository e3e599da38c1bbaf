"""Persistence: the tables, the engine and units of work, migrations. Imports only config."""
