"""The eMSP simulator speaking OCPI 2.1.1 and 2.3.0 over real HTTP, against a tiny in-test CPO
that speaks the same version: registration both ways, token encoding, headers and validation."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.emsp import EmspSimulator, OcpiError, make_token, models, models_v211, models_v230
from simulators.emsp.server import LoopbackServer
from simulators.emsp.specs import spec
from simulators.emsp.validation import problems
from simulators.emsp.wire import envelope
from tests.helpers.processes import emsp_simulator_process

TS = "2025-03-01T10:00:00Z"
LATER = "2025-03-01T11:00:00Z"
BUSINESS = {"name": "Test CPO"}
CPO_ROLE = {"role": "CPO", "country_code": "NL", "party_id": "CPO", "business_details": BUSINESS}
MODULES = ["credentials", "locations", "sessions", "cdrs", "tariffs", "tokens", "commands"]
CPO_ROLES = {"tokens": "RECEIVER", "commands": "RECEIVER"}


def encode(token: str, version: str) -> str:
    """The Authorization header a CPO of `version` sends: raw in 2.1.1, Base64 after."""
    if version == "2.1.1":
        return f"Token {token}"
    return "Token " + base64.b64encode(token.encode()).decode()


def cpo_headers(token: str, version: str, *, functional: bool = True) -> dict[str, str]:
    headers = {"Authorization": encode(token, version)}
    if version != "2.1.1":
        headers |= {"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"}
        if functional:
            headers |= {
                "OCPI-from-country-code": "NL",
                "OCPI-from-party-id": "CPO",
                "OCPI-to-country-code": "NL",
                "OCPI-to-party-id": "EMS",
            }
    return headers


def credentials_of_cpo(token: str, url: str, version: str) -> dict[str, Any]:
    if version == "2.1.1":
        return {
            "token": token,
            "url": url,
            "business_details": BUSINESS,
            "party_id": "CPO",
            "country_code": "NL",
        }
    return {"token": token, "url": url, "roles": [CPO_ROLE]}


# ------------------------------------------------------------------ objects per version


def connector_211(**changes: Any) -> dict[str, Any]:
    return {
        "id": "1",
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE",
        "voltage": 230,
        "amperage": 16,
        "tariff_id": "T-1",
        "last_updated": TS,
    } | changes


def location_211(**changes: Any) -> dict[str, Any]:
    return {
        "id": "LOC-1",
        "type": "ON_STREET",
        "address": "Stationsplein 1",
        "city": "Amsterdam",
        "postal_code": "1012AB",
        "country": "NLD",
        "coordinates": {"latitude": "52.378900", "longitude": "4.900000"},
        "evses": [
            {
                "uid": "EVSE-1",
                "evse_id": "NL*CPO*E1",
                "status": "AVAILABLE",
                "connectors": [connector_211()],
                "last_updated": TS,
            }
        ],
        "last_updated": TS,
    } | changes


def session_211(**changes: Any) -> dict[str, Any]:
    return {
        "id": "SES-1",
        "start_datetime": TS,
        "kwh": 1.5,
        "auth_id": "NL-EMS-C04A1B2C3",
        "auth_method": "WHITELIST",
        "location": location_211(),
        "currency": "EUR",
        "charging_periods": [
            {"start_date_time": TS, "dimensions": [{"type": "ENERGY", "volume": 1.5}]}
        ],
        "total_cost": 0.45,
        "status": "ACTIVE",
        "last_updated": TS,
    } | changes


def cdr_211() -> dict[str, Any]:
    return {
        "id": "CDR-1",
        "start_date_time": TS,
        "stop_date_time": LATER,
        "auth_id": "NL-EMS-C04A1B2C3",
        "auth_method": "AUTH_REQUEST",
        "location": location_211(),
        "currency": "EUR",
        "charging_periods": [
            {
                "start_date_time": TS,
                "dimensions": [{"type": "ENERGY", "volume": 7.5}, {"type": "FLAT", "volume": 1}],
            }
        ],
        "total_cost": 2.25,
        "total_energy": 7.5,
        "total_time": 1.0,
        "last_updated": LATER,
    }


def tariff_211() -> dict[str, Any]:
    return {
        "id": "T-1",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}],
        "last_updated": TS,
    }


def cdr_token() -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "EMS",
        "uid": "04A1B2C3",
        "type": "RFID",
        "contract_id": "NL-EMS-C04A1B2C3",
    }


def session_221(**changes: Any) -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "CPO",
        "id": "SES-1",
        "start_date_time": TS,
        "kwh": 1.5,
        "cdr_token": cdr_token(),
        "auth_method": "WHITELIST",
        "location_id": "LOC-1",
        "evse_uid": "EVSE-1",
        "connector_id": "1",
        "currency": "EUR",
        "status": "ACTIVE",
        "last_updated": TS,
    } | changes


def location_230(**changes: Any) -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "CPO",
        "id": "LOC-1",
        "publish": True,
        "address": "Stationsplein 1",
        "city": "Amsterdam",
        "country": "NLD",
        "coordinates": {"latitude": "52.37890", "longitude": "4.90000"},
        "help_phone": "+31201234567",
        "parking_places": [
            {
                "id": "P1",
                "vehicle_types": ["PERSONAL_VEHICLE"],
                "restricted_to_type": False,
                "reservation_required": False,
            }
        ],
        "evses": [
            {
                "uid": "EVSE-1",
                "status": "AVAILABLE",
                "parking": [{"parking_id": "P1"}],
                "accepted_service_providers": ["Sim eMSP"],
                "connectors": [
                    {
                        "id": "1",
                        "standard": "MCS",
                        "format": "CABLE",
                        "power_type": "DC",
                        "max_voltage": 1000,
                        "max_amperage": 3000,
                        "capabilities": ["ISO_15118_20_PLUG_AND_CHARGE"],
                        "last_updated": TS,
                    }
                ],
                "last_updated": TS,
            }
        ],
        "time_zone": "Europe/Amsterdam",
        "last_updated": TS,
    } | changes


def tariff_230(**changes: Any) -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "CPO",
        "id": "T-1",
        "currency": "EUR",
        "tax_included": "NO",
        "min_price": {"before_taxes": 1.0, "after_taxes": 1.21},
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}],
        "last_updated": TS,
    } | changes


PRICE_230 = {"before_taxes": 0.45, "taxes": [{"name": "VAT", "percentage": 21, "amount": 0.09}]}


# ------------------------------------------------------------------ the in-test CPO


class VersionedCpo:
    """A CPO on loopback that speaks one OCPI version (it may list others it does not serve)."""

    def __init__(self, version: str, listed: tuple[str, ...] | None = None) -> None:
        self.version = version
        self.listed = listed or (version,)
        self.token_a = "cpo-token-a"
        self.accepted = {self.token_a}
        self.emsp_token: str | None = None
        self.hub_party_id: str | None = None
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.posted: list[dict[str, Any]] = []  # credentials the eMSP sent
        self.callback: list[httpx.Response] = []  # our calls back to the eMSP
        self.locations: list[dict[str, Any]] = []  # what GET locations pages through
        base = f"/ocpi/cpo/{version}"
        self.server = LoopbackServer(
            Starlette(
                routes=[
                    Route("/ocpi/cpo/versions", self._versions),
                    Route(base, self._details),
                    Route(
                        f"{base}/credentials",
                        self._credentials,
                        methods=["GET", "POST", "PUT", "DELETE"],
                    ),
                    Route(f"{base}/commands/{{command}}", self._command, methods=["POST"]),
                    Route(f"{base}/locations", self._locations),
                ]
            )
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def versions_url(self) -> str:
        return f"{self.url}/ocpi/cpo/versions"

    def _token(self, request: Request) -> str | None:
        """The token, raw or Base64 (the tests check which one each request used)."""
        self.requests.append((request.method, request.url.path, dict(request.headers)))
        value = request.headers.get("authorization", "").removeprefix("Token ")
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except ValueError:
            decoded = None
        for token in (value, decoded):
            if token in self.accepted:
                return token
        return None

    def _reply(self, request: Request, data: Any = None, **kwargs: Any) -> Response:
        headers = {}
        if self.version != "2.1.1":
            headers = {
                "X-Request-ID": request.headers.get("x-request-id", "x"),
                "X-Correlation-ID": request.headers.get("x-correlation-id", "x"),
            }
            if request.url.path.split("/")[4:5] in (["commands"], ["locations"]):
                headers |= {
                    "OCPI-from-country-code": "NL",
                    "OCPI-from-party-id": "CPO",
                    "OCPI-to-country-code": "NL",
                    "OCPI-to-party-id": "EMS",
                }
        return JSONResponse(envelope(1000, data), headers=headers, **kwargs)

    async def _versions(self, request: Request) -> Response:
        if self._token(request) is None:
            return JSONResponse(envelope(2000), 401)
        data = [{"version": v, "url": f"{self.url}/ocpi/cpo/{v}"} for v in self.listed]
        return self._reply(request, data)

    async def _details(self, request: Request) -> Response:
        if self._token(request) is None:
            return JSONResponse(envelope(2000), 401)
        endpoints = []
        for module in ("credentials", "locations", "tokens", "commands"):
            endpoint = {"identifier": module, "url": f"{self.url}/ocpi/cpo/{self.version}/{module}"}
            if self.version != "2.1.1":
                endpoint["role"] = CPO_ROLES.get(module, "SENDER")
            endpoints.append(endpoint)
        return self._reply(request, {"version": self.version, "endpoints": endpoints})

    async def _credentials(self, request: Request) -> Response:
        if self._token(request) is None:
            return JSONResponse(envelope(2000), 401)
        ours = credentials_of_cpo("cpo-token-c", self.versions_url, self.version)
        if self.hub_party_id:
            ours["hub_party_id"] = self.hub_party_id
        if request.method == "GET":
            return self._reply(request, ours)
        if request.method == "DELETE":
            self.emsp_token = None
            return self._reply(request)
        body = await request.json()
        self.posted.append(body)
        headers = cpo_headers(body["token"], self.version, functional=False)
        async with httpx.AsyncClient(headers=headers) as http:
            versions = await http.get(body["url"])
            details = await http.get(versions.json()["data"][0]["url"])
        self.callback = [versions, details]
        self.emsp_token = body["token"]
        self.accepted = {"cpo-token-c"}
        return self._reply(request, ours)

    async def _locations(self, request: Request) -> Response:
        if self._token(request) is None:
            return JSONResponse(envelope(2000), 401)
        offset = int(request.query_params.get("offset", 0))
        page = self.locations[offset : offset + 1]
        headers = {"X-Total-Count": str(len(self.locations)), "X-Limit": "1"}
        if offset + 1 < len(self.locations):
            headers["Link"] = f'<{self.url}{request.url.path}?offset={offset + 1}>; rel="next"'
        response = self._reply(request, page)
        response.headers.update(headers)
        return response

    async def _command(self, request: Request) -> Response:
        if self._token(request) is None:
            return JSONResponse(envelope(2000), 401)
        body = await request.json()
        result = {"result": "ACCEPTED"}

        async def report() -> None:
            assert self.emsp_token is not None
            async with httpx.AsyncClient() as http:
                await http.post(
                    body["response_url"],
                    json=result,
                    headers=cpo_headers(self.emsp_token, self.version),
                )

        answer = result if self.version == "2.1.1" else result | {"timeout": 30}
        return self._reply(request, answer, background=BackgroundTask(report))


async def started_cpo(version: str, listed: tuple[str, ...] | None = None) -> VersionedCpo:
    cpo = VersionedCpo(version, listed)
    await cpo.server.up()
    return cpo


@pytest.fixture
async def cpo211() -> AsyncIterator[VersionedCpo]:
    cpo = await started_cpo("2.1.1", ("2.1.1", "2.2.1"))
    try:
        yield cpo
    finally:
        await cpo.server.down()


@pytest.fixture
async def cpo230() -> AsyncIterator[VersionedCpo]:
    cpo = await started_cpo("2.3.0", ("2.2.1", "2.3.0"))
    try:
        yield cpo
    finally:
        await cpo.server.down()


async def register_as_cpo(sim: EmspSimulator, cpo: VersionedCpo) -> tuple[httpx.Response, str]:
    """The CPO-initiated handshake in the simulator's version; the answer and token C."""
    token_a = sim.invite()
    cpo.accepted.add("cpo-token-b")
    headers = cpo_headers(token_a, sim.version, functional=False)
    async with httpx.AsyncClient(headers=headers) as http:
        versions = (await http.get(sim.versions_url)).json()["data"]
        details = (await http.get(versions[0]["url"])).json()["data"]
        url = next(e["url"] for e in details["endpoints"] if e["identifier"] == "credentials")
        body = credentials_of_cpo("cpo-token-b", cpo.versions_url, sim.version)
        answer = await http.post(url, json=body)
    return answer, answer.json()["data"]["token"]


def pushes(sim: EmspSimulator, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=sim.module_url(""), headers=cpo_headers(token, sim.version), timeout=10
    )


# ------------------------------------------------------------------ 2.1.1


async def test_211_versions_and_details_have_no_roles_and_no_request_ids() -> None:
    async with EmspSimulator(version="2.1.1") as sim:
        token_a = sim.invite()
        async with httpx.AsyncClient(headers={"Authorization": f"Token {token_a}"}) as http:
            versions = await http.get(sim.versions_url)
            details = await http.get(versions.json()["data"][0]["url"])
    assert sim.version == "2.1.1" and sim.versions_url.endswith("/ocpi/emsp/versions")
    assert versions.json()["data"] == [{"version": "2.1.1", "url": sim.details_url}]
    assert sim.details_url.endswith("/ocpi/emsp/2.1.1")
    data = details.json()["data"]
    assert data["version"] == "2.1.1"
    assert {tuple(sorted(e)) for e in data["endpoints"]} == {("identifier", "url")}
    assert {e["identifier"] for e in data["endpoints"]} == set(MODULES)
    assert "x-request-id" not in versions.headers
    assert problems(models_v211.VersionDetails, data) == []
    assert problems(models.VersionDetails, data) != []  # 2.2.1 wants roles
    assert sim.violations == []  # a raw token and no X-Request-ID are right in 2.1.1


async def test_211_emsp_registers_with_raw_token_and_flat_credentials(
    cpo211: VersionedCpo,
) -> None:
    async with EmspSimulator(version="2.1.1") as sim:
        credentials = await sim.register(cpo211.versions_url, cpo211.token_a)
        versions_back, details_back = cpo211.callback
        assert sim.registered and sim.cpo is not None
        assert sim.cpo.version == "2.1.1"
        assert sim.cpo.roles == [CPO_ROLE]
        assert ("tokens", "RECEIVER") in sim.cpo.endpoints  # roles filled in for 2.1.1
        assert ("credentials", "SENDER") in sim.cpo.endpoints
        await sim.unregister()
    assert credentials["token"] == "cpo-token-c"
    # It picked 2.1.1 although the CPO lists 2.2.1 too.
    paths = [path for _, path, _ in cpo211.requests]
    assert paths[:3] == ["/ocpi/cpo/versions", "/ocpi/cpo/2.1.1", "/ocpi/cpo/2.1.1/credentials"]
    posted = cpo211.posted[0]
    assert set(posted) == {"token", "url", "business_details", "party_id", "country_code"}
    assert (posted["country_code"], posted["party_id"]) == ("NL", "EMS")
    assert posted["url"] == sim.versions_url
    assert problems(models_v211.Credentials, posted) == []
    for _, _, headers in cpo211.requests:
        assert headers["authorization"] in (f"Token {cpo211.token_a}", "Token cpo-token-c")
        assert not any(h.startswith(("x-request-id", "x-correlation-id", "ocpi-")) for h in headers)
    # The CPO called back with B raw, and the simulator answered in 2.1.1 shape.
    assert versions_back.json()["data"][0]["version"] == "2.1.1"
    assert all("role" not in e for e in details_back.json()["data"]["endpoints"])
    assert sim.violations == []


async def test_211_emsp_without_2_1_1_at_the_cpo_fails_with_3002() -> None:
    cpo = await started_cpo("2.2.1")
    try:
        async with EmspSimulator(version="2.1.1") as sim:
            with pytest.raises(OcpiError, match="2.1.1") as failure:
                await sim.register(cpo.versions_url, cpo.token_a)
            assert not sim.registered
    finally:
        await cpo.server.down()
    assert failure.value.status_code == 3002


async def test_211_cpo_registers_and_is_answered_in_211_shape(cpo211: VersionedCpo) -> None:
    async with EmspSimulator(version="2.1.1") as sim:
        answer, token_c = await register_as_cpo(sim, cpo211)
        assert sim.registered and sim.cpo is not None
        assert sim.cpo.party() == ("NL", "CPO") and sim.cpo.token == "cpo-token-b"
        async with httpx.AsyncClient() as http:
            base64_headers = cpo_headers(token_c, "2.2.1", functional=False)
            with_base64 = await http.get(sim.module_url("credentials"), headers=base64_headers)
    data = answer.json()["data"]
    assert set(data) == {"token", "url", "business_details", "party_id", "country_code"}
    assert data["business_details"] == {"name": "eMSP Simulator"}
    assert "x-request-id" not in answer.headers
    # It called the CPO back in 2.1.1: raw token B, no request ids.
    back = [headers for _, _, headers in cpo211.requests]
    assert [h["authorization"] for h in back] == ["Token cpo-token-b"] * 2
    assert not any("x-request-id" in h for h in back)
    assert with_base64.status_code == 200  # Base64 is accepted inbound too
    assert sim.violations == []


async def test_211_validator_accepts_211_objects_without_routing_headers(
    cpo211: VersionedCpo,
) -> None:
    async with EmspSimulator(version="2.1.1") as sim:
        _, token_c = await register_as_cpo(sim, cpo211)
        async with pushes(sim, token_c) as http:
            answers = [
                await http.put("locations/NL/CPO/LOC-1", json=location_211()),
                await http.patch("locations/NL/CPO/LOC-1/EVSE-1", json={"status": "CHARGING"}),
                await http.put("sessions/NL/CPO/SES-1", json=session_211()),
                await http.patch("sessions/NL/CPO/SES-1", json={"kwh": 3.0}),
                await http.put("tariffs/NL/CPO/T-1", json=tariff_211()),
                await http.patch("tariffs/NL/CPO/T-1", json={"currency": "USD"}),
                await http.post("cdrs", json=cdr_211()),
            ]
        assert [r.status_code for r in answers] == [201, 200, 201, 200, 201, 200, 201]
        assert [r.json()["status_code"] for r in answers] == [1000] * 7
        assert not any(h.startswith(("ocpi-", "x-request-id")) for h in answers[0].headers)
        assert sim.locations[("NL", "CPO", "LOC-1")]["evses"][0]["status"] == "CHARGING"
        assert sim.sessions[("NL", "CPO", "SES-1")]["kwh"] == 3.0
        assert sim.tariffs[("NL", "CPO", "T-1")]["currency"] == "USD"
        assert sim.violations == []


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (session_221(), "start_datetime"),
        (session_211(start_date_time=TS) | {"start_datetime": None}, "start_datetime"),
        (session_211(total_cost={"excl_vat": 0.45}), "total_cost"),
        (session_211(auth_method="COMMAND"), "auth_method"),
        (session_211(location=location_211(postal_code=None)), "postal_code"),
    ],
)
async def test_211_records_a_violation_for_a_221_shaped_session(
    cpo211: VersionedCpo, body: dict[str, Any], complaint: str
) -> None:
    async with EmspSimulator(version="2.1.1") as sim:
        _, token_c = await register_as_cpo(sim, cpo211)
        async with pushes(sim, token_c) as http:
            answer = await http.put("sessions/NL/CPO/SES-1", json=body)
    assert answer.json()["status_code"] == 2001
    assert any(complaint in v.message for v in sim.violations), sim.violations
    assert sim.sessions == {}


async def test_221_records_a_violation_for_a_211_shaped_session() -> None:
    cpo = await started_cpo("2.2.1")
    try:
        async with EmspSimulator() as sim:
            _, token_c = await register_as_cpo(sim, cpo)
            async with pushes(sim, token_c) as http:
                wrong = await http.put("sessions/NL/CPO/SES-1", json=session_211())
                right = await http.put("sessions/NL/CPO/SES-1", json=session_221())
                no_patch = await http.patch("tariffs/NL/CPO/T-1", json={"currency": "USD"})
    finally:
        await cpo.server.down()
    assert wrong.json()["status_code"] == 2001
    messages = [v.message for v in sim.violations]
    assert any("start_date_time: required field missing" in m for m in messages), messages
    assert any("cdr_token" in m for m in messages)
    assert right.status_code == 201
    assert no_patch.status_code == 405  # tariffs PATCH is 2.1.1 only


async def test_211_command_response_is_the_async_result_and_tokens_are_211(
    cpo211: VersionedCpo,
) -> None:
    token = make_token("04A1B2C3", version="2.1.1")
    async with EmspSimulator(version="2.1.1", tokens=[token]) as sim:
        await sim.register(cpo211.versions_url, cpo211.token_a)
        body = {"token": token, "location_id": "LOC-1", "evse_uid": "EVSE-1"}
        status, answer = await sim.send_command("START_SESSION", body)
        result = await sim.wait_for(lambda r: r.module == "commands", timeout=10)
        assert cpo211.emsp_token is not None
        async with pushes(sim, cpo211.emsp_token) as http:
            listed = await http.get("tokens")
            allowed = await http.post("tokens/04A1B2C3/authorize")
    assert (status, answer["data"]) == (200, {"result": "ACCEPTED"})
    assert result.status == 200 and result.ocpi_status == 1000
    assert list(sim.command_results.values()) == [{"result": "ACCEPTED"}]
    assert listed.json()["data"] == [token]
    assert allowed.json()["data"] == {"allowed": "ALLOWED"}
    assert problems(models_v211.AuthorizationInfo, allowed.json()["data"]) == []
    assert problems(models_v211.Token, token) == [] and problems(models.Token, token) != []
    v211 = spec("2.1.1")
    payload = body | {"response_url": "http://127.0.0.1/r"}
    assert v211.command_problems("START_SESSION", payload) == []
    assert v211.command_problems("CANCEL_RESERVATION", payload) != []
    reserve = {"response_url": "http://127.0.0.1/r", "token": token, "expiry_date": LATER}
    reserve |= {"location_id": "LOC-1", "reservation_id": "R1"}
    assert any("reservation_id" in p for p in v211.command_problems("RESERVE_NOW", reserve))
    assert v211.command_problems("RESERVE_NOW", reserve | {"reservation_id": 1}) == []
    assert sim.violations == []


# ------------------------------------------------------------------ 2.3.0


async def test_230_emsp_registers_with_roles_base64_and_request_ids(
    cpo230: VersionedCpo,
) -> None:
    cpo230.hub_party_id = "NLHUB"
    async with EmspSimulator(version="2.3.0") as sim:
        credentials = await sim.register(cpo230.versions_url, cpo230.token_a)
        assert sim.cpo is not None and sim.cpo.version == "2.3.0"
        assert sim.cpo.endpoints[("commands", "RECEIVER")].endswith("/2.3.0/commands")
    assert credentials["hub_party_id"] == "NLHUB"
    assert sim.cpo.party() == ("NL", "HUB")  # OCPI-to-* addresses the hub
    assert ("NL", "CPO") in sim.cpo.parties() and ("NL", "HUB") in sim.cpo.parties()
    paths = [path for _, path, _ in cpo230.requests]
    assert paths[:3] == ["/ocpi/cpo/versions", "/ocpi/cpo/2.3.0", "/ocpi/cpo/2.3.0/credentials"]
    posted = cpo230.posted[0]
    assert set(posted) <= {"token", "url", "roles", "hub_party_id"}
    assert [r["role"] for r in posted["roles"]] == ["EMSP"]
    assert problems(models_v230.Credentials, posted) == []
    token_a = base64.b64encode(cpo230.token_a.encode()).decode()
    first = cpo230.requests[0][2]
    assert first["authorization"] == f"Token {token_a}"
    assert first["x-request-id"] and first["x-correlation-id"]
    assert not any(h.startswith("ocpi-") for h in first)  # versions is not functional
    versions_back, details_back = cpo230.callback
    assert versions_back.json()["data"][0]["version"] == "2.3.0"
    assert all(
        e["role"] in ("SENDER", "RECEIVER") for e in details_back.json()["data"]["endpoints"]
    )
    assert versions_back.headers["x-request-id"] == "req-1"
    assert sim.violations == []


async def test_230_hub_is_no_role_and_hub_party_id_is_checked() -> None:
    good = {"token": "t", "url": "http://h/v", "roles": [CPO_ROLE], "hub_party_id": "NLHUB"}
    assert problems(models_v230.Credentials, good) == []
    assert problems(models.Credentials, good | {"roles": [CPO_ROLE | {"role": "HUB"}]}) == []
    hub = problems(models_v230.Credentials, good | {"roles": [CPO_ROLE | {"role": "HUB"}]})
    assert any("role" in p for p in hub)
    assert any(
        "hub_party_id" in p
        for p in problems(models_v230.Credentials, good | {"hub_party_id": "NLHUB1"})
    )


async def test_230_validator_accepts_230_objects_with_unknown_fields_and_open_enums(
    cpo230: VersionedCpo,
) -> None:
    async with EmspSimulator(version="2.3.0") as sim:
        _, token_c = await register_as_cpo(sim, cpo230)
        session = session_221(total_cost=PRICE_230, x_vendor_field={"any": "thing"})
        session["cdr_token"] = cdr_token() | {"type": "EMAID"}
        location = location_230(facilities=["HYDROGEN_STATION"], parking_type="FERRY_DECK")
        async with pushes(sim, token_c) as http:
            answers = [
                await http.put("locations/NL/CPO/LOC-1", json=location),
                await http.put("sessions/NL/CPO/SES-1", json=session),
                await http.put("tariffs/NL/CPO/T-1", json=tariff_230()),
                await http.post("tokens/04A1B2C3/authorize?type=EMAID"),
            ]
        assert [r.status_code for r in answers[:3]] == [201, 201, 201]
        assert answers[0].headers["ocpi-from-party-id"] == "EMS"
        assert answers[3].json()["status_code"] == 2004  # unknown token, but a valid type
        assert sim.violations == []
    # the same objects break 2.2.1
    assert problems(models.Location, location) != []
    assert problems(models.Session, session) != []
    assert problems(models.Tariff, tariff_230()) != []


@pytest.mark.parametrize(
    ("path", "body", "complaint"),
    [
        ("sessions/NL/CPO/SES-1", session_221(total_cost={"excl_vat": 0.45}), "before_taxes"),
        (
            "tariffs/NL/CPO/T-1",
            {k: v for k, v in tariff_230().items() if k != "tax_included"},
            "tax_included",
        ),
        ("tariffs/NL/CPO/T-1", tariff_230(tax_included="MAYBE"), "tax_included"),
        ("tariffs/NL/CPO/T-1", tariff_230(min_price={"excl_vat": 1.0}), "min_price"),
        ("sessions/NL/CPO/SES-1", session_211(), "start_date_time"),
    ],
)
async def test_230_records_violations_for_221_and_211_shapes(
    cpo230: VersionedCpo, path: str, body: dict[str, Any], complaint: str
) -> None:
    async with EmspSimulator(version="2.3.0") as sim:
        _, token_c = await register_as_cpo(sim, cpo230)
        async with pushes(sim, token_c) as http:
            answer = await http.put(path, json=body)
    assert answer.json()["status_code"] == 2001
    assert any(complaint in v.message for v in sim.violations), sim.violations


async def test_230_still_requires_routing_headers_and_request_ids(cpo230: VersionedCpo) -> None:
    async with EmspSimulator(version="2.3.0") as sim:
        _, token_c = await register_as_cpo(sim, cpo230)
        headers = {"Authorization": encode(token_c, "2.3.0")}
        async with httpx.AsyncClient(headers=headers) as http:
            bare = await http.put(sim.module_url("tariffs") + "/NL/CPO/T-1", json=tariff_230())
    assert bare.status_code == 201
    messages = " ".join(v.message for v in sim.violations)
    assert "X-Request-ID header missing (OCPI 2.3.0" in messages
    assert "OCPI-from" in messages and "OCPI-to" in messages


def test_221_2_3_0_and_2_1_1_models_differ_where_the_spec_does() -> None:
    cdr = cdr_211()
    assert problems(models_v211.CDR, cdr) == []
    assert any("end_date_time" in p for p in problems(models.CDR, cdr))
    assert problems(models_v211.Connector, connector_211()) == []
    assert any("max_voltage" in p for p in problems(models.Connector, connector_211()))
    evse_39 = location_211()["evses"][0] | {"uid": "E" * 39}
    assert problems(models_v211.EVSE, evse_39) == []
    assert problems(models.EVSE, evse_39) != []
    assert any("type" in p for p in problems(models_v211.Location, location_211(type=None)))
    assert problems(models_v230.Location, location_230()) == []
    assert problems(models_v230.Token, make_token("X", type="EMAID")) == []
    assert problems(models.Token, make_token("X", type="EMAID")) != []
    assert problems(models_v211.Token, make_token("X", type="APP_USER", version="2.1.1")) != []
    five_decimals = location_211(coordinates={"latitude": "52.37890", "longitude": "4.90000"})
    assert any("latitude" in p for p in problems(models_v211.Location, five_decimals))
    assert spec("2.3.0").command_problems("FUTURE_COMMAND", {}) == []  # CommandType is open
    assert spec("2.2.1").command_problems("FUTURE_COMMAND", {}) != []


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="2.1.1, 2.2.1, 2.3.0"):
        EmspSimulator(version="2.2")


async def test_cli_version_flag_serves_that_version() -> None:
    async with emsp_simulator_process("--version", "2.1.1") as (process, started):
        headers = {"Authorization": f"Token {started['token_a']}"}
        async with httpx.AsyncClient(headers=headers) as http:
            versions = await http.get(started["versions_url"])
            details = await http.get(versions.json()["data"][0]["url"])
    assert started["version"] == "2.1.1"
    assert versions.json()["data"][0]["version"] == "2.1.1"
    assert all("role" not in e for e in details.json()["data"]["endpoints"])
    assert process.returncode == 0


@pytest.mark.parametrize("version", ["2.1.1", "2.3.0"])
async def test_paginated_locations_are_checked_in_the_version_spoken(version: str) -> None:
    cpo = await started_cpo(version)
    good = location_211(id="LOC-1") if version == "2.1.1" else location_230(id="LOC-1")
    wrong = location_230(id="LOC-2") if version == "2.1.1" else location_211(id="LOC-2")
    cpo.locations = [good, wrong]
    try:
        async with EmspSimulator(version=version) as sim:
            await sim.register(cpo.versions_url, cpo.token_a)
            got = await sim.fetch_all("locations")
    finally:
        await cpo.server.down()
    assert [item["id"] for item in got] == ["LOC-1", "LOC-2"]
    assert sim.violations, "the other version's Location must be a violation"
    assert all("Location[0]" in v.message for v in sim.violations), sim.violations
    assert all(v.path.endswith(f"/{version}/locations") for v in sim.violations)
    gets = [headers for method, path, headers in cpo.requests if path.endswith("/locations")]
    assert len(gets) == 2
    assert all(("ocpi-to-party-id" in h) == (version != "2.1.1") for h in gets)
