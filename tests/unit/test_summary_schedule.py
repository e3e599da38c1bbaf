"""Which run of `DUBAN_SUMMARY_CRON` is due: the latest at or before now, within the grace."""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduler.jobs import latest_run
from tests.bureau import MONDAY
from tests.conftest import TZ, make_settings


def test_the_latest_run_within_the_grace(database_url: str) -> None:
    settings = make_settings(database_url)  # 30 8 * * mon, Asia/Shanghai, 24 hours of grace
    assert latest_run(settings, MONDAY) == MONDAY
    assert latest_run(settings, MONDAY - timedelta(seconds=1)) is None  # last week's: too old
    assert latest_run(settings, MONDAY + timedelta(hours=23)) == MONDAY
    assert latest_run(settings, MONDAY + timedelta(hours=25)) is None


def test_a_cron_of_its_own_and_no_grace(database_url: str) -> None:
    settings = make_settings(database_url, summary_cron="0 9,17 * * 1-5", catch_up_grace_hours=0)
    friday = datetime(2026, 12, 11, 17, 3, tzinfo=TZ)
    assert latest_run(settings, friday) == datetime(2026, 12, 11, 17, 0, tzinfo=TZ)
    assert latest_run(settings, friday + timedelta(minutes=10)) is None  # past the misfire grace
