"""Heartbeats/s the platform answers, against a bare `ocpp`-library central system.

Three servers, one after another, each in its own process, under the same load from this one:

- ceiling:  a plain `websockets` server answering `[3,id,{}]` (no ocpp library), which shows
            how far the load generator itself can go;
- baseline: a bare `ocpp.v16.ChargePoint` central system storing nothing (bench/bare_csms.py);
- platform: `cpo serve` on a fresh SQLite database.

Each charger sends one BootNotification, then Heartbeat CALLs one at a time (each waits for its
reply, as OCPP-J requires). Replies in the measurement window are counted. The figure the
platform is held to: at least the baseline's Heartbeats/s (issue 22; 80 % before).

    python -m bench.heartbeat [--chargers 500] [--seconds 10] [--warmup 2] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from bench.harness import (
    HOST,
    LOAD_SETTINGS,
    LoadResult,
    Ready,
    Server,
    cpo_argv,
    database_label,
    fmt_cpu,
    fmt_ms,
    free_port,
    health_ok,
    load_parser,
    log_says,
    parse_load,
    platform_env,
    run_benchmark,
    run_load,
)

REQUIRED_RATIO = 1.00  # issue 22: at least the bare library, every frame logged


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = load_parser("heartbeat", __doc__, seconds=10.0, warmup=2.0)
    p.add_argument(
        "--deflate", action="store_true", help="offer permessage-deflate (default: no compression)"
    )
    return parse_load(p, argv, max_chargers=20_000)


async def measure(args: argparse.Namespace) -> dict[str, LoadResult]:
    # SIGTERM unwinds like Ctrl-C does, so the servers started here are stopped either way.
    this = asyncio.current_task()
    if this is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, this.cancel)
    results: dict[str, LoadResult] = {}
    with tempfile.TemporaryDirectory(prefix="cpo-bench-") as workdir:
        bare = [sys.executable, "-m", "bench.bare_csms"]
        cpo = [*cpo_argv(), "serve", "--host", HOST]
        # key, label, argv (the port is appended), readiness, whether it is the platform
        servers: list[tuple[str, str, list[str], Ready, bool]] = [
            (
                "ceiling",
                "load generator ceiling (websockets echo)",
                [*bare, "--echo"],
                log_says("ready"),
                False,
            ),
            ("baseline", "bare ocpp 2.1.0 baseline", bare, log_says("ready"), False),
            (
                "platform",
                f"platform (cpo serve, {database_label()})",
                cpo,
                health_ok("/health"),
                True,
            ),
        ]
        for key, label, argv, ready, is_platform in servers:
            port = free_port()
            server = Server(
                key,
                [*argv, "--port", str(port)],
                port,
                ready,
                workdir,
                env=platform_env(workdir, port, **LOAD_SETTINGS) if is_platform else None,
                # The platform reads ./.env; run it where there is none.
                cwd=workdir if is_platform else None,
            )
            if os.environ.get("BENCH_PROFILE") and is_platform:
                # pyinstrument writes its profile after SIGINT (see harness.platform_server).
                server.stop_signal = signal.SIGINT
                server.stop_timeout = 120.0
            async with server:
                results[key] = await run_load(
                    label,
                    charger_urls(port),
                    chargers=args.chargers,
                    warmup=args.warmup,
                    seconds=args.seconds,
                    batch=args.batch,
                    deflate=args.deflate,
                    server=server,
                )
    return results


def charger_urls(port: int) -> Callable[[int], str]:
    return lambda n: f"ws://{HOST}:{port}/ocpp/BENCH-{n}"


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def report(args: argparse.Namespace, results: dict[str, LoadResult]) -> dict[str, Any]:
    baseline, platform = results["baseline"].rate, results["platform"].rate
    ratio = platform / baseline if baseline else 0.0
    return {
        "benchmark": "heartbeat",
        "chargers": args.chargers,
        "warmup_s": args.warmup,
        "seconds": args.seconds,
        "deflate": args.deflate,
        "cpus": os.cpu_count(),
        "results": {key: r.as_dict() for key, r in results.items()},
        "ratio": ratio,
        "required_ratio": REQUIRED_RATIO,
        "held": ratio >= REQUIRED_RATIO,
    }


def print_table(figures: dict[str, Any], results: dict[str, LoadResult]) -> None:
    print(
        f"heartbeat: {figures['chargers']} chargers, OCPP 1.6 Heartbeat, one call outstanding per"
        f" connection, warm-up {figures['warmup_s']:g} s, measured {figures['seconds']:g} s,"
        f" loopback, {figures['cpus']} CPUs, compression {'deflate' if figures['deflate'] else 'off'}"
    )
    if (load := figures.get("load_average_before")) is not None:
        print(f"  (1-minute load average before the run: {load:.2f}; other work skews the figures)")
    header = f"  {'server':<42} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'server CPU':>11} {'loadgen CPU':>12} {'conn':>6} {'connect s':>10} {'errors':>7}"
    print(header)
    for r in results.values():
        print(
            f"  {r.name:<42} {r.rate:>9,.0f} {fmt_ms(r.p50_ms):>8} {fmt_ms(r.p99_ms):>8}"
            f" {fmt_cpu(r.server_cpu):>11} {fmt_cpu(r.loadgen_cpu):>12} {r.connected:>6} {r.connect_seconds:>10.1f} {r.errors:>7}"
        )
    for r in results.values():
        for note in r.notes:
            print(f"  note ({r.name}): {note}")
    held = "held" if figures["held"] else "MISSED"
    print(
        f"  platform / baseline = {100 * figures['ratio']:.0f} %"
        f"  (held to >= {100 * REQUIRED_RATIO:.0f} %): {held}"
    )
    ceiling, baseline = results["ceiling"], results["baseline"]
    if ceiling.rate and baseline.rate > 0.8 * ceiling.rate:
        print(
            "  caution: the baseline runs near the load generator's ceiling; the ratio may"
            " understate the gap"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    load_before = _load_average()
    return run_benchmark(
        "heartbeat",
        measure(args),
        lambda results: report(args, results) | {"load_average_before": load_before},
        print_table,
        args.json,
    )


if __name__ == "__main__":
    raise SystemExit(main())
