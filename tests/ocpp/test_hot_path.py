"""The hot path (csms.hot_path) answers every frame as the `ocpp` library's path answers it.

The same script of raw frames, valid and broken, goes over a real WebSocket to the platform
with the hot path on and to another with it off (CPO_OCPP_HOT_PATH=false): the replies must be
the same text, byte for byte, CALLERRORs included. Only the platform's clock differs between
the two runs, so a timestamp the platform writes as its own time (a Heartbeat's currentTime) is
compared as a well-formed timestamp of the run, and every other byte as it is.

The replies are also built from dataclasses directly, both ways, for what the script cannot
make a handler return: floats, non-ASCII text, DEL, enums, nested lists, Nones at every level.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import CallResult
from ocpp.v16 import call_result as result16
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import AuthorizationStatus
from ocpp.v201 import call_result as result201
from ocpp.v201.datatypes import IdTokenInfoType, MessageContentType

from csms import hot_path
from csms.hot_path import call_result, camel_key, snake_key, snake_payload
from tests.helpers.platform import Platform
from tests.helpers.wire import BOOT16, BOOT201, open_raw, typed

# The platform's own time as it writes it (csms.clock.iso).
OWN_TIME = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"')

TS = "2026-05-01T10:00:00Z"
TS_LATER = "2026-05-01T10:30:00Z"


def script_16() -> list[tuple[str, Any]]:
    """(action, payload) pairs; a payload may name the transaction id the start was given."""
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    sample = {"value": "1234.5", "unit": "Wh", "measurand": "Energy.Active.Import.Register"}
    return [
        ("Heartbeat", {}),
        ("Heartbeat", {"extra": 1}),
        ("StatusNotification", status),
        ("StatusNotification", status | {"timestamp": TS, "info": "Ünïcode ✓ \x7f"}),
        ("StatusNotification", status | {"status": "Bogus"}),
        ("StatusNotification", status | {"connectorId": -1}),
        ("StatusNotification", status | {"connectorId": "1", "info": None}),
        ("StatusNotification", status | {"connectorId": 2**31}),
        # A time beyond year 9999 in UTC: the handler fails, answered InternalError.
        ("StatusNotification", status | {"timestamp": "9999-12-31T23:59:59-14:00"}),
        ("StatusNotification", {"connectorId": 1, "status": "Available"}),
        ("Authorize", {"idTag": "HOTTAG1"}),
        ("Authorize", {"idTag": "UNKNOWN1", "vendorThing": {"a": [1, None]}}),
        ("Authorize", {"idTag": "X" * 21}),
        ("Authorize", {}),
        (
            "StartTransaction",
            {"connectorId": 1, "idTag": "HOTTAG1", "meterStart": "x", "timestamp": TS},
        ),
        (
            "StartTransaction",
            {"connectorId": 1, "idTag": "HOTTAG1", "meterStart": 1000, "timestamp": TS},
        ),
        (
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": "$tx",
                "meterValue": [{"timestamp": TS, "sampledValue": [sample]}],
            },
        ),
        (
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": "$tx",
                "meterValue": [{"timestamp": TS, "sampledValue": [sample | {"unit": "Celcius"}]}],
            },
        ),
        (
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [{"timestamp": TS, "sampledValue": [sample | {"value": "abc"}]}],
            },
        ),
        ("MeterValues", {"connectorId": 1, "meterValue": []}),
        (
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": 2**63,
                "meterValue": [{"timestamp": TS, "sampledValue": [sample]}],
            },
        ),
        ("StopTransaction", {"meterStop": 5000, "timestamp": TS_LATER}),
        (
            "StopTransaction",
            {
                "transactionId": "$tx",
                "meterStop": 5000.5,
                "timestamp": TS_LATER,
                "reason": "VendorReason",
                "idTag": "HOTTAG1",
            },
        ),
        ("StopTransaction", {"transactionId": 987654, "meterStop": 10, "timestamp": TS_LATER}),
        ("Heartbeat", {}),
    ]


def script_201() -> list[tuple[str, Any]]:
    status = {"timestamp": TS, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
    token = {"idToken": "HOTTAG1", "type": "ISO14443"}
    sample = {"value": 1.5, "context": "Sample.Periodic", "unitOfMeasure": {"unit": "kWh"}}

    def event(kind: str, seq: int, **extra: Any) -> dict[str, Any]:
        return {
            "eventType": kind,
            "timestamp": TS,
            "triggerReason": "Authorized",
            "seqNo": seq,
            "transactionInfo": {"transactionId": "hot-tx-1"},
            "meterValue": [{"timestamp": TS, "sampledValue": [sample]}],
        } | extra

    return [
        ("Heartbeat", {}),
        ("Heartbeat", {"customData": {"vendorId": "V", "anything": [1, "ü"]}}),
        ("StatusNotification", status),
        ("StatusNotification", status | {"connectorStatus": "Bogus"}),
        ("StatusNotification", status | {"evseId": -1}),
        ("StatusNotification", status | {"evseId": 2**31}),
        ("StatusNotification", status | {"timestamp": "9999-12-31T23:59:59-14:00"}),
        ("StatusNotification", {"connectorStatus": "Available", "evseId": 1, "connectorId": 1}),
        ("Authorize", {"idToken": token}),
        ("Authorize", {"idToken": {"idToken": "UNKNOWN1", "type": "ISO14443"}}),
        ("Authorize", {"idToken": {"idToken": "HOTTAG1", "type": "Bogus"}}),
        ("Authorize", {"idToken": token, "extra": True}),
        ("TransactionEvent", event("Started", 0, idToken=token, evse={"id": 1, "connectorId": 1})),
        ("TransactionEvent", event("Updated", 1, triggerReason="MeterValuePeriodic")),
        ("TransactionEvent", event("Updated", 2, seqNo="two")),
        ("TransactionEvent", event("Updated", 2, meterValue=[])),
        ("TransactionEvent", event("Ended", 3, triggerReason="StopAuthorized")),
        ("TransactionEvent", event("Ended", 3, triggerReason="StopAuthorized")),
        ("MeterValues", {"evseId": 1, "meterValue": [{"timestamp": TS, "sampledValue": [sample]}]}),
        (
            "MeterValues",
            {
                "evseId": 1,
                "meterValue": [
                    {"timestamp": TS, "sampledValue": [sample | {"measurand": "Vendor.Own"}]}
                ],
            },
        ),
        (
            "MeterValues",
            {"evseId": 1, "meterValue": [{"timestamp": TS, "sampledValue": [{"value": "x"}]}]},
        ),
        ("MeterValues", {"evseId": 1}),
    ]


async def replies(
    tmp_path: Path, version: str, hot: bool, script: list[tuple[str, Any]]
) -> list[str]:
    """The text of each reply to the script's frames, on a fresh platform."""
    directory = tmp_path / ("hot" if hot else "library")
    directory.mkdir()
    platform = await Platform(directory, ocpp_hot_path=hot).start()
    try:
        async with platform.admin() as admin:
            response = await admin.post("/tokens", json={"uid": "HOTTAG1", "status": "Accepted"})
            assert response.status_code == 201
        await platform.add_station("CP-HOT")
        ws = await open_raw(platform.ws_url, "CP-HOT", [f"ocpp{version}"])
        boot = await exchange(
            ws, "boot", "BootNotification", BOOT16 if version == "1.6" else BOOT201
        )
        assert json.loads(boot)[2]["status"] == "Accepted"
        texts: list[str] = []
        transaction_id: Any = None
        # Message ids of every kind a charger may use, a non-ASCII one among them (echoed).
        for n, (action, payload) in enumerate(script):
            if payload.get("transactionId") == "$tx":
                payload = payload | {"transactionId": transaction_id}
            message_id = f"m{n}" if n % 5 else f"id-ü-{n}"
            text = await exchange(ws, message_id, action, payload)
            frame = json.loads(text)
            if action == "StartTransaction" and frame[0] == 3:
                transaction_id = frame[2]["transactionId"]
            texts.append(text)
        await ws.close()
        return texts
    finally:
        await platform.stop()


async def exchange(ws: Any, message_id: str, action: str, payload: dict[str, Any]) -> str:
    """Send one CALL as raw text and return the reply's text (CALLs from the CSMS answered)."""
    await ws.send(json.dumps([2, message_id, action, payload], ensure_ascii=False))
    while True:
        text = await ws.recv(decode=True)
        frame = json.loads(text)
        if frame[0] == 2:  # the CSMS asking something (TriggerMessage ...)
            await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        elif frame[1] == message_id:
            return str(text)


def same_but_own_time(hot: str, library: str, since: datetime) -> None:
    """Equal text, except the platform's own timestamps, each a time of this test's run."""
    for text in (hot, library):
        for stamp in OWN_TIME.findall(text):
            at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            if at.year != 2026 or at.month != 5:  # not one the script sent
                assert since - timedelta(seconds=1) <= at <= datetime.now(UTC) + timedelta(days=400)
    assert OWN_TIME.sub('"<t>"', hot) == OWN_TIME.sub('"<t>"', library)
    if not OWN_TIME.search(library):
        assert hot == library


@pytest.mark.parametrize(("version", "script"), [("1.6", script_16), ("2.0.1", script_201)])
async def test_hot_path_answers_byte_for_byte_what_the_library_answers(
    tmp_path: Path, version: str, script: Any
) -> None:
    since = datetime.now(UTC)
    hot = await replies(tmp_path, version, True, script())
    library = await replies(tmp_path, version, False, script())
    assert len(hot) == len(library) == len(script())
    for (action, _), ours, theirs in zip(script(), hot, library, strict=True):
        same_but_own_time(ours, theirs, since)
        if json.loads(ours)[0] == 3:  # json.dumps escapes what is not ASCII, as the library
            assert ours.isascii(), (action, ours)
    kinds = {json.loads(text)[0] for text in hot}
    assert kinds == {3, 4}  # the script has both answers and CALLERRORs in it
    assert any('"InternalError"' in text for text in hot)  # and a handler's failure


def library_frame(message_id: str, response: Any) -> str:
    """What ChargePoint._handle_call sends for a handler's returned dataclass."""
    payload = snake_to_camel_case(remove_nones(serialize_as_dict(response)))
    return str(CallResult(message_id, payload).to_json())


@dataclass
class _Nested:
    some_value: Any = None
    items: list[Any] = field(default_factory=list)


@pytest.mark.parametrize(
    "response",
    [
        result16.Heartbeat(current_time="2026-05-01T10:00:00.000Z"),
        result16.StatusNotification(),
        result16.Authorize(
            id_tag_info={"status": "Accepted", "expiry_date": None, "parent_id_tag": "P"}
        ),
        result16.Authorize(id_tag_info=IdTagInfo(status=AuthorizationStatus.blocked)),
        result16.StartTransaction(transaction_id=2**63 - 1, id_tag_info={"status": "Invalid"}),
        result16.StartTransaction(transaction_id=2**64, id_tag_info={"status": "Invalid"}),
        result16.StopTransaction(),
        result201.TransactionEvent(total_cost=12.5, charging_priority=-3),
        result201.TransactionEvent(total_cost=1e16),
        result201.TransactionEvent(
            updated_personal_message=MessageContentType(
                format="UTF8", content="Dankeschön ✓ \x7f\x1f\n"
            ),
            id_token_info=IdTokenInfoType(status="Accepted", group_id_token=None, language_1="de"),
        ),
        result201.Authorize(
            id_token_info={
                "status": "Accepted",
                "evse_id": [1, None, 2],
                "personal_message": {"content": "\t"},
            }
        ),
        _Nested(
            some_value=[_Nested(some_value=1)],
            items=[{"soc_limit": None, "v2x_thing": True}, [1.0, None]],
        ),
        _Nested(items=[{"inner": _Nested()}]),
        _Nested(some_value=(1, None)),
    ],
)
@pytest.mark.parametrize("message_id", ["m1", "ü-7", "del\x7f"])
def test_reply_frames_are_the_librarys_text(response: Any, message_id: str) -> None:
    try:
        expected = library_frame(message_id, response)
    except TypeError as error:  # the library cannot serialise it: neither can the hot path
        with pytest.raises(TypeError, match=re.escape(str(error))):
            call_result(message_id, response)
        return
    assert call_result(message_id, response) == expected


def test_a_returned_dict_fails_as_in_the_library() -> None:
    """A handler returning a dict gets asdict's TypeError (and so the same InternalError)."""
    with pytest.raises(TypeError):
        library_frame("1", {"status": "Accepted"})
    with pytest.raises(TypeError):
        call_result("1", {"status": "Accepted"})


@pytest.mark.parametrize(
    "key",
    [
        "chargePointVendor",
        "ocppCSMSURL",
        "evseId",
        "SoC",
        "stateOfCharge",
        "V2XChargingCtrlr",
        "x",
        "",
    ],
)
def test_keys_convert_as_the_library_converts_them(key: str) -> None:
    from ocpp.charge_point import camel_to_snake_case

    assert snake_payload({key: [{key: 1}]}) == camel_to_snake_case({key: [{key: 1}]})
    snake = snake_key(key)
    assert camel_key(snake) == next(iter(snake_to_camel_case({snake: None})))


# snake_payload is the library's camel_to_snake_case for any payload: same keys, same values
# of the same types, in new dicts and lists (the handler's own: the payload stays as the
# charger sent it, for the Call an error is logged with).

_KEYS = st.one_of(
    st.sampled_from(
        [
            "connectorId",
            "meterValue",
            "sampledValue",
            "ocppCSMSURL",
            "V2XChargingCtrlr",
            "SoC",
            "evseId",
            "evse_id",  # the same snake key as evseId: the later value wins, in the first place
            "x",
            "",
        ]
    ),
    st.text(max_size=6),
)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=4),
)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=5)),
    max_leaves=40,
)


def _containers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(c for item in value.values() for c in _containers(item))]
    if isinstance(value, list):
        return [value, *(c for item in value for c in _containers(item))]
    return []


def _hold_snake_to_library(payload: Any) -> None:
    from ocpp.charge_point import camel_to_snake_case

    before = typed(payload)
    converted = snake_payload(payload)
    assert typed(converted) == typed(camel_to_snake_case(payload))
    assert typed(payload) == before
    theirs = {id(c) for c in _containers(payload)}
    assert not any(id(c) in theirs for c in _containers(converted))


@settings(max_examples=300, deadline=None)
@given(payload=st.dictionaries(_KEYS, _JSON, max_size=6))
def test_payloads_convert_as_the_library_converts_them(payload: dict[str, Any]) -> None:
    _hold_snake_to_library(payload)


class _Mapping(dict):  # type: ignore[type-arg]
    pass


class _Sequence(list):  # type: ignore[type-arg]
    pass


def test_subclassed_dicts_and_lists_convert_as_the_library_converts_them() -> None:
    """A parsed payload holds none, but the library walks them and so does the hot path."""
    _hold_snake_to_library(
        {"someKey": _Mapping(innerKey=_Sequence([_Mapping(lastKey=1), True, 1.5, None]))}
    )


def test_payload_keys_beyond_the_cache_convert_as_the_library_converts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A charger sending ever new keys finds the cache full: converted each time, not kept."""
    full = {f"cachedKey{n}": f"cached_key{n}" for n in range(hot_path.MAX_CACHED_KEYS)}
    monkeypatch.setattr(hot_path, "_snake", full)
    payload = {"newKey": [{"otherNewKey": 1, "cachedKey7": {"thirdNewKey": None}}]}
    _hold_snake_to_library(payload)
    assert len(full) == hot_path.MAX_CACHED_KEYS and "newKey" not in full


def test_deep_payloads_convert_as_deep_as_the_library_converts_them() -> None:
    """One call per level, as in the library (the comprehensions this replaced took two, and
    failed at half the library's depth): a payload the library converts is converted, one too
    deep for the library fails alike (RecursionError, answered InternalError)."""
    from ocpp.charge_point import camel_to_snake_case

    def nested(depth: int) -> Any:
        value: Any = {"leafKey": 1}
        for level in range(depth):
            value = {"someKey": value} if level % 2 else [value, None]
        return value

    deep = nested(600)  # 600 frames of Python's 1000, and 1200 in comprehensions
    assert snake_payload(deep) == camel_to_snake_case(deep)
    too_deep = nested(5000)
    with pytest.raises(RecursionError):
        camel_to_snake_case(too_deep)
    with pytest.raises(RecursionError):
        snake_payload(too_deep)
