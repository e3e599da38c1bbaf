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

from bench import dispatch, handlers, planning

RESULTS = Path(__file__).parent / "results.json"


@dataclass(frozen=True)
class Goal:
    key: str
    text: str
    met: Callable[[float], bool]


GOALS = [
    Goal("handler_ratio", "≥ 0.25", lambda v: v >= 0.25),
    Goal("update_p99_ms", "≤ 25 ms", lambda v: v <= 25),
    Goal("peer_plan_speedup", "≥ 20", lambda v: v >= 20),
    Goal("dispatch_rate_ratio", "≥ 0.95", lambda v: v >= 0.95),
    Goal("dispatch_429s", "0", lambda v: v == 0),
    Goal("per_chat_violations", "0", lambda v: v == 0),
]

Benchmark = Callable[[Path], Awaitable[dict[str, float]]]
BENCHMARKS: dict[str, Benchmark] = {
    "handlers": handlers.measure,
    "planning": planning.measure,
    "dispatch": dispatch.measure,
}


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
           f"Python {platform.python_version()}, {platform.system()} {platform.release()}"


def table(results: dict[str, float]) -> str:
    lines = ["| figure | value | goal | met |", "| --- | --- | --- | --- |"]
    for goal in GOALS:
        if goal.key in results:
            value = results[goal.key]
            lines.append(f"| `{goal.key}` | {value:g} | {goal.text} | "
                         f"{'yes' if goal.met(value) else 'NO'} |")
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
    results = asyncio.run(run(args.only or list(BENCHMARKS)))
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"Machine: {machine()}\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
