"""The eMSP's tokens sender: the paginated token list and real-time authorization."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from simulators.emsp.exchange import Call, Handler, Reply
from simulators.emsp.validation import problems
from simulators.emsp.wire import new_id, parse_datetime, same_party


async def get_tokens(call: Call) -> Reply:
    sim = call.sim
    # Behind a hub, a GET routed to one client lists that client's tokens; GET All lists all.
    tokens = sim.tokens if call.client is None else [t for t in sim.tokens if owns(call.client, t)]
    return paginated(call, tokens, sim.module_url("tokens"))


def paginated(call: Call, items: list[dict[str, Any]], url: str) -> Reply:
    """One page of `items` by last_updated in [date_from, date_to), with the paging headers."""
    sim = call.sim
    query = call.query
    try:
        since = parse_datetime(query["date_from"]) if "date_from" in query else None
        until = parse_datetime(query["date_to"]) if "date_to" in query else None
        offset = int(query.get("offset", 0))
        asked = int(query.get("limit", sim.page_limit))
    except ValueError as exc:
        return call.reject(f"bad pagination parameter: {exc}")
    if offset < 0:
        return call.reject(f"offset must not be negative, got {offset}")
    limit = min(asked, sim.page_limit) if asked > 0 else sim.page_limit
    matching = [
        item
        for item in items
        if (since is None or _updated(item) >= since) and (until is None or _updated(item) < until)
    ]
    page = matching[offset : offset + limit]
    headers = {"X-Total-Count": str(len(matching)), "X-Limit": str(sim.page_limit)}
    if offset + len(page) < len(matching):
        kept = {k: v for k, v in query.items() if k not in ("offset", "limit")}
        following = urlencode(kept | {"offset": offset + len(page), "limit": limit})
        headers["Link"] = f'<{url}?{following}>; rel="next"'
    return Reply(data=page, headers=headers)


async def authorize(call: Call) -> Reply:
    sim = call.sim
    uid = call.params["uid"]
    token_type = call.query.get("type", "RFID")
    if not sim.spec.is_token_type(token_type):
        return call.reject(f"type {token_type!r} is not a TokenType in OCPI {sim.version}")
    where = call.body
    if where is not None and (found := problems(sim.models.LocationReferences, where)):
        return call.reject(*found)
    # Behind a hub, only the client the request is routed to answers, from its own tokens.
    known = sim.tokens if call.client is None else [t for t in sim.tokens if owns(call.client, t)]
    token = next(
        (
            t
            for t in known
            if str(t.get("uid", "")).upper() == uid.upper() and t.get("type") == token_type
        ),
        None,
    )
    if token is None:
        return Reply(2004, http=404, message=f"unknown token {uid} ({token_type})")
    if token.get("whitelist") == "ALWAYS":
        call.violate(f"token {uid} has whitelist ALWAYS: real-time authorization is not allowed")
    answers = {key.upper(): value for key, value in sim.authorize_answers.items()}
    allowed = answers.get(uid.upper()) or ("ALLOWED" if token.get("valid", True) else "BLOCKED")
    info: dict[str, Any] = {"allowed": allowed}
    if sim.spec.roles:  # 2.1.1 AuthorizationInfo is {allowed, location?, info?}
        info |= {"token": token, "authorization_reference": new_id().replace("-", "")}
    if where is not None:
        info["location"] = where
    if allowed != "ALLOWED":
        info["info"] = {"language": "en", "text": f"Charging not allowed: {allowed}"}
    sim.note_authorization(call, info)
    return Reply(data=info)


def owns(party: tuple[str, str], token: dict[str, Any]) -> bool:
    """Whether a (2.2.1+) Token belongs to the party: its own country_code and party_id."""
    return same_party(party, (str(token.get("country_code", "")), str(token.get("party_id", ""))))


def _updated(token: dict[str, Any]) -> Any:
    return parse_datetime(str(token.get("last_updated", "1970-01-01T00:00:00Z")))


TOKENS: dict[str, Handler] = {"GET": get_tokens}
AUTHORIZE: dict[str, Handler] = {"POST": authorize}
