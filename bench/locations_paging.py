"""Locations paging: an eMSP pages through 10,000 EVSEs with `GET /ocpi/2.2.1/locations`.

Two servers, one after another, each in its own process, paged by the same client:

- baseline: a bare Starlette app under uvicorn serving the very same pages, built beforehand
            (the HTTP stack's limit for these bytes);
- platform: `cpo serve` on a fresh SQLite database holding the Locations (created through the
            admin API), answering an eMSP registered with it.

The client follows `Link` from the first page (the server's largest page, `X-Limit`) to the
last, one page at a time, as an eMSP does. Held to: the whole list in under 3 s and p99 per
page under 100 ms (the figures of issue 8); the baseline shows what is left to the platform.

    python -m bench.locations_paging [--evses 10000] [--per-location 2] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.harness import (
    HOST,
    Server,
    ServerFailed,
    create_locations,
    free_port,
    health_ok,
    percentile,
    platform_server,
    run_benchmark,
)

WHOLE_LIST_S = 3.0
PAGE_P99_MS = 100.0


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.locations_paging", description=__doc__)
    p.add_argument("--evses", type=int, default=10_000, help="EVSEs in all (default 10000)")
    p.add_argument("--per-location", type=int, default=2, help="EVSEs per Location (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="whole-list pagings (default 3)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--serve-baseline", help=argparse.SUPPRESS)  # pages file (internal)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not (1 <= args.evses <= 100_000) or not (1 <= args.per_location <= 50):
        p.error("--evses must be in [1, 100000] and --per-location in [1, 50]")
    if not (1 <= args.rounds <= 20):
        p.error("--rounds must be in [1, 20]")
    return args


def locations(evses: int, per_location: int) -> list[dict[str, Any]]:
    out = []
    for n in range((evses + per_location - 1) // per_location):
        count = min(per_location, evses - n * per_location)
        out.append(
            {
                "id": f"LOC{n:06d}",
                "name": f"Site {n}",
                "address": f"Benchstraat {n}",
                "city": "Utrecht",
                "postal_code": "3511ED",
                "country": "NLD",
                "coordinates": {"latitude": "52.089444", "longitude": "5.110278"},
                "time_zone": "Europe/Amsterdam",
                "evses": [
                    {
                        "uid": f"LOC{n:06d}-{e}",
                        "evse_id": f"NL*CPO*E{n:06d}{e}",
                        "capabilities": ["RFID_READER"],
                        "connectors": [
                            {
                                "id": "1",
                                "standard": "IEC_62196_T2",
                                "format": "SOCKET",
                                "power_type": "AC_3_PHASE",
                                "max_voltage": 230,
                                "max_amperage": 32,
                            }
                        ],
                        "station_id": f"BENCH-{n:06d}",
                        "ocpp_evse_id": e + 1,
                    }
                    for e in range(count)
                ],
            }
        )
    return out


# -- the baseline server ------------------------------------------------------------------------


def serve_baseline(pages_file: str, port: int) -> int:
    """A bare Starlette app returning the recorded pages, with their headers, by offset."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    pages: dict[str, dict[str, Any]] = orjson.loads(Path(pages_file).read_bytes())
    own = f"http://{HOST}:{port}"
    bodies = {
        k: (
            base64.b64decode(v["body"]),
            {h: x.replace("{BASE}", own) for h, x in v["headers"].items()},
        )
        for k, v in pages.items()
    }

    async def page(request: Request) -> Response:
        body, headers = bodies[request.query_params.get("offset", "0")]
        return Response(body, media_type="application/json", headers=headers)

    app = Starlette(routes=[Route("/ocpi/2.2.1/locations", page)])
    print("ready", flush=True)
    uvicorn.run(app, host=HOST, port=port, log_level="warning")
    return 0


# -- the client ---------------------------------------------------------------------------------


async def page_through(
    client: httpx.AsyncClient, url: str, record: dict[str, Any] | None = None
) -> tuple[float, list[float], int]:
    """Every page from `url` following Link: (seconds in all, per-page ms, EVSEs seen)."""
    started = time.perf_counter()
    times: list[float] = []
    evses = 0
    next_url: str | None = url
    for _ in range(100_000):  # bounded: far more pages than any run has
        if next_url is None:
            break
        t0 = time.perf_counter()
        response = await client.get(next_url)
        times.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
        body = orjson.loads(response.content)
        evses += sum(len(loc.get("evses") or []) for loc in body["data"])
        if record is not None:
            offset = httpx.URL(next_url).params.get("offset", "0")
            keep = {k: v for k, v in response.headers.items() if k.lower().startswith("x-")}
            if "link" in response.headers:  # the baseline puts its own address here
                keep["Link"] = response.headers["link"].replace(str(client.base_url), "{BASE}")
            record[offset] = {"body": base64.b64encode(response.content).decode(), "headers": keep}
        link = response.headers.get("link")
        next_url = link.split(">", 1)[0].lstrip("<") if link else None
    return time.perf_counter() - started, times, evses


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cpo-bench-") as workdir:
        platform = platform_server(workdir)
        port = platform.port
        base = f"http://{HOST}:{port}"
        record: dict[str, Any] = {}
        async with platform:
            async with httpx.AsyncClient(
                base_url=f"{base}/admin/api", headers={"Authorization": "Bearer bench"}, timeout=300
            ) as admin:
                t0 = time.perf_counter()
                sites = locations(args.evses, args.per_location)
                await create_locations(admin, sites)
                created_s = time.perf_counter() - t0
                emsp = await _registered_emsp(admin)
                token = emsp.cpo.token if emsp.cpo else ""
                await _synced(admin, time.monotonic() + 300)
            headers = {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}
            platform_runs = []
            try:
                async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
                    url = f"{base}/ocpi/2.2.1/locations"
                    await page_through(client, url, record)  # warm-up; the baseline's pages
                    for _ in range(args.rounds):
                        platform_runs.append(await page_through(client, url))
            finally:
                await emsp.__aexit__(None, None, None)
        pages_file = Path(workdir) / "pages.json"
        pages_file.write_bytes(orjson.dumps(record))
        bport = free_port()
        baseline = Server(
            "baseline",
            [
                sys.executable,
                "-m",
                "bench.locations_paging",
                "--serve-baseline",
                str(pages_file),
                "--port",
                str(bport),
            ],
            bport,
            health_ok("/ocpi/2.2.1/locations"),
            workdir,
        )
        baseline_runs = []
        async with baseline:
            async with httpx.AsyncClient(timeout=60) as client:
                url = f"http://{HOST}:{bport}/ocpi/2.2.1/locations"
                await page_through(client, url)
                for _ in range(args.rounds):
                    baseline_runs.append(await page_through(client, url))
    return {
        "created_s": created_s,
        "platform": _figures(platform_runs),
        "baseline": _figures(baseline_runs),
    }


async def _registered_emsp(admin: httpx.AsyncClient) -> Any:
    """The eMSP simulator, registered with the platform (it receives the initial sync)."""
    from simulators.emsp import EmspSimulator

    invitation = (await admin.post("/parties/invitations", json={"name": "bench"})).json()
    sim = EmspSimulator(party_id="BEN")
    await sim.__aenter__()
    await sim.register(invitation["versions_url"], invitation["token"])
    return sim


async def _all_available(emsp: Any, evses: int, deadline: float) -> None:
    """Waits until the eMSP holds `evses` EVSEs AVAILABLE: the chargers' first statuses have
    gone all the way (projection, outbox, push), not only the pushes queued so far, which
    `_synced` alone would miss while the projection is still behind."""
    while time.monotonic() < deadline:
        held = sum(
            1
            for location in emsp.locations.values()
            for evse in location.get("evses") or []
            if evse.get("status") == "AVAILABLE"
        )
        if held >= evses:
            return
        await asyncio.sleep(0.2)
    raise ServerFailed("the chargers' first statuses did not all reach the eMSP in time")


async def _synced(admin: httpx.AsyncClient, deadline: float) -> None:
    """Waits until the initial push of every Location to the eMSP is done: paging is measured
    on a platform at rest, not one busy pushing."""
    while time.monotonic() < deadline:
        parties = (await admin.get("/parties")).json()
        pending = 0
        for party in parties:
            pending += (await admin.get(f"/parties/{party['id']}/push")).json()["pending"]
        if pending == 0:
            return
        await asyncio.sleep(0.5)
    raise ServerFailed("the initial push to the eMSP did not finish in time")


def _figures(runs: list[tuple[float, list[float], int]]) -> dict[str, Any]:
    pages = [t for _, times, _ in runs for t in times]
    return {
        "whole_list_s": min(s for s, _, _ in runs),
        "whole_list_s_worst": max(s for s, _, _ in runs),
        "pages": len(runs[0][1]),
        "evses": runs[0][2],
        "page_p50_ms": percentile(pages, 0.50),
        "page_p99_ms": percentile(pages, 0.99),
    }


def report(figures: dict[str, Any]) -> dict[str, Any]:
    platform, baseline = figures["platform"], figures["baseline"]
    held = platform["whole_list_s_worst"] < WHOLE_LIST_S and platform["page_p99_ms"] < PAGE_P99_MS
    figures |= {
        "benchmark": "locations_paging",
        "cpus": os.cpu_count(),
        "held_to": {"whole_list_s": WHOLE_LIST_S, "page_p99_ms": PAGE_P99_MS},
        "ratio": baseline["whole_list_s"] / platform["whole_list_s"]
        if platform["whole_list_s"]
        else 0,
        "held": held,
    }
    return figures


def print_figures(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    platform, baseline = figures["platform"], figures["baseline"]
    held = figures["held"]
    print(
        f"locations paging: {platform['evses']} EVSEs in {platform['pages']} pages"
        f" ({args.per_location} per Location), {args.rounds} rounds, {figures['cpus']} CPUs"
        f" (created in {figures['created_s']:.1f} s)"
    )
    for name, f in (("baseline (pre-built pages)", baseline), ("platform", platform)):
        print(
            f"  {name:<28} whole list {f['whole_list_s']:.2f} s (worst {f['whole_list_s_worst']:.2f})"
            f"  page p50 {f['page_p50_ms']:.1f} ms  p99 {f['page_p99_ms']:.1f} ms"
        )
    print(
        f"  held to: whole list < {WHOLE_LIST_S:g} s, page p99 < {PAGE_P99_MS:g} ms:"
        f" {'held' if held else 'MISSED'}  (baseline/platform speed {100 * figures['ratio']:.0f} %)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.serve_baseline:
        return serve_baseline(args.serve_baseline, args.port)
    return run_benchmark(
        "locations_paging",
        measure(args),
        report,
        lambda figures, _: print_figures(args, figures),
        args.json,
    )


if __name__ == "__main__":
    raise SystemExit(main())
