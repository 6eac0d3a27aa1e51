"""OcpiClient: the eMSP's calls to a CPO, with every answer checked and its faults recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from simulators.emsp.models import Envelope
from simulators.emsp.specs import CPO_ROLES, Spec
from simulators.emsp.state import Violation
from simulators.emsp.validation import list_problems, problems
from simulators.emsp.wire import (
    FUNCTIONAL,
    OcpiError,
    authorization,
    new_id,
    next_link,
    party_of,
    routing_headers,
    same_party,
)

if TYPE_CHECKING:
    from simulators.emsp.simulator import EmspSimulator

Expect = Callable[[Any], list[str]]
# Header overrides for a request: a value replaces the header we would send, None drops it.
Headers = dict[str, str | None]
MAX_PAGES = 10_000


class OcpiClient:
    """Sends requests as the simulator and judges the responses against its OCPI version."""

    def __init__(self, sim: EmspSimulator, timeout: float) -> None:
        self.sim = sim
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def call(
        self,
        method: str,
        url: str,
        token: str,
        *,
        module: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        to: tuple[str, str] | None = None,
        expect: Expect | None = None,
        sender: tuple[str, str] | None = None,
        headers: Headers | None = None,
    ) -> tuple[httpx.Response, dict[str, Any] | None]:
        """Send one request; return the response and its envelope (None when it is not JSON).

        `sender` is the party in OCPI-from-* (a hub's client; the simulator by default), and
        the answer must be addressed back to it. `headers` override what we would send."""
        me = sender or self.sim.party
        sent = {"Authorization": authorization(token, self.sim.token_encoding)}
        if self.sim.spec.routing:  # 2.2.1 and 2.3.0; 2.1.1 has no ids nor routing headers
            sent |= {"X-Request-ID": new_id(), "X-Correlation-ID": new_id()}
            if module in FUNCTIONAL:
                sent |= routing_headers(me, to)
        for name, value in (headers or {}).items():
            sent = {k: v for k, v in sent.items() if k.lower() != name.lower()}
            if value is not None:
                sent[name] = value
        response = await self.http.request(method, url, headers=sent, json=json, params=params)
        return response, self.check(module, response, sent, to, expect, me)

    def check(
        self,
        module: str,
        response: httpx.Response,
        sent: dict[str, str],
        to: tuple[str, str] | None,
        expect: Expect | None,
        me: tuple[str, str] | None = None,
    ) -> dict[str, Any] | None:
        request = response.request

        def violate(message: str, body: Any = None) -> None:
            self.sim.violate(Violation(module, request.method, request.url.path, message, body))

        for name in ("X-Request-ID", "X-Correlation-ID"):
            if name in sent and response.headers.get(name) != sent[name]:
                violate(f"response does not echo {name}")
        if not self.sim.spec.routing:
            pass  # 2.1.1 defines no routing headers: nothing required, extra ones are fine
        elif module in FUNCTIONAL:
            sender, receiver = party_of(response.headers, "from"), party_of(response.headers, "to")
            if sender is None or (to is not None and not same_party(sender, to)):
                violate(f"response OCPI-from-* should name the CPO {to}, got {sender}")
            if not same_party(receiver, me or self.sim.party):
                violate(f"response OCPI-to-* should name {me or self.sim.party}, got {receiver}")
        elif any(h.lower().startswith(("ocpi-from-", "ocpi-to-")) for h in response.headers):
            violate(f"routing headers must not be sent on {module} responses")
        try:
            body = response.json()
        except ValueError:
            violate(
                f"HTTP {response.status_code}: response body is not JSON: {response.text[:80]!r}"
            )
            return None
        if "application/json" not in response.headers.get("content-type", ""):
            violate("response Content-Type is not application/json")
        for message in problems(Envelope, body, "envelope"):
            violate(message, body)
        if not isinstance(body, dict):
            return None
        if body.get("status_code") == 1000 and expect is not None:
            for message in expect(body.get("data")):
                violate(message, body.get("data"))
        return body

    async def discover(self, versions_url: str, token: str) -> dict[tuple[str, str], str]:
        """GET a peer's versions and the details of our version: its endpoints, or OcpiError
        3001/3002. 2.1.1 endpoints carry no role: each gets the role a CPO offers it with."""
        spec = self.sim.spec
        version = spec.version
        data = await self._get_data(versions_url, token, "versions", _versions(spec))
        offered = {v.get("version"): v.get("url") for v in data if isinstance(v, dict)}
        details_url = offered.get(version)
        if not isinstance(details_url, str):
            raise OcpiError(
                3002, f"{versions_url} offers no {version} (only {sorted(map(str, offered))})"
            )
        details = await self._get_data(details_url, token, "details", _details(spec))
        endpoints = details.get("endpoints") if isinstance(details, dict) else None
        if not isinstance(endpoints, list):
            raise OcpiError(3001, f"{details_url} returned no endpoints")
        if not spec.roles:
            return {
                (e["identifier"], CPO_ROLES.get(e["identifier"], "SENDER")): e["url"]
                for e in endpoints
                if isinstance(e, dict) and {"identifier", "url"} <= e.keys()
            }
        return {
            (e["identifier"], e["role"]): e["url"]
            for e in endpoints
            if isinstance(e, dict) and {"identifier", "role", "url"} <= e.keys()
        }

    async def _get_data(self, url: str, token: str, module: str, expect: Expect) -> Any:
        try:
            response, body = await self.call("GET", url, token, module=module, expect=expect)
        except httpx.HTTPError as exc:
            raise OcpiError(3001, f"cannot GET {url}: {exc!r}") from exc
        if response.status_code != 200 or body is None or body.get("status_code") != 1000:
            status = body.get("status_code") if body else None
            raise OcpiError(3001, f"GET {url} answered HTTP {response.status_code}, OCPI {status}")
        return body.get("data")

    async def fetch_all(
        self,
        url: str,
        token: str,
        module: str,
        params: dict[str, Any],
        to: tuple[str, str] | None,
        *,
        sender: tuple[str, str] | None = None,
        headers: Headers | None = None,
    ) -> list[dict[str, Any]]:
        """Follow the Link headers of a paginated list, checking each page's headers."""
        model = self.sim.models.MODULE_OBJECTS.get(module)
        expect: Expect | None = (lambda data: list_problems(model, data)) if model else None
        items: list[dict[str, Any]] = []
        filters = {k: str(v) for k, v in params.items() if k not in ("offset", "limit")}
        page_url: str | None = url
        page_params: dict[str, Any] | None = params
        for _ in range(MAX_PAGES):
            assert page_url is not None
            response, body = await self.call(
                "GET",
                page_url,
                token,
                module=module,
                params=page_params,
                to=to,
                expect=expect,
                sender=sender,
                headers=headers,
            )
            if response.status_code != 200 or body is None or body.get("status_code") != 1000:
                status = body.get("status_code") if body else None
                raise OcpiError(
                    3001, f"GET {page_url} answered HTTP {response.status_code}, OCPI {status}"
                )
            data = body.get("data")
            page: list[Any] = data if isinstance(data, list) else []
            items += [item for item in page if isinstance(item, dict)]
            link = self._check_page(module, response, len(page), len(items), filters)
            if link is None:
                return items
            page_url, page_params = urljoin(str(response.request.url), link), None
        self.sim.violate(Violation(module, "GET", url, f"more than {MAX_PAGES} pages"))
        return items

    def _check_page(
        self,
        module: str,
        response: httpx.Response,
        count: int,
        seen: int,
        filters: dict[str, str],
    ) -> str | None:
        """Judge one page's X-Total-Count, X-Limit and Link; return the next page's URL."""
        path = response.request.url.path

        def violate(message: str) -> None:
            self.sim.violate(Violation(module, "GET", path, message))

        total = _int_header(response, "X-Total-Count", violate)
        limit = _int_header(response, "X-Limit", violate)
        if limit is not None and count > limit:
            violate(f"page holds {count} objects, more than X-Limit {limit}")
        link = next_link(response.headers.get("link"))
        if response.headers.get("link") and link is None:
            violate(f'Link header is not <url>; rel="next": {response.headers["link"]!r}')
        if link is None:
            if total is not None and seen < total:
                violate(f"no Link to a next page, yet only {seen} of X-Total-Count {total} seen")
            return None
        if not urlsplit(link).scheme:
            violate(f"Link {link!r} is not an absolute URL")
        query = {k: v[-1] for k, v in parse_qs(urlsplit(link).query).items()}
        for key, value in filters.items():
            if query.get(key) != value:
                violate(f"Link {link!r} drops the filter {key}={value}")
        if total is not None and seen >= total:
            violate(f"Link to a next page after all {total} objects were sent")
            return None
        if count == 0:
            violate("Link to a next page after an empty page")
            return None
        return link


def expectation(spec: Spec, module: str, method: str, path: str) -> Expect | None:
    """What the data of a successful response to this request must be, in spec's version."""
    models = spec.models
    depth = len([part for part in path.split("/") if part])
    model = models.MODULE_OBJECTS.get(module)
    if module == "credentials" and method in ("GET", "POST", "PUT"):
        return lambda data: problems(models.Credentials, data)
    if module == "commands" and method == "POST":
        return lambda data: problems(models.CommandResponse, data)
    if module == "chargingprofiles" and method in ("GET", "PUT", "DELETE"):
        return lambda data: problems(models.ChargingProfileResponse, data)
    if module == "hubclientinfo" and method == "GET":
        return lambda data: problems(models.ClientInfo, data)
    if method != "GET" or model is None:
        return None
    if depth == 0:
        return lambda data: list_problems(model, data)
    if module == "locations" and depth in (2, 3):
        single = models.EVSE if depth == 2 else models.Connector
        return lambda data: problems(single, data)
    return lambda data: problems(model, data)


def _versions(spec: Spec) -> Expect:
    def check(data: Any) -> list[str]:
        if isinstance(data, list) and not data:
            return ["versions: the list must hold at least one Version"]
        return list_problems(spec.models.Version, data)

    return check


def _details(spec: Spec) -> Expect:
    def check(data: Any) -> list[str]:
        found = problems(spec.models.VersionDetails, data)
        if isinstance(data, dict) and data.get("version") not in (None, spec.version):
            found.append(f"details of {spec.version} say version {data.get('version')!r}")
        return found

    return check


def _int_header(response: httpx.Response, name: str, violate: Callable[[str], None]) -> int | None:
    value = response.headers.get(name)
    if value is None:
        violate(f"{name} header missing on a paginated response")
        return None
    try:
        return int(value)
    except ValueError:
        violate(f"{name} is not an integer: {value!r}")
        return None
