"""Exit 0 if the PostgreSQL server for tests answers at DUBAN_TEST_POSTGRES_URL, else 1."""

from __future__ import annotations

import sys

import asyncpg

from tests.conftest import postgres_admin


def main() -> int:
    try:
        postgres_admin("SELECT 1")
    except (OSError, asyncpg.PostgresError) as error:
        print(f"PostgreSQL not reachable for tests: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
