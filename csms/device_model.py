"""A 2.0.1 charger's device model as it reported it: its components and variables, each with its
attributes (Actual, Target, MinSet, MaxSet: value, mutability) and characteristics (unit, data
type, limits). NotifyReport fills it; GetVariables and SetVariables answers keep its values
current; the operator browses it, and the command port reads the charger's message limits
(DeviceDataCtrlr.ItemsPerMessage, BytesPerMessage) from it.

A charger decides how many variables it reports, so each keeps at most VARIABLES_MAX of them:
a report beyond that updates the ones known and drops the rest (and says so in the log)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Table, UniqueConstraint, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from csms import clock, upsert
from csms.models import BigId, UTCDateTime

log = logging.getLogger("csms.device_model")

VARIABLES_MAX = 5_000  # per charger
NAME_MAX = 50  # ComponentType.name / instance, VariableType.name / instance


class DeviceVariable(SQLModel, table=True):
    """One variable of one component (of the charger, an EVSE or a connector) of a charger."""

    __tablename__ = "device_variables"
    __table_args__ = (
        UniqueConstraint(
            "station_id",
            "component",
            "component_instance",
            "evse_id",
            "connector_id",
            "variable",
            "variable_instance",
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(max_length=48, index=True)
    component: str = Field(max_length=NAME_MAX)
    component_instance: str = Field(default="", max_length=NAME_MAX)
    evse_id: int = 0  # 0: the charger itself
    connector_id: int = 0  # 0: the EVSE itself
    variable: str = Field(max_length=NAME_MAX)
    variable_instance: str = Field(default="", max_length=NAME_MAX)
    # [{type, value, mutability, persistent, constant}], as the charger said them
    attributes: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    characteristics: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


VARIABLES: Table = DeviceVariable.__table__  # type: ignore[attr-defined]
KEY = (
    "station_id",
    "component",
    "component_instance",
    "evse_id",
    "connector_id",
    "variable",
    "variable_instance",
)


def where(component: dict[str, Any], variable: dict[str, Any]) -> dict[str, Any]:
    """The key columns of a 2.0.1 ComponentType and VariableType (snake_case, as the library
    hands them over)."""
    evse = component.get("evse") or {}
    return {
        "component": str(component.get("name", ""))[:NAME_MAX],
        "component_instance": str(component.get("instance") or "")[:NAME_MAX],
        "evse_id": int(evse.get("id") or 0),
        "connector_id": int(evse.get("connector_id") or 0),
        "variable": str(variable.get("name", ""))[:NAME_MAX],
        "variable_instance": str(variable.get("instance") or "")[:NAME_MAX],
    }


async def reported(
    session: AsyncSession, station_id: str, report_data: list[dict[str, Any]]
) -> None:
    """Stores what one NotifyReport said: each variable replaced by its newest report."""
    if not report_data:
        return
    now = clock.now()
    rows = [
        {"station_id": station_id}
        | where(item.get("component") or {}, item.get("variable") or {})
        | {
            "attributes": list(item.get("variable_attribute") or []),
            "characteristics": item.get("variable_characteristics"),
            "updated_at": now,
        }
        for item in report_data
    ]
    room = VARIABLES_MAX - await _count(session, station_id)
    known = await _known(session, station_id, rows) if room < len(rows) else set()
    kept = []
    for row in rows:
        key = tuple(row[k] for k in KEY)
        if key in known:
            kept.append(row)
        elif room > 0:
            kept.append(row)
            room -= 1
    if len(kept) < len(rows):
        log.warning(
            "%s reports more than %d variables: %d of this report dropped",
            station_id,
            VARIABLES_MAX,
            len(rows) - len(kept),
        )
    if not kept:
        return
    stmt = upsert.insert(session, VARIABLES).values(kept)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=list(KEY),
            set_={
                "attributes": stmt.excluded.attributes,
                "characteristics": stmt.excluded.characteristics,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )


async def answered(session: AsyncSession, station_id: str, results: list[dict[str, Any]]) -> None:
    """Keeps the values a GetVariables answer gave, or a SetVariables answer accepted, in the
    variables the device model already holds (an answer says nothing of characteristics)."""
    now = clock.now()
    for result in results:
        if result.get("attribute_status") != "Accepted":
            continue
        value = result.get("attribute_value")
        if value is None:
            continue
        kind = result.get("attribute_type") or "Actual"
        key = {"station_id": station_id} | where(
            result.get("component") or {}, result.get("variable") or {}
        )
        stmt = select(DeviceVariable).where(
            *(getattr(DeviceVariable, k) == v for k, v in key.items())
        )
        row = (await session.execute(stmt.with_for_update())).scalars().first()
        if row is None:
            continue
        attributes = [dict(a) for a in row.attributes]
        attribute = next((a for a in attributes if (a.get("type") or "Actual") == kind), None)
        if attribute is None:
            attributes.append({"type": kind, "value": value})
        else:
            attribute["value"] = value
        row.attributes = attributes
        row.updated_at = now


async def limit(session: AsyncSession, station_id: str, variable: str, instance: str) -> int | None:
    """A DeviceDataCtrlr limit (ItemsPerMessage, BytesPerMessage) for one message (its
    instance: GetVariables, SetVariables, GetReport), or the one without an instance."""
    rows = await session.execute(
        select(DeviceVariable.variable_instance, DeviceVariable.attributes).where(
            DeviceVariable.station_id == station_id,
            DeviceVariable.component == "DeviceDataCtrlr",
            DeviceVariable.variable == variable,
            col(DeviceVariable.variable_instance).in_([instance, ""]),
        )
    )
    found = {row.variable_instance: row.attributes for row in rows}
    for key in (instance, ""):
        for attribute in found.get(key, []):
            value = str(attribute.get("value") or "")
            if (attribute.get("type") or "Actual") == "Actual" and value.isdigit():
                return int(value) or None
    return None


async def variables_of(
    session: AsyncSession,
    station_id: str,
    component: str | None = None,
    variable: str | None = None,
    limit: int = 1000,
) -> list[DeviceVariable]:
    stmt = select(DeviceVariable).where(DeviceVariable.station_id == station_id)
    if component:
        stmt = stmt.where(col(DeviceVariable.component).ilike(component))
    if variable:
        stmt = stmt.where(col(DeviceVariable.variable).ilike(variable))
    stmt = stmt.order_by(
        col(DeviceVariable.component),
        col(DeviceVariable.component_instance),
        col(DeviceVariable.evse_id),
        col(DeviceVariable.connector_id),
        col(DeviceVariable.variable),
        col(DeviceVariable.variable_instance),
    ).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def _count(session: AsyncSession, station_id: str) -> int:
    stmt = select(func.count()).select_from(VARIABLES).where(VARIABLES.c.station_id == station_id)
    return int((await session.execute(stmt)).scalar_one())


async def _known(
    session: AsyncSession, station_id: str, rows: list[dict[str, Any]]
) -> set[tuple[Any, ...]]:
    components = {row["component"] for row in rows}
    found = await session.execute(
        select(*(VARIABLES.c[k] for k in KEY)).where(
            VARIABLES.c.station_id == station_id, VARIABLES.c.component.in_(components)
        )
    )
    return {tuple(r) for r in found}
