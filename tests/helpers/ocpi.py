"""Talking OCPI to the platform from a test, as a peer would (token header, envelope checks), and
the sites, tariffs and tokens the OCPI tests share."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from cpo.push.deliverer import Attempt
from simulators.emsp import EmspSimulator, Received
from tests.helpers.platform import Platform
from tests.helpers.servers import Answer

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")


def token_header(token: str, raw: bool = False) -> dict[str, str]:
    return {
        "Authorization": "Token " + (token if raw else base64.b64encode(token.encode()).decode())
    }


def peer(platform: Platform, token: str | None = None, raw: bool = False) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=platform.url, headers=token_header(token, raw) if token else {}, timeout=30
    )


def envelope(response: httpx.Response, http: int, status: int) -> Any:
    """Checks the answer wears the OCPI envelope with these statuses; returns its data."""
    assert response.status_code == http, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status_code"] == status, body
    assert TIMESTAMP.match(body["timestamp"]), body["timestamp"]
    assert response.headers.get("x-request-id") and response.headers.get("x-correlation-id")
    return body.get("data")


async def invite(platform: Platform, **body: Any) -> tuple[int, str]:
    async with platform.admin() as admin:
        response = await admin.post("/parties/invitations", json=body)
        assert response.status_code == 201, response.text
        invitation = response.json()
    assert invitation["versions_url"] == f"{platform.url}/ocpi/versions"
    return invitation["party_id"], invitation["token"]


async def registers_with_us(platform: Platform, sim: EmspSimulator) -> int:
    """The eMSP simulator registers with the platform from a fresh invitation; returns (the
    party's id) once the platform's first pull of its tokens ended, so that tokens it pushes
    next are never judged by a list it sent before them."""
    party_id, token_a = await invite(platform)
    await sim.register(f"{platform.url}/ocpi/versions", token_a)
    await platform.state.ocpi_side.first_pull(party_id, 10.0)
    return party_id


async def party(platform: Platform, party_id: int) -> dict[str, Any]:
    async with platform.admin() as admin:
        response = await admin.get(f"/parties/{party_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def credentials(token: str, url: str, party_id: str = "EMS", **role: Any) -> dict[str, Any]:
    return {
        "token": token,
        "url": url,
        "roles": [
            {
                "role": "EMSP",
                "party_id": party_id,
                "country_code": "NL",
                "business_details": {"name": "Test eMSP"},
            }
            | role
        ],
    }


def watch_pushes(platform: Platform) -> asyncio.Queue[Attempt]:
    """Hears of every push attempt the platform makes from now on."""
    return platform.state.ocpi_side.deliverer.watch()  # type: ignore[no-any-return]


async def attempt(
    pushes: asyncio.Queue[Attempt], outcome: str, object_id: str, timeout: float = 10
) -> Attempt:
    """The next push attempt of `object_id` that ended as `outcome` (delivered, retry, refused)."""
    async with asyncio.timeout(timeout):
        while True:
            found = await pushes.get()
            if found.outcome == outcome and found.object_id == object_id:
                return found


async def register_with(platform: Platform, sim: EmspSimulator, **body: Any) -> dict[str, Any]:
    """The platform registers with the eMSP simulator from a fresh token A; the party's view."""
    async with platform.admin() as admin:
        response = await admin.post(
            "/parties/registrations",
            json={"versions_url": sim.versions_url, "token": sim.invite()} | body,
        )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def ocpi_body(data: Any, status: int = 1000) -> bytes:
    """An OCPI envelope as a peer answers it."""
    return orjson.dumps({"data": data, "status_code": status, "timestamp": "2026-01-01T00:00:00Z"})


def static_emsp(endpoints: dict[tuple[str, str], str], party_id: str = "EMS") -> dict[str, Answer]:
    """What a StaticPeer answers to be an eMSP the platform can register with: versions at
    `/versions`, details at `/details`, credentials at `/credentials` (added to `endpoints`)."""
    listed = {("credentials", "SENDER"): "{url}/credentials"} | endpoints
    details = {
        "version": "2.2.1",
        "endpoints": [{"identifier": m, "role": r, "url": u} for (m, r), u in listed.items()],
    }
    return {
        "/versions": (200, ocpi_body([{"version": "2.2.1", "url": "{url}/details"}])),
        "/details": (200, ocpi_body(details)),
        "/credentials": (
            200,
            ocpi_body(credentials("emsp-token-for-the-cpo", "{url}/versions", party_id)),
        ),
    }


async def register_static(platform: Platform, versions_url: str, **body: Any) -> httpx.Response:
    """The platform registers with a StaticPeer eMSP (see static_emsp); the admin API's answer."""
    async with platform.admin() as admin:
        return await admin.post(
            "/parties/registrations",
            json={"versions_url": versions_url, "token": "static-token-a"} | body,
        )


PASSWORD = "location-pass-0001"


def connector(cid: str = "1", tariff_ids: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": cid,
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE",
        "max_voltage": 230,
        "max_amperage": 32,
        "max_electric_power": 22000,
    } | ({"tariff_ids": tariff_ids} if tariff_ids else {})


def location(location_id: str, evses: list[tuple[str, str, int]], **extra: Any) -> dict[str, Any]:
    """A Location whose EVSEs are (uid, station_id, ocpp_evse_id)."""
    return {
        "id": location_id,
        "name": f"Site {location_id}",
        "address": "Stationsplein 1",
        "city": "Utrecht",
        "postal_code": "3511ED",
        "country": "NLD",
        "coordinates": {"latitude": "52.089444", "longitude": "5.110278"},
        "time_zone": "Europe/Amsterdam",
        "parking_type": "PARKING_LOT",
        "facilities": ["TRAIN_STATION"],
        "evses": [
            {
                "uid": uid,
                "evse_id": f"NL*CPO*E{uid.replace('-', '')}",
                "capabilities": ["REMOTE_START_STOP_CAPABLE", "RFID_READER"],
                "connectors": [connector(tariff_ids=extra.pop("tariff_ids", None))],
                "station_id": station_id,
                "ocpp_evse_id": ocpp_evse_id,
            }
            for uid, station_id, ocpp_evse_id in evses
        ],
    } | extra


TARIFF = {
    "id": "AC-STANDARD",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.35, "vat": 21.0, "step_size": 1}]},
        {
            "price_components": [{"type": "PARKING_TIME", "price": 2.0, "step_size": 60}],
            "restrictions": {"start_time": "20:00", "end_time": "08:00"},
        },
    ],
    "tariff_alt_text": [{"language": "en", "text": "0.35/kWh, parking 2.00/h at night"}],
}


def pushed(method: str, path_end: str) -> Callable[[Received], bool]:
    return lambda r: r.module == "locations" and r.method == method and r.path.endswith(path_end)


async def push(sim: EmspSimulator, token: dict[str, Any]) -> int:
    path = f"/{token['country_code']}/{token['party_id']}/{token['uid']}"
    response = await sim.request("PUT", "tokens", path, params={"type": token["type"]}, json=token)
    return response.status_code


def sent(module: str, method: str) -> Callable[[Received], bool]:
    return lambda r: r.module == module and r.method == method and r.status < 300


def spec_location() -> dict[str, Any]:
    """The 2.2.1 spec's simple Location example."""
    return {
        "country_code": "BE",
        "party_id": "BEC",
        "id": "LOC1",
        "publish": True,
        "name": "Gent Zuid",
        "address": "F.Rooseveltlaan 3A",
        "city": "Gent",
        "postal_code": "9000",
        "country": "BEL",
        "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
        "parking_type": "ON_STREET",
        "evses": [
            {
                "uid": "3256",
                "evse_id": "BE*BEC*E041503001",
                "status": "AVAILABLE",
                "capabilities": ["RESERVABLE"],
                "connectors": [
                    {
                        "id": "1",
                        "standard": "IEC_62196_T2",
                        "format": "CABLE",
                        "power_type": "AC_3_PHASE",
                        "max_voltage": 220,
                        "max_amperage": 16,
                        "tariff_ids": ["11", "13"],
                        "last_updated": "2015-03-16T10:10:02Z",
                    },
                    {
                        "id": "2",
                        "standard": "IEC_62196_T2",
                        "format": "SOCKET",
                        "power_type": "AC_3_PHASE",
                        "max_voltage": 220,
                        "max_amperage": 16,
                        "tariff_ids": ["13"],
                        "last_updated": "2015-03-18T08:12:01Z",
                    },
                ],
                "physical_reference": "1",
                "floor_level": "-1",
                "last_updated": "2015-06-28T08:12:01Z",
            },
            {
                "uid": "3257",
                "evse_id": "BE*BEC*E041503002",
                "status": "RESERVED",
                "capabilities": ["RESERVABLE"],
                "connectors": [
                    {
                        "id": "1",
                        "standard": "IEC_62196_T2",
                        "format": "SOCKET",
                        "power_type": "AC_3_PHASE",
                        "max_voltage": 220,
                        "max_amperage": 16,
                        "tariff_ids": ["12"],
                        "last_updated": "2015-06-29T20:39:09Z",
                    }
                ],
                "physical_reference": "2",
                "floor_level": "-2",
                "last_updated": "2015-06-29T20:39:09Z",
            },
        ],
        "operator": {"name": "BeCharged"},
        "time_zone": "Europe/Brussels",
        "opening_times": {
            "twentyfourseven": False,
            "regular_hours": [
                {"weekday": 1, "period_begin": "07:00", "period_end": "18:00"},
                {"weekday": 7, "period_begin": "00:00", "period_end": "23:59"},
            ],
            "exceptional_closings": [
                {"period_begin": "2018-12-25T03:00:00Z", "period_end": "2018-12-25T05:00:00Z"}
            ],
        },
        "energy_mix": {
            "is_green_energy": True,
            "energy_sources": [{"source": "SOLAR", "percentage": 100}],
            "supplier_name": "Greenpeace Energy eG",
        },
        "last_updated": "2015-06-29T20:39:09Z",
    }


def two_currency_tariffs(prefix: str) -> list[dict[str, Any]]:
    """`{prefix}-EUR` (0.30/kWh, 20 % VAT) and `{prefix}-GBP` (0.40/kWh, no VAT stated): money
    in two currencies, which a report may never add together."""
    energy = {"type": "ENERGY", "step_size": 1}
    return [
        {
            "id": f"{prefix}-EUR",
            "currency": "EUR",
            "elements": [{"price_components": [energy | {"price": 0.30, "vat": 20.0}]}],
        },
        {
            "id": f"{prefix}-GBP",
            "currency": "GBP",
            "elements": [{"price_components": [energy | {"price": 0.40}]}],
        },
    ]
