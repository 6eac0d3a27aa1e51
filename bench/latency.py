"""Latency: the platform's round trip at a steady 1,000 messages/s, p50 to max.

Open loop: N chargers (500) each send at a fixed pace (2/s) whatever the replies do; call k of
a charger is due at start + offset + k / pace by one fixed clock, and its latency runs from
when it was due to its reply. A charger still waiting for its previous reply (OCPP-J allows
one CALL outstanding) sends as soon as that reply is in, and the wait counts: a server that
stalls is charged for every call it held up (no coordinated omission).

The load (`--mix`): "mixed" (default) is a charging charger's traffic: every charger boots,
reports Charging and starts a transaction with an idTag the platform accepts (an eMSP's, so
each is an OCPI Session), then sends in turn MeterValues, Heartbeat, MeterValues,
StatusNotification (Charging <-> SuspendedEV): half of the messages write meter values and
their events, a quarter write a status change. "heartbeat": Heartbeats only.

Baseline: the bare `ocpp` central system (bench/bare_csms.py) under the same paced load and
the same mix (it answers without storing anything). Held to: the platform's p99 under 50 ms.

    python -m bench.latency [--chargers 500] [--rate 1000] [--seconds 20] [--mix mixed] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import httpx

from bench.charging import accepted_tags, charging
from bench.harness import (
    HOST,
    LOAD_SETTINGS,
    LoadResult,
    Server,
    database_label,
    fmt_cpu,
    fmt_ms,
    free_port,
    load_parser,
    log_says,
    parse_load,
    platform_server,
    run_benchmark,
    run_load,
)

P99_MS = 50.0


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = load_parser("latency", __doc__, seconds=20.0, warmup=3.0)
    p.add_argument("--rate", type=float, default=1000.0, help="messages/s in all (default 1000)")
    p.add_argument("--mix", choices=["mixed", "heartbeat"], default="mixed", help="(default mixed)")
    args = parse_load(p, argv, min_seconds=1.0)
    if not (1 <= args.rate <= 20_000):
        p.error("--rate must be in [1, 20000]")
    return args


async def _paced(name: str, port: int, server: Server, args: argparse.Namespace) -> LoadResult:
    return await run_load(
        name,
        lambda n: f"ws://{HOST}:{port}/ocpp/BENCH-{n}",
        chargers=args.chargers,
        warmup=args.warmup,
        seconds=args.seconds,
        batch=args.batch,
        server=server,
        prepare=charging("1.6", "mixed") if args.mix == "mixed" else None,
        rate=args.rate,
    )


@contextlib.asynccontextmanager
async def _tags(port: int, args: argparse.Namespace) -> AsyncIterator[None]:
    if args.mix != "mixed":
        yield
        return
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{port}/admin/api",
        headers={"Authorization": "Bearer bench"},
        timeout=120,
    ) as admin:
        async with accepted_tags(admin, args.chargers, "emsp"):
            yield


async def measure(args: argparse.Namespace) -> dict[str, LoadResult]:
    # SIGTERM unwinds like Ctrl-C does, so the servers started here are stopped either way.
    this = asyncio.current_task()
    if this is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, this.cancel)
    results: dict[str, LoadResult] = {}
    with tempfile.TemporaryDirectory(prefix="cpo-bench-") as workdir:
        port = free_port()
        bare = [sys.executable, "-m", "bench.bare_csms", "--port", str(port)]
        async with Server("baseline", bare, port, log_says("ready"), workdir) as server:
            results["baseline"] = await _paced("bare ocpp 2.1.0", port, server, args)
        platform = platform_server(workdir, **LOAD_SETTINGS)
        async with platform:
            async with _tags(platform.port, args):
                results["platform"] = await _paced(
                    f"platform (cpo serve, {database_label()})", platform.port, platform, args
                )
    return results


def report(args: argparse.Namespace, results: dict[str, LoadResult]) -> dict[str, Any]:
    platform = results["platform"]
    p99 = platform.p99_ms
    return {
        "benchmark": "latency",
        "chargers": args.chargers,
        "target_rate": args.rate,
        "mix": args.mix,
        "warmup_s": args.warmup,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "results": {key: r.as_dict() for key, r in results.items()},
        "required_p99_ms": P99_MS,
        "held": p99 is not None and p99 < P99_MS and platform.errors == 0,
    }


def print_table(figures: dict[str, Any], results: dict[str, LoadResult]) -> None:
    mix = (
        "MeterValues, Heartbeat, MeterValues, StatusNotification in turn, in a transaction"
        if figures["mix"] == "mixed"
        else "Heartbeat"
    )
    print(
        f"latency: {figures['chargers']} chargers paced to {figures['target_rate']:g} msg/s in"
        f" all (OCPP 1.6: {mix}), latency from each call's scheduled time, warm-up"
        f" {figures['warmup_s']:g} s, measured {figures['seconds']:g} s, {figures['cpus']} CPUs"
    )
    print(
        f"  {'server':<30} {'msg/s':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8} {'errors':>7} {'server CPU':>11}"
    )
    for r in results.values():
        cpu = fmt_cpu(r.server_cpu)
        print(
            f"  {r.name:<30} {r.rate:>7,.0f} {fmt_ms(r.p50_ms):>8} {fmt_ms(r.p90_ms):>8}"
            f" {fmt_ms(r.p99_ms):>8} {fmt_ms(r.max_ms):>8} {r.errors:>7} {cpu:>11}"
        )
        for note in r.notes:
            print(f"  note ({r.name}): {note}")
    held = "held" if figures["held"] else "MISSED"
    print(f"  platform p99 held to < {P99_MS:g} ms: {held}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    return run_benchmark(
        "latency",
        measure(args),
        lambda results: report(args, results),
        print_table,
        args.json,
    )


if __name__ == "__main__":
    raise SystemExit(main())
