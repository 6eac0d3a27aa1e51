"""Credentials both ways: the CPO registering with us (handlers) and us registering with it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from simulators.emsp.exchange import Call, Handler, Reply
from simulators.emsp.state import CpoPeer, Violation
from simulators.emsp.validation import problems
from simulators.emsp.wire import OcpiError, new_token

if TYPE_CHECKING:
    from simulators.emsp.simulator import EmspSimulator

# ------------------------------------------------------------------ the CPO calls us


async def get(call: Call) -> Reply:
    assert call.token is not None
    return Reply(data=call.sim.own_credentials(call.token))


async def post(call: Call) -> Reply:
    if not call.with_token_a:
        return Reply(2000, http=405, message="already registered: use PUT to update, DELETE to end")
    return await _register_peer(call)


async def put(call: Call) -> Reply:
    if call.with_token_a:
        return Reply(2000, http=405, message="not registered: POST the credentials first")
    return await _register_peer(call)


async def delete(call: Call) -> Reply:
    if call.with_token_a:
        return Reply(2000, http=405, message="not registered")
    call.sim._forget_peer()
    return Reply()


HANDLERS: dict[str, Handler] = {"GET": get, "POST": post, "PUT": put, "DELETE": delete}


async def _register_peer(call: Call) -> Reply:
    """Fetch the CPO's versions and details with its token B before answering with our C."""
    sim = call.sim
    found = problems(sim.models.Credentials, call.body)
    if found:
        return call.reject(*found)
    body: dict[str, Any] = call.body
    try:
        endpoints = await sim.client.discover(body["url"], body["token"])
    except OcpiError as exc:
        return Reply(exc.status_code, message=str(exc))
    missing = sim.missing_endpoints(endpoints)
    if missing:
        return Reply(3003, message=f"the CPO offers no {', '.join(missing)}")
    roles = roles_of(sim, body)
    if not any(role["role"] == "CPO" for role in roles):
        call.violate("the credentials name no CPO role")
    if call.with_token_a:
        sim._invites.discard(call.token or "")
    token_c = new_token()
    sim._accept_peer(
        CpoPeer(body["url"], sim.version, endpoints, body["token"], roles, body), token_c
    )
    return Reply(data=sim.own_credentials(token_c))


# ------------------------------------------------------------------ we call the CPO


async def register(sim: EmspSimulator, versions_url: str, token_a: str) -> dict[str, Any]:
    """The eMSP-initiated handshake: POST our token B with the CPO's A and keep its C."""
    endpoints = await sim.client.discover(versions_url, token_a)
    if missing := sim.missing_endpoints(endpoints):
        raise OcpiError(3003, f"the CPO offers no {', '.join(missing)}")
    url = _credentials_url(endpoints)
    token_b = new_token()
    data = await _offer(sim, "POST", url, token_a, token_b)
    sim._accept_peer(
        CpoPeer(versions_url, sim.version, endpoints, data["token"], roles_of(sim, data), data),
        token_b,
    )
    return data


async def update(sim: EmspSimulator) -> dict[str, Any]:
    """PUT a fresh token B; keep the CPO's new C and re-read its endpoints."""
    peer = sim._require_peer()
    token_b = new_token()
    data = await _offer(sim, "PUT", _credentials_url(peer.endpoints), peer.token, token_b)
    peer.token, peer.roles, peer.credentials = data["token"], roles_of(sim, data), data
    peer.versions_url = data["url"]
    sim._accept_peer(peer, token_b)
    peer.endpoints = await sim.client.discover(peer.versions_url, peer.token)
    return data


async def unregister(sim: EmspSimulator) -> None:
    peer = sim._require_peer()
    url = _credentials_url(peer.endpoints)
    response, body = await _call(sim, "DELETE", url, peer.token)
    _accepted(sim, response, body, "DELETE credentials")
    sim._forget_peer()


async def fetch(sim: EmspSimulator) -> dict[str, Any]:
    peer = sim._require_peer()
    response, body = await _call(sim, "GET", _credentials_url(peer.endpoints), peer.token)
    return _accepted(sim, response, body, "GET credentials")


async def _offer(
    sim: EmspSimulator, method: str, url: str, token: str, token_b: str
) -> dict[str, Any]:
    """Send our credentials with token B, which the CPO must use to call us back first."""
    sim._pending[token_b] = set()
    try:
        response, body = await _call(sim, method, url, token, sim.own_credentials(token_b))
        data = _accepted(sim, response, body, f"{method} credentials")
        called = sim._pending[token_b]
    finally:
        sim._pending.pop(token_b, None)
    if not {"versions", "details"} <= called:
        sim.violate(
            Violation(
                "credentials",
                method,
                url,
                "the CPO answered without first GETting our versions and details with token B",
            )
        )
    return data


async def _call(
    sim: EmspSimulator, method: str, url: str, token: str, json: Any = None
) -> tuple[httpx.Response, dict[str, Any] | None]:
    try:
        return await sim.client.call(
            method,
            url,
            token,
            module="credentials",
            json=json,
            expect=(lambda data: problems(sim.models.Credentials, data))
            if method != "DELETE"
            else None,
        )
    except httpx.HTTPError as exc:
        raise OcpiError(3001, f"{method} {url} failed: {exc!r}") from exc


def _accepted(
    sim: EmspSimulator, response: httpx.Response, body: dict[str, Any] | None, what: str
) -> dict[str, Any]:
    if body is None or body.get("status_code") != 1000 or response.status_code >= 300:
        status = body.get("status_code") if body else None
        message = body.get("status_message") if body else response.text[:200]
        raise OcpiError(
            status if isinstance(status, int) else 3001,
            f"{what} answered HTTP {response.status_code}, OCPI {status}: {message}",
        )
    data = body.get("data")
    if what.startswith("DELETE"):
        return {}
    if problems(sim.models.Credentials, data):
        raise OcpiError(3001, f"{what} returned invalid credentials (see violations)")
    assert isinstance(data, dict)
    return data


def roles_of(sim: EmspSimulator, credentials: dict[str, Any]) -> list[dict[str, Any]]:
    """The CredentialsRoles of a (valid) Credentials object; a 2.1.1 one names a single party."""
    if sim.spec.roles:
        return list(credentials["roles"])
    role = {key: credentials[key] for key in ("country_code", "party_id", "business_details")}
    return [{"role": "CPO", **role}]


def _credentials_url(endpoints: dict[tuple[str, str], str]) -> str:
    for (module, _role), url in endpoints.items():
        if module == "credentials":
            return url
    raise OcpiError(3003, "the CPO offers no credentials endpoint")
