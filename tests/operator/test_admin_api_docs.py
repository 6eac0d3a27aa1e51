"""The admin API describes itself: an OpenAPI document that declares every route, path and query
parameter, with schemas that real answers fit; and Swagger UI, served by the platform from its
own files, readable without a token."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from jsonschema import Draft202012Validator
from starlette.routing import Mount, Route

from simulators.emsp import EmspSimulator, Received, make_token
from tests.helpers.ocpi import location, push
from tests.helpers.platform import Platform, online

# The document and the page that shows it are not API endpoints.
UNDOCUMENTED = {"/openapi.json", "/docs", "/docs/start.js", "/docs/{name}"}
CONVERTER = re.compile(r"\{(\w+):\w+\}")
TARIFF = {
    "id": "DOC-T",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.3, "vat": 21.0, "step_size": 1}]}
    ],
}


def admin_routes(platform: Platform) -> list[Route]:
    assert platform.server is not None
    app = platform.server.config.loaded_app
    while not hasattr(app, "routes"):
        app = app.app  # through uvicorn's proxy-headers wrapper
    (mount,) = [r for r in app.routes if isinstance(r, Mount) and r.path == "/admin/api"]
    return [r for r in mount.routes if isinstance(r, Route)]


class Answers:
    """Calls the admin API and checks each answer against the schema the document declares
    for its path, method and status."""

    def __init__(self, platform: Platform, document: dict[str, Any]) -> None:
        self.platform = platform
        self.document = document
        self.checked: set[tuple[str, str]] = set()

    async def __call__(
        self, method: str, template: str, status: int, *, token: str | None = None, **kw: Any
    ) -> Any:
        path = template.format(**kw.pop("ids", {}))
        async with self.platform.admin(**({"token": token} if token else {})) as admin:
            answer = await admin.request(method, path, **kw)
        assert answer.status_code == status, (method, path, answer.text)
        declared = self.document["paths"][template][method.lower()]["responses"]
        spec = declared.get(str(status)) or declared["4XX"]
        self.checked.add((method.lower(), template))
        if status == 204:
            assert "content" not in spec and answer.content == b""
            return None
        media = answer.headers["content-type"].split(";")[0]
        schema = spec["content"][media]["schema"] | {"components": self.document["components"]}
        body = answer.json()
        problems = [e.message for e in Draft202012Validator(schema).iter_errors(body)]
        assert problems == [], (method, path, problems[:5], body)
        return body


def cdr_posted(r: Received) -> bool:
    return r.module == "cdrs" and r.method == "POST" and r.status < 300


async def test_the_document_declares_every_route_and_real_answers_fit_it(
    platform: Platform,
) -> None:
    async with httpx.AsyncClient(base_url=platform.url) as http:
        response = await http.get("/admin/api/openapi.json")  # no token needed
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)

    routes = admin_routes(platform)
    assert {r.path for r in routes} >= UNDOCUMENTED
    routed = {
        (method.lower(), CONVERTER.sub(r"{\1}", r.path))
        for r in routes
        if r.path not in UNDOCUMENTED
        for method in r.methods or ()
        if method != "HEAD"
    }
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert routed == documented
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            in_path = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert in_path == set(re.findall(r"\{(\w+)\}", path)), (method, path)
            assert all(p["schema"] for p in operation["parameters"]), (method, path)
            success = [s for s in operation["responses"] if s.startswith("2")]
            assert len(success) == 1 and "4XX" in operation["responses"], (method, path)
    query = {p["name"] for p in document["paths"]["/cdrs"]["get"]["parameters"]}
    assert query == {"from", "to", "party", "location", "offset", "limit", "format"}
    assert "text/csv" in document["paths"]["/cdrs"]["get"]["responses"]["200"]["content"]

    # A small world (a charger, an eMSP, a charge with its CDR), and answers of every kind.
    check = Answers(platform, document)
    async with EmspSimulator(party_id="EMS") as emsp:
        party = await check(
            "POST",
            "/parties/registrations",
            201,
            json={"versions_url": emsp.versions_url, "token": emsp.invite()},
        )
        assert await push(emsp, make_token("DOC-DRIVER", whitelist="ALLOWED")) == 201
        await check("POST", "/tariffs", 200, json=TARIFF)
        site = location("DOC-L", [("DOC-L-1", "CP-DOC", 1)], tariff_ids=["DOC-T"])
        await check("POST", "/locations", 200, json=[site])
        ids = {"location_id": "DOC-L", "party_id": party["id"], "station_id": "CP-DOC"}
        await check("PUT", "/locations/{location_id}", 200, json=site, ids=ids)
        sim = await online(platform, "CP-DOC", "1.6")
        await sim.run_session(1, "DOC-DRIVER", meter_updates=1, seconds_per_update=600)
        ids["session_id"] = (await emsp.wait_for(cdr_posted)).body["session_id"]
        ids["transaction_id"] = (await check("GET", "/transactions", 200))[0]["id"]
        for template in (
            "/stations",
            "/stations/{station_id}",
            "/stations/{station_id}/messages",
            "/stations/{station_id}/transactions",
            "/stations/{station_id}/device-model",
            "/stations/{station_id}/charging-profiles",
            "/stations/{station_id}/uploads",
            "/stations/{station_id}/certificates",
            "/certificates",
            "/certificates/authority",
            "/transactions/{transaction_id}",
            "/events",
            "/tokens",
            "/locations",
            "/locations/{location_id}",
            "/unassigned",
            "/tariffs",
            "/sessions",
            "/sessions/{session_id}",
            "/cdrs",
            "/cdrs/summary",
            "/commands",
            "/parties",
            "/parties/{party_id}",
            "/parties/{party_id}/push",
            "/parties/{party_id}/requests",
        ):
            await check("GET", template, 200, ids=ids)
        # A file is bytes, not JSON (tests/ocpp/test_diagnostics.py); none yet is a problem.
        await check("GET", "/uploads/{upload_id}", 404, ids={"upload_id": 999})
        await check("POST", "/sessions/{session_id}/correct", 201, ids=ids)
        await check("POST", "/locations/{location_id}/unpublish", 200, ids=ids)
        await check("POST", "/locations/{location_id}/publish", 200, ids=ids)
        limit = {"limit_w": 22000}
        await check("PUT", "/locations/{location_id}/power-limit", 200, json=limit, ids=ids)
        await check("GET", "/locations/{location_id}/power-limit", 200, ids=ids)
        await check("DELETE", "/locations/{location_id}/power-limit", 204, ids=ids)
        spare = {"station_id": "CP-SPARE"}
        await check("POST", "/stations", 201, json={"id": "CP-SPARE"})
        await check(
            "PATCH", "/stations/{station_id}", 200, json={"energy_unit_override": "Wh"}, ids=spare
        )
        await check("DELETE", "/stations/{station_id}", 204, ids=spare)
        await check("POST", "/tokens", 201, json={"uid": "DOC-STAFF"})
        await check(
            "DELETE", "/tokens/{uid}", 204, params={"type": "RFID"}, ids={"uid": "DOC-STAFF"}
        )
        command = "/stations/{station_id}/commands/{name}"
        trigger = {"message": "Heartbeat"}
        await check("POST", command, 200, json=trigger, ids=ids | {"name": "trigger_message"})
        stop = {"transaction_id": 424242}  # no such transaction: the charger is not asked
        await check("POST", command, 422, json=stop, ids=ids | {"name": "remote_stop"})
        await check("POST", "/stations/{station_id}/local-list", 200, ids=ids)
        key = {"key": "HeartbeatInterval"}
        provision = {"value": "60"}
        await check("PUT", "/provisioning/{key}", 200, json=provision, ids=key)
        await check("GET", "/provisioning", 200)
        await check("DELETE", "/provisioning/{key}", 204, ids=key)
        own = "/stations/{station_id}/provisioning/{key}"
        await check("PUT", own, 200, json=provision, ids=ids | key)
        await check("GET", "/stations/{station_id}/provisioning", 200, ids=ids)
        await check("DELETE", own, 204, ids=ids | key)
        image = {"location": "https://firmware.example/cp-1.2.bin", "stations": ["CP-DOC"]}
        campaign = await check("POST", "/firmware/campaigns", 201, json=image)
        await check("GET", "/firmware/campaigns", 200)
        await check(
            "GET", "/firmware/campaigns/{campaign_id}", 200, ids={"campaign_id": campaign["id"]}
        )
        await check(
            "POST",
            "/firmware/campaigns/{campaign_id}/cancel",
            200,
            ids={"campaign_id": campaign["id"]},
        )
        await sim.close()
        pull = {"full": "true"}
        await check("POST", "/parties/{party_id}/tokens/pull", 200, params=pull, ids=ids)
        await check("POST", "/parties/{party_id}/clients/pull", 409, ids=ids)  # no hub
        for action in ("resync", "retry", "suspend", "resume"):
            await check("POST", f"/parties/{{party_id}}/{action}", 200, ids=ids)
        origins = {"allowed_origins": []}
        await check("PUT", "/parties/{party_id}/origins", 200, json=origins, ids=ids)
        await check("POST", "/parties/{party_id}/move/reject", 409, ids=ids)  # none asked
        await check("POST", "/parties/invitations", 201, json={"name": "doc"})
        await check("DELETE", "/tariffs/{tariff_id}", 204, ids={"tariff_id": "DOC-T"})
        await check("DELETE", "/parties/{party_id}", 200, ids=ids)
    # Problems: a wrong token, an unknown thing, a bad query, a bad body.
    await check("GET", "/stations", 401, token="wrong")
    await check("GET", "/stations/{station_id}", 404, ids={"station_id": "NOPE"})
    await check("GET", "/cdrs", 400, params={"from": "never"})
    await check("POST", "/tokens", 422, json={"uid": ""})
    # Every operation answered but two that need a peer to move or to take new credentials.
    assert documented - check.checked == {
        ("post", "/parties/{party_id}/rotate"),
        ("post", "/parties/{party_id}/move/approve"),
    }


class Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("src", "href") and value]


async def test_swagger_ui_is_served_by_the_platform_and_needs_no_token(platform: Platform) -> None:
    async with httpx.AsyncClient(base_url=platform.url) as http:
        page = await http.get("/admin/api/docs")  # static: no token
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        # The browser may load nothing from anywhere else.
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        parser = Sources()
        parser.feed(page.text)
        assert len(parser.found) >= 4
        for source in parser.found:
            url = urljoin(str(page.url), source)
            assert urlsplit(url).netloc == urlsplit(platform.url).netloc, source
            asset = await http.get(url)
            assert asset.status_code == 200, source
            if source.endswith(".js"):
                assert asset.headers["content-type"].startswith("text/javascript")
        start = (await http.get("/admin/api/docs/start.js")).text
        assert "validatorUrl: null" in start  # no badge from the validator's server
        assert "http://" not in page.text + start and "https://" not in page.text + start
        assert 'data-openapi="/admin/api/openapi.json"' in page.text
        assert (await http.get("/admin/api/docs/index.html")).status_code == 404
        # The page is free; the API behind it is not (Swagger UI's Authorize button).
        assert (await http.get("/admin/api/stations")).status_code == 401
