"""Resync after outage: how long an eMSP that was down while every EVSE changed takes to hold the
current state again once it is back.

`cpo serve` on a fresh SQLite database; N EVSEs at Locations of ten EVSEs each, one OCPP 1.6
charger per Location (connector k is EVSE k); the eMSP simulator registered and holding every
Location with every EVSE AVAILABLE. Then the eMSP goes down (its port closed: connections are
refused), every EVSE changes status (Charging, Unavailable or Faulted, some twice), the platform
notices it cannot reach the eMSP, and the eMSP comes back; that outage is repeated (each time
every EVSE ends at another status), because a stall that happens once in a few outages is
still a stall. Measured, per outage: from the eMSP listening again to it holding every EVSE at
its current status, and then that nothing stale follows (a short watch afterwards; the outbox
empty). When the eMSP is not current 120 s after its return, the outbox rows still waiting are
printed: what the stall was made of. Baseline: the platform's own initial push of the same
Locations to a fresh eMSP (the same objects over the same path, without an outage).
Held to: under 10 s after every outage, every object current, none stale.

    python -m bench.resync [--evses 10000] [--outages 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.harness import (
    HOST,
    LOAD_SETTINGS,
    ServerFailed,
    create_locations,
    platform_server,
    run_benchmark,
)
from bench.locations_paging import _registered_emsp, _synced, locations
from bench.status_to_emsp import _call, _charger, _status

HELD_S = 10.0
STALL_S = 120.0  # an eMSP not current this long after its return: stalled
PER_LOCATION = 10
# Each EVSE's changes while the eMSP is away, by connector: the last one is what must arrive.
CHANGES = [
    ["Charging"],
    ["Unavailable"],
    ["Faulted"],
    ["Charging", "Faulted"],
    ["Unavailable", "Charging"],
]
SEEN = {
    "Available": "AVAILABLE",
    "Charging": "CHARGING",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUTOFORDER",
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.resync", description=__doc__)
    p.add_argument("--evses", type=int, default=10_000, help="EVSEs (default 10000)")
    p.add_argument("--outages", type=int, default=3, help="outages in a row (default 3)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if not (PER_LOCATION <= args.evses <= 50_000) or args.evses % PER_LOCATION:
        p.error(f"--evses must be a multiple of {PER_LOCATION} in [{PER_LOCATION}, 50000]")
    if not 1 <= args.outages <= 10:
        p.error("--outages must be in [1, 10]")
    return args


def _changes(e: int, outage: int) -> list[str]:
    """The statuses EVSE `e` goes through during outage number `outage` (0, 1, ...)."""
    return CHANGES[(e + outage) % len(CHANGES)]


def _expected(chargers: int, outage: int | None) -> dict[tuple[str, str], str]:
    """(location id, EVSE uid) → the status the eMSP must hold after `outage` (None: before any)."""
    return {
        (f"LOC{n:06d}", f"LOC{n:06d}-{e}"): SEEN[_changes(e, outage)[-1]]
        if outage is not None
        else "AVAILABLE"
        for n in range(chargers)
        for e in range(PER_LOCATION)
    }


def _behind(emsp: Any, expected: dict[tuple[str, str], str]) -> int:
    """How many EVSEs the eMSP does not hold at the expected status."""
    held: dict[tuple[str, str], str] = {}
    for (_, _, location_id), location in emsp.locations.items():
        for evse in location.get("evses") or []:
            held[(location_id, evse["uid"])] = evse.get("status")
    return sum(1 for key, status in expected.items() if held.get(key) != status)


async def _until_current(
    emsp: Any, expected: dict[tuple[str, str], str], limit: float
) -> float | None:
    """Seconds until the eMSP holds `expected` (checked every 50 ms), or None after `limit`."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if _behind(emsp, expected) == 0:
            return time.perf_counter() - started
        await asyncio.sleep(0.05)
    return None


async def _pending(admin: httpx.AsyncClient) -> dict[str, Any]:
    parties = (await admin.get("/parties")).json()
    return (await admin.get(f"/parties/{parties[0]['id']}/push")).json()


async def _outage(
    admin: httpx.AsyncClient,
    emsp: Any,
    chargers: list[Any],
    count: int,
    outage: int,
    workdir: str,
) -> dict[str, Any]:
    """One outage: the eMSP goes down, every EVSE changes, the platform finds it away and
    probes; the eMSP comes back. Figures of how long until it held the current state."""
    run: dict[str, Any] = {}
    await emsp.down()
    started = time.perf_counter()

    async def change(ws: Any) -> None:
        for e in range(PER_LOCATION):
            for status in _changes(e, outage):
                await _call(ws, "StatusNotification", _status(status, e + 1))

    await asyncio.gather(*(change(ws) for ws in chargers))
    run["changes"] = sum(len(_changes(e, outage)) for e in range(PER_LOCATION)) * count
    run["changes_s"] = time.perf_counter() - started
    # The platform has tried, found the eMSP away, and is probing it.
    deadline = time.monotonic() + 60
    while (push := await _pending(admin))["retrying"] == 0:
        if time.monotonic() > deadline:
            raise ServerFailed("the platform never tried the eMSP while it was down")
        await asyncio.sleep(0.2)
    run["pending_at_return"] = push["pending"]

    await emsp.up()
    expected = _expected(count, outage)
    run["resync_s"] = await _until_current(emsp, expected, STALL_S)
    if run["resync_s"] is not None:
        # None stale: nothing that arrives afterwards may change what it holds.
        await asyncio.sleep(2.0)
        run["behind_after_2s"] = _behind(emsp, expected)
    else:
        run["behind"] = _behind(emsp, expected)
        run["stuck"] = _outbox_rows(workdir)
    run["pending_after"] = (await _pending(admin))["pending"]
    return run


def _outbox_rows(workdir: str) -> list[dict[str, Any]]:
    """The outbox rows still waiting, read from the platform's database: what a stall is made of."""
    with contextlib.closing(sqlite3.connect(f"file:{workdir}/bench.db?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT kind, object_id, scope, version, attempts, failed, due_at, claimed_until,"
            " claimed_by, last_error FROM outbox ORDER BY id LIMIT 50"
        ).fetchall()
    return [dict(row) | {"now": datetime.now(UTC).isoformat()} for row in rows]


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    count = args.evses // PER_LOCATION
    figures: dict[str, Any] = {"evses": args.evses, "locations": count}
    figures["outages_asked"] = args.outages
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
            sites = locations(
                args.evses, PER_LOCATION
            )  # EVSE LOCnnnnnn-k: BENCH-nnnnnn connector k+1
            await create_locations(admin, sites)
            chargers = []
            emsp = None
            try:
                for n in range(count):  # one by one: a boot storm is not measured here
                    chargers.append(await _charger(f"ws://{HOST}:{port}/ocpp/BENCH-{n:06d}"))

                async def available(ws: Any) -> None:
                    for k in range(1, PER_LOCATION + 1):
                        await _call(ws, "StatusNotification", _status("Available", k))

                await asyncio.gather(*(available(ws) for ws in chargers))
                # Baseline: the initial push of all the Locations, EVSEs AVAILABLE, to an eMSP.
                started = time.perf_counter()
                emsp = await _registered_emsp(admin)
                initial = await _until_current(emsp, _expected(count, None), 120)
                if initial is None:
                    raise ServerFailed("the initial push did not bring every EVSE to the eMSP")
                figures["initial_push_s"] = time.perf_counter() - started
                await _synced(admin, time.monotonic() + 120)

                runs = []
                for outage in range(args.outages):
                    runs.append(await _outage(admin, emsp, chargers, count, outage, workdir))
                    if runs[-1]["resync_s"] is None:
                        break  # stalled: what it was stuck on is in the figures
                figures["outages"] = runs
                figures["emsp_violations"] = len(emsp.violations)
                figures["server_cpu_s"] = server.cpu_seconds()
            finally:
                for ws in chargers:
                    await ws.close()
                if emsp is not None:
                    await emsp.__aexit__(None, None, None)
    return figures


def report(figures: dict[str, Any]) -> dict[str, Any]:
    runs = figures["outages"]
    times = [run["resync_s"] for run in runs]
    held = (
        len(runs) == figures["outages_asked"]
        and all(t is not None and t < HELD_S for t in times)
        and all(run.get("behind_after_2s") == 0 and run["pending_after"] == 0 for run in runs)
        and figures["emsp_violations"] == 0
    )
    measured = [t for t in times if t is not None]
    figures |= {
        "benchmark": "resync",
        "held_to_s": HELD_S,
        "cpus": os.cpu_count(),
        "resync_s_min": min(measured, default=None),
        "resync_s_max": max(measured, default=None),
        "held": held,
    }
    return figures


def print_figures(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    runs = figures["outages"]
    print(
        f"resync after outage: {figures['evses']} EVSEs at {figures['locations']} Locations,"
        f" {len(runs)} of {figures['outages_asked']} outages, {figures['cpus']} CPUs"
    )
    for n, run in enumerate(runs, 1):
        resync = run["resync_s"]
        outcome = f"{resync:.2f} s" if resync is not None else f"not within {STALL_S:g} s"
        print(
            f"  outage {n}: {run['changes']} status changes while the eMSP was down"
            f" ({run['changes_s']:.1f} s to send), {run['pending_at_return']} Locations pending"
            f" at its return; current again {outcome};"
            f" behind 2 s later: {run.get('behind_after_2s', run.get('behind'))},"
            f" still pending: {run['pending_after']}"
        )
        for row in run.get("stuck", [])[:10]:
            print(f"    stuck: {row}")
    print(f"  eMSP violations: {figures['emsp_violations']}")
    print(
        f"  baseline (initial push of the same Locations, no outage): {figures['initial_push_s']:.2f} s"
    )
    print(
        f"  held to: < {HELD_S:g} s after every outage, every object current, none stale:"
        f" {'held' if figures['held'] else 'MISSED'}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    return run_benchmark(
        "resync",
        measure(args),
        report,
        lambda figures, _: print_figures(args, figures),
        args.json,
    )


if __name__ == "__main__":
    raise SystemExit(main())
