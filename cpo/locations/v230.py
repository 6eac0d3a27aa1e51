"""OCPI 2.3.0 Location, EVSE and Connector objects: what 2.3.0 adds to 2.2.1 (v221.py).

2.3.0 adds, all optional: a Location's `parking_places` (Parking) and `help_phone`; an EVSE's
`parking` (EVSEParking, naming a Parking of its Location) and `accepted_service_providers`; a
Connector's `capabilities` (Plug & Charge). Parking and `accepted_service_providers` are there
for the EU's AFIR reporting to National Access Points; receivers that are not NAPs may ignore
them. The stored form is 2.2.1's plus these additions; 2.2.1 has no rule to ignore fields it
does not know, so `without_additions` takes them out again for a 2.2.1 party."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from cpo.locations import v221
from cpo.ocpi.models import Image, Wire, cistring, invalid, string

__all__ = [
    "CONNECTOR_ADDITIONS",
    "Connector",
    "ConnectorCapability",
    "ConnectorIn",
    "EVSE",
    "EVSEParking",
    "EVSEParkingIn",
    "EVSEPosition",
    "EVSE_ADDITIONS",
    "EvseIn",
    "LOCATION_ADDITIONS",
    "Location",
    "LocationIn",
    "Parking",
    "ParkingDirection",
    "ParkingIn",
    "VehicleType",
    "without_additions",
]


class VehicleType(enum.StrEnum):
    MOTORCYCLE = "MOTORCYCLE"
    PERSONAL_VEHICLE = "PERSONAL_VEHICLE"
    PERSONAL_VEHICLE_WITH_TRAILER = "PERSONAL_VEHICLE_WITH_TRAILER"
    VAN = "VAN"
    SEMI_TRACTOR = "SEMI_TRACTOR"
    RIGID = "RIGID"
    TRUCK_WITH_TRAILER = "TRUCK_WITH_TRAILER"
    BUS = "BUS"
    DISABLED = "DISABLED"


class ParkingDirection(enum.StrEnum):
    PARALLEL = "PARALLEL"
    PERPENDICULAR = "PERPENDICULAR"
    ANGLE = "ANGLE"


class EVSEPosition(enum.StrEnum):
    LEFT = "LEFT"
    RIGHT = "RIGHT"
    CENTER = "CENTER"


class ConnectorCapability(enum.StrEnum):
    """Only what a driver can really use at the connector, not what the hardware supports."""

    ISO_15118_2_PLUG_AND_CHARGE = "ISO_15118_2_PLUG_AND_CHARGE"
    ISO_15118_20_PLUG_AND_CHARGE = "ISO_15118_20_PLUG_AND_CHARGE"


Measure = Annotated[float, Field(ge=0)]  # kilograms, centimetres or minutes
ParkingId = Annotated[str, cistring(36)]
ServiceProvider = Annotated[str, string(50)]
HelpPhone = Annotated[str, cistring(25)]
# A CiString the spec gives no length.
ApdsReference = Annotated[str, StringConstraints(min_length=1, pattern=r"^[\x20-\x7e]*$")]


class Parking(Wire):
    """A parking place vehicles charging at the Location can use."""

    id: ParkingId
    physical_reference: Annotated[str, string(12)] | None = None
    vehicle_types: Annotated[list[VehicleType], Field(min_length=1)]
    max_vehicle_weight: Measure | None = None
    max_vehicle_height: Measure | None = None
    max_vehicle_length: Measure | None = None
    max_vehicle_width: Measure | None = None
    parking_space_length: Measure | None = None
    parking_space_width: Measure | None = None
    dangerous_goods_allowed: bool | None = None
    direction: ParkingDirection | None = None
    drive_through: bool | None = None
    restricted_to_type: bool
    reservation_required: bool
    time_limit: Measure | None = None
    roofed: bool | None = None
    images: list[Image] | None = None
    lighting: bool | None = None
    refrigeration_outlet: bool | None = None
    standards: list[Annotated[str, cistring(36)]] | None = None
    apds_reference: ApdsReference | None = None


class EVSEParking(Wire):
    """A Parking of the EVSE's Location that vehicles charging at the EVSE can use."""

    parking_id: ParkingId
    evse_position: EVSEPosition | None = None


class ParkingIn(Parking):
    model_config = ConfigDict(extra="forbid")


class EVSEParkingIn(EVSEParking):
    model_config = ConfigDict(extra="forbid")


# Each class adds 2.3.0's fields to its 2.2.1 namesake, the wire form and the operator's input
# form (*In) alike; the nested lists are redeclared to hold the 2.3.0 objects.


class Connector(v221.Connector):
    capabilities: list[ConnectorCapability] | None = None


class ConnectorIn(v221.ConnectorIn):
    capabilities: list[ConnectorCapability] | None = None


class EVSE(v221.EVSE):
    connectors: Annotated[list[Connector], Field(min_length=1)]  # type: ignore[assignment]
    parking: list[EVSEParking] | None = None
    accepted_service_providers: list[ServiceProvider] | None = None


class EvseIn(v221.EvseIn):
    connectors: Annotated[list[ConnectorIn], Field(min_length=1)]  # type: ignore[assignment]
    parking: list[EVSEParkingIn] | None = None
    accepted_service_providers: list[ServiceProvider] | None = None


def _parking_consistent(places: Sequence[Parking], evses: Iterable[EVSE | EvseIn]) -> None:
    """Parking ids are unique within the Location, and every EVSEParking names one of them."""
    ids = [p.id for p in places]
    v221._unique(ids, "parking_places: parking id")
    known = {i.upper() for i in ids}  # CiString: compared without regard to case
    for evse in evses:
        for link in evse.parking or []:
            if link.parking_id.upper() not in known:
                raise invalid(
                    f"evses: EVSE {evse.uid!r} parking names parking_id {link.parking_id!r}, "
                    "which is not one of the Location's parking_places"
                )


class Location(v221.Location):
    evses: list[EVSE] | None = None  # type: ignore[assignment]
    parking_places: list[Parking] | None = None
    help_phone: HelpPhone | None = None

    @model_validator(mode="after")
    def _parking_places_named(self) -> Self:
        _parking_consistent(self.parking_places or [], self.evses or [])
        return self


class LocationIn(v221.LocationIn):
    """A Location as the operator imports it (see v221.LocationIn), with 2.3.0's additions."""

    evses: list[EvseIn] | None = None  # type: ignore[assignment]
    parking_places: list[ParkingIn] | None = None
    help_phone: HelpPhone | None = None

    @model_validator(mode="after")
    def _parking_places_named(self) -> Self:
        _parking_consistent(self.parking_places or [], self.evses or [])
        return self


def _added(newer: type[Wire], older: type[Wire]) -> frozenset[str]:
    return frozenset(newer.model_fields) - frozenset(older.model_fields)


# The fields 2.3.0 adds at each level, read off the models so that they cannot drift apart.
LOCATION_ADDITIONS = _added(Location, v221.Location)
EVSE_ADDITIONS = _added(EVSE, v221.EVSE)
CONNECTOR_ADDITIONS = _added(Connector, v221.Connector)


def connector_without_additions(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if k not in CONNECTOR_ADDITIONS}


def evse_without_additions(stored: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in stored.items() if k not in EVSE_ADDITIONS}
    if "connectors" in stored:
        out["connectors"] = [connector_without_additions(c) for c in stored["connectors"]]
    return out


def without_additions(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored Location (2.2.1 plus 2.3.0's additions) as 2.2.1 has it: every 2.3.0-only field
    left out, at Location, EVSE and Connector level."""
    out = {k: v for k, v in stored.items() if k not in LOCATION_ADDITIONS}
    if "evses" in stored:
        out["evses"] = [evse_without_additions(e) for e in stored["evses"]]
    return out
