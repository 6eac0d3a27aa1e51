"""The hub simulator over real HTTP on loopback, with the test (and a tiny in-test CPO) as the CPO
connected to it: routing headers per scenario, 4001/4003, broadcasts, Open Routing, results
routed back to the client that asked, ClientInfo, in OCPI 2.2.1 and 2.3.0."""

from __future__ import annotations

import asyncio
import base64
import sys
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

from simulators.emsp import EmspSimulator, HubSimulator, make_token
from simulators.emsp.server import LoopbackServer
from simulators.emsp.validation import problems
from simulators.emsp.wire import envelope
from tests.helpers.processes import emsp_simulator_process
from tests.simulators import test_emsp_simulator as objects

BIN = Path(sys.executable).parent
TS = "2025-03-01T10:00:00Z"
LATER = "2025-03-01T11:00:00Z"
CPO = ("NL", "CPO")
HUB = ("DE", "HUB")
AAA, BBB, CCC = ("DE", "AAA"), ("DE", "BBB"), ("FR", "CCC")
CPO_ROLE = {
    "role": "CPO",
    "country_code": "NL",
    "party_id": "CPO",
    "business_details": {"name": "Test CPO"},
}
# The CPO's interfaces a hub may call: what a CPO offers a hub.
CPO_MODULES = [
    ("credentials", "SENDER"),
    ("locations", "SENDER"),
    ("tokens", "RECEIVER"),
    ("commands", "RECEIVER"),
    ("chargingprofiles", "RECEIVER"),
    ("hubclientinfo", "RECEIVER"),
]


def auth(token: str) -> dict[str, str]:
    """The token and request ids: what every request carries, routing headers or not."""
    encoded = base64.b64encode(token.encode()).decode()
    return {"Authorization": f"Token {encoded}", "X-Request-ID": "r", "X-Correlation-ID": "c"}


def routing(sender: tuple[str, str] | None, receiver: tuple[str, str] | None) -> dict[str, str]:
    headers = {}
    if sender is not None:
        headers |= {"OCPI-from-country-code": sender[0], "OCPI-from-party-id": sender[1]}
    if receiver is not None:
        headers |= {"OCPI-to-country-code": receiver[0], "OCPI-to-party-id": receiver[1]}
    return headers


def cpo_headers(token: str, to: tuple[str, str] | None = HUB, **more: str) -> dict[str, str]:
    """What the CPO sends the hub: its token, request ids, FROM = the CPO, TO = `to`."""
    return auth(token) | routing(CPO, to) | more


def party(headers: Any, side: str) -> tuple[str, str] | None:
    country = headers.get(f"ocpi-{side}-country-code")
    party_id = headers.get(f"ocpi-{side}-party-id")
    return (country, party_id) if country or party_id else None


def tokens(version: str) -> list[dict[str, Any]]:
    return [
        make_token(f"{cc}{pid}-CARD", country_code=cc, party_id=pid, version=version)
        for cc, pid in (AAA, BBB, CCC)
    ]


def cdr_token(owner: tuple[str, str]) -> dict[str, Any]:
    cc, pid = owner
    uid = f"{cc}{pid}-CARD"
    return {
        "country_code": cc,
        "party_id": pid,
        "uid": uid,
        "type": "RFID",
        "contract_id": f"{cc}-{pid}-C{uid}",
    }


def session(owner: tuple[str, str], id: str = "SES-1") -> dict[str, Any]:
    return objects.session(id, cdr_token=cdr_token(owner))


def cdr(owner: tuple[str, str], version: str, id: str = "CDR-1") -> dict[str, Any]:
    body = objects.cdr(id) | {"cdr_token": cdr_token(owner)}
    if version == "2.3.0":
        body["total_cost"] = {"before_taxes": 2.25, "taxes": []}
    return body


def location(id: str = "LOC-1") -> dict[str, Any]:
    return objects.location(id, evses=[])


class FakeCpo:
    """The test's CPO on loopback, as a hub sees it: it records every request with its headers,
    answers addressed back to the requester, and posts command and charging profile results to
    their response_url routed to the party that asked (or to `results_to`)."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.accepted = {"cpo-token-a"}
        self.hub_token: str | None = None  # the token we call the hub with
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.results_to: tuple[str, str] | None = None
        self.client_infos: dict[str, Any] = {}
        self.posted_results: list[httpx.Response] = []
        self.result_posted = asyncio.Event()
        base = f"/ocpi/cpo/{version}"
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self.server = LoopbackServer(
            Starlette(
                routes=[
                    Route("/ocpi/cpo/versions", self._versions),
                    Route(base, self._details),
                    Route(f"{base}/credentials", self._credentials, methods=methods),
                    Route(f"{base}/locations", self._locations),
                    Route(f"{base}/tokens/{{rest:path}}", self._tokens, methods=methods),
                    Route(f"{base}/commands/{{command}}", self._command, methods=["POST"]),
                    Route(
                        f"{base}/chargingprofiles/{{session_id}}", self._profile, methods=methods
                    ),
                    Route(
                        f"{base}/hubclientinfo/{{cc}}/{{pid}}", self._client_info, methods=methods
                    ),
                ]
            )
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def versions_url(self) -> str:
        return f"{self.url}/ocpi/cpo/versions"

    def seen(self, path_part: str) -> list[tuple[str, str, dict[str, str], Any]]:
        return [r for r in self.requests if path_part in r[1]]

    async def _take(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = base64.b64decode(header.removeprefix("Token ")).decode() if header else ""
        raw = await request.body()
        body = httpx.Response(200, content=raw).json() if raw else None
        self.requests.append((request.method, request.url.path, dict(request.headers), body))
        return token in self.accepted

    def _reply(
        self,
        request: Request,
        data: Any = None,
        *,
        functional: bool = True,
        headers: dict[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> Response:
        out = {
            "X-Request-ID": request.headers.get("x-request-id", "x"),
            "X-Correlation-ID": request.headers.get("x-correlation-id", "x"),
        } | (headers or {})
        if functional:  # answered from the CPO to whoever asked
            out |= routing(CPO, party(request.headers, "from"))
        return JSONResponse(envelope(1000, data), headers=out, background=background)

    async def _versions(self, request: Request) -> Response:
        if not await self._take(request):
            return JSONResponse(envelope(2000), 401)
        data = [{"version": self.version, "url": f"{self.url}/ocpi/cpo/{self.version}"}]
        return self._reply(request, data, functional=False)

    async def _details(self, request: Request) -> Response:
        if not await self._take(request):
            return JSONResponse(envelope(2000), 401)
        endpoints = [
            {"identifier": m, "role": r, "url": f"{self.url}/ocpi/cpo/{self.version}/{m}"}
            for m, r in CPO_MODULES
        ]
        data = {"version": self.version, "endpoints": endpoints}
        return self._reply(request, data, functional=False)

    async def _credentials(self, request: Request) -> Response:
        if not await self._take(request):
            return JSONResponse(envelope(2000), 401)
        body = self.requests[-1][3]
        # As the spec asks, call the hub back with its token B before answering.
        async with httpx.AsyncClient(headers=auth(body["token"])) as http:
            versions = (await http.get(body["url"])).json()["data"]
            await http.get(versions[0]["url"])
        self.hub_token = body["token"]
        self.accepted = {"cpo-token-c"}
        ours = {"url": self.versions_url, "roles": [CPO_ROLE], "token": "cpo-token-c"}
        return self._reply(request, ours, functional=False)

    async def _locations(self, request: Request) -> Response:
        if not await self._take(request):
            return JSONResponse(envelope(2000), 401)
        headers = {"X-Total-Count": "1", "X-Limit": "10"}
        return self._reply(request, [location()], headers=headers)

    async def _tokens(self, request: Request) -> Response:
        if not await self._take(request):
            return JSONResponse(envelope(2000), 401)
        return self._reply(request)

    async def _client_info(self, request: Request) -> Response:
        if not await self._take(request):
            return JSONResponse(envelope(2000), 401)
        key = f"{request.path_params['cc']}/{request.path_params['pid']}"
        if request.method == "PUT":
            self.client_infos[key] = self.requests[-1][3]
            return self._reply(request, functional=False)
        stored = self.client_infos.get(key, {"status": "ONLINE?"})  # not a ConnectionStatus
        return self._reply(request, stored, functional=False)

    def _post_result(self, request: Request, url: str, result: dict[str, Any]) -> BackgroundTask:
        asker = party(request.headers, "from")

        async def post() -> None:
            assert self.hub_token is not None
            headers = auth(self.hub_token) | routing(CPO, self.results_to or asker)
            async with httpx.AsyncClient() as http:
                self.posted_results.append(await http.post(url, json=result, headers=headers))
            self.result_posted.set()

        return BackgroundTask(post)

    async def _command(self, request: Request) -> Response:
        if not await self._take(request):
            return JSONResponse(envelope(2000), 401)
        url = self.requests[-1][3]["response_url"]
        answer = {"result": "ACCEPTED", "timeout": 30}
        task = self._post_result(request, url, {"result": "ACCEPTED"})
        return self._reply(request, answer, background=task)

    async def _profile(self, request: Request) -> Response:
        if not await self._take(request):
            return JSONResponse(envelope(2000), 401)
        body = self.requests[-1][3] or {}
        url = body.get("response_url") or request.query_params["response_url"]
        answer = {"result": "ACCEPTED", "timeout": 30}
        task = self._post_result(request, url, {"result": "ACCEPTED"})
        return self._reply(request, answer, background=task)


@pytest.fixture(params=["2.2.1", "2.3.0"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def hub(version: str) -> AsyncIterator[HubSimulator]:
    async with HubSimulator(version=version, tokens=tokens(version), page_limit=2) as simulator:
        yield simulator


@pytest.fixture
async def cpo(version: str) -> AsyncIterator[FakeCpo]:
    fake = FakeCpo(version)
    await fake.server.up()
    try:
        yield fake
    finally:
        await fake.server.down()


@pytest.fixture
async def token_c(hub: HubSimulator, cpo: FakeCpo) -> str:
    """The CPO-initiated handshake, with the test as the CPO; returns the token it calls with."""
    token_a = hub.invite()
    cpo.accepted.add("cpo-token-b")
    body = {"token": "cpo-token-b", "url": cpo.versions_url, "roles": [CPO_ROLE]}
    async with httpx.AsyncClient(headers=auth(token_a)) as http:
        answer = await http.post(hub.module_url("credentials"), json=body)
    assert answer.json()["status_code"] == 1000, answer.text
    cpo.hub_token = str(answer.json()["data"]["token"])
    cpo.accepted = {"cpo-token-b"}
    return cpo.hub_token


def ocpi(hub: HubSimulator, token: str, to: tuple[str, str] | None = HUB) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=hub.module_url(""), headers=cpo_headers(token, to))


# ------------------------------------------------------------------ what the hub offers


async def test_hub_credentials_name_only_the_hub_in_2_2_1_and_every_client_in_2_3_0(
    hub: HubSimulator, token_c: str, version: str
) -> None:
    async with httpx.AsyncClient(headers=auth(token_c)) as http:
        credentials = (await http.get(hub.module_url("credentials"))).json()["data"]
        details = (await http.get(hub.details_url)).json()["data"]
    assert problems(hub.models.Credentials, credentials) == []
    roles = {(r["role"], r["country_code"], r["party_id"]) for r in credentials["roles"]}
    if version == "2.2.1":
        assert roles == {("HUB", "DE", "HUB")}
        assert "hub_party_id" not in credentials
    else:
        assert roles == {("EMSP", *AAA), ("EMSP", *BBB), ("EMSP", *CCC)}
        assert credentials["hub_party_id"] == "DEHUB"
    endpoints = {(e["identifier"], e["role"]) for e in details["endpoints"]}
    assert {
        ("credentials", "SENDER"),
        ("tokens", "SENDER"),
        ("locations", "RECEIVER"),
        ("tariffs", "RECEIVER"),
        ("sessions", "RECEIVER"),
        ("cdrs", "RECEIVER"),
        ("commands", "SENDER"),
        ("chargingprofiles", "SENDER"),
        ("hubclientinfo", "SENDER"),
    } == endpoints
    assert hub.registered and hub.violations == []


async def test_hub_registers_with_a_cpo_and_sends_its_credentials_without_routing_headers(
    hub: HubSimulator, cpo: FakeCpo, version: str
) -> None:
    answer = await hub.register(cpo.versions_url, "cpo-token-a")
    assert answer["token"] == "cpo-token-c"
    method, _, headers, sent = cpo.seen("/credentials")[0]
    assert method == "POST"
    assert not any(name.startswith("ocpi-") for name in headers)
    assert (sent.get("hub_party_id") == "DEHUB") == (version == "2.3.0")
    assert hub.registered and hub.violations == []


def test_a_hub_refuses_tokens_of_parties_it_does_not_serve_and_ocpi_2_1_1() -> None:
    stranger = make_token("X1", country_code="NL", party_id="EMS")
    with pytest.raises(ValueError, match="not a client"):
        HubSimulator(tokens=[stranger])
    with pytest.raises(ValueError, match="no hubs"):
        HubSimulator(version="2.1.1")


# ------------------------------------------------------------------ Broadcast Push


async def test_a_location_pushed_to_the_hub_counts_once_and_one_sent_to_a_client_is_a_violation(
    hub: HubSimulator, token_c: str
) -> None:
    async with ocpi(hub, token_c) as http:
        put = await http.put("locations/NL/CPO/LOC-1", json=location())
    assert put.json()["status_code"] == 1000, put.text
    assert (party(put.headers, "from"), party(put.headers, "to")) == (HUB, CPO)
    assert hub.broadcasts[("locations", "LOC-1")] == 1
    assert ("NL", "CPO", "LOC-1") in hub.locations
    assert hub.violations == []

    patch = {"name": "Station", "last_updated": LATER}
    async with ocpi(hub, token_c, to=AAA) as http:
        await http.patch("locations/NL/CPO/LOC-1", json=patch)
    assert hub.broadcasts[("locations", "LOC-1")] == 2
    assert [v.client for v in hub.violations] == [AAA]
    assert "Broadcast Push" in hub.violations[0].message


# ------------------------------------------------------------------ routed Sessions and CDRs


async def test_sessions_and_cdrs_reach_only_the_owner_of_their_token(
    hub: HubSimulator, token_c: str, version: str
) -> None:
    async with ocpi(hub, token_c, to=AAA) as http:
        put = await http.put("sessions/NL/CPO/SES-1", json=session(AAA))
    async with ocpi(hub, token_c, to=BBB) as http:
        post = await http.post("cdrs", json=cdr(BBB, version))
    assert [put.json()["status_code"], post.json()["status_code"]] == [1000, 1000], post.text
    assert (party(put.headers, "from"), party(put.headers, "to")) == (AAA, CPO)
    assert party(post.headers, "from") == BBB
    assert [s["id"] for s in hub.sessions_of(AAA)] == ["SES-1"]
    assert hub.sessions_of(BBB) == [] and hub.cdrs_of(AAA) == []
    assert [c["id"] for c in hub.cdrs_of(BBB)] == ["CDR-1"]
    assert [r.module for r in hub.routed[AAA]] == ["sessions"]
    assert hub.routed[CCC] == [] and hub.violations == []


async def test_a_session_sent_to_another_client_to_the_hub_or_to_nobody_is_a_violation(
    hub: HubSimulator, token_c: str
) -> None:
    async with ocpi(hub, token_c, to=AAA) as http:
        await http.put("sessions/NL/CPO/SES-C", json=session(CCC, "SES-C"))
    assert [v.client for v in hub.violations_of(AAA)] == [AAA]
    assert "belongs to FR/CCC" in hub.violations_of(AAA)[0].message
    # It did reach the wrong client: exactly what a test of the CPO must be able to see.
    assert [s["id"] for s in hub.sessions_of(AAA)] == ["SES-C"]

    async with ocpi(hub, token_c, to=HUB) as http:
        await http.put("sessions/NL/CPO/SES-B", json=session(BBB, "SES-B"))
    async with ocpi(hub, token_c, to=None) as http:
        await http.put("sessions/NL/CPO/SES-B2", json=session(BBB, "SES-B2"))
    messages = [v.message for v in hub.violations_of(BBB)]
    assert len(messages) == 2
    assert "not addressed to the hub" in messages[0] and "OCPI-to-* missing" in messages[1]
    # Sent to the hub it reaches nobody; sent to nobody the hub still finds the owner.
    assert [s["id"] for s in hub.sessions_of(BBB)] == ["SES-B2"]


async def test_unknown_receiver_is_answered_4001_and_a_client_not_connected_4003(
    hub: HubSimulator, token_c: str, cpo: FakeCpo
) -> None:
    async with ocpi(hub, token_c, to=("XX", "ZZZ")) as http:
        unknown = await http.put("sessions/NL/CPO/SES-1", json=session(AAA))
    assert unknown.json()["status_code"] == 4001
    assert (party(unknown.headers, "from"), party(unknown.headers, "to")) == (HUB, CPO)
    assert "neither this hub nor one of its clients" in hub.violations[-1].message

    hub.client_status[BBB] = "OFFLINE"  # the CPO has not been told yet: no fault of its own
    async with ocpi(hub, token_c, to=BBB) as http:
        untold = await http.put("sessions/NL/CPO/SES-2", json=session(BBB, "SES-2"))
    assert untold.json()["status_code"] == 4003
    assert party(untold.headers, "from") == HUB
    assert hub.violations_of(BBB) == [] and hub.sessions_of(BBB) == []

    status, answer = await hub.push_client_info(BBB, "OFFLINE")
    assert (status, answer["status_code"]) == (200, 1000)
    async with ocpi(hub, token_c, to=BBB) as http:
        told = await http.put("sessions/NL/CPO/SES-2", json=session(BBB, "SES-2"))
    assert told.json()["status_code"] == 4003
    assert "was told is OFFLINE" in hub.violations_of(BBB)[0].message
    assert hub.routed[BBB] == []


# ------------------------------------------------------------------ real-time authorization


async def test_authorization_without_a_receiver_is_open_routed_to_the_tokens_owner(
    hub: HubSimulator, token_c: str
) -> None:
    async with ocpi(hub, token_c, to=None) as http:
        answer = await http.post("tokens/DEBBB-CARD/authorize", params={"type": "RFID"})
    assert answer.json()["status_code"] == 1000, answer.text
    assert answer.json()["data"]["allowed"] == "ALLOWED"
    assert (party(answer.headers, "from"), party(answer.headers, "to")) == (BBB, CPO)
    assert hub.authorizations[-1]["client"] == BBB
    assert hub.authorizations[-1]["open_routing"] is True

    async with ocpi(hub, token_c, to=CCC) as http:
        routed = await http.post("tokens/FRCCC-CARD/authorize")
        wrong = await http.post("tokens/DEAAA-CARD/authorize")
    assert routed.json()["status_code"] == 1000
    assert hub.authorizations[-1] | {"info": None} == {
        "uid": "FRCCC-CARD",
        "client": CCC,
        "open_routing": False,
        "allowed": "ALLOWED",
        "info": None,
    }
    # CCC does not know AAA's token: it answers as any eMSP does for a token not its own.
    assert wrong.json()["status_code"] == 2004
    assert "belongs to DE/AAA" in hub.violations_of(CCC)[0].message
    assert hub.violations_of(AAA) == [] and hub.violations_of(BBB) == []


async def test_token_list_via_the_hub_holds_every_clients_tokens_and_routed_only_its_own(
    hub: HubSimulator, token_c: str
) -> None:
    async with ocpi(hub, token_c) as http:
        first = await http.get("tokens")
        second = await http.get(first.headers["link"].split(";")[0].strip("<>"))
    async with ocpi(hub, token_c, to=AAA) as http:
        own = await http.get("tokens")
    everyone = first.json()["data"] + second.json()["data"]
    assert first.headers["x-total-count"] == "3"
    assert {t["party_id"] for t in everyone} == {"AAA", "BBB", "CCC"}
    assert [t["uid"] for t in own.json()["data"]] == ["DEAAA-CARD"]
    assert hub.violations == []


# ------------------------------------------------------------------ calling the CPO as a client


async def test_a_clients_command_result_must_come_back_routed_to_that_client(
    hub: HubSimulator, token_c: str, cpo: FakeCpo
) -> None:
    client = hub.as_client(AAA)
    start = {"token": hub.tokens[0], "location_id": "LOC-1"}
    status, answer = await client.send_command("START_SESSION", start)
    assert (status, answer["data"]["result"]) == (200, "ACCEPTED")
    _, _, headers, body = cpo.seen("/commands/START_SESSION")[-1]
    assert (party(headers, "from"), party(headers, "to")) == (AAA, CPO)
    await asyncio.wait_for(cpo.result_posted.wait(), 10)
    assert cpo.posted_results[-1].json()["status_code"] == 1000
    command_id = body["response_url"].rsplit("/", 1)[1]
    assert hub.command_results[command_id] == {"result": "ACCEPTED"}
    assert hub.violations == []

    cpo.results_to, cpo.result_posted = BBB, asyncio.Event()
    await client.send_command("START_SESSION", start)
    await asyncio.wait_for(cpo.result_posted.wait(), 10)
    assert "belongs to DE/AAA" in hub.violations_of(BBB)[0].message


async def test_a_client_sets_a_charging_profile_and_the_result_comes_back_to_it(
    hub: HubSimulator, token_c: str, cpo: FakeCpo
) -> None:
    profile = {
        "charging_rate_unit": "A",
        "charging_profile_period": [{"start_period": 0, "limit": 16}],
    }
    status, answer = await hub.as_client(BBB).set_charging_profile("SES-1", profile)
    assert (status, answer["data"]["result"]) == (200, "ACCEPTED")
    method, path, headers, body = cpo.seen("/chargingprofiles/")[-1]
    assert (method, path.rsplit("/", 1)[1]) == ("PUT", "SES-1")
    assert (party(headers, "from"), party(headers, "to")) == (BBB, CPO)
    assert body["charging_profile"] == profile
    await asyncio.wait_for(cpo.result_posted.wait(), 10)
    assert list(hub.profile_results.values()) == [{"result": "ACCEPTED"}]
    assert [r.module for r in hub.routed[BBB]] == ["chargingprofiles"]
    assert hub.violations == []


async def test_as_client_carries_the_clients_headers_and_overrides_can_break_them(
    hub: HubSimulator, token_c: str, cpo: FakeCpo
) -> None:
    client = hub.as_client(CCC)
    locations = await client.fetch_all("locations")
    await client.push_token(hub.tokens_of(CCC)[0])
    await hub.push_token(hub.tokens_of(AAA)[0])
    broken = {"OCPI-to-party-id": None, "OCPI-from-party-id": "ZZZ"}
    await client.request("GET", "locations", headers=broken)
    assert [loc["id"] for loc in locations] == ["LOC-1"]
    (_, _, fetched, _), (_, _, broken_sent, _) = cpo.seen("/locations")
    assert (party(fetched, "from"), party(fetched, "to")) == (CCC, CPO)
    pushed = cpo.seen("/tokens/")
    assert [path.split("/tokens/")[1] for _, path, _, _ in pushed] == [
        "FR/CCC/FRCCC-CARD",
        "DE/AAA/DEAAA-CARD",
    ]
    assert [party(headers, "from") for _, _, headers, _ in pushed] == [CCC, HUB]
    assert party(broken_sent, "from") == ("FR", "ZZZ")
    assert "ocpi-to-party-id" not in broken_sent
    # The CPO answered each one to its sender: the broken one to FR/ZZZ, not to the client.
    assert [v.message for v in hub.violations] == [
        "response OCPI-to-* should name ('FR', 'CCC'), got ('FR', 'ZZZ')"
    ]


# ------------------------------------------------------------------ HubClientInfo


async def test_client_info_is_pushed_without_routing_headers_and_listed_in_pages(
    hub: HubSimulator, token_c: str, cpo: FakeCpo
) -> None:
    status, answer = await hub.push_client_info(CCC, "SUSPENDED")
    assert (status, answer["status_code"]) == (200, 1000)
    method, path, headers, body = cpo.seen("/hubclientinfo/")[-1]
    assert (method, path.split("/hubclientinfo/")[1]) == ("PUT", "FR/CCC")
    assert not any(name.startswith("ocpi-") for name in headers)
    assert problems(hub.models.ClientInfo, body) == []
    assert (body["status"], body["role"]) == ("SUSPENDED", "EMSP")
    assert hub.client_status[CCC] == "SUSPENDED"
    status, answer = await hub.get_client_info(CCC)
    assert (status, answer["data"]["status"]) == (200, "SUSPENDED")
    assert hub.violations == []
    await hub.get_client_info(AAA)  # the CPO holds nothing valid for it
    invalid = [v.message for v in hub.violations]
    assert any(m.startswith("ClientInfo.status: Input should be 'CONNECTED'") for m in invalid)
    assert all(m.startswith("ClientInfo.") for m in invalid)

    async with httpx.AsyncClient(headers=auth(token_c)) as http:
        first = await http.get(hub.module_url("hubclientinfo"), params={"limit": 2})
        second = await http.get(first.headers["link"].split(";")[0].strip("<>"))
        await http.get(hub.module_url("hubclientinfo"), headers=routing(CPO, HUB))
    assert first.headers["x-total-count"] == "3" and len(first.json()["data"]) == 2
    listed = {(c["country_code"], c["party_id"]): c["status"] for c in first.json()["data"]}
    listed |= {(c["country_code"], c["party_id"]): c["status"] for c in second.json()["data"]}
    assert listed == {AAA: "CONNECTED", BBB: "CONNECTED", CCC: "SUSPENDED"}
    assert not any(name.startswith("ocpi-") for name in first.headers)
    assert [v.message for v in hub.violations[len(invalid) :]] == [
        "routing headers must not be sent to hubclientinfo"
    ]
    async with httpx.AsyncClient() as http:
        state = (await http.get(f"{hub.url}/_sim/state")).json()
    assert [c["status"] for c in state["hub"]["clients"]] == ["CONNECTED", "CONNECTED", "SUSPENDED"]


# ------------------------------------------------------------------ the command line


async def test_cli_serves_a_hub_with_the_clients_given() -> None:
    args = ("--hub", "--client", "DE/AAA", "--client", "FR/CCC", "--party-id", "HUB")
    async with emsp_simulator_process(*args) as (process, started):
        token = started["token_a"]
        async with httpx.AsyncClient(headers=auth(token)) as http:
            versions = (await http.get(started["versions_url"])).json()["data"]
            details = (await http.get(versions[0]["url"])).json()["data"]
    modules = {e["identifier"] for e in details["endpoints"]}
    assert "hubclientinfo" in modules
    assert started["clients"] == ["DE/AAA", "FR/CCC"]
    assert {t.split("-")[0] for t in started["tokens"]} == {"DE", "FR"}
    assert process.returncode == 0


async def test_a_plain_emsp_publishes_no_client_list() -> None:
    async with EmspSimulator() as sim:
        token = sim.invite()
        async with httpx.AsyncClient(headers=auth(token)) as http:
            details = (await http.get(sim.details_url)).json()["data"]
    modules = {e["identifier"] for e in details["endpoints"]}
    assert "hubclientinfo" not in modules
    assert "chargingprofiles" in modules  # an eMSP's Sender side, as any 2.2.1 eMSP may offer
