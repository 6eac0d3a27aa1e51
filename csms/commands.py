"""The version-neutral command port: what the platform can ask of a charger, and typed outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import col, select

from csms.models import Connector, TransactionStatus

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.grants import Grants
    from csms.registry import Registry
    from csms.relay import CommandRelay
    from csms.store import Store

log = logging.getLogger(__name__)

# OCPP integers are 32-bit at the chargers; the platform's own ids (transactions) are 64-bit.
INT32_MAX = 2**31 - 1
ID_MAX = 2**63 - 1
LIMIT_MAX_W = 10_000_000.0  # 10 MW: far beyond any charger, well within a charger's decimal

TokenType = Literal[
    "Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"
]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ClassVar[str]


class RemoteStart(Command):
    name = "remote_start"
    id_token: str = Field(min_length=1, max_length=36)
    token_type: TokenType = "ISO14443"
    evse_id: int | None = Field(default=None, ge=1, le=INT32_MAX)
    remote_start_id: int | None = Field(default=None, ge=0, le=INT32_MAX)
    group_id: str | None = Field(default=None, max_length=36)


class RemoteStop(Command):
    """Names the transaction by the platform's id or by the charger's own (one of them)."""

    name = "remote_stop"
    transaction_id: int | None = Field(
        default=None, ge=1, le=ID_MAX, description="The platform's transaction id"
    )
    ocpp_transaction_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=36,
        description="The charger's id of the transaction (1.6: a number)",
    )

    @model_validator(mode="after")
    def _one_id(self) -> RemoteStop:
        if (self.transaction_id is None) == (self.ocpp_transaction_id is None):
            raise ValueError("name the transaction by transaction_id or ocpp_transaction_id")
        return self


class Unlock(Command):
    name = "unlock"
    evse_id: int = Field(ge=1, le=INT32_MAX)
    connector_id: int = Field(default=1, ge=1, le=INT32_MAX)


class Reserve(Command):
    name = "reserve"
    reservation_id: int = Field(ge=0, le=INT32_MAX)
    expires_at: datetime
    id_token: str = Field(min_length=1, max_length=36)
    token_type: TokenType = "ISO14443"
    evse_id: int | None = Field(default=None, ge=0, le=INT32_MAX)
    group_id: str | None = Field(default=None, max_length=36)


class CancelReservation(Command):
    name = "cancel_reservation"
    reservation_id: int = Field(ge=0, le=INT32_MAX)


class Reset(Command):
    name = "reset"
    # Immediate = 1.6 Hard, OnIdle = 1.6 Soft; either spelling is taken.
    type: Literal["Immediate", "OnIdle", "Hard", "Soft"] = "OnIdle"
    evse_id: int | None = Field(default=None, ge=1, le=INT32_MAX)


class ChangeAvailability(Command):
    name = "change_availability"
    evse_id: int = Field(default=0, ge=0, le=INT32_MAX, description="0 = the whole charger")
    operative: bool


class TriggerMessage(Command):
    name = "trigger_message"
    message: str = Field(
        min_length=1, max_length=64, examples=["StatusNotification", "Heartbeat", "MeterValues"]
    )
    evse_id: int | None = Field(default=None, ge=0, le=INT32_MAX)


class GetConfiguration(Command):
    name = "get_configuration"
    keys: list[Annotated[str, Field(min_length=1, max_length=101)]] = Field(
        default_factory=list, max_length=100, description="1.6 keys or 2.0.1 Component.Variable"
    )


class SetConfiguration(Command):
    name = "set_configuration"
    key: str = Field(min_length=1, max_length=101)
    value: str = Field(max_length=1000)


class LocalListEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_token: str = Field(min_length=1, max_length=36)
    token_type: TokenType = "ISO14443"
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] | None = Field(
        default=None, description="None removes the token (Differential only)"
    )
    expires_at: datetime | None = None
    group_id: str | None = Field(default=None, max_length=36)


class SendLocalList(Command):
    name = "send_local_list"
    version: int = Field(ge=1, le=INT32_MAX)
    update_type: Literal["Full", "Differential"] = "Full"
    entries: list[LocalListEntry] = Field(default_factory=list)


class GetLocalListVersion(Command):
    name = "get_local_list_version"


class SetChargingLimit(Command):
    """Cap one transaction's power: a TxProfile of one period at stack level 0."""

    name = "set_charging_limit"
    evse_id: int = Field(ge=1, le=INT32_MAX)
    transaction_id: int = Field(ge=1, le=ID_MAX, description="The platform's transaction id")
    limit_w: float = Field(gt=0, le=LIMIT_MAX_W, allow_inf_nan=False)
    until: datetime | None = Field(default=None, description="End of the limit; None = open-ended")
    # A profile with the same id (2.0.1), or the same purpose and stack level (1.6), replaces
    # the one the charger holds, so a new limit on the same transaction overrides the last.
    profile_id: int = Field(default=1, ge=0, le=INT32_MAX)


class ClearChargingLimit(Command):
    name = "clear_charging_limit"
    evse_id: int = Field(ge=1, le=INT32_MAX)


COMMANDS: dict[str, type[Command]] = {
    c.name: c
    for c in (
        RemoteStart,
        RemoteStop,
        Unlock,
        Reserve,
        CancelReservation,
        Reset,
        ChangeAvailability,
        TriggerMessage,
        GetConfiguration,
        SetConfiguration,
        SendLocalList,
        GetLocalListVersion,
        SetChargingLimit,
        ClearChargingLimit,
    )
}


class Outcome(StrEnum):
    ANSWERED = "answered"  # the charger replied; `status` says what
    OFFLINE = "offline"  # not connected, or gone before it answered
    TIMEOUT = "timeout"  # connected, but no reply in time
    CALL_ERROR = "call_error"  # the charger answered with a CALLERROR
    INVALID = "invalid"  # the command cannot be expressed for this charger


@dataclass(slots=True)
class CommandResult:
    outcome: Outcome
    status: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_description: str | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ANSWERED and self.status in (
            "Accepted",
            "Unlocked",
            "Scheduled",
        )


class CommandInputError(ValueError):
    """The command names something this charger does not have (a transaction, a key)."""


class Commands:
    """Runs commands on whatever connection the registry holds for the charger: on this node,
    or through the relay on the node that holds it."""

    def __init__(
        self,
        registry: Registry[StationConnection],
        store: Store,
        grants: Grants,
        relay: CommandRelay | None = None,
    ) -> None:
        self._registry = registry
        self._store = store
        self._grants = grants
        self._relay = relay
        self.in_flight = 0  # commands running on this node's sockets
        self._idle = asyncio.Event()
        self._idle.set()
        if relay is not None:
            relay.serve(self.run_here)

    async def run(
        self, station_id: str, command: Command, timeout: float | None = None
    ) -> CommandResult:
        if self._relay is not None and self._registry.get(station_id) is None:
            return await self._relay.send(station_id, command, timeout)
        return await self.run_here(station_id, command, timeout)

    async def run_here(
        self, station_id: str, command: Command, timeout: float | None = None
    ) -> CommandResult:
        """On this node's socket of the charger (OFFLINE when it has none)."""
        self.in_flight += 1
        self._idle.clear()
        try:
            return await self._run_here(station_id, command, timeout)
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()

    async def idle(self, wait: float) -> None:
        """Until no command runs on this node's sockets, or `wait` seconds passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), wait)

    async def _run_here(
        self, station_id: str, command: Command, timeout: float | None
    ) -> CommandResult:
        conn = self._registry.get(station_id)
        if conn is None or conn.closed.is_set():
            return CommandResult(Outcome.OFFLINE, error_description="the charger is not connected")
        from csms.v16 import commands as v16
        from csms.v201 import commands as v201

        implementation = v16 if conn.ocpp_version == "1.6" else v201
        try:
            await self._has_the_evse(station_id, command)
            result: CommandResult = await implementation.run(conn, self._store, command, timeout)
        except CommandInputError as e:
            return CommandResult(Outcome.INVALID, error_description=str(e))
        except TimeoutError as e:
            return CommandResult(Outcome.TIMEOUT, error_description=str(e))
        except ConnectionError as e:
            return CommandResult(Outcome.OFFLINE, error_description=str(e))
        except OCPPError as e:
            return CommandResult(
                Outcome.CALL_ERROR, error_code=e.code, error_description=e.description
            )
        except UnknownCallErrorCodeError as e:
            # Codes the library does not know (RpcFrameworkError, MessageTypeNotSupported, ...).
            return CommandResult(Outcome.CALL_ERROR, error_code="Unknown", error_description=str(e))
        if isinstance(command, RemoteStart) and result.accepted:
            # The platform decided this start; the charger may still ask (AuthorizeRemoteTxRequests).
            await self._grants.grant(station_id, command.id_token)
        return result

    async def _has_the_evse(self, station_id: str, command: Command) -> None:
        """CommandInputError when the command names an EVSE (or connector) that the charger
        did not report; nothing is checked while it has reported none (0 is the whole
        charger, or any EVSE, where a command allows it)."""
        evse_id = getattr(command, "evse_id", None)
        if not evse_id:
            return
        async with self._store.reads() as session:
            rows = await session.execute(
                select(Connector.evse_id, Connector.connector_id).where(
                    col(Connector.station_id) == station_id
                )
            )
            known = {(int(e), int(c)) for e, c in rows}
        if not known:
            return
        if evse_id not in {e for e, _ in known}:
            evses = ", ".join(str(e) for e in sorted({e for e, _ in known}))
            raise CommandInputError(f"{station_id} has no EVSE {evse_id} (it has {evses})")
        connector_id = getattr(command, "connector_id", None)
        if connector_id is not None and (evse_id, connector_id) not in known:
            raise CommandInputError(
                f"EVSE {evse_id} of {station_id} has no connector {connector_id}"
            )


async def running_transaction(
    store: Store, station_id: str, transaction_id: int, evse_id: int | None = None
) -> str:
    """The charger's id of a platform transaction still running there (on that EVSE, if named)."""
    tx = await store.transaction(transaction_id)
    if tx is None or tx.station_id != station_id or tx.status != TransactionStatus.ACTIVE:
        raise CommandInputError(f"no running transaction {transaction_id} on {station_id}")
    if tx.ocpp_transaction_id is None:
        raise CommandInputError(f"transaction {transaction_id} has no id at the charger yet")
    if evse_id is not None and tx.evse_id is not None and tx.evse_id != evse_id:
        raise CommandInputError(f"transaction {transaction_id} runs on EVSE {tx.evse_id}")
    return tx.ocpp_transaction_id


async def transaction_to_stop(store: Store, station_id: str, command: RemoteStop) -> str:
    """The charger's id of the transaction a RemoteStop names. A charger's id the platform
    does not know goes to the charger as given: it may hold a transaction whose start never
    reached us, and it answers for itself."""
    if command.ocpp_transaction_id is not None:
        return command.ocpp_transaction_id
    assert command.transaction_id is not None
    tx = await store.transaction(command.transaction_id)
    if tx is None or tx.station_id != station_id or tx.ocpp_transaction_id is None:
        raise CommandInputError(f"no transaction {command.transaction_id} on {station_id}")
    return tx.ocpp_transaction_id


def schedule_seconds(until: datetime | None, start: datetime) -> int | None:
    """A schedule's duration from start to until (None: open-ended); until must lie ahead."""
    if until is None:
        return None
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    seconds = math.ceil((until - start).total_seconds())
    if seconds <= 0:
        raise CommandInputError("the limit would end before it starts (until is in the past)")
    return seconds


def answered(reply: Any, status: str | None = None) -> CommandResult:
    """A CommandResult from the library's call_result dataclass."""
    data = {k: v for k, v in vars(reply).items() if v is not None}
    return CommandResult(
        Outcome.ANSWERED, status=status if status is not None else _status(data), data=data
    )


def _status(data: dict[str, Any]) -> str | None:
    value = data.get("status")
    return str(value) if value is not None else None
