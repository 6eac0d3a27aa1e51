"""A reconnect storm: thousands of chargers connect and boot at the same moment.

What a CSMS sees after its own restart or a network outage: every charger reconnects at once and
sends a BootNotification. All chargers are started together (not in batches), each connecting
and booting as the `ocpp`/`websockets` clients do (offering permessage-deflate unless
`--no-deflate`). Servers, each in its own process, one after another:

- echo:     a plain `websockets` server answering `[3,id,{}]` (no ocpp library);
- baseline: a bare `ocpp.v16.ChargePoint` central system storing nothing (bench/bare_csms.py);
- platform, fresh:      `cpo serve` on an empty SQLite database (chargers auto-registered);
- platform, reconnect:  `cpo serve` restarted on that database, where the chargers exist: the
                        usual case, and the one the platform is held to.

A charger is refused when its upgrade gets an HTTP error, its boot a CALLERROR or a status other
than Accepted, or no answer within the timeout. The platform is held to: every charger of the
reconnect storm accepted within 20 s, none refused.

    python -m bench.reconnect_storm [--chargers 10000] [--no-deflate] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.harness import (
    HOST,
    LOAD_SETTINGS,
    Server,
    boot_fleet,
    cpu_quiet,
    free_port,
    log_says,
    platform_server,
    raise_open_files_limit,
    run_benchmark,
)

REQUIRED_SECONDS = 20.0
REQUIRED_CHARGERS = 10_000  # issue 22 (5,000 before)
FILES_MARGIN = 200  # open files a process needs besides its sockets


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.reconnect_storm", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--chargers",
        type=int,
        default=REQUIRED_CHARGERS,
        help="chargers in the storm (default 10,000, issue 22; 5,000 before)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="longest one charger waits for its accepted boot (default 60)",
    )
    p.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="do not offer permessage-deflate (default: offer it, as websockets clients do)",
    )
    p.add_argument(
        "--servers",
        default="echo,baseline,fresh,reconnect",
        help="which storms to run, comma-separated (default all four; reconnect runs fresh first)",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if not (1 <= args.chargers <= 20_000):
        p.error("--chargers must be between 1 and 20000")
    if not (1.0 <= args.timeout <= 300.0):
        p.error("--timeout must be between 1 and 300 seconds")
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if unknown := set(args.servers) - {"echo", "baseline", "fresh", "reconnect"}:
        p.error(f"unknown servers {sorted(unknown)}")
    return args


@dataclass
class Storm:
    name: str
    chargers: int
    booted: int
    failures: dict[str, int]
    all_booted_s: float | None  # from the start to the last accepted boot
    boot_p50_ms: float | None  # one charger's connect and boot
    boot_p99_ms: float | None
    server_cpu: float | None  # CPU seconds per wall second over the storm (1.0 = one core)
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return self.booted / self.all_booted_s if self.all_booted_s else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"boots_per_s": self.rate}


async def storm(label: str, server: Server, args: argparse.Namespace) -> Storm:
    await cpu_quiet(server, 5.0)
    url = f"ws://{HOST}:{server.port}/ocpp/STORM-%d"
    cpu_from, wall_from = server.cpu_seconds(), time.perf_counter()
    fleet = await boot_fleet(
        lambda n: url % n,
        args.chargers,
        deflate=args.deflate,
        concurrency=args.chargers,  # all at once
        timeout=args.timeout,
    )
    try:
        cpu_to, wall_to = server.cpu_seconds(), time.perf_counter()
        result = Storm(
            name=label,
            chargers=args.chargers,
            booted=len(fleet.booted),
            failures=fleet.failures,
            all_booted_s=fleet.all_booted_seconds,
            boot_p50_ms=fleet.boot_ms(0.5),
            boot_p99_ms=fleet.boot_ms(0.99),
            server_cpu=(cpu_to - cpu_from) / (wall_to - wall_from)
            if cpu_from is not None and cpu_to is not None
            else None,
        )
        for kind, detail in fleet.first_failures.items():
            result.notes.append(f"first {kind} failure: {detail}")
        assert server.proc is not None
        if server.proc.poll() is not None:
            result.notes.append(
                f"the server exited ({server.proc.returncode}):\n{server.log_tail()}"
            )
        return result
    finally:
        # The server goes first, as in a restart; the chargers' sockets are dropped after.
        server.stop()
        fleet.abort()


async def measure(args: argparse.Namespace) -> dict[str, Storm]:
    # SIGTERM unwinds like Ctrl-C does, so the servers started here are stopped either way.
    this = asyncio.current_task()
    if this is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, this.cancel)
    bare = [sys.executable, "-m", "bench.bare_csms"]
    # key, label, argv of a baseline (the port is appended) or None for the platform
    servers: list[tuple[str, str, list[str] | None]] = [
        ("echo", "websockets echo", [*bare, "--echo"]),
        ("baseline", "bare ocpp 2.1.0 baseline", bare),
        ("fresh", "platform, empty database", None),
        ("reconnect", "platform restarted, chargers known", None),
    ]
    wanted = set(args.servers) | ({"fresh"} if "reconnect" in args.servers else set())
    results: dict[str, Storm] = {}
    with tempfile.TemporaryDirectory(prefix="cpo-bench-") as workdir:
        for key, label, argv in servers:
            if key not in wanted:
                continue
            if argv is None:
                # Both platform runs share the workdir's database: the second finds the
                # chargers the first registered.
                server = platform_server(workdir, **LOAD_SETTINGS)
            else:
                port = free_port()
                server = Server(key, [*argv, "--port", str(port)], port, log_says("ready"), workdir)
            async with server:
                results[key] = await storm(label, server, args)
    return results


def report(args: argparse.Namespace, results: dict[str, Storm]) -> dict[str, Any]:
    held_run = results.get("reconnect")
    held = (
        held_run is not None
        and args.chargers >= REQUIRED_CHARGERS
        and held_run.booted == args.chargers
        and not held_run.failures
        and held_run.all_booted_s is not None
        and held_run.all_booted_s <= REQUIRED_SECONDS
    )
    return {
        "benchmark": "reconnect_storm",
        "chargers": args.chargers,
        "deflate": args.deflate,
        "timeout_s": args.timeout,
        "cpus": os.cpu_count(),
        "results": {key: r.as_dict() for key, r in results.items()},
        "required_seconds": REQUIRED_SECONDS,
        "held": held,
    }


def _f(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(figures: dict[str, Any], results: dict[str, Storm]) -> None:
    print(
        f"reconnect storm: {figures['chargers']:,} OCPP 1.6 chargers connect and boot at once,"
        f" compression {'deflate offered' if figures['deflate'] else 'off'}, each given"
        f" {figures['timeout_s']:g} s, loopback, {figures['cpus']} CPUs"
    )
    print(
        f"  {'server':<36} {'booted':>7} {'refused':>8} {'all booted s':>13} {'boots/s':>8}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'server CPU':>11}"
    )
    for r in results.values():
        print(
            f"  {r.name:<36} {r.booted:>7,} {sum(r.failures.values()):>8,}"
            f" {_f(r.all_booted_s, '.1f'):>13} {_f(r.rate, ',.0f'):>8}"
            f" {_f(r.boot_p50_ms, '.0f'):>7} {_f(r.boot_p99_ms, '.0f'):>7}"
            f" {_f(None if r.server_cpu is None else 100 * r.server_cpu, '.0f'):>9} %"
        )
    for r in results.values():
        if r.failures:
            print(f"  refused ({r.name}): " + ", ".join(f"{n} {k}" for k, n in r.failures.items()))
        for note in r.notes:
            print(f"  note ({r.name}): {note}")
    if (run := results.get("reconnect")) is None:
        print("  (the reconnect storm was not run)")
        return
    held = "held" if figures["held"] else "MISSED"
    print(
        f"  platform, reconnect: {run.booted:,} of {run.chargers:,} accepted in"
        f" {_f(run.all_booted_s, '.1f')} s, {sum(run.failures.values())} refused"
        f" (held to all within {REQUIRED_SECONDS:g} s, none refused): {held}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    allowed = raise_open_files_limit() - FILES_MARGIN
    if args.chargers > allowed:
        print(
            f"reconnect_storm: --chargers {args.chargers} exceeds what the open-files limit"
            f" allows ({allowed})",
            file=sys.stderr,
        )
        return 2
    return run_benchmark(
        "reconnect_storm",
        measure(args),
        lambda results: report(args, results),
        print_table,
        args.json,
    )


if __name__ == "__main__":
    raise SystemExit(main())
