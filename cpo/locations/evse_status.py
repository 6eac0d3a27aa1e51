"""OCPP charger state → OCPI EVSE status (the OCPP digest's section 4a; OCPI defines none)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CONNECTOR = {
    "Available": "AVAILABLE",
    "Occupied": "CHARGING",
    "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUTOFORDER",
}


@dataclass(frozen=True)
class ConnectorState:
    status: str | None  # version-neutral: Available, Occupied, Reserved, Unavailable, Faulted
    availability: str = "Operative"  # after ChangeAvailability: Operative | Inoperative


def evse_status(
    online: bool, station_status: str | None, connectors: Sequence[ConnectorState]
) -> str:
    """The OCPI status of one EVSE from its charger's connection, station state and connectors.

    Offline or never heard of: UNKNOWN. The station as a whole (1.6 connector 0, 2.0.1 EVSE
    0) Faulted or Unavailable overrides. Of several connectors, the first rule that matches:
    any in use, any reserved, any available, all faulted, any unavailable.
    """
    if not online:
        return "UNKNOWN"
    if station_status == "Faulted":
        return "OUTOFORDER"
    if station_status == "Unavailable":
        return "INOPERATIVE"
    states = [
        "Unavailable" if c.availability == "Inoperative" and c.status != "Occupied" else c.status
        for c in connectors
    ]
    known = [s for s in states if s in CONNECTOR]
    if not known:
        # A charger that only ever reports connector 0 speaks for all its EVSEs.
        return CONNECTOR.get(station_status or "", "UNKNOWN")
    for wanted in ("Occupied", "Reserved", "Available"):
        if wanted in known:
            return CONNECTOR[wanted]
    if all(s == "Faulted" for s in known):
        return "OUTOFORDER"
    if "Unavailable" in known:
        return "INOPERATIVE"
    return "UNKNOWN"
