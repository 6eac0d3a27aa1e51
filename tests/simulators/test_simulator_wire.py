"""The charge point simulator against a throwaway in-test central system, over real WebSockets."""

from __future__ import annotations

import asyncio
import base64
import http
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v16.enums import Action as A16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201
from ocpp.v201.enums import Action as A201
from websockets.asyncio.server import Request, Response, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from simulators.charge_point import CallErrorReceived, ChargePointSimulator, SessionRejected
from simulators.cli import main as cli_main

PASSWORD = "sim-secret-0001"
VERSIONS = ["1.6", "2.0.1"]
Seen = asyncio.Queue[tuple[str, dict[str, Any]]]


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Csms16(Cp16):
    """Answers like a permissive 1.6 central system and reports every request it gets."""

    def __init__(self, id: str, connection: Any, seen: Seen) -> None:
        super().__init__(id, connection, response_timeout=5)
        self.seen = seen
        self.next_tx = 100
        # Runs before the StartTransaction reply goes out, to stage races.
        self.before_start_reply: Callable[[int], Awaitable[None]] | None = None

    def _saw(self, action: str, kw: dict[str, Any]) -> None:
        self.seen.put_nowait((action, kw))

    @on(A16.boot_notification)
    def wire_boot16(self, **kw: Any) -> r16.BootNotification:
        self._saw("BootNotification", kw)
        return r16.BootNotification(current_time=now(), interval=30, status="Accepted")

    @on(A16.heartbeat)
    def wire_heartbeat16(self, **kw: Any) -> r16.Heartbeat:
        self._saw("Heartbeat", kw)
        return r16.Heartbeat(current_time=now())

    @on(A16.status_notification)
    def wire_status16(self, **kw: Any) -> r16.StatusNotification:
        self._saw("StatusNotification", kw)
        return r16.StatusNotification()

    @on(A16.authorize)
    def wire_authorize16(self, id_tag: str, **kw: Any) -> r16.Authorize:
        self._saw("Authorize", {"id_tag": id_tag, **kw})
        return r16.Authorize(
            id_tag_info={"status": "Blocked" if id_tag == "BLOCKED" else "Accepted"}
        )

    @on(A16.start_transaction)
    async def wire_start16(self, **kw: Any) -> r16.StartTransaction:
        self._saw("StartTransaction", kw)
        self.next_tx += 1
        if self.before_start_reply is not None:
            await self.before_start_reply(self.next_tx)
        return r16.StartTransaction(transaction_id=self.next_tx, id_tag_info={"status": "Accepted"})

    @on(A16.meter_values)
    def wire_meter16(self, **kw: Any) -> r16.MeterValues:
        self._saw("MeterValues", kw)
        return r16.MeterValues()

    @on(A16.stop_transaction)
    def wire_stop16(self, **kw: Any) -> r16.StopTransaction:
        self._saw("StopTransaction", kw)
        return r16.StopTransaction(id_tag_info={"status": "Accepted"})


class Csms201(Cp201):
    """Answers like a permissive 2.0.1 CSMS and reports every request it gets."""

    def __init__(self, id: str, connection: Any, seen: Seen) -> None:
        super().__init__(id, connection, response_timeout=5)
        self.seen = seen

    def _saw(self, action: str, kw: dict[str, Any]) -> None:
        self.seen.put_nowait((action, kw))

    @on(A201.boot_notification)
    def wire_boot201(self, **kw: Any) -> r201.BootNotification:
        self._saw("BootNotification", kw)
        return r201.BootNotification(current_time=now(), interval=30, status="Accepted")

    @on(A201.heartbeat)
    def wire_heartbeat201(self, **kw: Any) -> r201.Heartbeat:
        self._saw("Heartbeat", kw)
        return r201.Heartbeat(current_time=now())

    @on(A201.status_notification)
    def wire_status201(self, **kw: Any) -> r201.StatusNotification:
        self._saw("StatusNotification", kw)
        return r201.StatusNotification()

    @on(A201.authorize)
    def wire_authorize201(self, id_token: dict[str, Any], **kw: Any) -> r201.Authorize:
        self._saw("Authorize", {"id_token": id_token, **kw})
        status = "Blocked" if id_token["id_token"] == "BLOCKED" else "Accepted"
        return r201.Authorize(id_token_info={"status": status})

    @on(A201.transaction_event)
    def wire_tx_event201(self, **kw: Any) -> r201.TransactionEvent:
        self._saw("TransactionEvent", kw)
        info = {"status": "Accepted"} if "id_token" in kw else None
        return r201.TransactionEvent(id_token_info=info)

    @on(A201.meter_values)
    def wire_meter201(self, **kw: Any) -> r201.MeterValues:
        self._saw("MeterValues", kw)
        return r201.MeterValues()

    @on(A201.notify_report)
    def wire_report201(self, **kw: Any) -> r201.NotifyReport:
        self._saw("NotifyReport", kw)
        return r201.NotifyReport()


@dataclass
class Central:
    url: str
    seen: Seen = field(default_factory=asyncio.Queue)
    stations: asyncio.Queue[Cp16 | Cp201] = field(default_factory=asyncio.Queue)
    auth: list[str | None] = field(default_factory=list)

    async def station(self) -> Any:
        """The server-side ChargePoint of the next connection."""
        return await asyncio.wait_for(self.stations.get(), 5)

    async def expect(self, action: str) -> dict[str, Any]:
        """The next request with that action (others in between are skipped)."""
        while True:
            got, payload = await asyncio.wait_for(self.seen.get(), 5)
            if got == action:
                return payload

    async def actions(self, count: int) -> list[str]:
        return [(await asyncio.wait_for(self.seen.get(), 5))[0] for _ in range(count)]


@pytest.fixture
async def central() -> AsyncIterator[Central]:
    central = Central(url="")

    def check_auth(conn: ServerConnection, request: Request) -> Response | None:
        header = request.headers.get("Authorization")
        central.auth.append(header)
        ident = unquote(request.path.rsplit("/", 1)[-1])
        good = "Basic " + base64.b64encode(f"{ident}:{PASSWORD}".encode()).decode()
        if header is not None and header != good:
            return conn.respond(http.HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        return None

    async def handler(conn: ServerConnection) -> None:
        ident = unquote(conn.request.path.rsplit("/", 1)[-1]) if conn.request else "?"
        cls = Csms201 if conn.subprotocol == "ocpp2.0.1" else Csms16
        station = cls(ident, conn, central.seen)
        central.stations.put_nowait(station)
        try:
            await station.start()
        except ConnectionClosed:
            pass

    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
        process_request=check_auth,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        central.url = f"ws://127.0.0.1:{port}/ocpp"
        yield central


async def online(central: Central, version: str, **kw: Any) -> tuple[ChargePointSimulator, Any]:
    sim = ChargePointSimulator(id=f"CP {version}", url=central.url, ocpp=version, **kw)
    await sim.connect()
    station = await central.station()
    assert await sim.boot() == "Accepted"
    await central.expect("BootNotification")
    return sim, station


@pytest.mark.parametrize("version", VERSIONS)
async def test_boot_authorize_start_meter_stop(central: Central, version: str) -> None:
    sim, _ = await online(central, version, password=PASSWORD, power_w=7200.0)
    assert sim.subprotocol == f"ocpp{version}"
    assert central.auth[-1] is not None  # Basic auth was offered
    assert sim.heartbeat_interval == 30
    assert await sim.heartbeat()
    await sim.status(1, "Available")
    status = await central.expect("StatusNotification")
    assert await sim.authorize("TAG-1") == "Accepted"
    authorize = await central.expect("Authorize")
    tx = await sim.start_transaction(1, "TAG-1")
    started = await central.expect("StartTransaction" if version == "1.6" else "TransactionEvent")
    await sim.send_meter_values(1, seconds=600)
    await sim.send_meter_values(1, seconds=600)
    sample = await central.expect("MeterValues" if version == "1.6" else "TransactionEvent")
    await central.expect("MeterValues" if version == "1.6" else "TransactionEvent")
    assert sim.meter_wh(1) - tx.meter_start_wh == 2400  # 7.2 kW for 20 minutes
    assert await sim.stop_transaction(1) == "Accepted"
    assert sim.transactions == {}
    ended = await central.expect("StopTransaction" if version == "1.6" else "TransactionEvent")

    assert tx.status == "Accepted"
    if version == "1.6":
        assert status["connector_id"] == 1 and status["status"] == "Available"
        assert authorize["id_tag"] == "TAG-1"
        assert tx.transaction_id == "101" and started["meter_start"] == tx.meter_start_wh
        assert sample["transaction_id"] == 101
        measurands = {v["measurand"] for v in sample["meter_value"][0]["sampled_value"]}
        assert ended["transaction_id"] == 101 and ended["reason"] == "Local"
        assert ended["meter_stop"] == tx.meter_start_wh + 2400
        assert ended["transaction_data"][0]["sampled_value"][0]["context"] == "Transaction.End"
    else:
        assert status["evse_id"] == 1 and status["connector_status"] == "Available"
        assert authorize["id_token"] == {"id_token": "TAG-1", "type": "ISO14443"}
        assert started["event_type"] == "Started" and started["seq_no"] == 0
        assert started["trigger_reason"] == "Authorized"
        assert started["transaction_info"]["transaction_id"] == tx.transaction_id
        assert started["evse"] == {"id": 1, "connector_id": 1}
        assert (sample["event_type"], sample["seq_no"]) == ("Updated", 1)
        assert sample["trigger_reason"] == "MeterValuePeriodic"
        measurands = {v["measurand"] for v in sample["meter_value"][0]["sampled_value"]}
        assert (ended["event_type"], ended["seq_no"]) == ("Ended", 3)
        assert ended["trigger_reason"] == "StopAuthorized"
        assert ended["transaction_info"]["stopped_reason"] == "Local"
        energy = ended["meter_value"][0]["sampled_value"][0]
        assert energy["value"] == tx.meter_start_wh + 2400
        assert energy["context"] == "Transaction.End"
    assert measurands == {
        "Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC",
    }  # fmt: skip
    await sim.close()
    assert sim.closed


@pytest.mark.parametrize("version", VERSIONS)
async def test_run_session_is_what_a_driver_does(central: Central, version: str) -> None:
    sim, _ = await online(central, version)
    tx = await sim.run_session(1, "TAG-2", meter_updates=2, seconds_per_update=900)
    tx_msgs = ["StartTransaction", "MeterValues", "MeterValues", "StopTransaction"]
    if version == "2.0.1":
        tx_msgs = ["TransactionEvent"] * 4
    assert await central.actions(9) == [
        "Authorize", "StatusNotification", tx_msgs[0], "StatusNotification",
        *tx_msgs[1:], "StatusNotification", "StatusNotification",
    ]  # fmt: skip
    assert tx.meter_stop_wh == tx.meter_start_wh + 5500  # 11 kW for half an hour
    # Back-dated so the half hour ends now rather than in the future.
    assert (datetime.now(UTC) - tx.started_at).total_seconds() == pytest.approx(1800, abs=60)
    assert sim.statuses[1] == "Available"
    with pytest.raises(SessionRejected, match="Blocked"):
        await sim.run_session(1, "BLOCKED")
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_remote_start_then_remote_stop(central: Central, version: str) -> None:
    sim, station = await online(central, version, evses=2)
    if version == "1.6":
        reply = await station.call(
            c16.RemoteStartTransaction(id_tag="APP-1", connector_id=2), suppress=False
        )
    else:
        reply = await station.call(
            c201.RequestStartTransaction(
                id_token={"id_token": "APP-1", "type": "Central"}, remote_start_id=77, evse_id=2
            ),
            suppress=False,
        )
    assert reply.status == "Accepted"
    preparing = await central.expect("StatusNotification")
    if version == "1.6":
        assert preparing["status"] == "Preparing"
        started = await central.expect("StartTransaction")
        assert (started["connector_id"], started["id_tag"]) == (2, "APP-1")
    else:
        assert preparing["connector_status"] == "Occupied"
        started = await central.expect("TransactionEvent")
        assert started["trigger_reason"] == "RemoteStart"
        assert started["transaction_info"]["remote_start_id"] == 77
        assert started["id_token"] == {"id_token": "APP-1", "type": "Central"}
    await central.expect("StatusNotification")
    await sim.wait_idle()
    tx = sim.transactions[2]
    assert tx.id_tag == "APP-1" and sim.statuses[2] == "Charging"
    call = await sim.wait_for_call(
        "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"
    )
    assert call.get("connectorId", call.get("evseId")) == 2

    if version == "1.6":
        stop = c16.RemoteStopTransaction(transaction_id=int(tx.transaction_id))
        unknown = c16.RemoteStopTransaction(transaction_id=999)
    else:
        stop = c201.RequestStopTransaction(transaction_id=tx.transaction_id)
        unknown = c201.RequestStopTransaction(transaction_id="nope")
    assert (await station.call(unknown, suppress=False)).status == "Rejected"
    assert (await station.call(stop, suppress=False)).status == "Accepted"
    ended = await central.expect("StopTransaction" if version == "1.6" else "TransactionEvent")
    if version == "1.6":
        assert ended["reason"] == "Remote"
    else:
        assert ended["transaction_info"]["stopped_reason"] == "Remote"
        assert ended["trigger_reason"] == "RemoteStop"
    await sim.wait_idle()
    assert sim.transactions == {} and sim.statuses[2] == "Available"
    await sim.close()


async def test_remote_stop_overtaking_the_start_reply_is_still_accepted(central: Central) -> None:
    sim, station = await online(central, "1.6")
    stopping: list[asyncio.Task[Any]] = []

    async def stop_before_reply(transaction_id: int) -> None:
        # The CSMS knows the id before the charger has read the StartTransaction reply.
        stop = c16.RemoteStopTransaction(transaction_id=transaction_id)
        stopping.append(asyncio.create_task(station.call(stop, suppress=False)))
        await sim.wait_for_call("RemoteStopTransaction")

    station.before_start_reply = stop_before_reply
    tx = await sim.start_transaction(1, "TAG-3")
    assert (await stopping[0]).status == "Accepted"
    ended = await central.expect("StopTransaction")
    assert ended["transaction_id"] == int(tx.transaction_id) and ended["reason"] == "Remote"
    await sim.wait_idle()
    assert sim.transactions == {}
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_raw_call_raises_call_error_and_next_raw_sees_strays(
    central: Central, version: str
) -> None:
    sim, _ = await online(central, version)
    assert "currentTime" in await sim.call("Heartbeat", {})
    with pytest.raises(CallErrorReceived) as unknown:
        await sim.call("FlyToTheMoon", {})
    assert unknown.value.code in {"NotSupported", "NotImplemented"}
    with pytest.raises(CallErrorReceived) as missing:
        await sim.call("BootNotification", {})
    assert missing.value.code in {
        "ProtocolError",
        "OccurenceConstraintViolation",
        "OccurrenceConstraintViolation",
    }
    # A CALL with an id of our choosing: its reply is nobody's pending answer, so it is raw.
    await sim.send_raw(json.dumps([2, "stray-1", "Heartbeat", {}]))
    frame = json.loads(await sim.next_raw(5))
    assert frame[:2] == [3, "stray-1"]
    # The library calls still work after that.
    assert await sim.heartbeat()
    await sim.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_answers_silent_and_errors_overrides(central: Central, version: str) -> None:
    sim, station = await online(central, version)
    sim.answers["RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"] = (
        "Rejected"
    )
    sim.silent.add("UnlockConnector")
    sim.errors["Reset"] = "NotSupported"
    if version == "1.6":
        start: Any = c16.RemoteStartTransaction(id_tag="APP-2", connector_id=1)
        unlock: Any = c16.UnlockConnector(connector_id=1)
        reset: Any = c16.Reset(type="Hard")
    else:
        start = c201.RequestStartTransaction(
            id_token={"id_token": "APP-2", "type": "Central"}, remote_start_id=1, evse_id=1
        )
        unlock = c201.UnlockConnector(evse_id=1, connector_id=1)
        reset = c201.Reset(type="Immediate")

    assert (await station.call(start, suppress=False)).status == "Rejected"
    await sim.wait_idle()
    assert sim.transactions == {}

    station._response_timeout = 0.3
    with pytest.raises(asyncio.TimeoutError):
        await station.call(unlock, suppress=False)
    assert await sim.wait_for_call("UnlockConnector") == (
        {"connectorId": 1} if version == "1.6" else {"evseId": 1, "connectorId": 1}
    )
    station._response_timeout = 5
    with pytest.raises(NotSupportedError):
        await station.call(reset, suppress=False)
    assert [a for a, _ in sim.received_calls][-3:] == [
        "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction",
        "UnlockConnector",
        "Reset",
    ]
    assert not sim.closed  # no reboot after an errored Reset
    await sim.close()


async def test_charger_side_commands_16(central: Central) -> None:
    sim, station = await online(central, "1.6", evses=2)
    conf = await station.call(
        c16.GetConfiguration(key=["HeartbeatInterval", "Nope"]), suppress=False
    )
    assert conf.configuration_key == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "30"}
    ]
    assert conf.unknown_key == ["Nope"]
    change = c16.ChangeConfiguration(key="HeartbeatInterval", value="120")
    assert (await station.call(change, suppress=False)).status == "Accepted"
    assert sim.heartbeat_interval == 120
    readonly = c16.ChangeConfiguration(key="NumberOfConnectors", value="9")
    assert (await station.call(readonly, suppress=False)).status == "Rejected"

    reserve = c16.ReserveNow(connector_id=2, expiry_date=now(), id_tag="RES", reservation_id=5)
    assert (await station.call(reserve, suppress=False)).status == "Accepted"
    assert (await central.expect("StatusNotification"))["status"] == "Reserved"
    cancel = c16.CancelReservation(reservation_id=5)
    assert (await station.call(cancel, suppress=False)).status == "Accepted"
    assert (await station.call(cancel, suppress=False)).status == "Rejected"

    off = c16.ChangeAvailability(connector_id=0, type="Inoperative")
    assert (await station.call(off, suppress=False)).status == "Accepted"
    trigger = c16.TriggerMessage(requested_message="StatusNotification", connector_id=1)
    assert (await station.call(trigger, suppress=False)).status == "Accepted"
    await sim.wait_idle()
    assert sim.statuses == {1: "Unavailable", 2: "Unavailable"}
    assert (
        await station.call(c16.DataTransfer(vendor_id="X"), suppress=False)
    ).status == "UnknownVendorId"

    assert (await station.call(c16.Reset(type="Soft"), suppress=False)).status == "Accepted"
    again = await central.station()  # the charger rebooted onto a new socket
    assert (await central.expect("BootNotification"))["charge_point_vendor"] == "CPOSim"
    await sim.wait_idle()
    assert not sim.closed and sim.registration == "Accepted"
    assert (
        await again.call(c16.ChangeAvailability(connector_id=1, type="Operative"), suppress=False)
    ).status == "Accepted"
    await sim.close()


async def test_charger_side_commands_201(central: Central) -> None:
    sim, station = await online(central, "2.0.1")
    get = c201.GetVariables(
        get_variable_data=[
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Nope"}},
            {"component": {"name": "Nope"}, "variable": {"name": "Nope"}},
        ]
    )
    results = (await station.call(get, suppress=False)).get_variable_result
    assert [r["attribute_status"] for r in results] == [
        "Accepted",
        "UnknownVariable",
        "UnknownComponent",
    ]
    assert results[0]["attribute_value"] == "30"
    put = c201.SetVariables(
        set_variable_data=[
            {
                "attribute_value": "90",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            }
        ]
    )
    assert (await station.call(put, suppress=False)).set_variable_result[0][
        "attribute_status"
    ] == "Accepted"
    assert sim.heartbeat_interval == 90

    report = await station.call(
        c201.GetBaseReport(request_id=3, report_base="FullInventory"), suppress=False
    )
    assert report.status == "Accepted"
    notified = await central.expect("NotifyReport")
    assert notified["request_id"] == 3 and len(notified["report_data"]) >= 5

    trigger = c201.TriggerMessage(requested_message="Heartbeat")
    assert (await station.call(trigger, suppress=False)).status == "Accepted"
    await central.expect("Heartbeat")
    reserve = c201.ReserveNow(
        id=9, expiry_date_time=now(), id_token={"id_token": "R", "type": "ISO14443"}, evse_id=1
    )
    assert (await station.call(reserve, suppress=False)).status == "Accepted"
    assert (await central.expect("StatusNotification"))["connector_status"] == "Reserved"
    await sim.wait_idle()
    # The driver who reserved starts: the reservation is consumed by the transaction.
    await sim.start_transaction(1, "R")
    started = await central.expect("TransactionEvent")
    assert started["reservation_id"] == 9 and sim.reservations == {}
    unlock = c201.UnlockConnector(evse_id=1, connector_id=1)
    assert (await station.call(unlock, suppress=False)).status == "OngoingAuthorizedTransaction"
    await sim.close()


async def test_close_while_rebooting_closes_cleanly(central: Central) -> None:
    # close() cancels a reboot under way; one cancelled while it waited for the reader to end
    # used to cancel the reader too, and close() then raised CancelledError (seen in CI).
    # The window is a few event-loop steps wide and moves with the machine: close after each
    # number of steps up to well past the reboot's drop.
    for steps in range(40):
        sim, _ = await online(central, "1.6")
        sim._spawn(sim.reboot())
        for _ in range(steps):
            await asyncio.sleep(0)  # one event-loop step, not a wait for time
        await sim.close()
        assert sim.closed, steps


async def test_refused_upgrade_raises_invalid_status(central: Central) -> None:
    sim = ChargePointSimulator(id="CP-401", url=central.url, password="wrong-password")
    with pytest.raises(InvalidStatus) as refused:
        await sim.connect()
    assert refused.value.response.status_code == 401
    assert sim.closed
    await sim.close()


async def test_wait_closed_reports_the_server_close_code(central: Central) -> None:
    sim, station = await online(central, "1.6")
    await station._connection.close(1008, "policy")
    assert await sim.wait_closed(5) == 1008
    assert sim.closed
    with pytest.raises(ConnectionClosed):
        await sim.heartbeat()
    await sim.close()


@pytest.fixture
def quiet_cli_logging() -> Iterator[None]:
    """The CLI sets its logger to INFO for the terminal; keep that out of later tests."""
    logger = logging.getLogger("simulators")
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.mark.usefixtures("quiet_cli_logging")
async def test_cli_session_and_refusal(
    central: Central, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["charger", "--id", "CP-CLI", "--ocpp", "2.0.1", "--url", central.url]
    code = await asyncio.to_thread(
        cli_main, [*args, "--session", "--id-tag", "T1", "--updates", "2", "--json"]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["energy_wh"] == 366 and summary["status"] == "Accepted"
    code = await asyncio.to_thread(cli_main, [*args, "--password", "wrong", "--session"])
    assert code == 1
    assert "HTTP 401" in capsys.readouterr().err
