"""The eMSP's receiver interfaces the CPO pushes to: locations, sessions, cdrs and tariffs."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from simulators.emsp.exchange import Call, Handler, Reply
from simulators.emsp.models import OcpiModel
from simulators.emsp.validation import find, merge, patch_problems, problems
from simulators.emsp.wire import later, party_of, same_party

Key = tuple[str, str, str]

# ------------------------------------------------------------------ shared checks


def _key(call: Call, id_param: str) -> Key:
    return (
        call.params["country_code"].upper(),
        call.params["party_id"].upper(),
        call.params[id_param],
    )


def _stored_key(store: dict[Key, Any], key: Key) -> Key:
    """The key an object is stored under, matching ids case-insensitively (they are CiStrings)."""
    for existing in store:
        if existing[:2] == key[:2] and existing[2].upper() == key[2].upper():
            return existing
    return key


def _not_the_callers(call: Call) -> Reply | None:
    """URL cc/pid must be one of the caller's CredentialsRoles; the spec allows a 404 if not."""
    party = (call.params["country_code"], call.params["party_id"])
    cpo = call.sim.cpo
    if cpo is not None and not any(same_party(party, p) for p in cpo.parties()):
        return call.reject(f"{'/'.join(party)} in the URL is none of the CPO's roles", http=404)
    _from_the_owner(call, party)
    return None


def _from_the_owner(call: Call, party: tuple[str, str]) -> None:
    """A CPO of several roles sends each object as the role that owns it: OCPI-from-* names
    the object's party (or the hub it came through), not another role of the same CPO."""
    sender = party_of(call.request.headers, "from")
    if not call.sim.spec.routing or sender is None or same_party(sender, party):
        return
    hub = call.sim.cpo.credentials.get("hub_party_id") if call.sim.cpo else None
    if isinstance(hub, str) and same_party(sender, (hub[:2], hub[2:])):
        return
    call.violate(f"OCPI-from {'/'.join(sender)} sends an object of {'/'.join(party)}")


def _mismatches(call: Call, body: dict[str, Any], id_param: str, id_field: str) -> list[str]:
    """The URL and the body must name the same object (OCPI 2001 when they do not)."""
    found = []
    url_id = call.params[id_param]
    if id_field in body and str(body[id_field]).upper() != url_id.upper():
        found.append(
            f"URL {id_param} {url_id!r} differs from the body's {id_field} {body[id_field]!r}"
        )
    for field in ("country_code", "party_id"):
        if field in body and str(body[field]).upper() != call.params[field].upper():
            found.append(
                f"URL {field} {call.params[field]!r} differs from the body's {body[field]!r}"
            )
    return found


def _patch_needs_last_updated(call: Call) -> bool:
    """2.2.1 and 2.3.0 PATCHes must carry last_updated; 2.1.1 ones send only what changed."""
    return bool(call.sim.spec.patch_needs_last_updated)


def _unknown(what: str, status_code: int = 2000) -> Reply:
    return Reply(status_code, http=404, message=f"unknown {what}")


async def _put(call: Call, store: dict[Key, Any], model: type[OcpiModel], id_param: str) -> Reply:
    if refused := _not_the_callers(call):
        return refused
    found = problems(model, call.body)
    if not found:
        found = _mismatches(call, call.body, id_param, "id")
    if found:
        return call.reject(*found)
    key = _stored_key(store, _key(call, id_param))
    created = key not in store
    store[key] = call.body
    return Reply(http=201 if created else 200)


async def _patch(
    call: Call,
    store: dict[Key, Any],
    model: type[OcpiModel],
    id_param: str,
    what: str,
    appended: str | None = None,
) -> Reply:
    """A PATCH of one stored object: the body checked, merged into the object, and the result
    checked whole. `appended`: the list field a PATCH appends to instead of replacing."""
    if refused := _not_the_callers(call):
        return refused
    found = patch_problems(model, call.body, last_updated=_patch_needs_last_updated(call))
    if not found:
        found = _mismatches(call, call.body, id_param, "id")
    if found:
        return call.reject(*found)
    key = _stored_key(store, _key(call, id_param))
    if key not in store:
        return _unknown(what)
    patch = dict(call.body)
    added = patch.pop(appended, None) if appended else None
    updated = merge(store[key], patch, model)
    if appended and added:
        updated[appended] = list(updated.get(appended) or []) + added
    if found := problems(model, updated):
        return call.reject(*(f"after this PATCH: {message}" for message in found))
    store[key] = updated
    return Reply()


async def _get(call: Call, store: dict[Key, Any], id_param: str, what: str) -> Reply:
    key = _stored_key(store, _key(call, id_param))
    return Reply(data=store[key]) if key in store else _unknown(what)


# ------------------------------------------------------------------ locations


def _location_depth(call: Call) -> tuple[type[OcpiModel], str, str]:
    """The object a locations URL names: (model, its id field, the URL parameter holding it)."""
    models = call.sim.models
    if "connector_id" in call.params:
        return models.Connector, "id", "connector_id"
    if "evse_uid" in call.params:
        return models.EVSE, "uid", "evse_uid"
    return models.Location, "id", "location_id"


def _at_depth(call: Call, location: dict[str, Any]) -> dict[str, Any] | None:
    if "evse_uid" not in call.params:
        return location
    evse = find(location.get("evses") or [], "uid", call.params["evse_uid"])
    if evse is None or "connector_id" not in call.params:
        return evse
    return find(evse.get("connectors") or [], "id", call.params["connector_id"])


def _replace(call: Call, location: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The Location with the object at the URL's depth replaced by `new`, parents bumped."""
    if "evse_uid" not in call.params:
        return new
    evses = list(location.get("evses") or [])
    evse_at = _position(evses, "uid", call.params["evse_uid"])
    if "connector_id" in call.params:
        if evse_at is None:
            return None
        evse = dict(evses[evse_at])
        connectors = list(evse.get("connectors") or [])
        _put_item(connectors, "id", call.params["connector_id"], new)
        evse["connectors"] = connectors
        evse["last_updated"] = later(evse.get("last_updated", ""), new["last_updated"])
        new = evse
    _put_item(evses, "uid", call.params["evse_uid"], new)
    bumped = later(location.get("last_updated", ""), new["last_updated"])
    return location | {"evses": evses, "last_updated": bumped}


def _position(items: list[dict[str, Any]], key: str, value: str) -> int | None:
    for i, item in enumerate(items):
        if str(item.get(key, "")).upper() == value.upper():
            return i
    return None


def _put_item(items: list[dict[str, Any]], key: str, value: str, new: dict[str, Any]) -> None:
    at = _position(items, key, value)
    if at is None:
        items.append(new)
    else:
        items[at] = new


async def get_location(call: Call) -> Reply:
    store = call.sim.locations
    location = store.get(_stored_key(store, _key(call, "location_id")))
    found = _at_depth(call, location) if location is not None else None
    return Reply(data=found) if found is not None else _unknown("location object", 2003)


async def put_location(call: Call) -> Reply:
    model, id_field, id_param = _location_depth(call)
    if id_param == "location_id":
        return await _put(call, call.sim.locations, model, "location_id")
    if refused := _not_the_callers(call):
        return refused
    found = problems(model, call.body) or _mismatches(call, call.body, id_param, id_field)
    if found:
        return call.reject(*found)
    return _store_location_change(call, lambda current: call.body)


async def patch_location(call: Call) -> Reply:
    model, id_field, id_param = _location_depth(call)
    if refused := _not_the_callers(call):
        return refused
    found = patch_problems(model, call.body, last_updated=_patch_needs_last_updated(call))
    if not found:
        found = _mismatches(call, call.body, id_param, id_field)
    if found:
        return call.reject(*found)
    return _store_location_change(call, lambda current: merge(current, call.body, model))


def _store_location_change(call: Call, change: Any) -> Reply:
    """Apply a PUT or PATCH below or at a stored Location; the result must be a valid Location."""
    store = call.sim.locations
    key = _stored_key(store, _key(call, "location_id"))
    location = store.get(key)
    if location is None:
        return _unknown("location", 2003)
    current = _at_depth(call, location)
    if current is None and call.method == "PATCH":
        return _unknown("EVSE or connector")
    updated = _replace(call, location, change(current))
    if updated is None:
        return _unknown("EVSE")
    if found := problems(call.sim.models.Location, updated):
        return call.reject(*(f"after this {call.method}: {message}" for message in found))
    store[key] = updated
    return Reply(http=201 if current is None else 200)


LOCATION: dict[str, Handler] = {"GET": get_location, "PUT": put_location, "PATCH": patch_location}

# ------------------------------------------------------------------ sessions


async def get_session(call: Call) -> Reply:
    return await _get(call, call.sim.sessions, "session_id", "session")


async def put_session(call: Call) -> Reply:
    return await _put(call, call.sim.sessions, call.sim.models.Session, "session_id")


async def patch_session(call: Call) -> Reply:
    return await _patch(
        call,
        call.sim.sessions,
        call.sim.models.Session,
        "session_id",
        "session",
        appended="charging_periods",  # PATCHed periods are appended; PUT replaces them
    )


SESSION: dict[str, Handler] = {"GET": get_session, "PUT": put_session, "PATCH": patch_session}

# ------------------------------------------------------------------ cdrs


async def post_cdr(call: Call) -> Reply:
    sim = call.sim
    if found := problems(sim.models.CDR, call.body):
        return call.reject(*found)
    cdr: dict[str, Any] = call.body
    if sim.spec.roles:  # a 2.1.1 CDR names no party
        party = (cdr["country_code"], cdr["party_id"])
        if sim.cpo is not None and not any(same_party(party, p) for p in sim.cpo.parties()):
            return call.reject(f"CDR of {'/'.join(party)}, none of the CPO's roles")
        _from_the_owner(call, party)
    location = f"{sim.module_url('cdrs')}/{quote(cdr['id'], safe='')}"
    known = sim.cdrs.get(cdr["id"])
    if known is not None and known != cdr:
        return call.reject(f"CDR {cdr['id']} was posted before with other data: CDRs are immutable")
    sim.cdrs[cdr["id"]] = cdr
    return Reply(http=200 if known else 201, headers={"Location": location})


async def get_cdr(call: Call) -> Reply:
    cdr = call.sim.cdrs.get(call.params["cdr_id"])
    return Reply(data=cdr) if cdr is not None else _unknown("CDR")


CDRS: dict[str, Handler] = {"POST": post_cdr}
CDR_BY_ID: dict[str, Handler] = {"GET": get_cdr}

# ------------------------------------------------------------------ tariffs


async def get_tariff(call: Call) -> Reply:
    return await _get(call, call.sim.tariffs, "tariff_id", "tariff")


async def put_tariff(call: Call) -> Reply:
    return await _put(call, call.sim.tariffs, call.sim.models.Tariff, "tariff_id")


async def patch_tariff(call: Call) -> Reply:
    """2.1.1 only: 2.2 dropped PATCH from the tariffs receiver."""
    return await _patch(call, call.sim.tariffs, call.sim.models.Tariff, "tariff_id", "tariff")


async def delete_tariff(call: Call) -> Reply:
    if refused := _not_the_callers(call):
        return refused
    store = call.sim.tariffs
    key = _stored_key(store, _key(call, "tariff_id"))
    if key not in store:
        return _unknown("tariff")
    tariff_id = key[2].upper()
    for location in call.sim.locations.values():
        for evse in location.get("evses") or []:
            for connector in evse.get("connectors") or []:
                used = list(connector.get("tariff_ids") or []) + [connector.get("tariff_id")]
                if tariff_id in (str(t).upper() for t in used if t):
                    call.violate(
                        f"tariff {key[2]} deleted while connector {location['id']}/"
                        f"{evse.get('uid')}/{connector.get('id')} still refers to it"
                    )
    del store[key]
    return Reply()


TARIFF: dict[str, Handler] = {"GET": get_tariff, "PUT": put_tariff, "DELETE": delete_tariff}
TARIFF_PATCHABLE: dict[str, Handler] = TARIFF | {"PATCH": patch_tariff}
