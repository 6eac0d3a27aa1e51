"""Boot answered Pending while the platform provisions a charger (OCPP 2.0.1 B02, 1.6
BootNotification Pending): the provisioning set (configuration the operator wants on a charger
before it is accepted), the boot state of each charger, and the run that sends the set.

The set is global (station `*`) and per charger (a charger's own value of a key wins). The
policy (`BootPolicy`) says when a boot is answered Pending: never, when the charger is new or
its set changed since it was last provisioned, or at every boot. While Pending, the charger
takes the set through the command port (1.6 ChangeConfiguration, 2.0.1 SetVariables); each
key's answer is kept. All accepted: the platform asks the charger to boot again (TriggerMessage
BootNotification) and accepts that boot, or the next one if the charger does not follow the
trigger. A key refused: the charger stays Pending until the operator changes the set (the
station view says which key and why)."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import Column, Table, UniqueConstraint, delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select

from csms import clock, upsert
from csms.commands.configuration import ALIASES, KEY_MAX, NAME_MAX, SetConfiguration
from csms.commands.control import TriggerMessage
from csms.commands.port import CommandResult, Outcome, run_on
from csms.events import EVENTS_KEY, EventFeed, EventType, hold_event_order, record
from csms.models import BigId, UTCDateTime

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

log = logging.getLogger("csms.provisioning")

EVERY_STATION = "*"
KEY_LENGTH = 101  # a 1.6 key (50), or a 2.0.1 Component.Variable (50 + 1 + 50)
VALUE_MAX = {"1.6": 500, "2.0.1": 1000}  # 1.6 CiString500; 2.0.1 SetVariableData.attributeValue
MASTER_PASS_KEY = "AuthCtrlr.MasterPassGroupId"
# A key's answer that leaves it set: RebootRequired is set, and in force after the next reboot.
TAKEN = frozenset({"Accepted", "RebootRequired"})


class BootPolicy(StrEnum):
    NEVER = "never"  # every boot is accepted (the set is not sent)
    NEW = "new"  # Pending at a charger's first boot, and after its set changed
    ALWAYS = "always"  # Pending at every boot, until the set is on the charger


class BootStatus(StrEnum):
    PENDING = "Pending"
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class ProvisioningKey(SQLModel, table=True):
    """One key the operator wants set on a charger (or, station `*`, on every charger)."""

    __tablename__ = "provisioning_keys"
    __table_args__ = (UniqueConstraint("station_id", "key"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(max_length=48, index=True)
    key: str = Field(max_length=KEY_LENGTH)  # a 1.6 key or a 2.0.1 Component.Variable
    value: str = Field(max_length=1000)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ProvisioningResult(SQLModel, table=True):
    """What a charger answered to one key of its set, the last time it was sent."""

    __tablename__ = "provisioning_results"

    station_id: str = Field(primary_key=True, max_length=48)
    key: str = Field(primary_key=True, max_length=KEY_LENGTH)
    value: str = Field(max_length=1000)
    # Accepted, RebootRequired, Rejected, NotSupported, UnknownVariable, ..., or the outcome
    # when there was no answer (timeout, offline, call_error).
    status: str = Field(max_length=32)
    detail: str | None = Field(default=None, max_length=255)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class BootState(SQLModel, table=True):
    """How the platform answered a charger's last boot, and what of its set it holds."""

    __tablename__ = "boot_states"

    station_id: str = Field(primary_key=True, max_length=48)
    status: str = Field(max_length=16)  # BootStatus
    # The fingerprint of the set the charger took in full, none until it did.
    applied: str | None = Field(default=None, max_length=64)
    # Provisioned since the last Pending answer: its next boot is accepted.
    ready: bool = False
    reason: str | None = Field(default=None, max_length=255)  # why it is Pending
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


KEYS: Table = ProvisioningKey.__table__  # type: ignore[attr-defined]
RESULTS: Table = ProvisioningResult.__table__  # type: ignore[attr-defined]
STATES: Table = BootState.__table__  # type: ignore[attr-defined]


async def forget(session: AsyncSession, station_id: str) -> None:
    """A station removed: its keys, answers and boot state go with it."""
    for model in (ProvisioningKey, ProvisioningResult, BootState):
        await session.execute(delete(model).where(col(model.station_id) == station_id))


class InvalidItem(ValueError):
    """A key or value that the chargers it is meant for could not take."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field  # "key" or "value"


def check_item(key: str, value: str, version: str | None) -> None:
    """InvalidItem unless `key` = `value` can be sent to a charger of `version` (None: any)."""
    try:
        SetConfiguration(key=key, value=value)
    except ValidationError as e:
        error = e.errors(include_url=False)[0]
        raise InvalidItem(str(error["loc"][0]), f"{error['loc'][0]}: {error['msg']}") from e
    versions = [version] if version else list(VALUE_MAX)
    for v in versions:
        if len(value) > VALUE_MAX[v]:
            raise InvalidItem("value", f"an OCPP {v} value has at most {VALUE_MAX[v]} characters")
    if version == "1.6" and len(key) > KEY_MAX:
        raise InvalidItem("key", f"an OCPP 1.6 configuration key has at most {KEY_MAX} characters")
    if version == "2.0.1" and key not in ALIASES:
        component, dot, variable = key.partition(".")
        if not dot or not component or not variable:
            raise InvalidItem("key", f"{key!r}: name a 2.0.1 variable as Component.Variable")
        if len(component) > NAME_MAX or len(variable) > NAME_MAX:
            raise InvalidItem(
                "key", f"2.0.1 component and variable names have at most {NAME_MAX} characters"
            )


def fingerprint(items: dict[str, str]) -> str:
    text = "\n".join(f"{k}\x00{v}" for k, v in sorted(items.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Provisioning:
    """The provisioning set, the boot states, and the run that provisions a Pending charger."""

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        feed: EventFeed,
        policy: BootPolicy = BootPolicy.NEVER,
        master_pass_group_id: str | None = None,
    ) -> None:
        self.database = database
        self.feed = feed
        self.policy = policy
        self.master_pass_group_id = master_pass_group_id

    # -- the set -------------------------------------------------------------------------------

    async def keys(self, station_id: str) -> list[ProvisioningKey]:
        """The keys set for `station_id` itself (`*`: those for every charger)."""
        async with self.database() as session:
            rows = await session.execute(
                select(ProvisioningKey)
                .where(col(ProvisioningKey.station_id) == station_id)
                .order_by(col(ProvisioningKey.key))
            )
            return list(rows.scalars())

    async def put(self, station_id: str, key: str, value: str) -> datetime:
        at = clock.now()
        row = {"station_id": station_id, "key": key, "value": value, "updated_at": at}
        async with self.database.begin() as session:
            stmt = upsert.insert(session, KEYS).values(row)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["station_id", "key"],
                    set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
                )
            )
        return at

    async def remove(self, station_id: str, key: str) -> bool:
        async with self.database.begin() as session:
            done = await session.execute(
                delete(ProvisioningKey).where(
                    col(ProvisioningKey.station_id) == station_id, col(ProvisioningKey.key) == key
                )
            )
        return bool(getattr(done, "rowcount", 0))

    async def wanted(self, station_id: str, version: str) -> dict[str, str]:
        """The set a charger should take: every charger's keys, its own over them, and (2.0.1)
        the master pass group when one is configured and the operator set none."""
        async with self.database() as session:
            rows = await session.execute(
                select(ProvisioningKey).where(
                    col(ProvisioningKey.station_id).in_([EVERY_STATION, station_id])
                )
            )
            found = list(rows.scalars())
        items = {r.key: r.value for r in found if r.station_id == EVERY_STATION}
        items |= {r.key: r.value for r in found if r.station_id == station_id}
        if version == "2.0.1" and self.master_pass_group_id:
            items.setdefault(MASTER_PASS_KEY, self.master_pass_group_id)
        return items

    # -- boot states ---------------------------------------------------------------------------

    async def state(self, station_id: str) -> BootState | None:
        async with self.database() as session:
            return await session.get(BootState, station_id)

    async def states(self) -> dict[str, str]:
        """Every charger's boot status (those that never booted under a policy have none)."""
        async with self.database() as session:
            rows = await session.execute(select(BootState.station_id, BootState.status))
            return {station_id: status for station_id, status in rows}

    async def results(self, station_id: str) -> list[ProvisioningResult]:
        async with self.database() as session:
            rows = await session.execute(
                select(ProvisioningResult)
                .where(col(ProvisioningResult.station_id) == station_id)
                .order_by(col(ProvisioningResult.key))
            )
            return list(rows.scalars())

    async def pending(self, station_id: str) -> bool:
        """Whether the charger's last boot was answered Pending (it may reconnect meanwhile)."""
        if self.policy is BootPolicy.NEVER:
            return False
        state = await self.state(station_id)
        return state is not None and state.status == BootStatus.PENDING

    async def answer(self, station_id: str, version: str, ever_accepted: bool) -> BootStatus:
        """How to answer a boot now, kept as the charger's boot state."""
        if self.policy is BootPolicy.NEVER:
            return BootStatus.ACCEPTED
        state = await self.state(station_id)
        items = await self.wanted(station_id, version)
        now = fingerprint(items)
        if state is not None and state.ready and state.applied == now:
            status, reason = BootStatus.ACCEPTED, None
        elif self.policy is BootPolicy.ALWAYS:
            status, reason = BootStatus.PENDING, "provisioning at every boot"
        elif state is None and ever_accepted and not items:
            # Accepted before there was a policy, and there is nothing to send.
            status, reason = BootStatus.ACCEPTED, None
        elif state is None or state.applied is None:
            status, reason = BootStatus.PENDING, "not provisioned yet"
        elif state.applied != now:
            status, reason = BootStatus.PENDING, "its provisioning set changed"
        else:
            status, reason = BootStatus.ACCEPTED, None
        await self._keep(
            station_id,
            status=status.value,
            reason=reason,
            ready=False,
            applied=now if status is BootStatus.ACCEPTED and state is None else None,
        )
        return status

    async def _keep(self, station_id: str, **fields: object) -> None:
        """Upserts the boot state; `applied` None keeps the one held."""
        applied = fields.pop("applied", None)
        row = {"station_id": station_id, "updated_at": clock.now(), **fields}
        if applied is not None:
            row["applied"] = applied
        async with self.database.begin() as session:
            stmt = upsert.insert(session, STATES).values(row)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["station_id"],
                    set_={k: stmt.excluded[k] for k in row if k != "station_id"},
                )
            )

    # -- the run -------------------------------------------------------------------------------

    async def provision(self, conn: StationConnection, store: Store) -> bool:
        """Sends a Pending charger its set, keeps each answer, and asks it to boot again once
        it took all of it; whether it did."""
        station_id = conn.station_id
        items = await self.wanted(station_id, conn.ocpp_version)
        answers: dict[str, CommandResult] = {}
        for key, value in sorted(items.items()):
            answers[key] = await run_on(conn, store, SetConfiguration(key=key, value=value))
        refused = {k: _status(r) for k, r in answers.items() if _status(r) not in TAKEN}
        reason = (
            "refused: " + ", ".join(f"{k} ({s})" for k, s in refused.items()) if refused else None
        )
        async with self.database.begin() as session:
            await hold_event_order(await session.connection())
            for key, result in answers.items():
                row = {
                    "station_id": station_id,
                    "key": key,
                    "value": items[key],
                    "status": _status(result)[:32],
                    "detail": (result.error_description or "")[:255] or None,
                    "at": clock.now(),
                }
                stmt = upsert.insert(session, RESULTS).values(row)
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["station_id", "key"],
                        set_={k: stmt.excluded[k] for k in row if k not in ("station_id", "key")},
                    )
                )
            state = await session.get(BootState, station_id, with_for_update=True)
            if state is not None:
                state.ready = not refused
                state.reason = reason[:255] if reason else "provisioned: awaiting its boot"
                state.updated_at = clock.now()
                if not refused:
                    state.applied = fingerprint(items)
            await record(
                session,
                station_id,
                EventType.PROVISIONED,
                ok=not refused,
                results={k: _status(r) for k, r in answers.items()},
                reason=reason,
            )
            recorded = list(session.info.pop(EVENTS_KEY, []))
        self.feed.publish(recorded)
        if refused:
            log.warning("stays Pending: %s", reason)
            return False
        trigger = await run_on(conn, store, TriggerMessage(message="BootNotification"))
        if not trigger.accepted:
            log.info("provisioned; its next boot is accepted")
        return True


def _status(result: CommandResult) -> str:
    if result.outcome is Outcome.ANSWERED:
        return result.status or "Accepted"
    return result.outcome.value
