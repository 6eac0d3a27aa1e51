"""Version-neutral data shared by the simulator and its OCPP 1.6 / 2.0.1 adapters."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

VOLTAGE_V = 230.0
SIGNING_METHOD = "ECDSA-secp256r1-SHA256"
# Big enough that a simulated session never reaches 100 % by accident.
BATTERY_WH = 60_000.0
START_SOC = 20.0


class CallErrorReceived(Exception):
    """The central system answered one of our CALLs with a CALLERROR."""

    def __init__(self, code: str, description: str = "", details: Any = None) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.details = details if details is not None else {}


class SessionRejected(Exception):
    """run_session stopped before charging because the token was not accepted."""

    def __init__(self, status: str) -> None:
        super().__init__(f"authorization {status}")
        self.status = status


@dataclass
class SimTransaction:
    """A transaction as the charger sees it."""

    transaction_id: str
    evse_id: int
    id_tag: str
    meter_start_wh: int
    status: str
    seq_no: int = 0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    remote_start_id: int | None = None
    id_token_type: str = "ISO14443"
    meter_stop_wh: int | None = None


@dataclass
class Reading:
    """One simulated meter sample."""

    timestamp: datetime
    energy_wh: int
    power_w: float = 0.0
    current_a: float = 0.0
    voltage_v: float = VOLTAGE_V
    soc: float | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """RFC 3339 UTC with milliseconds and a Z, the form every CSMS accepts."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware datetime (UTC when it names no zone)."""
    ts = datetime.fromisoformat(text)
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def ocmf(station: str, serial: str, id_tag: str, reading: Reading, begin: bool) -> str:
    """A register reading as a base64 OCMF record, the format Eichrecht-approved meters sign.

    The signature is a SHA-256 of the payload, not ECDSA: enough for a CSMS to store and pass
    on, not to verify.
    """
    at = reading.timestamp.astimezone(UTC)
    payload = {
        "FV": "1.0",
        "GI": station,
        "GS": serial,
        "PG": "T1",
        "IS": True,
        "IT": "ISO14443",
        "ID": id_tag,
        "RD": [
            {
                "TM": at.strftime("%Y-%m-%dT%H:%M:%S,%f")[:-3] + "+0000 S",
                "TX": "B" if begin else "E",
                "RV": reading.energy_wh / 1000.0,
                "RI": "01-00:98.08.00.FF",
                "RU": "kWh",
                "ST": "G",
            }
        ],
    }
    text = json.dumps(payload, separators=(",", ":"))
    signature = {"SA": SIGNING_METHOD, "SD": hashlib.sha256(text.encode()).hexdigest()}
    record = f"OCMF|{text}|{json.dumps(signature, separators=(',', ':'))}"
    return base64.b64encode(record.encode()).decode()


def public_key(station: str) -> str:
    """The simulated meter's public key: stable per charger, base64."""
    return base64.b64encode(hashlib.sha256(f"meter-key:{station}".encode()).digest()).decode()


def status_201(status_16: str) -> str:
    """Map a 1.6 connector status onto the 2.0.1 ConnectorStatus vocabulary."""
    if status_16 in {"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"}:
        return "Occupied"
    return status_16
