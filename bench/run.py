"""`make bench`: run every benchmark, write bench/results.json (one flat object) and print a table
with each goal. Each benchmark measures ours and its baseline in the same run, so the ratios
hold on a noisy machine even when the absolute figures do not."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench import dispatch, handlers, planning, scan, stall, startup, summary

RESULTS = Path(__file__).parent / "results.json"


@dataclass(frozen=True)
class Goal:
    key: str
    text: str
    met: Callable[[float], bool] | None  # None: reported, no goal (what a figure depends on)


GOALS = [
    Goal("handler_ratio", "≥ 0.25", lambda v: v >= 0.25),
    Goal("update_p99_ms", "≤ 25 ms", lambda v: v <= 25),
    Goal("peer_plan_speedup", "≥ 20", lambda v: v >= 20),
    Goal("dispatch_rate_ratio", "≥ 0.95", lambda v: v >= 0.95),
    Goal("dispatch_429s", "0", lambda v: v == 0),
    Goal("per_chat_violations", "0", lambda v: v == 0),
    Goal("peer_loop_stall_ratio", "≥ 10", lambda v: v >= 10),
    Goal("loop_stall_ms", "< 50 ms", lambda v: v < 50),
    Goal("loop_stall_cpu_ms", "–", None),
    Goal("peer_loop_stall_cpu_ms", "–", None),
    Goal("due_scan_growth", "≤ 2", lambda v: v <= 2),
    Goal("startup_s", "≤ 2 s", lambda v: v <= 2),
    Goal("aiogram_import_s", "–", None),
    Goal("rss_mb", "≤ 150 MB", lambda v: v <= 150),
    Goal("aiogram_rss_mb", "–", None),
    Goal("summary_s", "≤ 2 s", lambda v: v <= 2),
    Goal("summary_attachments_s", "–", None),
]

Benchmark = Callable[[Path], Awaitable[dict[str, float]]]
BENCHMARKS: dict[str, Benchmark] = {
    "handlers": handlers.measure,
    "planning": planning.measure,
    "dispatch": dispatch.measure,
    "stall": stall.measure,
    "scan": scan.measure,  # before `startup`: the service it starts sends the 50 due reminders
    "startup": startup.measure,
    "summary": summary.measure,
}


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
           f"Python {platform.python_version()}, {platform.system()} {platform.release()}"


def table(results: dict[str, float]) -> str:
    lines = ["| figure | value | goal | met |", "| --- | --- | --- | --- |"]
    for goal in GOALS:
        if goal.key in results:
            value = results[goal.key]
            met = "–" if goal.met is None else "yes" if goal.met(value) else "NO"
            lines.append(f"| `{goal.key}` | {value:g} | {goal.text} | {met} |")
    return "\n".join(lines)


async def run(selected: list[str]) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="duban-bench-") as workdir:
        for name in selected:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            results.update(await BENCHMARKS[name](Path(workdir)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)}")
    args = parser.parse_args()
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    # In BENCHMARKS' order whatever the command line's: some share a database.
    results = asyncio.run(run([name for name in BENCHMARKS if not args.only or name in args.only]))
    if args.only and RESULTS.exists():  # a partial run updates its own figures, keeps the rest
        results = json.loads(RESULTS.read_text()) | results
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"Machine: {machine()}\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
