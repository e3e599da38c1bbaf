"""`make soak`: the long form of tests/e2e/test_crash.py. 2,000 due notices to 400 people sent by
`duban run` as a real process against the fake Bot API (strict about Telegram's limits), with
10% 5xx answers, 5% stalled requests, bursts of 429 and one user who blocked the bot, killed
with SIGKILL at 20 random moments and started again each time. Prints what arrived (planned,
delivered, duplicated, lost, the limits broken, the achieved rate) and writes bench/soak.json;
exits 1 if anything was lost, sent twice beyond the messages in flight at the kills, or a limit
was broken.

    python -m bench.soak [--database-url URL]   # a migrated database; default a SQLite file
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from storage import migrate
from tests.e2e.burst import Burst, Tally, run_burst

RESULTS = Path(__file__).parent / "soak.json"
SOAK = Burst(people=400, per_person=5, kills=20, faults=True, seed=20)


async def soak(database_url: str | None) -> Tally:
    with tempfile.TemporaryDirectory(prefix="duban-soak-") as workdir:
        if database_url is None:
            database_url = f"sqlite+aiosqlite:///{workdir}/soak.db"
            await migrate.upgrade_async(database_url)
        return await run_burst(database_url, SOAK, Path(workdir))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a migrated, empty database to use")
    tally = asyncio.run(soak(parser.parse_args().database_url))
    figures = tally.as_dict()
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    for key, value in figures.items():
        print(f"{key:>22}: {value:g}")
    broken = (tally.lost or tally.duplicated > tally.in_flight_at_kills or tally.per_chat_violations
              or tally.global_violations)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
