"""`make demo`: the platform, a simulated eMSP and two simulated chargers (OCPP 1.6 and 2.0.1).

A driver's app (the eMSP) starts a session on each charger with START_SESSION; the terminal
shows what reaches the eMSP: the CommandResult, the live Session and its updates, and the CDR.
Everything talks over the wire: the platform runs as its own process (`cpo serve`) on a
throw-away database, as a CPO would run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from simulators.charge_point import ChargePointSimulator
from simulators.emsp import EmspSimulator, Received, make_token

TARIFF = {
    "id": "DEMO-AC",
    "currency": "EUR",
    "elements": [
        {
            "price_components": [
                {"type": "FLAT", "price": 0.50, "vat": 21.0, "step_size": 1},
                {"type": "ENERGY", "price": 0.39, "vat": 21.0, "step_size": 1},
            ]
        }
    ],
}
CHARGERS = (("DEMO-16", "1.6"), ("DEMO-201", "2.0.1"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(who: str, text: str) -> None:
    print(f"{who:>9} | {text}", flush=True)


@contextlib.asynccontextmanager
async def platform() -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """`cpo serve` on a free port and a fresh database; its base URL and an admin client."""
    port, token = _free_port(), secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="cpo-demo-") as workdir:
        env = os.environ | {
            "CPO_HOST": "127.0.0.1",
            "CPO_PORT": str(port),
            "CPO_DATABASE_URL": f"sqlite+aiosqlite:///{Path(workdir) / 'demo.db'}",
            "CPO_ADMIN_TOKEN": token,
            "CPO_SESSION_UPDATE_SECONDS": "1",
            "CPO_STATUS_TRIGGER_DELAY": "1",
            "CPO_LOG_LEVEL": "warning",
            "CPO_OCPI_ALLOW_PRIVATE_PEERS": "true",  # the simulated eMSP is on loopback
        }
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from cpo.cli import main; raise SystemExit(main(['serve']))",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(
                base_url=f"{base}/admin/api", headers={"Authorization": f"Bearer {token}"}
            ) as admin:
                for _ in range(300):  # up to 30 s for the migrations and the listener
                    with contextlib.suppress(httpx.HTTPError):
                        if (await admin.get(f"{base}/health")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
                else:
                    raise RuntimeError("the platform did not start in 30 s")
                yield base, admin
        finally:
            server.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait(), 10)


async def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json()


class Narrator:
    """Prints each request the eMSP receives, as it arrives."""

    def __init__(self, emsp: EmspSimulator) -> None:
        self.emsp = emsp
        self.shown = 0

    async def until(self, done: Any, timeout: float = 30) -> Received:
        """Shows arrivals until one matches `done`; returns it."""
        async with asyncio.timeout(timeout):
            while True:
                received = await self.emsp.wait_for(
                    lambda r: self.emsp.received.index(r) >= self.shown, timeout
                )
                self.shown = self.emsp.received.index(received) + 1
                self.show(received)
                if done(received):
                    return received

    @staticmethod
    def show(r: Received) -> None:
        body = r.body if isinstance(r.body, dict) else {}
        if r.module == "commands":
            say("eMSP", f"<- CommandResult {body.get('result')}")
        elif r.module == "sessions":
            cost = (body.get("total_cost") or {}).get("incl_vat")
            what = f"{r.method} Session {r.path.rsplit('/', 1)[-1][:8]}…"
            details = [body.get("status"), f"{body.get('kwh')} kWh" if "kwh" in body else None]
            if cost is not None:
                so_far = " so far" if body.get("status") == "ACTIVE" else ""
                details.append(f"EUR {cost:.2f}{so_far}")
            periods = body.get("charging_periods")
            if periods:
                details.append(f"+{len(periods)} charging period(s)")
            say("eMSP", f"<- {what} {' '.join(d for d in details if d)}")
        elif r.module == "cdrs" and r.method == "POST":
            total = body.get("total_cost", {})
            say(
                "eMSP",
                f"<- CDR {body.get('id', '')[:8]}… {body.get('total_energy')} kWh, "
                f"{body.get('total_time')} h, EUR {total.get('excl_vat')} excl. VAT / "
                f"{total.get('incl_vat')} incl., {len(body.get('charging_periods', []))} "
                f"period(s), tariff {[t['id'] for t in body.get('tariffs', [])]}",
            )
        elif r.module == "locations" and r.method == "PATCH":
            say("eMSP", f"<- EVSE {r.path.rsplit('/', 1)[-1]} is {body.get('status')}")


async def run() -> int:
    async with platform() as (base, admin), EmspSimulator(party_id="EMS", name="Demo eMSP") as emsp:
        say("platform", f"up at {base} (a fresh database)")
        invitation = await _ok(await admin.post("/parties/invitations", json={"name": "demo"}))
        await emsp.register(invitation["versions_url"], invitation["token"])
        say("eMSP", f"registered with the platform ({emsp.versions_url})")
        await _ok(await admin.post("/tariffs", json=TARIFF))
        evses = []
        for station, _ in CHARGERS:
            await _ok(
                await admin.post(
                    "/stations", json={"id": station, "password": f"{station}-secret-pw"}
                )
            )
            evses.append(
                {
                    "uid": f"{station}-1",
                    "evse_id": f"NL*CPO*E{station.replace('-', '')}",
                    "capabilities": ["REMOTE_START_STOP_CAPABLE", "RFID_READER"],
                    "connectors": [
                        {
                            "id": "1",
                            "standard": "IEC_62196_T2",
                            "format": "SOCKET",
                            "power_type": "AC_3_PHASE",
                            "max_voltage": 230,
                            "max_amperage": 32,
                            "max_electric_power": 22000,
                            "tariff_ids": ["DEMO-AC"],
                        }
                    ],
                    "station_id": station,
                    "ocpp_evse_id": 1,
                }
            )
        site = {
            "id": "DEMO-SITE",
            "name": "Demo station square",
            "address": "Stationsplein 1",
            "city": "Utrecht",
            "postal_code": "3511ED",
            "country": "NLD",
            "coordinates": {"latitude": "52.089444", "longitude": "5.110278"},
            "time_zone": "Europe/Amsterdam",
            "evses": evses,
        }
        await _ok(await admin.post("/locations", json=site))
        narrator = Narrator(emsp)
        await narrator.until(lambda r: r.module == "locations" and r.method == "PUT")
        say("platform", "Location DEMO-SITE and tariff DEMO-AC published to the eMSP")

        for station, version in CHARGERS:
            async with ChargePointSimulator(
                id=station,
                url=f"{base.replace('http', 'ws', 1)}/ocpp",
                ocpp=version,
                password=f"{station}-secret-pw",
                power_w=11000,
            ) as cp:
                say(station, f"OCPP {version} charger connected, boot {await cp.boot()}")
                await cp.status(1, "Available")
                await narrator.until(
                    lambda r, evse=f"/{station}-1": (
                        r.module == "locations"
                        and r.method == "PATCH"
                        and r.path.endswith(evse)
                        and r.body.get("status") == "AVAILABLE"
                    )
                )
                token = make_token(f"APP-{station}", type="APP_USER", whitelist="NEVER")
                say("driver", f"presses start in the app for EVSE {station}-1")
                _, answer = await emsp.send_command(
                    "START_SESSION",
                    {"token": token, "location_id": "DEMO-SITE", "evse_uid": f"{station}-1"},
                )
                say("eMSP", f"-> START_SESSION, platform answers {answer['data']['result']}")
                put = await narrator.until(lambda r: r.module == "sessions" and r.method == "PUT")
                session_id = put.body["id"]
                for _ in range(3):
                    await cp.send_meter_values(1, 600)
                    say(station, f"meter {cp.meter_wh(1) / 1000:.2f} kWh")
                    await narrator.until(lambda r: r.module == "sessions" and r.method == "PATCH")
                say("driver", "presses stop")
                _, answer = await emsp.send_command("STOP_SESSION", {"session_id": session_id})
                say("eMSP", f"-> STOP_SESSION, platform answers {answer['data']['result']}")
                await narrator.until(lambda r: r.module == "cdrs" and r.method == "POST")
        if emsp.violations:
            say("eMSP", f"conformance problems: {emsp.violations}")
            return 1
        say("eMSP", "no conformance problems in anything the platform sent")
    return 0


def main() -> int:
    return asyncio.run(run())


if __name__ == "__main__":
    raise SystemExit(main())
