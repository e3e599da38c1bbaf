"""`duban run` as a real process, killed with SIGKILL mid-burst and started again, delivers every
due notice, none twice beyond the ones in flight at a kill (delivered, not yet recorded); with
5xx, stalled requests, 429s and a user who blocked the bot, every notice but the blocked user's
arrives exactly once. The fake Bot API is strict about Telegram's limits: none may be broken.
(`make soak` is the long form.)"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import in_one_pass_only
from tests.e2e.burst import Burst, run_burst

pytestmark = in_one_pass_only


async def test_killed_mid_burst_and_restarted_sends_each_notice_once(
    database_url: str, tmp_path: Path
) -> None:
    tally = await run_burst(database_url, Burst(people=100, per_person=3, kills=3), tmp_path)
    assert (tally.planned, tally.lost) == (300, 0), tally
    assert tally.duplicated <= tally.in_flight_at_kills, tally
    assert (tally.per_chat_violations, tally.global_violations) == (0, 0), tally


async def test_faults_are_retried_and_the_blocked_user_reported_once(
    database_url: str, tmp_path: Path
) -> None:
    burst = Burst(people=50, per_person=3, faults=True, seed=3)
    tally = await run_burst(database_url, burst, tmp_path)
    assert tally.injected_errors > 0, tally
    assert (tally.planned, tally.delivered, tally.duplicated) == (147, 147, 0), tally
    assert (tally.blocked_rows_failed, tally.unreachable_notices) == (3, 1), tally
    assert (tally.per_chat_violations, tally.global_violations) == (0, 0), tally
