"""The eMSP simulator over real HTTP on loopback, with the test (and a tiny in-test CPO) as its peer."""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.emsp import EmspSimulator, OcpiError, make_token
from simulators.emsp.models import Token
from simulators.emsp.server import LoopbackServer
from simulators.emsp.validation import patch_problems, problems
from simulators.emsp.wire import envelope
from tests.helpers.processes import emsp_simulator_process

BIN = Path(sys.executable).parent
TS = "2025-03-01T10:00:00Z"
LATER = "2025-03-01T11:00:00Z"
CPO_ROLE = {
    "role": "CPO",
    "country_code": "NL",
    "party_id": "CPO",
    "business_details": {"name": "Test CPO"},
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}


def cpo_headers(token: str, *, routing: bool = True) -> dict[str, str]:
    """What a well-behaved CPO sends: token, request ids and (on functional modules) routing."""
    headers = auth(token) | {"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"}
    if routing:
        headers |= {
            "OCPI-from-country-code": "NL",
            "OCPI-from-party-id": "CPO",
            "OCPI-to-country-code": "NL",
            "OCPI-to-party-id": "EMS",
        }
    return headers


def connector(id: str = "1", **changes: Any) -> dict[str, Any]:
    return {
        "id": id,
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE",
        "max_voltage": 230,
        "max_amperage": 16,
        "last_updated": TS,
    } | changes


def evse(uid: str = "EVSE-1", **changes: Any) -> dict[str, Any]:
    return {
        "uid": uid,
        "evse_id": f"NL*CPO*E{uid}",
        "status": "AVAILABLE",
        "connectors": [connector()],
        "last_updated": TS,
    } | changes


def location(id: str = "LOC-1", **changes: Any) -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "CPO",
        "id": id,
        "publish": True,
        "address": "Stationsplein 1",
        "city": "Amsterdam",
        "country": "NLD",
        "coordinates": {"latitude": "52.37890", "longitude": "4.90000"},
        "evses": [evse()],
        "time_zone": "Europe/Amsterdam",
        "last_updated": TS,
    } | changes


def session(id: str = "SES-1", **changes: Any) -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "CPO",
        "id": id,
        "start_date_time": TS,
        "kwh": 0,
        "cdr_token": {
            "country_code": "NL",
            "party_id": "EMS",
            "uid": "04A1B2C3",
            "type": "RFID",
            "contract_id": "NL-EMS-C04A1B2C3",
        },
        "auth_method": "WHITELIST",
        "location_id": "LOC-1",
        "evse_uid": "EVSE-1",
        "connector_id": "1",
        "currency": "EUR",
        "charging_periods": [period(TS, 1.5)],
        "status": "ACTIVE",
        "last_updated": TS,
    } | changes


def period(start: str, kwh: float) -> dict[str, Any]:
    return {"start_date_time": start, "dimensions": [{"type": "ENERGY", "volume": kwh}]}


def tariff(id: str = "T-1") -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "CPO",
        "id": id,
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}],
        "last_updated": TS,
    }


def cdr(id: str = "CDR-1") -> dict[str, Any]:
    ses = session()
    return {
        "country_code": "NL",
        "party_id": "CPO",
        "id": id,
        "start_date_time": TS,
        "end_date_time": LATER,
        "session_id": "SES-1",
        "cdr_token": ses["cdr_token"],
        "auth_method": "WHITELIST",
        "cdr_location": {
            "id": "LOC-1",
            "address": "Stationsplein 1",
            "city": "Amsterdam",
            "country": "NLD",
            "coordinates": {"latitude": "52.37890", "longitude": "4.90000"},
            "evse_uid": "EVSE-1",
            "evse_id": "NL*CPO*EEVSE-1",
            "connector_id": "1",
            "connector_standard": "IEC_62196_T2",
            "connector_format": "SOCKET",
            "connector_power_type": "AC_3_PHASE",
        },
        "currency": "EUR",
        "charging_periods": [period(TS, 7.5)],
        "total_cost": {"excl_vat": 2.25, "incl_vat": 2.72},
        "total_energy": 7.5,
        "total_time": 1.0,
        "last_updated": LATER,
    }


class FakeCpo:
    """The test's CPO on loopback: versions, details, credentials, a paged list and commands."""

    def __init__(self, versions: tuple[str, ...] = ("2.2.1",), page_size: int = 2) -> None:
        self.versions = versions
        self.modules = [
            ("credentials", "SENDER"),
            ("locations", "SENDER"),
            ("tokens", "RECEIVER"),
            ("commands", "RECEIVER"),
        ]
        self.garbage = False
        self.page_size = page_size
        self.break_paging = False
        self.locations = [location(f"LOC-{i}") for i in range(5)]
        self.token_a = "cpo-token-a"
        self.accepted = {self.token_a}
        self.emsp_token: str | None = None  # the token we call the eMSP with
        self.seen: list[tuple[str, str, str]] = []  # method, path, token
        self.server = LoopbackServer(
            Starlette(
                routes=[
                    Route("/ocpi/cpo/versions", self._versions),
                    Route("/ocpi/cpo/2.2.1", self._details),
                    Route(
                        "/ocpi/cpo/2.2.1/credentials",
                        self._credentials,
                        methods=["GET", "POST", "PUT", "DELETE"],
                    ),
                    Route("/ocpi/cpo/2.2.1/locations", self._locations),
                    Route("/ocpi/cpo/2.2.1/commands/{command}", self._command, methods=["POST"]),
                ]
            )
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def versions_url(self) -> str:
        return f"{self.url}/ocpi/cpo/versions"

    def _reply(
        self,
        request: Request,
        data: Any = None,
        *,
        status: int = 1000,
        headers: dict[str, str] | None = None,
        functional: bool = False,
        background: BackgroundTask | None = None,
    ) -> Response:
        out = {
            "X-Request-ID": request.headers.get("x-request-id", "x"),
            "X-Correlation-ID": request.headers.get("x-correlation-id", "x"),
        } | (headers or {})
        if functional:
            out |= {
                "OCPI-from-country-code": "NL",
                "OCPI-from-party-id": "CPO",
                "OCPI-to-country-code": "NL",
                "OCPI-to-party-id": "EMS",
            }
        return JSONResponse(envelope(status, data), headers=out, background=background)

    def _token(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        token = base64.b64decode(header.removeprefix("Token ")).decode() if header else ""
        self.seen.append((request.method, request.url.path, token))
        return token if token in self.accepted else None

    async def _versions(self, request: Request) -> Response:
        if self._token(request) is None:
            return JSONResponse(envelope(2000), 401)
        if self.garbage:
            return Response("<html>not json</html>", media_type="text/html")
        data = [{"version": v, "url": f"{self.url}/ocpi/cpo/{v}"} for v in self.versions]
        return self._reply(request, data)

    async def _details(self, request: Request) -> Response:
        if self._token(request) is None:
            return JSONResponse(envelope(2000), 401)
        endpoints = [
            {"identifier": m, "role": r, "url": f"{self.url}/ocpi/cpo/2.2.1/{m}"}
            for m, r in self.modules
        ]
        return self._reply(request, {"version": "2.2.1", "endpoints": endpoints})

    async def _credentials(self, request: Request) -> Response:
        token = self._token(request)
        if token is None:
            return JSONResponse(envelope(2000), 401)
        ours = {"url": self.versions_url, "roles": [CPO_ROLE]}
        if request.method == "GET":
            return self._reply(request, ours | {"token": "cpo-token-c"})
        if request.method == "DELETE":
            self.emsp_token = None
            return self._reply(request)
        body = await request.json()
        # Before answering, call the eMSP back with its token B, as the spec requires.
        async with httpx.AsyncClient(headers=cpo_headers(body["token"], routing=False)) as http:
            versions = (await http.get(body["url"])).json()["data"]
            await http.get(versions[0]["url"])
        self.emsp_token = body["token"]
        token_c = "cpo-token-c" if request.method == "POST" else "cpo-token-c2"
        self.accepted = {token_c}
        return self._reply(request, ours | {"token": token_c})

    async def _locations(self, request: Request) -> Response:
        if self._token(request) is None:
            return JSONResponse(envelope(2000), 401)
        offset = int(request.query_params.get("offset", 0))
        limit = min(int(request.query_params.get("limit", self.page_size)), self.page_size)
        page = self.locations[offset : offset + limit]
        headers = {"X-Total-Count": str(len(self.locations)), "X-Limit": str(self.page_size)}
        if offset + limit < len(self.locations):
            headers["Link"] = f'<{self.url}{request.url.path}?offset={offset + limit}>; rel="next"'
        if self.break_paging:
            del headers["X-Limit"]
        return self._reply(request, page, headers=headers, functional=True)

    async def _command(self, request: Request) -> Response:
        if self._token(request) is None:
            return JSONResponse(envelope(2000), 401)
        body = await request.json()

        async def report() -> None:
            assert self.emsp_token is not None
            async with httpx.AsyncClient() as http:
                await http.post(
                    body["response_url"],
                    json={"result": "ACCEPTED"},
                    headers=cpo_headers(self.emsp_token),
                )

        return self._reply(
            request,
            {"result": "ACCEPTED", "timeout": 30},
            functional=True,
            background=BackgroundTask(report),
        )


@pytest.fixture
async def sim() -> AsyncIterator[EmspSimulator]:
    tokens = [make_token(f"04A1B2C{i}") for i in range(5)]
    async with EmspSimulator(tokens=tokens, page_limit=2) as simulator:
        yield simulator


@pytest.fixture
async def cpo() -> AsyncIterator[FakeCpo]:
    fake = FakeCpo()
    await fake.server.up()
    try:
        yield fake
    finally:
        await fake.server.down()


async def register_as_cpo(sim: EmspSimulator, cpo: FakeCpo) -> str:
    """The CPO-initiated handshake, with the test as the CPO; returns token C."""
    token_a = sim.invite()
    token_b = "cpo-issued-token-b"
    cpo.accepted.add(token_b)
    async with httpx.AsyncClient(headers=cpo_headers(token_a, routing=False)) as http:
        versions = (await http.get(sim.versions_url)).json()["data"]
        details = (await http.get(versions[0]["url"])).json()["data"]
        credentials_url = next(
            e["url"] for e in details["endpoints"] if e["identifier"] == "credentials"
        )
        body = {"token": token_b, "url": cpo.versions_url, "roles": [CPO_ROLE]}
        answer = await http.post(credentials_url, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status_code"] == 1000, answer.text
    cpo.emsp_token = answer.json()["data"]["token"]
    return str(cpo.emsp_token)


@pytest.fixture
async def token_c(sim: EmspSimulator, cpo: FakeCpo) -> str:
    return await register_as_cpo(sim, cpo)


def ocpi(sim: EmspSimulator, token: str, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=sim.module_url(""), headers=cpo_headers(token) | headers, timeout=10
    )


# ------------------------------------------------------------------ versions and tokens


async def test_versions_and_details_list_the_emsp_interfaces(sim: EmspSimulator) -> None:
    token_a = sim.invite()
    async with httpx.AsyncClient(headers=cpo_headers(token_a, routing=False)) as http:
        versions = await http.get(sim.versions_url)
        details = await http.get(versions.json()["data"][0]["url"] + "/")
    assert versions.status_code == 200
    assert versions.headers["x-request-id"] == "req-1"
    assert versions.headers["x-correlation-id"] == "corr-1"
    assert not any(h.startswith("ocpi-") for h in versions.headers)
    assert versions.json()["timestamp"].endswith("Z")
    endpoints = {(e["identifier"], e["role"]) for e in details.json()["data"]["endpoints"]}
    assert endpoints == {
        ("credentials", "SENDER"),
        ("locations", "RECEIVER"),
        ("sessions", "RECEIVER"),
        ("cdrs", "RECEIVER"),
        ("tariffs", "RECEIVER"),
        ("tokens", "SENDER"),
        ("commands", "SENDER"),
        ("chargingprofiles", "SENDER"),
    }
    assert sim.violations == []


async def test_missing_unknown_and_token_a_on_a_functional_module_get_401(
    sim: EmspSimulator,
) -> None:
    token_a = sim.invite()
    async with httpx.AsyncClient() as http:
        missing = await http.get(sim.versions_url)
        wrong = await http.get(sim.versions_url, headers=auth("nobody"))
        token_a_on_tokens = await http.get(sim.module_url("tokens"), headers=cpo_headers(token_a))
        raw = await http.get(sim.versions_url, headers={"Authorization": f"Token {token_a}"})
    assert [r.status_code for r in (missing, wrong, token_a_on_tokens)] == [401, 401, 401]
    assert missing.json()["status_code"] == 2000 and "x-request-id" in missing.headers
    assert raw.status_code == 200
    assert any("raw" in v.message for v in sim.violations)


async def test_strict_encoding_refuses_a_raw_token() -> None:
    async with EmspSimulator(strict_encoding=True) as sim:
        token_a = sim.invite()
        async with httpx.AsyncClient() as http:
            raw = await http.get(sim.versions_url, headers={"Authorization": f"Token {token_a}"})
            encoded = await http.get(sim.versions_url, headers=auth(token_a))
    assert (raw.status_code, encoded.status_code) == (401, 200)


# ------------------------------------------------------------------ credentials


async def test_cpo_registration_is_checked_by_calling_back_with_token_b(
    sim: EmspSimulator, cpo: FakeCpo
) -> None:
    token_a = sim.invite()
    cpo.accepted.add("cpo-issued-token-b")
    body = {"token": "cpo-issued-token-b", "url": cpo.versions_url, "roles": [CPO_ROLE]}
    async with httpx.AsyncClient(headers=cpo_headers(token_a, routing=False)) as http:
        answer = await http.post(sim.module_url("credentials"), json=body)
        data = answer.json()["data"]
        again = await http.post(sim.module_url("credentials"), json=body)
    assert ("GET", "/ocpi/cpo/versions", "cpo-issued-token-b") in cpo.seen
    assert ("GET", "/ocpi/cpo/2.2.1", "cpo-issued-token-b") in cpo.seen
    assert data["url"] == sim.versions_url and data["token"] not in (token_a, "")
    assert data["roles"][0] | {"business_details": None} == {
        "role": "EMSP",
        "country_code": "NL",
        "party_id": "EMS",
        "business_details": None,
    }
    assert sim.registered and sim.cpo is not None
    assert sim.cpo.token == "cpo-issued-token-b"
    assert ("locations", "SENDER") in sim.cpo.endpoints
    assert again.status_code == 401  # token A died with the registration
    async with httpx.AsyncClient(headers=cpo_headers(data["token"], routing=False)) as http:
        twice = await http.post(sim.module_url("credentials"), json=body)
        mine = await http.get(sim.module_url("credentials"))
    assert twice.status_code == 405
    assert mine.json()["data"]["token"] == data["token"]
    assert sim.violations == []


@pytest.mark.parametrize(
    ("breakage", "status_code"),
    [("garbage", 3001), ("no 2.2.1", 3002), ("no locations", 3003), ("bad roles", 2001)],
)
async def test_registration_failures_answer_with_their_ocpi_code(
    sim: EmspSimulator, cpo: FakeCpo, breakage: str, status_code: int
) -> None:
    cpo.garbage = breakage == "garbage"
    if breakage == "no 2.2.1":
        cpo.versions = ("2.1.1",)
    if breakage == "no locations":
        sim.required_endpoints.add(("locations", "SENDER"))
        cpo.modules.remove(("locations", "SENDER"))
    roles = [] if breakage == "bad roles" else [CPO_ROLE]
    token_a = sim.invite()
    cpo.accepted.add("token-b")
    body = {"token": "token-b", "url": cpo.versions_url, "roles": roles}
    async with httpx.AsyncClient(headers=cpo_headers(token_a, routing=False)) as http:
        answer = await http.post(sim.module_url("credentials"), json=body)
    assert answer.json()["status_code"] == status_code, answer.text
    assert not sim.registered
    assert token_a in sim._invites  # A still works for another try


async def test_cpo_rotates_with_put_and_unregisters_with_delete(
    sim: EmspSimulator, cpo: FakeCpo, token_c: str
) -> None:
    cpo.accepted.add("token-b2")
    body = {"token": "token-b2", "url": cpo.versions_url, "roles": [CPO_ROLE]}
    async with httpx.AsyncClient(headers=cpo_headers(token_c, routing=False)) as http:
        rotated = await http.put(sim.module_url("credentials"), json=body)
        stale = await http.get(sim.module_url("credentials"))
    new_c = rotated.json()["data"]["token"]
    assert rotated.status_code == 200 and new_c != token_c
    assert stale.status_code == 401
    assert sim.cpo is not None and sim.cpo.token == "token-b2"
    async with httpx.AsyncClient(headers=cpo_headers(new_c, routing=False)) as http:
        gone = await http.delete(sim.module_url("credentials"))
        after = await http.get(sim.module_url("credentials"))
    assert gone.json()["status_code"] == 1000
    assert after.status_code == 401 and not sim.registered


async def test_emsp_initiated_registration_update_and_unregister(
    sim: EmspSimulator, cpo: FakeCpo
) -> None:
    credentials = await sim.register(cpo.versions_url, cpo.token_a)
    assert credentials["token"] == "cpo-token-c" and sim.registered
    assert sim.cpo is not None and sim.cpo.roles == [CPO_ROLE]
    assert sim.cpo.endpoints[("commands", "RECEIVER")].endswith("/commands")
    assert cpo.emsp_token is not None and sim.violations == []
    old_b = cpo.emsp_token
    updated = await sim.update_credentials()
    assert updated["token"] == "cpo-token-c2" and sim.cpo.token == "cpo-token-c2"
    assert cpo.emsp_token != old_b
    async with httpx.AsyncClient() as http:  # the old token B is dead
        stale = await http.get(sim.module_url("credentials"), headers=auth(old_b))
    assert stale.status_code == 401
    assert (await sim.get_credentials())["url"] == cpo.versions_url
    await sim.unregister()
    assert not sim.registered and cpo.emsp_token is None


async def test_registering_with_a_cpo_without_2_2_1_fails_clearly(
    sim: EmspSimulator, cpo: FakeCpo
) -> None:
    cpo.versions = ("2.1.1",)
    with pytest.raises(OcpiError, match="2.2.1") as failure:
        await sim.register(cpo.versions_url, cpo.token_a)
    assert failure.value.status_code == 3002 and not sim.registered


# ------------------------------------------------------------------ receivers


async def test_location_put_and_patch_merge_evses_and_bump_parents(
    sim: EmspSimulator, token_c: str
) -> None:
    async with ocpi(sim, token_c) as http:
        created = await http.put("locations/NL/CPO/LOC-1", json=location())
        replaced = await http.put("locations/NL/CPO/LOC-1/", json=location())
        status = await http.patch(
            "locations/NL/CPO/LOC-1/EVSE-1", json={"status": "CHARGING", "last_updated": LATER}
        )
        new_connector = await http.put("locations/NL/CPO/LOC-1/EVSE-1/2", json=connector("2"))
        merged = await http.patch(
            "locations/NL/CPO/LOC-1",
            json={"evses": [{"uid": "EVSE-1", "floor_level": "-1"}], "last_updated": LATER},
        )
        got = await http.get("locations/NL/CPO/LOC-1/EVSE-1/2")
        unknown = await http.get("locations/NL/CPO/NOPE")
    assert [r.status_code for r in (created, replaced, status, new_connector, merged)] == [
        201,
        200,
        200,
        201,
        200,
    ]
    assert created.headers["ocpi-from-party-id"] == "EMS"
    assert created.headers["ocpi-to-party-id"] == "CPO"
    stored = sim.locations[("NL", "CPO", "LOC-1")]
    assert stored["last_updated"] == LATER  # bumped by the EVSE PATCH
    only = stored["evses"][0]
    assert (only["status"], only["floor_level"], only["last_updated"]) == ("CHARGING", "-1", LATER)
    assert [c["id"] for c in only["connectors"]] == ["1", "2"]
    assert got.json()["data"]["id"] == "2"
    assert (unknown.status_code, unknown.json()["status_code"]) == (404, 2003)
    assert sim.violations == []


@pytest.mark.parametrize(
    ("method", "path", "body", "complaint"),
    [
        ("PUT", "LOC-1", {k: v for k, v in location().items() if k != "country"}, "country"),
        ("PUT", "LOC-1", location(last_updated="2025-03-01T10:00:00+00:00"), "DateTime"),
        ("PUT", "X" * 37, location(id="X" * 37), "at most 36"),
        ("PUT", "LOC-1", location(country="NL"), "alpha-3"),
        ("PUT", "LOC-2", location(), "differs"),
        ("PATCH", "LOC-1", {"publish": False}, "last_updated"),
        ("PATCH", "LOC-1/EVSE-1", {"status": "BROKEN", "last_updated": LATER}, "status"),
    ],
)
async def test_bad_location_is_refused_and_recorded_as_a_violation(
    sim: EmspSimulator, token_c: str, method: str, path: str, body: Any, complaint: str
) -> None:
    async with ocpi(sim, token_c) as http:
        await http.put("locations/NL/CPO/LOC-1", json=location())
        answer = await http.request(method, f"locations/NL/CPO/{path}", json=body)
    assert (answer.status_code, answer.json()["status_code"]) == (200, 2001)
    assert any(complaint in v.message for v in sim.violations), sim.violations
    assert sim.violations[0].module == "locations" and sim.violations[0].method == method
    assert sim.locations[("NL", "CPO", "LOC-1")] == location()  # unchanged


async def test_missing_routing_headers_and_foreign_party_are_violations(
    sim: EmspSimulator, token_c: str
) -> None:
    async with httpx.AsyncClient(headers=cpo_headers(token_c, routing=False)) as http:
        bare = await http.put(sim.module_url("tariffs") + "/NL/CPO/T-1", json=tariff())
    async with ocpi(sim, token_c) as http:
        foreign = await http.put("tariffs/DE/XYZ/T-1", json=tariff() | {"country_code": "DE"})
    assert bare.status_code == 201  # accepted, but noted
    assert any("OCPI-from" in v.message for v in sim.violations)
    assert any("OCPI-to" in v.message for v in sim.violations)
    assert foreign.status_code == 404
    assert any("none of the CPO's roles" in v.message for v in sim.violations)


async def test_session_patch_appends_charging_periods(sim: EmspSimulator, token_c: str) -> None:
    async with ocpi(sim, token_c) as http:
        await http.put("sessions/NL/CPO/SES-1", json=session())
        patched = await http.patch(
            "sessions/NL/CPO/SES-1",
            json={"kwh": 3.0, "charging_periods": [period(LATER, 1.5)], "last_updated": LATER},
        )
        no_last_updated = await http.patch("sessions/NL/CPO/SES-1", json={"kwh": 4.0})
        got = await http.get("sessions/NL/CPO/ses-1")
    assert patched.json()["status_code"] == 1000
    assert no_last_updated.json()["status_code"] == 2001
    stored = got.json()["data"]
    assert stored["kwh"] == 3.0 and len(stored["charging_periods"]) == 2
    assert [v.message for v in sim.violations] == [
        "Session PATCH: last_updated is required in a PATCH"
    ]


async def test_cdr_post_answers_with_its_location_and_reposting_other_data_is_refused(
    sim: EmspSimulator, token_c: str
) -> None:
    async with ocpi(sim, token_c) as http:
        posted = await http.post("cdrs", json=cdr())
        fetched = await http.get(posted.headers["location"])
        same = await http.post("cdrs", json=cdr())
        changed = await http.post("cdrs", json=cdr() | {"total_energy": 9.0})
    assert posted.status_code == 201
    assert posted.headers["location"].startswith(sim.module_url("cdrs"))
    assert fetched.json()["data"] == cdr() == sim.cdrs["CDR-1"]
    assert same.json()["status_code"] == 1000
    assert changed.json()["status_code"] == 2001
    assert [v.message for v in sim.violations] == [
        "CDR CDR-1 was posted before with other data: CDRs are immutable"
    ]


async def test_tariff_put_get_delete_and_no_patch(sim: EmspSimulator, token_c: str) -> None:
    async with ocpi(sim, token_c) as http:
        await http.put("tariffs/NL/CPO/T-1", json=tariff())
        got = await http.get("tariffs/NL/CPO/T-1")
        patch = await http.patch("tariffs/NL/CPO/T-1", json={"last_updated": LATER})
        deleted = await http.delete("tariffs/NL/CPO/T-1")
        gone = await http.get("tariffs/NL/CPO/T-1")
    assert got.json()["data"] == tariff()
    assert patch.status_code == 405
    assert deleted.json()["status_code"] == 1000 and sim.tariffs == {}
    assert gone.status_code == 404
    assert [v.message for v in sim.violations] == ["PATCH is not part of the tariffs interface"]


# ------------------------------------------------------------------ tokens


async def test_token_list_pages_with_link_total_and_limit(sim: EmspSimulator, token_c: str) -> None:
    seen: list[str] = []
    url: str | None = sim.module_url("tokens") + "?limit=100&date_from=2020-01-01T00:00:00Z"
    async with httpx.AsyncClient(headers=cpo_headers(token_c)) as http:
        while url:
            page = await http.get(url)
            assert page.headers["x-total-count"] == "5"
            assert page.headers["x-limit"] == "2"
            seen += [t["uid"] for t in page.json()["data"]]
            link = page.headers.get("link")
            url = link[1 : link.index(">")] if link else None
            if url:
                assert url.startswith("http://") and "date_from=2020-01-01T00%3A00%3A00Z" in url
        future = await http.get(
            sim.module_url("tokens"), params={"date_from": "2099-01-01T00:00:00Z"}
        )
    assert seen == [f"04A1B2C{i}" for i in range(5)]
    assert future.json()["data"] == [] and "link" not in future.headers


async def test_authorize_answers_per_uid_and_unknown_tokens_get_404_2004(
    sim: EmspSimulator, token_c: str
) -> None:
    sim.tokens.append(make_token("DEADBEEF", valid=False))
    sim.authorize_answers["04a1b2c1"] = "NO_CREDIT"
    where = {"location_id": "LOC-1", "evse_uids": ["EVSE-1"]}
    async with ocpi(sim, token_c) as http:
        allowed = await http.post("tokens/04a1b2c0/authorize", json=where)
        no_credit = await http.post("tokens/04A1B2C1/authorize?type=RFID")
        blocked = await http.post("tokens/DEADBEEF/authorize")
        unknown = await http.post("tokens/NOPE/authorize")
        wrong_type = await http.post("tokens/04A1B2C0/authorize?type=APP_USER")
    info = allowed.json()["data"]
    assert info["allowed"] == "ALLOWED" and info["location"] == where
    assert info["token"]["uid"] == "04A1B2C0" and info["authorization_reference"]
    assert no_credit.json()["data"]["allowed"] == "NO_CREDIT"
    assert blocked.json()["data"]["allowed"] == "BLOCKED"
    assert (unknown.status_code, unknown.json()["status_code"]) == (404, 2004)
    assert "data" not in unknown.json()
    assert wrong_type.status_code == 404
    assert len(sim.authorizations) == 3 and sim.violations == []


# ------------------------------------------------------------------ calling the CPO


async def test_fetch_all_follows_links_and_flags_missing_pagination_headers(
    sim: EmspSimulator, cpo: FakeCpo
) -> None:
    await sim.register(cpo.versions_url, cpo.token_a)
    everything = await sim.fetch_all("locations")
    assert [loc["id"] for loc in everything] == [f"LOC-{i}" for i in range(5)]
    assert sim.violations == []
    cpo.break_paging = True
    assert len(await sim.fetch_all("locations")) == 5
    assert [v.message for v in sim.violations] == [
        "X-Limit header missing on a paginated response"
    ] * 3


async def test_command_result_posted_to_the_response_url_is_recorded(
    sim: EmspSimulator, cpo: FakeCpo
) -> None:
    await sim.register(cpo.versions_url, cpo.token_a)
    status, answer = await sim.send_command(
        "START_SESSION",
        {"token": make_token("04A1B2C0"), "location_id": "LOC-1", "evse_uid": "EVSE-1"},
    )
    assert (status, answer["data"]["result"]) == (200, "ACCEPTED")
    result = await sim.wait_for(lambda r: r.module == "commands", timeout=10)
    command_id = result.path.rsplit("/", 1)[1]
    assert sim.sent_commands[command_id]["command"] == "START_SESSION"
    assert sim.command_results[command_id] == {"result": "ACCEPTED"}
    assert sim.violations == []


async def test_charging_profile_results_and_active_profiles_are_checked_and_kept(
    sim: EmspSimulator, token_c: str
) -> None:
    active = {
        "start_date_time": TS,
        "charging_profile": {
            "charging_rate_unit": "W",
            "charging_profile_period": [{"start_period": 0, "limit": 7400.0}],
        },
    }
    sim.sent_profile_requests["r1"] = {"method": "GET", "session_id": "S1"}
    sim.sent_profile_requests["r2"] = {"method": "PUT", "session_id": "S1"}
    async with ocpi(sim, token_c) as http:
        got = await http.post(
            "chargingprofiles/results/r1", json={"result": "ACCEPTED", "profile": active}
        )
        bad_result = await http.post("chargingprofiles/results/r2", json={"result": "MAYBE"})
        stranger = await http.post("chargingprofiles/results/nobody", json={"result": "ACCEPTED"})
        told = await http.put("chargingprofiles/S1", json=active)
        too_precise = await http.put(
            "chargingprofiles/S1",
            json=active
            | {
                "charging_profile": active["charging_profile"]
                | {"charging_profile_period": [{"start_period": 0, "limit": 7400.25}]}
            },
        )
    assert (got.status_code, got.json()["status_code"]) == (200, 1000)
    assert sim.profile_results == {"r1": {"result": "ACCEPTED", "profile": active}}
    assert bad_result.json()["status_code"] == 2001
    assert stranger.status_code == 404
    assert (told.json()["status_code"], too_precise.json()["status_code"]) == (1000, 2001)
    assert sim.active_profiles == {"S1": [active]}
    assert len(sim.violations) == 3, sim.violations


# ------------------------------------------------------------------ faults


async def test_faults_hit_the_next_requests_then_stop(sim: EmspSimulator, token_c: str) -> None:
    async with ocpi(sim, token_c) as http:
        sim.fault("http_500", count=1)
        first, second = await http.get("tokens"), await http.get("tokens")
        sim.fault("ocpi_3000", count=1, modules={"tokens"})
        ocpi_error = await http.get("tokens")
        sim.fault("garbage", count=1)
        garbage = await http.get("tokens")
        sim.fault("refuse")
        refused = await http.get("tokens")
        sim.clear_faults()
        sim.fault("http_500", modules={"versions"})
        untouched = await http.get("tokens")
    assert (first.status_code, first.json()["status_code"]) == (500, 3000)
    assert (second.status_code, second.json()["status_code"]) == (200, 1000)
    assert (ocpi_error.status_code, ocpi_error.json()["status_code"]) == (200, 3000)
    assert garbage.status_code == 200
    with pytest.raises(ValueError):
        garbage.json()
    assert refused.status_code == 401
    assert untouched.status_code == 200
    with pytest.raises(ValueError):
        sim.fault("explode")


async def test_slow_fault_delays_only_the_counted_requests(
    sim: EmspSimulator, token_c: str
) -> None:
    sim.fault("slow", count=1, delay=0.5)
    async with ocpi(sim, token_c) as http:
        started = time.monotonic()
        await http.get("tokens")
        slow = time.monotonic() - started
        started = time.monotonic()
        await http.get("tokens")
        fast = time.monotonic() - started
        sim.fault("slow", count=1, delay=5)
        with pytest.raises(httpx.ReadTimeout):
            await http.get("tokens", timeout=0.3)
    assert slow >= 0.5 and fast < 0.5


async def test_down_refuses_connections_and_up_keeps_port_and_state(
    sim: EmspSimulator, token_c: str
) -> None:
    async with ocpi(sim, token_c) as http:
        await http.put("tariffs/NL/CPO/T-1", json=tariff())
    url = sim.versions_url
    await sim.down()
    async with httpx.AsyncClient(headers=cpo_headers(token_c, routing=False)) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url)
        await sim.up()
        back = await http.get(url)
    assert sim.versions_url == url and back.status_code == 200
    assert ("NL", "CPO", "T-1") in sim.tariffs and sim.registered


# ------------------------------------------------------------------ waiting, inspection, models


async def test_wait_for_matches_past_and_future_requests_and_times_out(
    sim: EmspSimulator, token_c: str
) -> None:
    past = await sim.wait_for(lambda r: r.module == "credentials")
    assert past.method == "POST" and past.status == 200
    async with ocpi(sim, token_c) as http:
        waiter = asyncio.create_task(sim.wait_for(lambda r: r.module == "sessions", timeout=5))
        await http.put("sessions/NL/CPO/SES-1", json=session())
        assert (await waiter).ocpi_status == 1000
    with pytest.raises(TimeoutError):
        await sim.wait_for(lambda r: r.module == "cdrs", timeout=0.2)


async def test_inspection_endpoints_show_state_and_set_faults(sim: EmspSimulator) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        invite = (await http.post("/_sim/invite")).json()
        await http.post("/_sim/faults", json={"kind": "http_500", "modules": ["versions"]})
        failing = await http.get(invite["versions_url"], headers=auth(invite["token"]))
        await http.delete("/_sim/faults")
        working = await http.get(invite["versions_url"], headers=auth(invite["token"]))
        await http.get("/ocpi/emsp/nowhere")
        state = (await http.get("/_sim/state")).json()
        received = (await http.get("/_sim/received")).json()
        violations = (await http.get("/_sim/violations")).json()
    assert (failing.status_code, working.status_code) == (500, 200)
    assert state["registered"] is False and state["faults"] == []
    assert [r["status"] for r in received] == [500, 200, 404]
    assert violations[-1]["path"] == "/ocpi/emsp/nowhere"


def test_models_follow_the_spec_types() -> None:
    assert problems(Token, make_token("04A1B2C3")) == []
    assert problems(Token, make_token("04A1B2C3", last_updated="2025-03-01T10:00:00")) == []
    assert problems(Token, make_token("04A1B2C3", last_updated="2025-03-01T10:00:00.123Z")) == []
    too_long = make_token("04A1B2C3", last_updated="2025-03-01T10:00:00.123456Z")
    assert "string(25)" in problems(Token, too_long)[0]
    assert "valid boolean" in problems(Token, make_token("X") | {"valid": "yes"})[0]
    assert problems(Token, make_token("X", whitelist="SOMETIMES"))
    assert patch_problems(Token, {"valid": False, "last_updated": TS}) == []
    assert patch_problems(Token, {"valid": "no"})[0].endswith("required in a PATCH")


async def test_cli_help_exits_0() -> None:
    process = await asyncio.create_subprocess_exec(
        str(BIN / "cpo-sim"), "emsp", "--help", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0 and b"--register" in out


async def test_cli_serves_prints_versions_url_and_token_a_and_stops_on_sigterm() -> None:
    async with emsp_simulator_process() as (process, started):
        async with httpx.AsyncClient() as http:
            versions = await http.get(started["versions_url"], headers=auth(started["token_a"]))
        assert versions.json()["data"][0]["version"] == "2.2.1"
    assert process.returncode == 0
