"""Talking OCPI to the platform from a test, as a peer would: token header, envelope checks."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import httpx
import orjson

from cpo.push.deliverer import Attempt
from simulators.emsp import EmspSimulator
from tests.platform import Platform
from tests.servers import Answer

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
    return platform.state.roaming.deliverer.watch()  # type: ignore[no-any-return]


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
