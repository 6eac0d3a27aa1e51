"""Command round trip: START_SESSION from the eMSP to the CommandResult at its response_url, with
1,000 chargers connected.

`cpo serve` on a fresh SQLite database; N OCPP 1.6 chargers (raw websockets) connected and
booted, each the one EVSE of a Location that can be started remotely; the eMSP simulator (in
this process, so both ends read one clock) registered. START_SESSION commands go at a steady
rate, each to a charger not used before; the chargers answer RemoteStartTransaction Accepted at
once. Measured per command: the platform's synchronous CommandResponse, and the whole round trip
until the CommandResult (ACCEPTED) reaches the eMSP. Baseline: the eMSP's own round trip for
a request sent straight to it (the HTTP floor of one hop). Held to: p99 < 500 ms (issue 8).

    python -m bench.command_round_trip [--chargers 1000] [--rate 25] [--commands 500] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.harness import (
    HOST,
    LOAD_SETTINGS,
    create_locations,
    fmt_ms,
    percentile,
    platform_server,
    run_benchmark,
)
from bench.locations_paging import _all_available, _registered_emsp, _synced, locations
from bench.status_to_emsp import _bare_patches, _call, _charger, _status

P99_MS = 500.0


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.command_round_trip", description=__doc__)
    p.add_argument("--chargers", type=int, default=1000, help="chargers connected (default 1000)")
    p.add_argument("--rate", type=float, default=25.0, help="commands per second (default 25)")
    p.add_argument("--commands", type=int, default=500, help="commands sent (default 500)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if not (1 <= args.chargers <= 10_000) or not (1 <= args.commands <= args.chargers):
        p.error("--chargers must be in [1, 10000] and --commands in [1, chargers]")
    if not (0.1 <= args.rate <= 1_000):
        p.error("--rate must be in [0.1, 1000]")
    return args


async def _answer_calls(ws: ClientConnection) -> None:
    """A charger at rest: every CALL of the platform (RemoteStartTransaction) is Accepted."""
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            frame = orjson.loads(raw)
            if frame[0] == 2:
                await ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())


def _sites(count: int) -> list[dict[str, Any]]:
    sites = locations(count, 1)  # EVSE LOCnnnnnn-0 on charger BENCH-nnnnnn
    for site in sites:
        for evse in site["evses"]:
            evse["capabilities"] = ["REMOTE_START_STOP_CAPABLE", "RFID_READER"]
    return sites


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from simulators.emsp import make_token

    with tempfile.TemporaryDirectory(prefix="cpo-bench-") as workdir:
        server = platform_server(workdir, **LOAD_SETTINGS)
        port = server.port
        async with (
            server,
            httpx.AsyncClient(
                base_url=f"http://{HOST}:{port}/admin/api",
                headers={"Authorization": "Bearer bench"},
                timeout=300,
            ) as admin,
        ):
            sites = _sites(args.chargers)
            await create_locations(admin, sites)
            emsp = await _registered_emsp(admin)
            chargers: list[ClientConnection] = []
            listeners: list[asyncio.Task[None]] = []
            try:
                for n in range(args.chargers):
                    ws = await _charger(f"ws://{HOST}:{port}/ocpp/BENCH-{n:06d}")
                    await _call(ws, "StatusNotification", _status("Available"))
                    chargers.append(ws)
                await _all_available(emsp, args.chargers, time.monotonic() + 300)
                await _synced(admin, time.monotonic() + 300)
                listeners = [asyncio.create_task(_answer_calls(ws)) for ws in chargers]
                sent: dict[str, float] = {}
                answers: list[float] = []
                refused: list[Any] = []

                async def command(n: int) -> None:
                    token = make_token(f"APP{n:06d}", type="APP_USER", party_id="BEN")
                    body = {
                        "token": token,
                        "location_id": f"LOC{n:06d}",
                        "evse_uid": f"LOC{n:06d}-0",
                    }
                    known = set(emsp.sent_commands)
                    started = time.time()
                    t0 = time.perf_counter()
                    status, answer = await emsp.send_command("START_SESSION", body)
                    answers.append((time.perf_counter() - t0) * 1000)
                    (command_id,) = [c for c in emsp.sent_commands if c not in known][:1] or [""]
                    if status != 200 or (answer.get("data") or {}).get("result") != "ACCEPTED":
                        refused.append(answer)
                    sent[command_id] = started

                started = time.perf_counter()
                tasks = []
                for k in range(args.commands):
                    due = started + k / args.rate
                    if (delay := due - time.perf_counter()) > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(command(k)))
                await asyncio.gather(*tasks)
                sending_s = time.perf_counter() - started
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:  # the last results (bounded)
                    if len(emsp.command_results) >= len(sent):
                        break
                    await asyncio.sleep(0.1)
                arrived = {
                    r.path.rstrip("/").rsplit("/", 1)[-1]: r.at.timestamp()
                    for r in emsp.received
                    if r.module == "commands" and r.method == "POST" and r.status < 300
                }
                latencies = [(arrived[c] - t) * 1000 for c, t in sent.items() if c in arrived]
                results = [r.get("result") for r in emsp.command_results.values()]
                figures = {
                    "chargers": args.chargers,
                    "commands": len(sent),
                    "rate": len(sent) / sending_s,
                    "refused": len(refused),
                    "first_refusal": refused[0] if refused else None,
                    "results": len(latencies),
                    "accepted": results.count("ACCEPTED"),
                    "response_p50_ms": percentile(answers, 0.50),
                    "response_p99_ms": percentile(answers, 0.99),
                    "p50_ms": percentile(latencies, 0.50),
                    "p99_ms": percentile(latencies, 0.99),
                    "max_ms": max(latencies, default=None),
                    "violations": len(emsp.violations),
                    "baseline": await _bare_patches(emsp),
                    "server_cpu_s": server.cpu_seconds(),
                }
            finally:
                for task in listeners:
                    task.cancel()
                for ws in chargers:
                    await ws.close()
                await emsp.__aexit__(None, None, None)
    return figures


def report(figures: dict[str, Any]) -> dict[str, Any]:
    p99 = figures["p99_ms"]
    held = (
        p99 is not None
        and p99 < P99_MS
        and figures["accepted"] == figures["commands"]
        and figures["refused"] == 0
        and figures["violations"] == 0
    )
    figures |= {"benchmark": "command_round_trip", "held_to_p99_ms": P99_MS, "held": held}
    return figures


def print_figures(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    p99 = figures["p99_ms"]
    held = figures["held"]

    print(
        f"command round trip: {figures['chargers']} chargers connected, {figures['commands']}"
        f" START_SESSION at {figures['rate']:.1f}/s, {os.cpu_count()} CPUs"
    )
    print(
        f"  platform: {figures['accepted']}/{figures['commands']} CommandResults ACCEPTED"
        f" ({figures['refused']} refused at once); to the CommandResult p50 {fmt_ms(figures['p50_ms'])}"
        f" ms, p99 {fmt_ms(p99)} ms, max {fmt_ms(figures['max_ms'])} ms; CommandResponse p50"
        f" {fmt_ms(figures['response_p50_ms'])} ms, p99 {fmt_ms(figures['response_p99_ms'])} ms"
    )
    if figures["first_refusal"]:
        print(f"  first refusal: {figures['first_refusal']}")
    base = figures["baseline"]
    print(
        f"  baseline (a request straight to the eMSP): p50 {fmt_ms(base['p50_ms'])} ms,"
        f" p99 {fmt_ms(base['p99_ms'])} ms"
    )
    print(f"  held to: p99 < {P99_MS:g} ms, every command ACCEPTED: {'held' if held else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    return run_benchmark(
        "command_round_trip",
        measure(args),
        report,
        lambda figures, _: print_figures(args, figures),
        args.json,
    )


if __name__ == "__main__":
    raise SystemExit(main())
