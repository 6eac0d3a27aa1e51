"""The command port itself: what a command is, what it comes back as, and the runner that
carries it to the charger's connection (here or through the relay) in the charger's version.

Each command family (a module beside this one) says how each of its commands reads in each OCPP
version with `@implements(CommandClass, "1.6")`; the runner looks the pair up. A version a
command has no implementation for answers INVALID, naming the version."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError
from pydantic import BaseModel, ConfigDict
from sqlmodel import col, select

from csms.models import Connector, TransactionStatus

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.grants import Grants
    from csms.registry import Registry
    from csms.relay import CommandRelay
    from csms.store import Store

log = logging.getLogger("csms.commands")

# OCPP integers are 32-bit at the chargers; the platform's own ids (transactions) are 64-bit.
INT32_MAX = 2**31 - 1
ID_MAX = 2**63 - 1
LIMIT_MAX_W = 10_000_000.0  # 10 MW: far beyond any charger, well within a charger's decimal

TokenType = Literal[
    "Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"
]
Version = Literal["1.6", "2.0.1"]

ID_TAG_MAX = 20  # an OCPP 1.6 idTag
# 2.0.1 requestId / remoteStartId the platform picks for requests that need one.
request_ids = itertools.count(1)


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ClassVar[str]
    # Not for a charger whose boot is not accepted (Pending, csms.provisioning): OCPP lets the
    # CSMS configure a Pending charger, not start or stop its transactions.
    after_boot: ClassVar[bool] = False


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


C = TypeVar("C", bound=Command)
Implementation = Callable[
    ["StationConnection", "Store", Any, "float | None"], Awaitable[CommandResult]
]
IMPLEMENTATIONS: dict[tuple[type[Command], str], Implementation] = {}


def implements(
    command: type[C], version: Version
) -> Callable[
    [Callable[[StationConnection, Store, C, float | None], Awaitable[CommandResult]]], Any
]:
    """Registers how `command` reads in OCPP `version`."""

    def register(fn: Any) -> Any:
        IMPLEMENTATIONS[command, version] = fn
        return fn

    return register


def sends(
    command: type[C], version: Version, request: Callable[[C], Any], status: str | None = None
) -> None:
    """Registers a command that is one CALL, `request(command)`, answered as it comes (its
    status `status` where the answer has none)."""

    async def run(
        conn: StationConnection, store: Store, given: C, timeout: float | None
    ) -> CommandResult:
        return answered(await conn.call(request(given), timeout), status=status)

    IMPLEMENTATIONS[command, version] = run


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
        if (type(command), conn.ocpp_version) in IMPLEMENTATIONS:
            try:
                await self._has_the_evse(station_id, command)
            except CommandInputError as e:
                return CommandResult(Outcome.INVALID, error_description=str(e))
        result = await run_on(conn, self._store, command, timeout)
        granted = getattr(command, "granted_token", None)
        if granted is not None and result.accepted:
            # The platform decided this start; the charger may still ask (AuthorizeRemoteTxRequests).
            await self._grants.grant(station_id, granted)
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


async def run_on(
    conn: StationConnection, store: Store, command: Command, timeout: float | None = None
) -> CommandResult:
    """`command` on a connection in hand (the platform's own follow-ups, such as provisioning a
    charger whose boot it answered Pending), its failures as outcomes."""
    implementation = IMPLEMENTATIONS.get((type(command), conn.ocpp_version))
    if implementation is None:
        return CommandResult(
            Outcome.INVALID,
            error_description=f"{command.name} does not exist in OCPP {conn.ocpp_version}",
        )
    if command.after_boot and not conn.accepted:
        return CommandResult(
            Outcome.INVALID,
            error_description=f"{command.name}: the charger's boot is not accepted (Pending)",
        )
    try:
        return await implementation(conn, store, command, timeout)
    except CommandInputError as e:
        return CommandResult(Outcome.INVALID, error_description=str(e))
    except TimeoutError as e:
        return CommandResult(Outcome.TIMEOUT, error_description=str(e))
    except ConnectionError as e:
        return CommandResult(Outcome.OFFLINE, error_description=str(e))
    except OCPPError as e:
        return CommandResult(Outcome.CALL_ERROR, error_code=e.code, error_description=e.description)
    except UnknownCallErrorCodeError as e:
        # Codes the library does not know (RpcFrameworkError, MessageTypeNotSupported, ...).
        return CommandResult(Outcome.CALL_ERROR, error_code="Unknown", error_description=str(e))


# -- what the families share -------------------------------------------------------------------


def id_tag(token: str) -> str:
    """A token as an OCPP 1.6 idTag."""
    if len(token) > ID_TAG_MAX:
        raise CommandInputError(f"an OCPP 1.6 idTag has at most {ID_TAG_MAX} characters")
    return token


def id_token(token: str, kind: str) -> dict[str, str]:
    """A token as an OCPP 2.0.1 IdTokenType."""
    return {"id_token": token, "type": kind}


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
    """A CommandResult from the library's call_result dataclass, its data plain JSON (the
    library reads a charger's decimals as Decimal)."""
    data = {k: _plain(v) for k, v in vars(reply).items() if v is not None}
    return CommandResult(
        Outcome.ANSWERED, status=status if status is not None else _status(data), data=data
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _status(data: dict[str, Any]) -> str | None:
    value = data.get("status")
    return str(value) if value is not None else None
