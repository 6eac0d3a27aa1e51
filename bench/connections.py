"""Idle chargers one server process holds, and the server's memory per charger.

Three servers, one after another, each in its own process, each holding the same number of
chargers connected from this one:

- echo:     a plain `websockets` server answering `[3,id,{}]` (no ocpp library);
- baseline: a bare `ocpp.v16.ChargePoint` central system storing nothing (bench/bare_csms.py);
- platform: `cpo serve` on a fresh SQLite database.

Every charger connects as the `ocpp`/`websockets` clients do by default (offering
permessage-deflate; `--no-deflate` connects as most 1.6 firmware does, without it), sends one
BootNotification and then stays idle, answering the server's pings. The server's RSS is read
before the first charger connects and again once all are booted and the server is idle; the
difference over the count is its memory per charger. The platform is held to at least 20,000
chargers connected and booted (as far as the open-files limit allows: each end holds one file
per charger, and a process whose hard limit is 20,000 holds 19,800 beside its other files) and
at most 24 KiB of RSS per charger (issue 22).

    python -m bench.connections [--chargers 20000] [--no-deflate] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.harness import (
    HOST,
    LOAD_SETTINGS,
    Server,
    boot_fleet,
    cpu_quiet,
    database_label,
    fmt_ms,
    free_port,
    log_says,
    platform_server,
    raise_open_files_limit,
    rss_kib,
    run_benchmark,
)

# Issue 22 (10,000 at 32 KiB before); the open-files limit of the machine may allow fewer.
REQUIRED_CHARGERS = 20_000
REQUIRED_KIB = 24.0
FILES_MARGIN = 200  # open files a process needs besides its sockets
CONNECT_TIMEOUT = 60.0  # one charger's connect and boot
QUIET_WAIT = 30.0  # longest wait for the server to go idle before reading its RSS


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.connections", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--chargers",
        type=int,
        default=None,
        help=f"chargers to hold (default {REQUIRED_CHARGERS:,}, or what the open-files limit allows)",
    )
    p.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="do not offer permessage-deflate (default: offer it, as websockets clients do)",
    )
    p.add_argument(
        "--concurrency", type=int, default=100, help="chargers connecting at once (default 100)"
    )
    p.add_argument(
        "--servers",
        default="echo,baseline,platform",
        help="which servers to measure, comma-separated (default all three)",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if args.chargers is not None and not (1 <= args.chargers <= 50_000):
        p.error("--chargers must be between 1 and 50000")
    if not (1 <= args.concurrency <= 5_000):
        p.error("--concurrency must be between 1 and 5000")
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if unknown := set(args.servers) - {"echo", "baseline", "platform"}:
        p.error(f"unknown servers {sorted(unknown)}")
    return args


@dataclass
class Held:
    name: str
    chargers: int
    booted: int
    failures: dict[str, int]
    connect_seconds: float
    boot_p50_ms: float | None
    boot_p99_ms: float | None
    rss_before_kib: int | None
    rss_after_kib: int | None
    idle: bool  # whether the server went quiet before its RSS was read
    notes: list[str] = field(default_factory=list)

    @property
    def kib_per_charger(self) -> float | None:
        if self.rss_before_kib is None or self.rss_after_kib is None or not self.booted:
            return None
        return (self.rss_after_kib - self.rss_before_kib) / self.booted

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"kib_per_charger": self.kib_per_charger}


async def hold(label: str, server: Server, url: str, args: argparse.Namespace) -> Held:
    assert server.proc is not None
    pid = server.proc.pid
    await cpu_quiet(server, 5.0)
    before = rss_kib(pid)
    fleet = await boot_fleet(
        lambda n: url % n,
        args.chargers,
        deflate=args.deflate,
        concurrency=args.concurrency,
        timeout=CONNECT_TIMEOUT,
    )
    try:
        idle = await cpu_quiet(server, QUIET_WAIT)
        after = rss_kib(pid)
        held = Held(
            name=label,
            chargers=args.chargers,
            booted=len(fleet.booted),
            failures=fleet.failures,
            connect_seconds=fleet.seconds,
            boot_p50_ms=fleet.boot_ms(0.5),
            boot_p99_ms=fleet.boot_ms(0.99),
            rss_before_kib=before,
            rss_after_kib=after,
            idle=idle,
        )
        for kind, detail in fleet.first_failures.items():
            held.notes.append(f"first {kind} failure: {detail}")
        if not idle:
            held.notes.append(f"still busy {QUIET_WAIT:g} s after the last boot; RSS read anyway")
        if server.proc.poll() is not None:
            held.notes.append(f"the server exited ({server.proc.returncode}):\n{server.log_tail()}")
        return held
    finally:
        # Stop the server first: dropping thousands of sockets at a live platform would start
        # thousands of disconnect writes for nothing.
        server.stop()
        fleet.abort()


BASELINES: dict[str, tuple[str, list[str]]] = {
    # key: label, argv (the port is appended)
    "echo": ("websockets echo", [sys.executable, "-m", "bench.bare_csms", "--echo"]),
    "baseline": ("bare ocpp 2.1.0 baseline", [sys.executable, "-m", "bench.bare_csms"]),
}


async def measure(args: argparse.Namespace) -> dict[str, Held]:
    # SIGTERM unwinds like Ctrl-C does, so the servers started here are stopped either way.
    this = asyncio.current_task()
    if this is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, this.cancel)
    results: dict[str, Held] = {}
    with tempfile.TemporaryDirectory(prefix="cpo-bench-") as workdir:
        for key in args.servers:
            if key == "platform":
                label, server = (
                    f"platform (cpo serve, {database_label()})",
                    platform_server(workdir, **LOAD_SETTINGS),
                )
            else:
                label, argv = BASELINES[key]
                port = free_port()
                server = Server(key, [*argv, "--port", str(port)], port, log_says("ready"), workdir)
            async with server:
                url = f"ws://{HOST}:{server.port}/ocpp/IDLE-%d"  # % the charger's number
                results[key] = await hold(label, server, url, args)
    return results


def report(args: argparse.Namespace, results: dict[str, Held], allowed: int) -> dict[str, Any]:
    platform = results.get("platform")
    required = min(REQUIRED_CHARGERS, allowed)
    per_charger = platform.kib_per_charger if platform else None
    held = (
        platform is not None
        and args.chargers >= required
        and platform.booted == args.chargers
        and per_charger is not None
        and per_charger <= REQUIRED_KIB
    )
    return {
        "benchmark": "connections",
        "chargers": args.chargers,
        "deflate": args.deflate,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "open_files_limit": allowed + FILES_MARGIN,
        "required_chargers": required,
        "required_kib_per_charger": REQUIRED_KIB,
        "results": {key: r.as_dict() for key, r in results.items()},
        "held": held,
    }


def _kib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 1024:.0f}"


def print_table(figures: dict[str, Any], results: dict[str, Held]) -> None:
    print(
        f"connections: {figures['chargers']:,} idle OCPP 1.6 chargers per server (connected,"
        f" booted, answering pings), compression {'deflate offered' if figures['deflate'] else 'off'},"
        f" {figures['concurrency']} connecting at once, loopback, {figures['cpus']} CPUs"
    )
    print(
        f"  {'server':<30} {'booted':>7} {'failed':>7} {'RSS before MiB':>15}"
        f" {'RSS after MiB':>14} {'KiB/charger':>12} {'connect s':>10} {'boot p50 ms':>12}"
        f" {'p99 ms':>7}"
    )
    for r in results.values():
        print(
            f"  {r.name:<30} {r.booted:>7,} {sum(r.failures.values()):>7,}"
            f" {_mib(r.rss_before_kib):>15} {_mib(r.rss_after_kib):>14}"
            f" {_kib(r.kib_per_charger):>12} {r.connect_seconds:>10.1f}"
            f" {fmt_ms(r.boot_p50_ms, 0):>12} {fmt_ms(r.boot_p99_ms, 0):>7}"
        )
    for r in results.values():
        for note in r.notes:
            print(f"  note ({r.name}): {note}")
    if figures["chargers"] < figures["required_chargers"]:
        print(
            f"  note: fewer chargers than the {figures['required_chargers']:,} the platform is"
            " held to; the count is not shown by this run"
        )
    if (platform := results.get("platform")) is None:
        print("  (the platform was not measured)")
        return
    held = "held" if figures["held"] else "MISSED"
    print(
        f"  platform: {platform.booted:,} booted (held to >= {figures['required_chargers']:,}),"
        f" {_kib(platform.kib_per_charger)} KiB per charger (held to <= {REQUIRED_KIB:g}): {held}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    allowed = raise_open_files_limit() - FILES_MARGIN
    if args.chargers is None:
        args.chargers = max(1, min(REQUIRED_CHARGERS, allowed))
    elif args.chargers > allowed:
        print(
            f"connections: --chargers {args.chargers} exceeds what the open-files limit allows"
            f" ({allowed})",
            file=sys.stderr,
        )
        return 2
    return run_benchmark(
        "connections",
        measure(args),
        lambda results: report(args, results, allowed),
        print_table,
        args.json,
    )


if __name__ == "__main__":
    raise SystemExit(main())
