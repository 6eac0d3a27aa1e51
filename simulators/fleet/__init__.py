"""The load generator: thousands of simulated OCPP 1.6J / 2.0.1 chargers in one process, wire only.

Each charger is one task on a raw `websockets` client connection that sends hand-built OCPP-J
frames: boot, status, heartbeats at their interval, authorize / start / meter values / stop
cycles, random disconnects and reconnect storms. Every CALL waits for its reply (OCPP-J allows
one CALL in flight per direction); the CSMS's own CALLs are answered at once with a valid
CALLRESULT. Counters and latencies are kept in bounded structures however long the run, and
every wait is bounded by the run's end.

`Fleet.ceiling()` runs the same fleet against an in-process server that answers every CALL at
once: the rate the generator itself can drive, beside which a platform's figure is meaningful.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import math
import os
import random
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

MAX_CHARGERS = 20_000
MAX_SECONDS = 3600.0
MAX_RATE = 10_000.0  # events per second across the fleet, for every settable rate
CALL, CALLRESULT, CALLERROR = 2, 3, 4
VENDOR, MODEL, FIRMWARE = "CPO-Sim", "Fleet", "1.0"
POWER_W = 11_000.0
DEFAULT_HEARTBEAT = 300.0  # when the BootNotification answer gives no usable interval
IDLE_CAP = 60.0  # an idle charger re-checks its clock at least this often
MAX_KEYS = 40  # distinct error texts / actions kept by name; the rest are lumped together
OTHER = "(other)"


# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetConfig:
    """What the fleet does. Rates are events per second across the whole fleet."""

    url: str  # ws://host:port/ocpp; each charger appends /<its id>
    count: int = 100
    mix: float = 0.5  # share of OCPP 2.0.1 chargers; the rest speak 1.6J
    prefix: str = "FLEET-"  # charger ids are <prefix><number>
    password: str | None = None  # HTTP Basic, user = the charger id
    connect: str = "staggered"  # or "simultaneous"
    connect_rate: float = 100.0  # first connections per second when staggered
    heartbeat: float | None = None  # seconds; None: the Boot answer's interval; 0: back to back
    status_rate: float = 0.0  # connector status changes per second
    session_rate: float = 0.0  # transactions started per second
    session_seconds: float = 30.0
    meter_interval: float = 10.0  # seconds between meter values within a session
    id_tags: tuple[str, ...] = ()  # empty: one generated tag per charger
    disconnect_rate: float = 0.0  # random disconnects per second
    reconnect_delay: tuple[float, float] = (1.0, 5.0)  # random pause before reconnecting
    reboot_chance: float = 0.5  # share of reconnections that boot again
    storm_at: float | None = None  # seconds after the start: drop everyone, reconnect at once
    seconds: float = 60.0
    seed: int | None = None
    reply_timeout: float = 30.0
    connect_timeout: float = 10.0
    finish_timeout: float = 10.0  # at the end: time to stop open sessions and close

    def __post_init__(self) -> None:
        problems = []

        def within(name: str, value: float, low: float, high: float) -> None:
            if not low <= value <= high:  # NaN too
                problems.append(f"{name} must be between {low:g} and {high:g}, not {value:g}")

        if not self.url.startswith(("ws://", "wss://")):
            problems.append(f"url must be ws:// or wss://, not {self.url!r}")
        within("count", self.count, 1, MAX_CHARGERS)
        within("mix", self.mix, 0.0, 1.0)
        if not self.prefix.isprintable() or "/" in self.prefix or len(self.prefix) > 40:
            problems.append("prefix must be printable, without '/', at most 40 characters")
        if self.connect not in ("staggered", "simultaneous"):
            problems.append(f"connect must be staggered or simultaneous, not {self.connect!r}")
        within("connect_rate", self.connect_rate, 0.01, 100_000)
        if self.heartbeat is not None:
            within("heartbeat", self.heartbeat, 0.0, 86_400)
        for name in ("status_rate", "session_rate", "disconnect_rate"):
            within(name, getattr(self, name), 0.0, MAX_RATE)
        within("session_seconds", self.session_seconds, 0.01, MAX_SECONDS)
        within("meter_interval", self.meter_interval, 0.05, MAX_SECONDS)
        for tag in self.id_tags:
            if not 1 <= len(tag) <= 20 or not tag.isprintable():
                problems.append(f"id tag {tag!r}: 1 to 20 printable characters (OCPP 1.6 idTag)")
        low, high = self.reconnect_delay
        if not 0 <= low <= high <= 600:
            problems.append("reconnect_delay must be (low, high) with 0 <= low <= high <= 600")
        within("reboot_chance", self.reboot_chance, 0.0, 1.0)
        within("seconds", self.seconds, 0.1, MAX_SECONDS)
        if self.storm_at is not None and not 0 < self.storm_at < self.seconds:
            problems.append("storm_at must fall within the run (0 < storm_at < seconds)")
        within("reply_timeout", self.reply_timeout, 1.0, 300)  # checked every second
        within("connect_timeout", self.connect_timeout, 0.1, 300)
        within("finish_timeout", self.finish_timeout, 0.0, 300)
        if problems:
            raise ValueError("; ".join(problems))

    def charger_id(self, number: int) -> str:
        """The id of charger `number` (1-based)."""
        return f"{self.prefix}{number:0{max(4, len(str(self.count)))}d}"

    def id_tag(self, number: int) -> str:
        """The token charger `number` charges with."""
        if self.id_tags:
            return self.id_tags[(number - 1) % len(self.id_tags)]
        charger = self.charger_id(number)
        tag = f"TAG-{charger}"
        return tag if len(tag) <= 20 else "T" + hashlib.sha1(charger.encode()).hexdigest()[:19]


# -- statistics -----------------------------------------------------------------------------------

_LOG_BASE = math.log(1.02)  # latency buckets 2 % wide


class Latencies:
    """Reply latencies in logarithmic buckets 2 % wide: bounded memory however long the run."""

    __slots__ = ("buckets", "count", "max")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        micros = seconds * 1e6
        index = int(math.log(micros) / _LOG_BASE) if micros > 1.0 else 0
        buckets = self.buckets
        buckets[index] = buckets.get(index, 0) + 1
        self.count += 1
        if seconds > self.max:
            self.max = seconds

    def merge(self, other: Latencies) -> None:
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count
        self.max = max(self.max, other.max)

    def quantile(self, q: float) -> float | None:
        """The q-quantile in seconds (the middle of its bucket, never above the maximum)."""
        if not self.count:
            return None
        rank, seen = q * self.count, 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(self.max, math.exp((index + 0.5) * _LOG_BASE) / 1e6)
        return self.max

    def summary_ms(self) -> dict[str, float | None]:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 3)

        return {
            "p50": ms(self.quantile(0.50)),
            "p90": ms(self.quantile(0.90)),
            "p99": ms(self.quantile(0.99)),
            "max": ms(self.max if self.count else None),
        }


class ActionStats:
    """CALLs of one action that the chargers sent, and what became of them."""

    __slots__ = ("calls", "results", "errors", "timeouts", "lost", "latency")

    def __init__(self) -> None:
        self.calls = self.results = self.errors = self.timeouts = self.lost = 0
        self.latency = Latencies()

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "results": self.results,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "connection_errors": self.lost,
            "latency_ms": self.latency.summary_ms(),
        }


def _count(table: dict[str, int], key: str, n: int = 1) -> None:
    if key not in table and len(table) >= MAX_KEYS:
        key = OTHER
    table[key] = table.get(key, 0) + n


class FleetStats:
    """Every counter of a run. Plain attributes: the chargers bump them on the hot path."""

    def __init__(self) -> None:
        self.actions: dict[str, ActionStats] = {}
        self.replies = 0  # CALLRESULTs and CALLERRORs to our CALLs: "messages" in msg/s
        self.window = Latencies()  # since the last tick; merged into `latency` every second
        self.latency = Latencies()
        self.error_texts: dict[str, int] = {}
        self.late_replies = 0  # replies that came after their CALL timed out
        self.bad_frames = 0
        self.server_calls: dict[str, int] = {}  # the CSMS's CALLs, answered
        self.frames_sent = self.frames_received = 0
        self.connect_attempts = self.connects = self.reconnects = 0
        self.refused_load = self.failed_other = 0
        self.connect_failures: dict[str, int] = {}
        self.boots: dict[str, int] = {}
        self.disconnects: dict[str, int] = {}  # why: random, storm, reset, server
        self.storms = 0
        self.status_changes = 0
        self.sessions: dict[str, int] = dict.fromkeys(
            ("started", "ended", "refused", "failed", "interrupted", "skipped"), 0
        )

    def action(self, name: str) -> ActionStats:
        stats = self.actions.get(name)
        if stats is None:
            stats = self.actions[name] = ActionStats()
        return stats

    def roll(self) -> Latencies:
        """The latencies since the last roll; from now on they count in the run's total."""
        window, self.window = self.window, Latencies()
        self.latency.merge(window)
        return window

    def totals(self) -> dict[str, int]:
        actions = self.actions.values()
        return {
            "calls": sum(a.calls for a in actions),
            "results": sum(a.results for a in actions),
            "errors": sum(a.errors for a in actions),
            "timeouts": sum(a.timeouts for a in actions),
            "connection_errors": sum(a.lost for a in actions),
        }


@dataclass(frozen=True)
class Progress:
    """The fleet at one tick (every second)."""

    elapsed: float
    count: int
    connected: int
    online: int  # connected with an accepted boot
    rate: float  # replies to our CALLs in the last second
    calls: int
    errors: int  # CALLERRORs, timeouts and connection losses so far
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    sessions: int  # open now


def progress_line(p: Progress) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    return (
        f"[{p.elapsed:6.1f}s] connected {p.connected}/{p.count} (booted {p.online})"
        f" | {p.rate:8.1f} msg/s | errors {p.errors}"
        f" | p50 {ms(p.p50_ms)} p90 {ms(p.p90_ms)} p99 {ms(p.p99_ms)} ms"
        f" | sessions {p.sessions}"
    )


# -- reproducible draws ---------------------------------------------------------------------------


class _Draws:
    """A tiny per-charger random stream (SplitMix64): the same seed gives the same schedule,
    whatever order the chargers run in, with one integer of state (a Mersenne Twister holds 5 KB).
    """

    __slots__ = ("state",)
    MASK = (1 << 64) - 1

    def __init__(self, seed: int) -> None:
        self.state = seed & self.MASK

    def random(self) -> float:
        self.state = z = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return ((z ^ (z >> 31)) >> 11) / float(1 << 53)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def after(self, rate: float) -> float:
        """Seconds to the next event of a Poisson process of this rate (inf when 0)."""
        if rate <= 0:
            return math.inf
        return -math.log(1.0 - self.random()) / rate

    def uuid(self) -> str:
        bits = int(self.random() * (1 << 53)) << 75 | int(self.random() * (1 << 53)) << 22
        return str(uuid.UUID(int=bits, version=4))


# -- the two OCPP dialects ------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class _Session:
    id_tag: str
    remote_start_id: int | None
    ends_at: float = 0.0
    next_meter: float = 0.0
    last_sample: float = 0.0  # loop time of the last register reading
    transaction_id: Any = None  # 1.6: the CSMS's int; 2.0.1: our string
    seq_no: int = 0


Frame = tuple[str, dict[str, Any]]
Followup = tuple[Any, ...]


class _Dialect:
    """One OCPP version's message shapes and its answers to the CSMS's CALLs."""

    version = ""
    subprotocol = Subprotocol("")
    busy_status = ""  # connector status while a driver is there
    charging_status: str | None = None  # once the transaction runs (1.6 only)

    def boot(self, ch: _Charger, reason: str) -> Frame:
        raise NotImplementedError

    def status(self, ch: _Charger) -> Frame:
        raise NotImplementedError

    def authorize(self, id_tag: str) -> Frame:
        raise NotImplementedError

    def authorized(self, reply: dict[str, Any]) -> str:
        raise NotImplementedError

    def start(self, ch: _Charger, s: _Session) -> Frame:
        raise NotImplementedError

    def started(self, reply: dict[str, Any], s: _Session) -> str:
        """The token's status in the start's answer; notes the transaction id the CSMS gives."""
        raise NotImplementedError

    def meter(self, ch: _Charger, s: _Session | None, trigger: bool = False) -> Frame:
        raise NotImplementedError

    def stop(self, ch: _Charger, s: _Session, reason: str) -> Frame:
        raise NotImplementedError

    def answer(self, ch: _Charger, action: str, p: dict[str, Any]) -> dict[str, Any] | None:
        """The CALLRESULT payload for a CSMS CALL (None: answer NotImplemented)."""
        raise NotImplementedError

    @staticmethod
    def remote_stop(ch: _Charger, transaction_id: Any) -> dict[str, Any]:
        """A remote stop of the session this charger runs (either version's id)."""
        s = ch.session
        ok = s is not None and s.transaction_id == transaction_id
        if ok:
            ch.followups.append(("stop", "Remote"))
        return {"status": "Accepted" if ok else "Rejected"}


class _V16(_Dialect):
    version = "1.6"
    subprotocol = Subprotocol("ocpp1.6")
    busy_status = "Preparing"
    charging_status = "Charging"
    REASONS = {"ImmediateReset": "HardReset"}
    TRIGGERS = frozenset({"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"})

    def boot(self, ch: _Charger, reason: str) -> Frame:
        return "BootNotification", {
            "chargePointVendor": VENDOR,
            "chargePointModel": MODEL,
            "chargePointSerialNumber": ch.id[-25:],
            "firmwareVersion": FIRMWARE,
        }

    def status(self, ch: _Charger) -> Frame:
        return "StatusNotification", {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": ch.status,
            "timestamp": _now(),
        }

    def authorize(self, id_tag: str) -> Frame:
        return "Authorize", {"idTag": id_tag}

    def authorized(self, reply: dict[str, Any]) -> str:
        return str((reply.get("idTagInfo") or {}).get("status"))

    def start(self, ch: _Charger, s: _Session) -> Frame:
        return "StartTransaction", {
            "connectorId": 1,
            "idTag": s.id_tag,
            "meterStart": int(ch.meter_wh),
            "timestamp": _now(),
        }

    def started(self, reply: dict[str, Any], s: _Session) -> str:
        s.transaction_id = reply.get("transactionId")
        return self.authorized(reply)

    @staticmethod
    def _sample(ch: _Charger, context: str, power: bool) -> dict[str, Any]:
        values = [
            {
                "value": str(int(ch.meter_wh)),
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "location": "Outlet",
                "unit": "Wh",
            }
        ]
        if power:
            values.append(
                {
                    "value": f"{POWER_W:.1f}",
                    "context": context,
                    "measurand": "Power.Active.Import",
                    "location": "Outlet",
                    "unit": "W",
                }
            )
        return {"timestamp": _now(), "sampledValue": values}

    def meter(self, ch: _Charger, s: _Session | None, trigger: bool = False) -> Frame:
        context = "Trigger" if trigger else "Sample.Periodic"
        payload: dict[str, Any] = {
            "connectorId": 1,
            "meterValue": [self._sample(ch, context, power=s is not None)],
        }
        if s is not None:
            payload["transactionId"] = s.transaction_id
        return "MeterValues", payload

    def stop(self, ch: _Charger, s: _Session, reason: str) -> Frame:
        return "StopTransaction", {
            "transactionId": s.transaction_id,
            "meterStop": int(ch.meter_wh),
            "timestamp": _now(),
            "idTag": s.id_tag,
            "reason": self.REASONS.get(reason, reason),
            "transactionData": [self._sample(ch, "Transaction.End", power=False)],
        }

    def answer(self, ch: _Charger, action: str, p: dict[str, Any]) -> dict[str, Any] | None:
        match action:
            case "RemoteStartTransaction":
                ok = ch.can_start() and isinstance(p.get("idTag"), str)
                if ok:
                    ch.followups.append(("start", p["idTag"], None))
                return {"status": "Accepted" if ok else "Rejected"}
            case "RemoteStopTransaction":
                return self.remote_stop(ch, p.get("transactionId"))
            case "Reset":
                ch.followups.append(
                    ("reset", "HardReset" if p.get("type") == "Hard" else "SoftReset")
                )
                return {"status": "Accepted"}
            case "TriggerMessage" | "ExtendedTriggerMessage":
                message = p.get("requestedMessage")
                if message not in self.TRIGGERS:
                    return {"status": "NotImplemented"}
                ch.followups.append(("trigger", message))
                return {"status": "Accepted"}
            case "ChangeAvailability":
                return {"status": ch.change_availability(p.get("type") == "Operative")}
            case "ChangeConfiguration":
                key, value = str(p.get("key", "")), str(p.get("value", ""))
                if key.lower() == "heartbeatinterval":
                    if not value.isdigit():
                        return {"status": "Rejected"}
                    ch.set_heartbeat(float(value))
                    return {"status": "Accepted"}
                return {"status": "NotSupported"}
            case "GetConfiguration":
                known = {
                    "HeartbeatInterval": str(int(ch.heartbeat_interval)),
                    "MeterValueSampleInterval": str(int(ch.fleet.config.meter_interval)),
                    "NumberOfConnectors": "1",
                }
                wanted = p.get("key") or list(known)
                answer: dict[str, Any] = {
                    "configurationKey": [
                        {"key": k, "readonly": k == "NumberOfConnectors", "value": known[k]}
                        for k in wanted
                        if k in known
                    ]
                }
                if unknown := [k for k in wanted if k not in known]:
                    answer["unknownKey"] = unknown
                return answer
            case "UnlockConnector":
                return {"status": "Unlocked"}
            case "GetLocalListVersion":
                return {"listVersion": 0}
            case "GetDiagnostics" | "UpdateFirmware":
                return {}
            case "DataTransfer":
                return {"status": "UnknownVendorId"}
            case "GetCompositeSchedule" | "GetLog" | "SignedUpdateFirmware":
                return {"status": "Rejected"}
            case "GetInstalledCertificateIds" | "DeleteCertificate":
                return {"status": "NotFound"}
            case (
                "SendLocalList" | "CancelReservation" | "ClearCache" | "ClearChargingProfile"
                | "SetChargingProfile" | "ReserveNow" | "CertificateSigned" | "InstallCertificate"
            ):  # fmt: skip
                return {"status": "Accepted"}
        return None


class _V201(_Dialect):
    version = "2.0.1"
    subprotocol = Subprotocol("ocpp2.0.1")
    busy_status = "Occupied"
    TRIGGERS = frozenset({"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"})
    STOPS = {  # stoppedReason -> triggerReason
        "Local": "StopAuthorized",
        "Remote": "RemoteStop",
        "PowerLoss": "AbnormalCondition",
        "ImmediateReset": "ResetCommand",
        "DeAuthorized": "Deauthorized",
    }

    def boot(self, ch: _Charger, reason: str) -> Frame:
        return "BootNotification", {
            "chargingStation": {
                "model": MODEL,
                "vendorName": VENDOR,
                "serialNumber": ch.id[-25:],
                "firmwareVersion": FIRMWARE,
            },
            "reason": reason,
        }

    def status(self, ch: _Charger) -> Frame:
        return "StatusNotification", {
            "timestamp": _now(),
            "connectorStatus": ch.status,
            "evseId": 1,
            "connectorId": 1,
        }

    def authorize(self, id_tag: str) -> Frame:
        return "Authorize", {"idToken": {"idToken": id_tag, "type": "ISO14443"}}

    def authorized(self, reply: dict[str, Any]) -> str:
        return str((reply.get("idTokenInfo") or {}).get("status"))

    @staticmethod
    def _sample(ch: _Charger, context: str, power: bool) -> dict[str, Any]:
        values: list[dict[str, Any]] = [
            {
                "value": int(ch.meter_wh),
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "location": "Outlet",
                "unitOfMeasure": {"unit": "Wh"},
            }
        ]
        if power:
            values.append(
                {
                    "value": POWER_W,
                    "context": context,
                    "measurand": "Power.Active.Import",
                    "location": "Outlet",
                    "unitOfMeasure": {"unit": "W"},
                }
            )
        return {"timestamp": _now(), "sampledValue": values}

    def _event(self, s: _Session, kind: str, trigger: str, info: dict[str, Any]) -> dict[str, Any]:
        seq_no, s.seq_no = s.seq_no, s.seq_no + 1
        return {
            "eventType": kind,
            "timestamp": _now(),
            "triggerReason": trigger,
            "seqNo": seq_no,
            "transactionInfo": {"transactionId": s.transaction_id} | info,
        }

    def start(self, ch: _Charger, s: _Session) -> Frame:
        s.transaction_id = ch.draws.uuid()
        info: dict[str, Any] = {"chargingState": "Charging"}
        if s.remote_start_id is not None:
            info["remoteStartId"] = s.remote_start_id
        trigger = "Authorized" if s.remote_start_id is None else "RemoteStart"
        return "TransactionEvent", self._event(s, "Started", trigger, info) | {
            "idToken": {"idToken": s.id_tag, "type": "ISO14443"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [self._sample(ch, "Transaction.Begin", power=False)],
        }

    def started(self, reply: dict[str, Any], s: _Session) -> str:
        info = reply.get("idTokenInfo")
        return str(info.get("status")) if isinstance(info, dict) else "Accepted"

    def meter(self, ch: _Charger, s: _Session | None, trigger: bool = False) -> Frame:
        context = "Trigger" if trigger else "Sample.Periodic"
        if s is None:
            return "MeterValues", {
                "evseId": 1,
                "meterValue": [self._sample(ch, context, power=False)],
            }
        reason = "Trigger" if trigger else "MeterValuePeriodic"
        return "TransactionEvent", self._event(
            s, "Updated", reason, {"chargingState": "Charging"}
        ) | {"meterValue": [self._sample(ch, context, power=True)]}

    def stop(self, ch: _Charger, s: _Session, reason: str) -> Frame:
        trigger = self.STOPS.get(reason, "AbnormalCondition")
        info = {"chargingState": "EVConnected", "stoppedReason": reason}
        payload = self._event(s, "Ended", trigger, info) | {
            "meterValue": [self._sample(ch, "Transaction.End", power=False)]
        }
        if trigger == "StopAuthorized":
            payload["idToken"] = {"idToken": s.id_tag, "type": "ISO14443"}
        return "TransactionEvent", payload

    def report(self, ch: _Charger, request_id: int) -> Frame:
        def item(
            component: dict[str, Any], variable: str, value: str, kind: str, mutability: str
        ) -> dict[str, Any]:
            return {
                "component": component,
                "variable": {"name": variable},
                "variableAttribute": [{"type": "Actual", "value": value, "mutability": mutability}],
                "variableCharacteristics": {"dataType": kind, "supportsMonitoring": False},
            }

        return "NotifyReport", {
            "requestId": request_id,
            "generatedAt": _now(),
            "seqNo": 0,
            "tbc": False,
            "reportData": [
                item(
                    {"name": "OCPPCommCtrlr"},
                    "HeartbeatInterval",
                    str(int(ch.heartbeat_interval)),
                    "integer",
                    "ReadWrite",
                ),
                item(
                    {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "AvailabilityState",
                    ch.status,
                    "OptionList",
                    "ReadOnly",
                ),
            ],
        }

    def variables(self, ch: _Charger) -> dict[tuple[str, str], str]:
        return {
            ("OCPPCommCtrlr", "HeartbeatInterval"): str(int(ch.heartbeat_interval)),
            ("SampledDataCtrlr", "TxUpdatedInterval"): str(int(ch.fleet.config.meter_interval)),
            ("SecurityCtrlr", "Identity"): ch.id,
        }

    def _variable_result(
        self, item: dict[str, Any], known: dict[tuple[str, str], str], status: str | None
    ) -> dict[str, Any]:
        component, variable = item.get("component") or {}, item.get("variable") or {}
        key = (component.get("name"), variable.get("name"))
        result: dict[str, Any] = {"component": component, "variable": variable}
        if "attributeType" in item:
            result["attributeType"] = item["attributeType"]
        if key not in known:
            components = {c for c, _ in known}
            status = "UnknownVariable" if key[0] in components else "UnknownComponent"
        result["attributeStatus"] = status or "Accepted"
        return result

    def answer(self, ch: _Charger, action: str, p: dict[str, Any]) -> dict[str, Any] | None:
        match action:
            case "RequestStartTransaction":
                token = (p.get("idToken") or {}).get("idToken")
                ok = ch.can_start() and isinstance(token, str)
                if ok:
                    ch.followups.append(("start", token, p.get("remoteStartId")))
                return {"status": "Accepted" if ok else "Rejected"}
            case "RequestStopTransaction":
                return self.remote_stop(ch, p.get("transactionId"))
            case "Reset":
                if p.get("type") == "OnIdle" and ch.session is not None:
                    return {"status": "Scheduled"}
                ch.followups.append(("reset", "ImmediateReset"))
                return {"status": "Accepted"}
            case "TriggerMessage":
                message = p.get("requestedMessage")
                if message == "TransactionEvent" and ch.session is not None:
                    message = "MeterValues"
                if message not in self.TRIGGERS:
                    return {
                        "status": "NotImplemented" if message != "TransactionEvent" else "Rejected"
                    }
                ch.followups.append(("trigger", message))
                return {"status": "Accepted"}
            case "ChangeAvailability":
                return {"status": ch.change_availability(p.get("operationalStatus") == "Operative")}
            case "GetVariables":
                known = self.variables(ch)
                results = []
                for item in p.get("getVariableData") or []:
                    result = self._variable_result(item, known, None)
                    key = (result["component"].get("name"), result["variable"].get("name"))
                    if result["attributeStatus"] == "Accepted":
                        result["attributeValue"] = known[key]
                    results.append(result)
                return {"getVariableResult": results}
            case "SetVariables":
                known = self.variables(ch)
                results = []
                for item in p.get("setVariableData") or []:
                    value = str(item.get("attributeValue", ""))
                    result = self._variable_result(item, known, "Rejected")
                    key = (result["component"].get("name"), result["variable"].get("name"))
                    if key == ("OCPPCommCtrlr", "HeartbeatInterval") and value.isdigit():
                        ch.set_heartbeat(float(value))
                        result["attributeStatus"] = "Accepted"
                    results.append(result)
                return {"setVariableResult": results}
            case "GetBaseReport":
                ch.followups.append(("report", p.get("requestId", 0)))
                return {"status": "Accepted"}
            case "GetReport" | "GetMonitoringReport" | "SetMonitoringBase":
                return {"status": "NotSupported"}
            case "GetTransactionStatus":
                s, asked = ch.session, p.get("transactionId")
                mine = s is not None and asked is not None and s.transaction_id == asked
                # An open transaction here ends with its own TransactionEvent, soon to be sent.
                answer: dict[str, Any] = {"messagesInQueue": mine}
                if asked is not None:
                    answer["ongoingIndicator"] = mine
                return answer
            case "UnlockConnector":
                busy = ch.session is not None
                return {"status": "OngoingAuthorizedTransaction" if busy else "Unlocked"}
            case "GetLocalListVersion":
                return {"versionNumber": 0}
            case "DataTransfer":
                return {"status": "UnknownVendorId"}
            case "GetInstalledCertificateIds" | "DeleteCertificate":
                return {"status": "NotFound"}
            case (
                "GetLog" | "UpdateFirmware" | "PublishFirmware" | "CustomerInformation"
                | "GetCompositeSchedule" | "SetNetworkProfile" | "SetDisplayMessage"
                | "SetMonitoringLevel"
            ):  # fmt: skip
                return {"status": "Rejected"}
            case "GetChargingProfiles":
                return {"status": "NoProfiles"}
            case "ClearChargingProfile" | "ClearDisplayMessage" | "GetDisplayMessages":
                return {"status": "Unknown"}
            case "UnpublishFirmware":
                return {"status": "NoFirmware"}
            case "CostUpdated":
                return {}
            case (
                "SendLocalList" | "CancelReservation" | "ClearCache" | "SetChargingProfile"
                | "ReserveNow" | "CertificateSigned" | "InstallCertificate"
            ):  # fmt: skip
                return {"status": "Accepted"}
        return None


V16, V201 = _V16(), _V201()
_AVAILABLE, _UNAVAILABLE = "Available", "Unavailable"


# -- one charger ----------------------------------------------------------------------------------


class _Dropped(Exception):
    """The charger closed its own connection (a random disconnect, a reset)."""


class _Charger:
    """One simulated charger: one task that connects, boots, beats, charges and reconnects."""

    __slots__ = (
        "fleet", "number", "id", "dialect", "id_tag", "draws", "uri", "headers",
        "ws", "online", "ever_connected", "booted", "has_booted", "boot_reason", "drop", "idle",
        "message_id", "status", "available", "session", "meter_wh", "heartbeat_interval",
        "heartbeat_fixed", "next_heartbeat", "next_status", "next_session",
        "next_disconnect", "followups", "task", "reply_deadline", "timed_out",
    )  # fmt: skip

    def __init__(self, fleet: Fleet, number: int, dialect: _Dialect, seed: int) -> None:
        """Charger `number` (1-based) of the fleet."""
        config = fleet.config
        self.fleet = fleet
        self.id = config.charger_id(number)
        self.dialect = dialect
        self.id_tag = config.id_tag(number)
        self.draws = _Draws(seed * 1_000_003 + number)
        self.uri = f"{config.url.rstrip('/')}/{quote(self.id, safe='')}"
        self.headers: dict[str, str] = {}
        if config.password is not None:
            secret = base64.b64encode(f"{self.id}:{config.password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {secret}"
        self.ws: ClientConnection | None = None
        self.online = self.ever_connected = False
        self.booted = False  # boot accepted and not rebooted since
        self.has_booted = False
        self.boot_reason = "PowerUp"
        self.drop: str | None = None  # why we are closing our own connection
        self.idle: asyncio.Timeout | None = None
        self.message_id = 0
        self.status = _AVAILABLE
        self.available = True  # operative (ChangeAvailability)
        self.session: _Session | None = None
        self.meter_wh = float(int(self.draws.uniform(0, 1_000_000)))
        self.heartbeat_interval = config.heartbeat if config.heartbeat is not None else 0.0
        self.heartbeat_fixed = config.heartbeat is not None
        self.next_heartbeat = self.next_status = math.inf
        self.next_session = self.next_disconnect = math.inf
        self.followups: deque[Followup] = deque()
        self.task: asyncio.Task[None] | None = None
        self.reply_deadline = math.inf  # while a CALL of ours waits for its reply
        self.timed_out = False

    @property
    def ocpp(self) -> str:
        return self.dialect.version

    # -- the life of a charger ------------------------------------------------------------------

    async def life(self, first_at: float) -> None:
        fleet, config = self.fleet, self.fleet.config
        if not await fleet.pause_until(first_at):
            return
        failures = 0
        while not fleet.closing:
            if not await self.connect():
                failures += 1
                backoff = self.draws.uniform(*config.reconnect_delay) * min(2**failures, 8)
                await fleet.pause(max(backoff, 0.5))
                continue
            failures = 0
            delay = await self.online_until_dropped()
            if delay is None:
                return
            await fleet.pause(delay)

    async def connect(self) -> bool:
        fleet, stats, config = self.fleet, self.fleet.stats, self.fleet.config
        stats.connect_attempts += 1
        load, reason = False, ""
        try:
            ws = await connect(
                self.uri,
                subprotocols=[self.dialect.subprotocol],
                additional_headers=self.headers,
                open_timeout=config.connect_timeout,
                ping_interval=None,
                close_timeout=2,
                compression=None,
                proxy=None,
                user_agent_header="cpo-sim fleet",
            )
        except InvalidStatus as exc:
            code = exc.response.status_code
            load, reason = code in (429, 503), f"HTTP {code}"
        except TimeoutError:
            load, reason = True, "opening handshake timed out"
        except ConnectionRefusedError:
            reason = "connection refused"  # nobody listens: not a sign of load
        except (OSError, EOFError, WebSocketException) as exc:
            # Resets and half-finished handshakes are what an overloaded server does.
            load = isinstance(exc, (ConnectionError, EOFError, WebSocketException))
            reason = type(exc).__name__
        else:
            if ws.subprotocol == self.dialect.subprotocol:
                self.ws = ws
                stats.connects += 1
                if self.ever_connected:
                    stats.reconnects += 1
                else:
                    fleet.ever_connected += 1
                self.ever_connected = True
                fleet.connected += 1
                fleet.changed()
                return True
            reason = f"no common subprotocol (got {ws.subprotocol!r})"
            await ws.close()
        if load:
            stats.refused_load += 1
        else:
            stats.failed_other += 1
        _count(stats.connect_failures, reason)
        return False

    async def online_until_dropped(self) -> float | None:
        """Serve one connection; the pause before reconnecting, or None to end."""
        fleet, config, stats = self.fleet, self.fleet.config, self.fleet.stats
        self.drop = None
        try:
            if not self.booted:
                if not await self.boot(self.boot_reason):
                    return None
            else:
                self.set_online(True)
            await self.serve()
            return None  # the fleet is closing
        except (ConnectionClosed, OSError, _Dropped):
            pass
        finally:
            self.set_online(False)
            fleet.connected -= 1
            ws, self.ws = self.ws, None
            if ws is not None and ws.transport is not None and not ws.transport.is_closing():
                ws.transport.abort()
            fleet.changed()
        why = self.drop or "server"
        _count(stats.disconnects, why)
        if fleet.closing:
            return None
        if why == "reset":
            self.booted, self.boot_reason = False, "RemoteReset"
            return self.draws.uniform(0.1, 1.0)
        if self.draws.random() < config.reboot_chance:
            self.booted, self.boot_reason = False, "PowerUp"
        return 0.0 if why == "storm" else self.draws.uniform(*config.reconnect_delay)

    def set_online(self, online: bool) -> None:
        if online != self.online:
            self.online = online
            self.fleet.online += 1 if online else -1
            self.fleet.changed()

    async def boot(self, reason: str) -> bool:
        """BootNotification until Accepted (Pending/Rejected: again after the interval given)."""
        fleet, stats = self.fleet, self.fleet.stats
        loop = asyncio.get_running_loop()
        while not fleet.closing:
            reply = await self.call(*self.dialect.boot(self, reason))
            status = str(reply.get("status")) if reply is not None else "no answer"
            _count(stats.boots, status)
            interval = _positive(reply.get("interval")) if reply is not None else None
            if status == "Accepted":
                if not self.heartbeat_fixed:
                    self.heartbeat_interval = interval or DEFAULT_HEARTBEAT
                now = loop.time()
                self.next_heartbeat = now + self.heartbeat_interval
                self.booted = True
                self.set_online(True)
                if not self.has_booted:
                    self.has_booted = True
                    self.draw_schedule(now)
                if self.session is not None:  # a reboot ends what was charging
                    stats.sessions["interrupted"] += 1
                    await self.end_session("PowerLoss")
                else:
                    await self.send_status()
                return True
            # Follow-ups wait for the boot: a triggered BootNotification is the next one anyway.
            await self.listen_until(loop.time() + min(interval or 10.0, 60.0), for_followups=False)
        return False

    def draw_schedule(self, now: float) -> None:
        config, n, d = self.fleet.config, self.fleet.config.count, self.draws
        self.next_status = now + d.after(config.status_rate / n)
        self.next_session = now + d.after(config.session_rate / n)
        self.next_disconnect = now + d.after(config.disconnect_rate / n)

    async def serve(self) -> None:
        """The charger's own behaviour, due item by due item, until the fleet closes."""
        fleet, config, stats, d = self.fleet, self.fleet.config, self.fleet.stats, self.draws
        loop = asyncio.get_running_loop()
        while True:
            if fleet.closing:
                await self.finish()
                return
            if self.followups:
                await self.follow(self.followups.popleft())
                continue
            now = loop.time()
            s = self.session
            if now >= self.next_disconnect:
                self.next_disconnect = now + d.after(config.disconnect_rate / config.count)
                self.drop = "random"
                assert self.ws is not None
                self.ws.transport.abort()
                raise _Dropped()
            if s is not None and now >= s.ends_at:
                await self.end_session("Local")
                continue
            if s is not None and now >= s.next_meter:
                await self.send_meter(s)
                continue
            if now >= self.next_status:
                self.next_status = now + d.after(config.status_rate / config.count)
                if s is None and self.available:
                    self.status = _UNAVAILABLE if self.status == _AVAILABLE else _AVAILABLE
                    stats.status_changes += 1
                    await self.send_status()
                continue
            if now >= self.next_session:
                self.next_session = now + d.after(config.session_rate / config.count)
                if self.can_start():
                    await self.begin_session(self.id_tag)
                else:
                    stats.sessions["skipped"] += 1
                continue
            if now >= self.next_heartbeat:
                await self.call("Heartbeat", {})
                self.next_heartbeat = loop.time() + self.heartbeat_interval
                continue
            until = min(self.next_heartbeat, self.next_status, self.next_session)
            until = min(until, self.next_disconnect, now + IDLE_CAP)
            if s is not None:
                until = min(until, s.ends_at, s.next_meter)
            await self.listen_until(until)

    async def finish(self) -> None:
        """The run is over: stop what charges, then close politely."""
        if self.session is not None:
            await self.end_session("Local")
        if self.ws is not None:
            await self.ws.close()

    async def follow(self, followup: Followup) -> None:
        """What a CSMS CALL we accepted asks us to do next."""
        kind = followup[0]
        if kind == "start" and self.can_start():
            await self.begin_session(followup[1], remote=True, remote_start_id=followup[2])
        elif kind == "stop" and self.session is not None:
            await self.end_session(followup[1])
        elif kind == "reset":
            if self.session is not None:
                await self.end_session(followup[1])
            self.drop = "reset"
            assert self.ws is not None
            await self.ws.close()
            raise _Dropped()
        elif kind == "trigger":
            message = followup[1]
            if message == "BootNotification":
                await self.call(*self.dialect.boot(self, "Triggered"))
            elif message == "Heartbeat":
                await self.call("Heartbeat", {})
            elif message == "StatusNotification":
                await self.send_status()
            elif message == "MeterValues":
                await self.call(*self.dialect.meter(self, self.session, trigger=True))
        elif kind == "availability":
            self.status = _AVAILABLE if followup[1] else _UNAVAILABLE
            await self.send_status()
        elif kind == "report" and isinstance(self.dialect, _V201):
            await self.call(*self.dialect.report(self, followup[1]))

    def can_start(self) -> bool:
        return self.online and self.session is None and self.available

    def change_availability(self, operative: bool) -> str:
        if self.session is not None and not operative:
            return "Scheduled"
        self.available = operative
        self.followups.append(("availability", operative))
        return "Accepted"

    def set_heartbeat(self, seconds: float) -> None:
        self.heartbeat_interval, self.heartbeat_fixed = seconds, True
        self.next_heartbeat = asyncio.get_running_loop().time() + seconds

    # -- sessions -------------------------------------------------------------------------------

    async def begin_session(
        self, id_tag: str, remote: bool = False, remote_start_id: int | None = None
    ) -> None:
        stats, d = self.fleet.stats, self.dialect
        loop = asyncio.get_running_loop()
        self.status = d.busy_status
        await self.send_status()
        # Remote starts come authorized (AuthorizeRemoteTxRequests / AuthorizeRemoteStart false).
        if not remote and not await self.authorized(id_tag):
            return
        s = _Session(id_tag, remote_start_id)
        reply = await self.call(*d.start(self, s))
        if reply is None:
            stats.sessions["failed"] += 1
            await self.back_to_available()
            return
        verdict = d.started(reply, s)
        if s.transaction_id is None:
            stats.sessions["failed"] += 1
            await self.back_to_available()
            return
        now = loop.time()
        s.last_sample = now
        s.next_meter = now + self.fleet.config.meter_interval
        s.ends_at = now + self.fleet.config.session_seconds
        self.session = s
        stats.sessions["started"] += 1
        self.fleet.changed()
        if verdict != "Accepted":
            stats.sessions["refused"] += 1
            await self.end_session("DeAuthorized")
            return
        if d.charging_status is not None:
            self.status = d.charging_status
            await self.send_status()

    async def authorized(self, id_tag: str) -> bool:
        stats = self.fleet.stats
        reply = await self.call(*self.dialect.authorize(id_tag))
        if reply is None:
            stats.sessions["failed"] += 1
        elif self.dialect.authorized(reply) != "Accepted":
            stats.sessions["refused"] += 1
        else:
            return True
        await self.back_to_available()
        return False

    async def back_to_available(self) -> None:
        self.status = _AVAILABLE if self.available else _UNAVAILABLE
        await self.send_status()

    def sample(self, s: _Session) -> None:
        now = asyncio.get_running_loop().time()
        self.meter_wh += POWER_W * (now - s.last_sample) / 3600.0
        s.last_sample = now

    async def send_meter(self, s: _Session) -> None:
        self.sample(s)
        s.next_meter = asyncio.get_running_loop().time() + self.fleet.config.meter_interval
        await self.call(*self.dialect.meter(self, s))

    async def end_session(self, reason: str) -> None:
        s = self.session
        assert s is not None
        self.sample(s)
        reply = await self.call(*self.dialect.stop(self, s, reason))
        # Given up on a CALLERROR or a timeout too: resending would not change the answer.
        self.session = None
        self.fleet.stats.sessions["ended" if reply is not None else "failed"] += 1
        self.fleet.changed()
        await self.back_to_available()

    async def send_status(self) -> None:
        await self.call(*self.dialect.status(self))

    # -- the wire -------------------------------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Send one CALL and wait for its reply, answering the CSMS's CALLs meanwhile.

        The CALLRESULT payload; None after a CALLERROR or a timeout (both counted). Raises
        ConnectionClosed when the connection goes.
        """
        ws, stats = self.ws, self.fleet.stats
        assert ws is not None
        self.message_id += 1
        message_id = str(self.message_id)
        counts = stats.actions.get(action) or stats.action(action)
        counts.calls += 1
        sent = time.perf_counter()
        # The fleet's watchdog, not a timeout object per CALL (a tenth of the generator's
        # time at full speed), cancels us at this deadline: see Fleet.expire_replies.
        self.reply_deadline = asyncio.get_running_loop().time() + self.fleet.config.reply_timeout
        try:
            await ws.send(orjson.dumps([CALL, message_id, action, payload]), text=True)
            stats.frames_sent += 1
            while True:
                data = await ws.recv(decode=False)
                stats.frames_received += 1
                frame = self.parse(data)
                if frame is None:
                    continue
                if frame[0] == CALL:
                    await self.answer(frame)
                elif frame[1] == message_id:
                    break
                else:
                    stats.late_replies += 1
        except asyncio.CancelledError:
            if not self.timed_out:
                raise
            self.timed_out = False
            task = asyncio.current_task()
            assert task is not None
            task.uncancel()  # the watchdog's cancellation, taken back
            counts.timeouts += 1
            return None
        except (ConnectionClosed, OSError):
            counts.lost += 1
            raise
        finally:
            self.reply_deadline = math.inf
        latency = time.perf_counter() - sent
        counts.latency.add(latency)
        stats.window.add(latency)
        stats.replies += 1
        if frame[0] == CALLRESULT and len(frame) > 2 and isinstance(frame[2], dict):
            counts.results += 1
            return frame[2]  # type: ignore[no-any-return]
        counts.errors += 1
        code = frame[2] if len(frame) > 2 else "?"
        text = frame[3] if len(frame) > 3 else ""
        _count(stats.error_texts, f"{action}: {code} {str(text)[:80]}".rstrip())
        return None

    async def listen_until(self, until: float, for_followups: bool = True) -> None:
        """Idle until `until` (loop time), answering the CSMS's CALLs; the fleet may wake us.

        Returns early when an answer left something to do (for_followups) or the fleet closes.
        """
        ws, stats = self.ws, self.fleet.stats
        assert ws is not None
        while True:
            try:
                async with asyncio.timeout_at(until) as timeout:
                    self.idle = timeout
                    data = await ws.recv(decode=False)
            except TimeoutError:
                return
            finally:
                self.idle = None
            stats.frames_received += 1
            frame = self.parse(data)
            if frame is not None and frame[0] == CALL:
                await self.answer(frame)
                if self.followups and for_followups:
                    return
            elif frame is not None:
                stats.late_replies += 1
            if self.fleet.closing:
                return

    def wake(self) -> None:
        """End an idle wait now (the fleet closes)."""
        if (timeout := self.idle) is not None:
            with contextlib.suppress(RuntimeError):
                timeout.reschedule(asyncio.get_running_loop().time())

    def parse(self, data: Any) -> list[Any] | None:
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:
            frame = None
        if not isinstance(frame, list) or len(frame) < 2 or frame[0] not in (2, 3, 4):
            self.fleet.stats.bad_frames += 1
            return None
        return frame

    async def answer(self, frame: list[Any]) -> None:
        stats = self.fleet.stats
        action = frame[2] if len(frame) > 2 and isinstance(frame[2], str) else "?"
        payload = frame[3] if len(frame) > 3 and isinstance(frame[3], dict) else {}
        _count(stats.server_calls, action)
        result = self.dialect.answer(self, action, payload)
        if result is None:
            reply: list[Any] = [
                CALLERROR,
                frame[1],
                "NotImplemented",
                f"{action} is not simulated",
                {},
            ]
        else:
            reply = [CALLRESULT, frame[1], result]
        assert self.ws is not None
        await self.ws.send(orjson.dumps(reply), text=True)
        stats.frames_sent += 1


def _positive(value: Any) -> float | None:
    """A positive number of seconds from a peer's answer, or None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


# -- the fleet ------------------------------------------------------------------------------------


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


class Fleet:
    """Thousands of simulated chargers against one CSMS, scriptable from Python.

        fleet = Fleet(FleetConfig(url="ws://127.0.0.1:8000/ocpp", count=1000, session_rate=5))
        summary = await fleet.run()          # start, run config.seconds, stop

    or step by step: `await fleet.start()`, `await fleet.wait_connected()`, `fleet.storm()`,
    `await fleet.stop()` (which returns the summary).
    """

    def __init__(
        self, config: FleetConfig, on_progress: Callable[[Progress], None] | None = None
    ) -> None:
        self.config = config
        self.seed = (
            config.seed if config.seed is not None else random.SystemRandom().getrandbits(32)
        )
        self.on_progress = on_progress
        self.stats = FleetStats()
        self.connected = 0  # chargers with an open connection
        self.online = 0  # of those, with an accepted BootNotification
        self.ever_connected = 0
        self.closing = False
        self.last_progress: Progress | None = None
        self.peak_rate = 0.0
        picker = random.Random(self.seed)
        count = config.count
        newer = set(picker.sample(range(1, count + 1), round(config.mix * count)))
        self.chargers = [
            _Charger(self, n, V201 if n in newer else V16, self.seed) for n in range(1, count + 1)
        ]
        self._closed_event: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None
        self._finished: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._helpers: list[asyncio.Task[None]] = []
        self._started_at = self._stopped_at = 0.0
        self._cpu_from = self._cpu_to = 0.0
        self._summary: dict[str, Any] | None = None
        self._at_stop: tuple[int, int, int] | None = None  # connected, booted, replies

    # -- control ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Launch every charger (staggered or at once); returns at once."""
        if self._tasks:
            raise RuntimeError("this fleet has already started")
        _raise_file_limit(self.config.count + 64)
        loop = asyncio.get_running_loop()
        self._closed_event, self._changed = asyncio.Event(), asyncio.Event()
        self._finished = asyncio.Event()
        self._started_at, self._cpu_from = time.perf_counter(), _cpu_seconds()
        now = loop.time()
        staggered = self.config.connect == "staggered"
        for i, charger in enumerate(self.chargers):
            first = now + i / self.config.connect_rate if staggered else now
            task = asyncio.create_task(charger.life(first), name=f"fleet-{charger.id}")
            charger.task = task
            self._tasks.append(task)
        self._helpers.append(asyncio.create_task(self._tick(), name="fleet-progress"))
        if self.config.storm_at is not None:
            self._helpers.append(asyncio.create_task(self._storm_at(self.config.storm_at)))

    async def run(self) -> dict[str, Any]:
        """Start, run for config.seconds (or until finish()), stop; the summary."""
        await self.start()
        assert self._finished is not None
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.seconds):
                    await self._finished.wait()
        finally:
            summary = await self.stop()
        return summary

    def finish(self) -> None:
        """End run() now (Ctrl-C); its summary still comes."""
        if self._finished is not None:
            self._finished.set()

    async def stop(self) -> dict[str, Any]:
        """Stop open sessions, close every connection (bounded by finish_timeout); the summary."""
        if self._summary is not None:
            return self._summary
        self._stopped_at, self._cpu_to = time.perf_counter(), _cpu_seconds()
        self._at_stop = (self.connected, self.online, self.stats.replies)
        self.closing = True
        for task in self._helpers:
            task.cancel()
        if self._closed_event is not None:
            self._closed_event.set()
        for charger in self.chargers:
            charger.wake()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.config.finish_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5.0)
        for charger in self.chargers:
            if charger.ws is not None and charger.ws.transport is not None:
                charger.ws.transport.abort()
        for task in self._tasks:
            if task.done() and not task.cancelled() and (exc := task.exception()) is not None:
                _count(self.stats.error_texts, f"charger task: {type(exc).__name__}: {exc}"[:120])
        self.stats.roll()
        self._summary = self.summary()
        return self._summary

    def storm(self) -> int:
        """Drop every connection at once; each charger reconnects at once. How many dropped."""
        self.stats.storms += 1
        dropped = 0
        for charger in self.chargers:
            ws = charger.ws
            if ws is not None and ws.transport is not None and not ws.transport.is_closing():
                charger.drop = "storm"
                ws.transport.abort()
                dropped += 1
        return dropped

    async def _storm_at(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.storm()

    # -- waiting ----------------------------------------------------------------------------

    @property
    def sessions_open(self) -> int:
        return sum(1 for c in self.chargers if c.session is not None)

    def changed(self) -> None:
        """Wake wait_until (a charger connected, booted, dropped, began or ended a session)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[Fleet], bool], timeout: float = 60.0) -> None:
        """Return once predicate(fleet) holds (checked at every connect, boot, drop, session)."""
        async with asyncio.timeout(timeout):
            while True:
                event = self._changed
                if predicate(self):
                    return
                assert event is not None, "start the fleet first"
                await event.wait()

    async def wait_connected(self, count: int | None = None, timeout: float = 60.0) -> None:
        """Return once `count` chargers (all by default) are connected and booted."""
        wanted = self.config.count if count is None else count
        await self.wait_until(lambda f: f.online >= wanted, timeout)

    async def pause(self, seconds: float) -> bool:
        """Sleep (a charger's behaviour), cut short when the fleet closes; False if it did."""
        if self.closing:
            return False
        assert self._closed_event is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closed_event.wait()
        return not self.closing

    async def pause_until(self, when: float) -> bool:
        return await self.pause(max(0.0, when - asyncio.get_running_loop().time()))

    async def _tick(self) -> None:
        """Once a second: the rate of the last second, the latencies, the progress callback."""
        stats = self.stats
        last, last_replies = time.perf_counter(), 0
        while True:
            await asyncio.sleep(1.0)
            self.expire_replies()
            now = time.perf_counter()
            window = stats.roll()
            rate = (stats.replies - last_replies) / max(now - last, 1e-6)
            last, last_replies = now, stats.replies
            self.peak_rate = max(self.peak_rate, rate)
            totals = stats.totals()

            self.last_progress = Progress(
                elapsed=now - self._started_at,
                count=self.config.count,
                connected=self.connected,
                online=self.online,
                rate=rate,
                calls=totals["calls"],
                errors=totals["errors"] + totals["timeouts"] + totals["connection_errors"],
                p50_ms=_ms_at(window, 0.5),
                p90_ms=_ms_at(window, 0.9),
                p99_ms=_ms_at(window, 0.99),
                sessions=self.sessions_open,
            )
            if self.on_progress is not None:
                self.on_progress(self.last_progress)
            self.changed()  # wait_until's predicates see the counters at least every second

    def expire_replies(self) -> None:
        """Cut short every CALL whose reply is overdue (checked every second)."""
        now = asyncio.get_running_loop().time()
        for charger in self.chargers:
            if charger.reply_deadline < now and not charger.timed_out and charger.task:
                charger.timed_out = True
                charger.task.cancel()

    # -- results ----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Everything counted so far, as plain JSON-ready data."""
        stats, config = self.stats, self.config
        end = self._stopped_at or time.perf_counter()
        elapsed = max(end - self._started_at, 1e-6) if self._started_at else 0.0
        cpu = (self._cpu_to or _cpu_seconds()) - self._cpu_from
        totals = stats.totals()
        newer = sum(1 for c in self.chargers if c.dialect is V201)
        # At the end of the run proper, before the fleet closed its connections.
        connected, booted, replies = self._at_stop or (self.connected, self.online, stats.replies)
        settings = asdict(config)
        settings["seed"] = self.seed
        if settings["password"] is not None:
            settings["password"] = "***"
        return {
            "config": settings,
            "seconds": round(elapsed, 3),
            "chargers": {
                "count": config.count,
                "ocpp16": config.count - newer,
                "ocpp201": newer,
                "connected": connected,
                "booted": booted,
                "ever_connected": self.ever_connected,
            },
            "connects": {
                "attempts": stats.connect_attempts,
                "succeeded": stats.connects,
                "reconnects": stats.reconnects,
                "failed": stats.refused_load + stats.failed_other,
                "refused_load": stats.refused_load,
                "failed_other": stats.failed_other,
                "reasons": dict(stats.connect_failures),
            },
            "boots": dict(stats.boots),
            "disconnects": dict(stats.disconnects),
            "storms": stats.storms,
            "messages": totals
            | {
                "rate": round(replies / elapsed, 1) if elapsed else 0.0,
                "peak_rate": round(self.peak_rate, 1),
                "frames_sent": stats.frames_sent,
                "frames_received": stats.frames_received,
                "late_replies": stats.late_replies,
                "bad_frames": stats.bad_frames,
            },
            "latency_ms": stats.latency.summary_ms(),
            "actions": {name: a.as_dict() for name, a in sorted(stats.actions.items())},
            "server_calls": dict(stats.server_calls),
            "sessions": dict(stats.sessions) | {"open": self.sessions_open},
            "status_changes": stats.status_changes,
            "errors": dict(stats.error_texts),
            "cpu": {
                "seconds": round(cpu, 3),
                "cores": round(cpu / elapsed, 3) if elapsed else None,
            },
        }

    # -- the generator's own ceiling --------------------------------------------------------

    @staticmethod
    async def ceiling(config: FleetConfig, seconds: float = 5.0) -> dict[str, Any]:
        """The rate this generator itself can drive: the same fleet, heartbeats back to back,
        against an in-process server that answers every CALL at once.

        Fleet and server share this process's one event loop, so `rate` is a lower bound: the
        fleet alone, against a server elsewhere, has the whole core to itself.
        """
        seconds = min(max(seconds, 0.5), 60.0)
        # Both ends of every connection live in this process: two sockets per charger.
        _raise_file_limit(2 * config.count + 256)
        count = min(config.count, max(1, (_file_limit() - 256) // 2))
        async with echo_server() as url:
            trial = replace(
                config,
                url=url,
                count=count,
                password=None,
                connect="simultaneous",
                heartbeat=0.0,
                disconnect_rate=0.0,
                storm_at=None,
                seconds=MAX_SECONDS,
                finish_timeout=min(config.finish_timeout, 5.0),
            )
            fleet = Fleet(trial)
            await fleet.start()
            try:
                await fleet.wait_connected(timeout=120.0)
                stats = fleet.stats
                stats.roll()
                stats.latency = Latencies()  # from here on: the window's latencies only
                replies, errors = stats.replies, _errors(stats)
                wall, cpu = time.perf_counter(), _cpu_seconds()
                await asyncio.sleep(seconds)
                wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
                replies, errors = stats.replies - replies, _errors(stats) - errors
                stats.roll()
                latency = stats.latency.summary_ms()
            finally:
                await fleet.stop()
        return {
            "chargers": count,
            "seconds": round(wall, 3),
            "replies": replies,
            "errors": errors,
            "rate": round(replies / wall, 1),
            "latency_ms": latency,
            "cores": round(cpu / wall, 3),
        }


def _ms_at(latencies: Latencies, q: float) -> float | None:
    value = latencies.quantile(q)
    return None if value is None else value * 1000


def _errors(stats: FleetStats) -> int:
    totals = stats.totals()
    return totals["errors"] + totals["timeouts"] + totals["connection_errors"]


def _file_limit() -> int:
    try:
        import resource

        return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    except (ImportError, OSError, ValueError):
        return 1024


def _raise_file_limit(wanted: int) -> None:
    """One socket per charger: lift the soft limit on open files toward the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < wanted:
            ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    except (ImportError, OSError, ValueError):
        pass


# -- the echo server ------------------------------------------------------------------------------

# One answer fits every CALL the fleet sends: what Boot, Authorize, Start and the rest look for.
ECHO_REPLY = orjson.dumps(
    {
        "status": "Accepted",
        "currentTime": "2025-01-01T00:00:00.000Z",
        "interval": 300,
        "idTagInfo": {"status": "Accepted"},
        "idTokenInfo": {"status": "Accepted"},
        "transactionId": 1,
    }
)


@contextlib.asynccontextmanager
async def echo_server(host: str = "127.0.0.1") -> AsyncIterator[str]:
    """A bare OCPP-J server on this event loop that answers every CALL at once; its URL."""
    async with serve(
        _echo,
        host,
        0,
        subprotocols=[Subprotocol("ocpp2.0.1"), Subprotocol("ocpp1.6")],
        compression=None,
        ping_interval=None,
        close_timeout=1,
        backlog=4096,
    ) as server:
        port = int(next(iter(server.sockets)).getsockname()[1])
        yield f"ws://{host}:{port}/ocpp"


async def _echo(ws: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        while True:
            data = await ws.recv(decode=False)
            frame = orjson.loads(data)
            if isinstance(frame, list) and len(frame) > 2 and frame[0] == CALL:
                await ws.send(b"[3," + orjson.dumps(frame[1]) + b"," + ECHO_REPLY + b"]", text=True)


# -- a summary for people -------------------------------------------------------------------------


def summary_text(summary: dict[str, Any]) -> str:
    """The summary (and the ceiling, when present) as a few readable lines."""
    lines: list[str] = []
    if "chargers" in summary:
        lines += _run_text(summary)
    if (ceiling := summary.get("ceiling")) is not None:
        lat = ceiling["latency_ms"]
        lines.append(
            f"generator ceiling: at least {ceiling['rate']:.0f} msg/s with {ceiling['chargers']} "
            f"chargers sending back to back for {ceiling['seconds']:.1f} s against an in-process "
            f"echo server sharing its core ({ceiling['cores']:.2f} cores used; "
            f"p50 {_ms(lat['p50'])} p99 {_ms(lat['p99'])} ms; {ceiling['errors']} errors)"
        )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _run_text(s: dict[str, Any]) -> list[str]:
    c, k, m, lat = s["chargers"], s["connects"], s["messages"], s["latency_ms"]
    config = s["config"]
    lines = [
        f"fleet: {c['count']} chargers ({c['ocpp16']} OCPP 1.6J, {c['ocpp201']} OCPP 2.0.1) "
        f"against {config['url']} for {s['seconds']:.1f} s (seed {config['seed']})",
        f"connected {c['connected']} at the end ({c['booted']} booted), "
        f"{c['ever_connected']} ever; {k['attempts']} connection attempts, {k['failed']} failed "
        f"({k['refused_load']} refused for load, {k['failed_other']} other), "
        f"{k['reconnects']} reconnections",
        f"messages: {m['calls']} CALLs, {m['results']} results, {m['errors']} CALLERRORs, "
        f"{m['timeouts']} timeouts, {m['connection_errors']} lost with their connection; "
        f"{m['rate']:.1f} msg/s on average, {m['peak_rate']:.1f} at peak",
        f"latency: p50 {_ms(lat['p50'])} p90 {_ms(lat['p90'])} p99 {_ms(lat['p99'])} "
        f"max {_ms(lat['max'])} ms",
    ]
    width = max((len(name) for name in s["actions"]), default=6)
    if s["actions"]:
        lines.append(
            f"  {'action':<{width}} {'calls':>8} {'results':>8} {'errors':>7} {'timeouts':>8}"
            f" {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}  (ms)"
        )
    for name, a in s["actions"].items():
        al = a["latency_ms"]
        lines.append(
            f"  {name:<{width}} {a['calls']:>8} {a['results']:>8} {a['errors']:>7}"
            f" {a['timeouts']:>8} {_ms(al['p50']):>7} {_ms(al['p90']):>7} {_ms(al['p99']):>7}"
            f" {_ms(al['max']):>7}"
        )
    sessions = s["sessions"]
    lines.append(
        "sessions: "
        + ", ".join(f"{n} {what}" for what, n in sessions.items())
        + f"; status changes {s['status_changes']}"
    )
    if sessions["refused"]:
        lines.append(
            "  (refused sessions: the platform did not accept the id tags; "
            "add them, e.g. `cpo token add TAG`, or pass --id-tag)"
        )
    if s["disconnects"] or s["storms"]:
        drops = ", ".join(f"{n} {why}" for why, n in s["disconnects"].items()) or "none"
        lines.append(f"disconnects: {drops}; storms {s['storms']}")
    if s["server_calls"]:
        lines.append(
            "CSMS CALLs answered: " + ", ".join(f"{a} {n}" for a, n in s["server_calls"].items())
        )
    if k["reasons"]:
        lines.append(
            "connection failures: " + ", ".join(f"{r} ({n})" for r, n in k["reasons"].items())
        )
    for text, n in list(s["errors"].items())[:10]:
        lines.append(f"  error x{n}: {text}")
    cpu = s["cpu"]
    lines.append(f"load generator CPU: {cpu['seconds']:.1f} s, {cpu['cores'] or 0:.2f} of a core")
    if (cpu["cores"] or 0) > 0.85:
        lines.append(
            "  (the generator ran near a full core: it may be the bottleneck; "
            "compare with its ceiling, --ceiling)"
        )
    return lines
