"""The CALLs chargers send most, answered without the `ocpp` library's per-call machinery, frame for frame as the library answers them.

The library parses each CALL again, converts every payload key with regular expressions (both
ways), inspects the handler's signature twice, and serialises its reply with `asdict`, a walk
that drops the Nones and `json.dumps`: about half of the server's time per Heartbeat
(bench/RESULTS.md, 2026-12-04). Here the connection's already checked payload goes to the same
handler: keys converted by the library's own functions, once per distinct key; what the
signatures ask for read once per handler; the reply built from the returned dataclass as the
library builds it and written by orjson wherever orjson writes the very bytes `json.dumps`
would (ASCII text without DEL, no floats), by the library's encoder otherwise. The `@after`
handlers run as the library runs them. tests/ocpp/test_hot_path.py holds the two paths to the
same frames; anything not in HOT_ACTIONS still goes through `ChargePoint.route_message`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallResult

if TYPE_CHECKING:
    from ocpp.charge_point import ChargePoint

    from csms.connection import StationConnection

# What chargers send most (a Heartbeat every few minutes from each, meter values every minute
# or so while charging, a status per connector change); the rest are rare.
HOT_ACTIONS = frozenset(
    {
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "TransactionEvent",
        "StartTransaction",
        "StopTransaction",
        "Authorize",
    }
)

# Payload keys come from chargers (customData and lenient handlers take any), so the caches
# stop growing here: a key seen after that is converted each time, as the library does.
MAX_CACHED_KEYS = 4096

_snake: dict[str, str] = {}
_camel: dict[str, str] = {}


def snake_key(key: str) -> str:
    """A payload key as the library hands it to a handler (chargePointVendor -> charge_point_vendor)."""
    try:
        return _snake[key]
    except KeyError:
        return _converted(_snake, camel_to_snake_case, key)


def camel_key(key: str) -> str:
    """A reply's key as the library sends it (id_tag_info -> idTagInfo)."""
    try:
        return _camel[key]
    except KeyError:
        return _converted(_camel, snake_to_camel_case, key)


def _converted(
    cache: dict[str, str], convert: Callable[[dict[str, Any]], dict[str, Any]], key: str
) -> str:
    """A key the cache does not hold, converted by the library's function and kept while the
    cache has room."""
    converted: str = next(iter(convert({key: None})))
    if len(cache) < MAX_CACHED_KEYS:
        cache[key] = converted
    return converted


def snake_payload(value: Any) -> Any:
    """`camel_to_snake_case`: new dicts and lists throughout (the handler may keep or change
    them; the payload stays as the charger sent it, for the error log's Call), each key
    converted once.

    One call per dict or list, as the library makes (so a payload nests as deep here as there
    before the recursion limit), and none per leaf: a loop rather than comprehensions, which
    would cost a call each.
    """
    if isinstance(value, dict):
        snake = _snake
        converted: dict[str, Any] = {}
        for key, item in value.items():
            try:
                name = snake[key]
            except KeyError:
                name = snake_key(key)
            kind = type(item)
            if kind is dict or kind is list:
                item = snake_payload(item)
            elif kind is not str and kind is not int and isinstance(item, _CONTAINERS):
                item = snake_payload(item)
            converted[name] = item
        return converted
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            kind = type(item)
            if kind is dict or kind is list:
                item = snake_payload(item)
            elif kind is not str and kind is not int and isinstance(item, _CONTAINERS):
                item = snake_payload(item)
            items.append(item)
        return items
    return value


# What `camel_to_snake_case` walks into (subclasses too, though a parsed payload has none).
_CONTAINERS = (dict, list)


class _NotPlain(Exception):
    """A reply holding something the fast walk does not reproduce exactly (a tuple, a Decimal,
    a dict key that is no string...): the library's own functions build that one."""


_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(field.name for field in dataclasses.fields(cls))
    return names


def _is_dataclass(value: Any) -> bool:
    return hasattr(type(value), "__dataclass_fields__") and not isinstance(value, type)


def _reply_value(value: Any, floats: list[bool], raw: bool = False) -> Any:
    """`snake_to_camel_case(remove_nones(serialize_as_dict(...)))` of one value, for the kinds
    a reply is made of; notes in `floats` whether any float was met.

    `raw`: a value the library puts in the reply as it is, not through `asdict` (the items of
    a dataclass's list that are no dataclasses): a dataclass inside one makes json.dumps fail
    there, so the library's own steps must meet it.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return value
    if kind is dict:
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotPlain
            if item is not None:
                result[camel_key(key)] = _reply_value(item, floats, raw)
        return result
    if kind is list:
        return [_reply_value(item, floats, raw) for item in value if item is not None]
    if kind is float:
        floats.append(True)
        return value
    if _is_dataclass(value):
        if raw:
            raise _NotPlain
        result = {}
        for name in _field_names(kind):
            item = getattr(value, name)
            if item is None:
                continue
            if type(item) is list:
                result[camel_key(name)] = [
                    _reply_value(each, floats, not _is_dataclass(each))
                    for each in item
                    if each is not None
                ]
            else:
                result[camel_key(name)] = _reply_value(item, floats)
        return result
    if isinstance(value, str | int) and not isinstance(value, bool):
        # An enum member (StrEnum, IntEnum): json.dumps writes its value, as orjson does.
        return value
    raise _NotPlain


def call_result(message_id: str, response: Any) -> str:
    """The CALLRESULT frame the library sends for a handler's returned dataclass."""
    floats: list[bool] = []
    try:
        if not _is_dataclass(response):
            raise _NotPlain
        payload = _reply_value(response, floats)
    except _NotPlain:
        # The library's own steps, failures included (a handler returning a dict gets the
        # TypeError `asdict` raises, and so the same InternalError).
        payload = snake_to_camel_case(remove_nones(serialize_as_dict(response)))
        return str(CallResult(message_id, payload).to_json())
    if not floats:
        try:
            frame = orjson.dumps([3, message_id, payload])
        except TypeError:  # an integer beyond 64 bits
            pass
        else:
            # json.dumps escapes every non-ASCII character and DEL; orjson writes them as
            # UTF-8. Every other character both write alike (tests/ocpp/test_hot_path.py).
            if frame.isascii() and b"\x7f" not in frame:
                return frame.decode()
    # Floats: json.dumps and orjson spell some differently (1e+16 and 1e16).
    return str(CallResult(message_id, payload).to_json())


@dataclasses.dataclass(frozen=True, slots=True)
class HotRoute:
    """An action's handlers on one ChargePoint class, with what their signatures ask for."""

    on: Callable[..., Any]
    on_takes_id: bool
    after: Callable[..., Any] | None
    after_takes_id: bool


_routes: dict[tuple[type, str], HotRoute | None] = {}


def route(cls: type, table: dict[str, dict[str, Any]], action: str) -> HotRoute | None:
    """The hot route of `action` on `cls`, or None when the library must handle it (not a hot
    action, or a handler that wants the library to validate its payload)."""
    key = (cls, action)
    if key not in _routes:
        handlers = table.get(action)
        found: HotRoute | None = None
        if (
            action in HOT_ACTIONS
            and handlers is not None
            and handlers.get("_skip_schema_validation", False)
            and "_on_action" in handlers
        ):
            after = handlers.get("_after_action")
            found = HotRoute(
                on=handlers["_on_action"],
                on_takes_id=_takes_id(handlers["_on_action"]),
                after=after,
                after_takes_id=after is not None and _takes_id(after),
            )
        _routes[key] = found
    return _routes[key]


def _takes_id(handler: Callable[..., Any]) -> bool:
    return "call_unique_id" in inspect.signature(handler).parameters


async def answer(
    charge_point: ChargePoint,
    conn: StationConnection,
    hot: HotRoute,
    payload: dict[str, Any],
    message_id: str,
    action: str,
) -> None:
    """What `ChargePoint.route_message` does with this CALL, step for step."""
    try:
        await _handle(charge_point, conn, hot, message_id, action, payload)
    except OCPPError as error:
        msg = Call(message_id, action, payload)
        charge_point.logger.exception("Error while handling request '%s'", msg)
        await _send(charge_point, conn, msg.create_call_error(error).to_json())


async def _handle(
    charge_point: ChargePoint,
    conn: StationConnection,
    hot: HotRoute,
    message_id: str,
    action: str,
    payload: dict[str, Any],
) -> None:
    arguments = snake_payload(payload)
    try:
        if hot.on_takes_id:
            response = hot.on(charge_point, **arguments, call_unique_id=message_id)
        else:
            response = hot.on(charge_point, **arguments)
        if inspect.isawaitable(response):
            response = await response
    except Exception as e:
        msg = Call(message_id, action, payload)
        charge_point.logger.exception("Error while handling request '%s'", msg)
        await _send(charge_point, conn, msg.create_call_error(e).to_json())
        return

    text = call_result(message_id, response)
    charge_point.logger.info("%s: send %s", charge_point.id, text)
    await conn.send_result(text, message_id, action)

    if hot.after is None:
        return
    try:
        if hot.after_takes_id:
            followed = hot.after(charge_point, **arguments, call_unique_id=message_id)
        else:
            followed = hot.after(charge_point, **arguments)
        # A task, so that an after handler that sends a CALL does not block this loop.
        if inspect.isawaitable(followed):
            asyncio.ensure_future(followed)
    except KeyError:
        # The library swallows every KeyError here (it reads a missing hook as one).
        pass


async def _send(charge_point: ChargePoint, conn: StationConnection, text: str) -> None:
    charge_point.logger.info("%s: send %s", charge_point.id, text)
    await conn.send(text)
