"""PostgreSQL against SQLite on one node: the same benchmarks, one database after the other.

Runs heartbeat, meter values, status → eMSP and the command round trip first with the platform
on SQLite, then on a PostgreSQL server this run starts from Debian's binaries (fsync on,
commits not waiting for the disk: what SQLite's WAL with synchronous=NORMAL does), each with
its default load, and compares each figure with the SQLite one of the same run:

- heartbeat, meter values: messages/s on PostgreSQL ÷ on SQLite (meter values: none lost);
- status → eMSP, command round trip: p99 on SQLite ÷ p99 on PostgreSQL (every change and
  command through). Status → eMSP runs at STATUS_RATE changes/s, not its own default of 200:
  a ratio of p99s compares the databases only while neither saturates the machine, and on
  2 cores the whole pipeline (charger load, server, push worker, eMSP, database) saturates
  near 200/s on either database, where both p99s are queues seconds long (bench/RESULTS.md).
  How many changes a second the platform carries is status_to_emsp's own figure.

Held to: each ratio ≥ 70 %.

    python -m bench.postgres [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from bench import command_round_trip, heartbeat, meter_values, status_to_emsp
from bench.harness import ServerFailed
from csms import garbage

REQUIRED_RATIO = 0.70
STATUS_RATE = 100  # changes/s of the status → eMSP comparison (see above)


def _heartbeat() -> tuple[Any, Callable[[dict[str, Any]], tuple[float, bool]]]:
    args = heartbeat.parse([])

    async def measure() -> dict[str, Any]:
        return heartbeat.report(args, await heartbeat.measure(args))

    return measure, lambda f: (
        f["results"]["platform"]["rate"],
        f["results"]["platform"]["errors"] == 0,
    )


def _meter_values() -> tuple[Any, Callable[[dict[str, Any]], tuple[float, bool]]]:
    args = meter_values.parse([])

    async def measure() -> dict[str, Any]:
        return meter_values.report(args, await meter_values.measure(args))

    return measure, lambda f: (f["results"]["platform"]["rate"], f["lost"] == 0)


def _status() -> tuple[Any, Callable[[dict[str, Any]], tuple[float, bool]]]:
    args = status_to_emsp.parse(["--rate", str(STATUS_RATE)])

    async def measure() -> dict[str, Any]:
        return status_to_emsp.report(await status_to_emsp.measure(args))

    return measure, lambda f: (f["p99_ms"], f["delivered"] >= f["changes"])


def _commands() -> tuple[Any, Callable[[dict[str, Any]], tuple[float, bool]]]:
    args = command_round_trip.parse([])

    async def measure() -> dict[str, Any]:
        return command_round_trip.report(await command_round_trip.measure(args))

    return measure, lambda f: (f["p99_ms"], f["accepted"] == f["commands"])


# name, figure's unit, whether more is better, how to measure it and read the figure
CASES = [
    ("heartbeat", "msg/s", True, _heartbeat),
    ("meter values", "msg/s", True, _meter_values),
    (f"status → eMSP p99 {STATUS_RATE}/s", "ms", False, _status),
    ("command round trip p99", "ms", False, _commands),
]


def _run(database: str, measure: Any) -> dict[str, Any]:
    os.environ["BENCH_DATABASE"] = database
    try:
        return asyncio.run(measure())
    finally:
        os.environ.pop("BENCH_DATABASE", None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.postgres", description=__doc__)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args, _ = p.parse_known_args(argv)
    garbage.keep_long_lived_apart()  # the load's own pauses are not the platform's latency
    rows: list[dict[str, Any]] = []
    for name, unit, more_is_better, case in CASES:
        measure, read = case()
        try:
            sqlite_value, sqlite_whole = read(_run("sqlite", measure))
            pg_value, pg_whole = read(_run("postgresql", measure))
        except ServerFailed as e:
            print(f"postgres: {name}: could not measure: {e}", file=sys.stderr)
            return 1
        if more_is_better:
            ratio = pg_value / sqlite_value if sqlite_value else 0.0
        else:
            ratio = sqlite_value / pg_value if pg_value else 0.0
        rows.append(
            {
                "figure": name,
                "unit": unit,
                "sqlite": sqlite_value,
                "postgresql": pg_value,
                "ratio": ratio,
                "whole": sqlite_whole and pg_whole,
                "held": ratio >= REQUIRED_RATIO and sqlite_whole and pg_whole,
            }
        )
    held = all(row["held"] for row in rows)
    if args.json:
        print(json.dumps({"benchmark": "postgres", "rows": rows, "held": held}))
        return 0 if held else 1
    print(f"postgres: one node, PostgreSQL against SQLite in the same run, {os.cpu_count()} CPUs")
    print(f"  {'figure':<26} {'SQLite':>10} {'PostgreSQL':>11} {'ratio':>7}  none lost")
    for row in rows:
        print(
            f"  {row['figure']:<26} {row['sqlite']:>10,.1f} {row['postgresql']:>11,.1f}"
            f" {100 * row['ratio']:>6.0f} %  {'yes' if row['whole'] else 'NO'}"
            f"   {'held' if row['held'] else 'MISSED'}"
        )
    print(f"  held to: each ratio >= {100 * REQUIRED_RATIO:.0f} %: {'held' if held else 'MISSED'}")
    return 0 if held else 1


if __name__ == "__main__":
    raise SystemExit(main())
