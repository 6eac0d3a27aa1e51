"""eMSP commands: decided at once from what the platform knows, carried out on the charger
through the csms command port (the one the operator's admin API uses), and reported to the
eMSP's `response_url` through the outbox.

The CommandResponse says whether the platform will try; the CommandResult (OCPI's diagrams)
reports the charger's answer to the OCPP call, not whether charging began: the Session shows
that. Every command is a row, so a restart owes no eMSP an answer: one interrupted before the
charger answered is reported FAILED.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo import locks
from cpo.commands.tables import CommandState, OcpiCommand, Reservation, ReservationStatus
from cpo.commands.v221 import (
    CancelReservationIn,
    CommandIn,
    CommandType,
    ReserveNowIn,
    StartSessionIn,
    StopSessionIn,
    UnlockConnectorIn,
)
from cpo.in_flight import InFlight, check_response_url
from cpo.locations.store import live_statuses, same_id
from cpo.locations.tables import Location, LocationEvse
from cpo.locks import Lock
from cpo.ocpi.status import OcpiError, Status
from cpo.push.outbox import Outbox
from cpo.sessions.from_transactions import session_by_id
from cpo.sessions.tables import ChargingSession
from cpo.sessions.v221 import SessionStatus
from cpo.tables import Party
from cpo.tokens.store import IDTAG_MAX, short_tag
from cpo.tokens.tables import OcpiToken
from csms import clock
from csms.commands import (
    CancelReservation,
    Command,
    CommandResult,
    Commands,
    Outcome,
    RemoteStart,
    RemoteStop,
    Reserve,
    Unlock,
)
from csms.grants import GRANT_SECONDS
from csms.models import Station, Transaction, TransactionStatus

COMMANDS: Table = OcpiCommand.__table__  # type: ignore[attr-defined]
RESERVATIONS: Table = Reservation.__table__  # type: ignore[attr-defined]

log = logging.getLogger("cpo.commands")

# OCPI TokenType -> the 2.0.1 IdTokenEnumType a charger is given (1.6 ignores it).
OCPP_TOKEN_TYPES = {
    "RFID": "ISO14443",
    "APP_USER": "Central",
    "AD_HOC_USER": "Central",
    "OTHER": "Local",
    "EMAID": "eMAID",
}
# The EVSE states in which no command can work.
OUT_OF_SERVICE = {"OUTOFORDER", "INOPERATIVE", "REMOVED", "PLANNED", "UNKNOWN"}
CAPABILITY = {
    CommandType.START_SESSION: "REMOTE_START_STOP_CAPABLE",
    CommandType.STOP_SESSION: "REMOTE_START_STOP_CAPABLE",
    CommandType.UNLOCK_CONNECTOR: "UNLOCK_CAPABLE",
    CommandType.RESERVE_NOW: "RESERVABLE",
}


@dataclass(frozen=True)
class Response:
    """A CommandResponse: ACCEPTED, REJECTED, NOT_SUPPORTED or UNKNOWN_SESSION."""

    result: str
    message: str | None = None
    timeout: int = 0

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"result": self.result, "timeout": self.timeout}
        if self.message:
            body["message"] = [{"language": "en", "text": self.message[:512]}]
        return body


def unknown_place(what: str) -> OcpiError:
    """Per the spec's sequence diagram: 2003 with a REJECTED CommandResponse."""
    return OcpiError(
        Status.UNKNOWN_LOCATION,
        f"unknown {what}",
        data=Response("REJECTED", f"unknown {what}").to_json(),
    )


@dataclass
class _Place:
    location: Location
    evse: LocationEvse
    connector_index: int  # the OCPP connector id within the EVSE


class RemoteCommands(InFlight):
    table = OcpiCommand
    waiting = CommandState.ACCEPTED
    sweep_name = "commands-sweep"

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        commands: Commands | None,
        charger_timeout: float,
        link_window: float = GRANT_SECONDS,
        node: str | None = None,
        live_nodes: Callable[[], Awaitable[set[str]]] | None = None,
    ) -> None:
        """`node`, `live_nodes`: as cpo.in_flight.InFlight takes them."""
        super().__init__(database, outbox, charger_timeout, node, live_nodes)
        self.commands = commands
        self.link_window = timedelta(seconds=link_window)

    async def interrupted(self, session: AsyncSession, row: Any) -> None:
        """Reported FAILED: the charger's answer was lost with the node that waited for it."""
        await self._answer(
            session, row, "FAILED", "the platform restarted before the charger answered"
        )

    async def sweep(self) -> dict[str, int]:
        """Remote starts that never became a transaction, and reservations past their expiry.
        Every node sweeps (ADR 017): each change is one conditional UPDATE, so of two nodes
        sweeping at once each row goes to one, and a row that a transaction linked or a
        charger answered meanwhile is left as it became."""
        now = clock.now()
        async with self.database.begin() as session:
            lapsed = (
                await session.execute(
                    update(COMMANDS)
                    .where(
                        COMMANDS.c.state == CommandState.ANSWERED,
                        COMMANDS.c.command == CommandType.START_SESSION.value,
                        COMMANDS.c.link_until < now,
                    )
                    .values(state=CommandState.EXPIRED, updated_at=now)
                    .returning(COMMANDS.c.id, COMMANDS.c.station_id)
                )
            ).all()
            for command_id, station_id in lapsed:
                log.warning(
                    "remote start %s on %s was accepted but no transaction followed",
                    command_id, station_id,
                )  # fmt: skip
            expired = (
                await session.execute(
                    update(RESERVATIONS)
                    .where(
                        RESERVATIONS.c.status.in_(
                            [ReservationStatus.REQUESTED, ReservationStatus.ACTIVE]
                        ),
                        RESERVATIONS.c.expires_at < now,
                    )
                    .values(status=ReservationStatus.EXPIRED)
                )
            ).rowcount  # type: ignore[attr-defined]
        return {"starts_expired": len(lapsed), "reservations_expired": int(expired or 0)}

    # -- the synchronous answer -----------------------------------------------------------------

    async def receive(self, party: Party, command: CommandType, request: CommandIn) -> Response:
        """Decides at once; an ACCEPTED command then runs in the background."""
        check_response_url(party, request.response_url)
        async with self.database.begin() as session:
            decided = await self._decide(session, party, command, request)
            if isinstance(decided, Response):
                return decided
            row = decided
            session.add(row)
        assert row.id is not None
        self.spawn(self._carry_out(row), name=f"command-{row.id}")
        return Response("ACCEPTED", timeout=self.timeout)

    async def _decide(
        self, session: AsyncSession, party: Party, command: CommandType, request: CommandIn
    ) -> Response | OcpiCommand:
        assert party.id is not None
        row = OcpiCommand(
            party_id=party.id,
            command=command.value,
            request=request.model_dump(mode="json", exclude_none=True),
            response_url=request.response_url,
            node=self.node,
        )
        if isinstance(request, StartSessionIn | ReserveNowIn):
            token = request.token
            if not party.has_role(token.country_code, token.party_id):
                return Response("REJECTED", f"token {token.uid} is not one of yours")
            if not token.valid:
                return Response("REJECTED", f"token {token.uid} is not valid")
        if isinstance(request, StartSessionIn):
            place = await self._place(
                session, request.location_id, request.evse_uid, request.connector_id
            )
            if refused := await self._usable(session, command, place):
                return refused
            row.id_tag = await _id_tag(session, request.token.uid)
        elif isinstance(request, UnlockConnectorIn):
            place = await self._place(
                session, request.location_id, request.evse_uid, request.connector_id
            )
            if refused := await self._usable(session, command, place, offline_ok=False):
                return refused
            other = await self._busy_for_another(session, place, party)
            if other:
                return Response("REJECTED", "another eMSP's driver is charging there")
        elif isinstance(request, ReserveNowIn):
            place = await self._place(session, request.location_id, request.evse_uid, None)
            if refused := await self._usable(session, command, place):
                return refused
            if request.expiry_date <= clock.now():
                return Response("REJECTED", "expiry_date is in the past")
            row.id_tag = await _id_tag(session, request.token.uid)
        elif isinstance(request, StopSessionIn):
            found = await session_by_id(session, request.session_id)
            if found is None:
                return Response("UNKNOWN_SESSION", f"no session {request.session_id}")
            if found.owner_id != party.id:
                return Response("REJECTED", "that session is not one of yours")
            tx = await session.get(Transaction, found.transaction_id)
            if (
                found.status != SessionStatus.ACTIVE
                or tx is None
                or tx.status != TransactionStatus.ACTIVE
            ):
                return Response("REJECTED", "the session is no longer active")
            if not await _online(session, tx.station_id):
                return Response("REJECTED", "charge point offline")
            row.station_id, row.ocpp_evse_id, row.transaction_id = (
                tx.station_id,
                tx.evse_id,
                tx.id,
            )
            row.from_country_code = found.data.get("country_code")
            row.from_party_id = found.data.get("party_id")
            return row
        elif isinstance(request, CancelReservationIn):
            reservation = await _reservation(session, party, request.reservation_id)
            if reservation is None or reservation.status not in (
                ReservationStatus.REQUESTED,
                ReservationStatus.ACTIVE,
            ):
                return Response("REJECTED", f"no reservation {request.reservation_id} standing")
            if not await _online(session, reservation.station_id):
                return Response("REJECTED", "charge point offline")
            row.station_id = reservation.station_id
            held_at = (
                (
                    await session.execute(
                        select(Location).where(Location.ocpi_id == reservation.location_id)
                    )
                )
                .scalars()
                .first()
            )
            if held_at is not None:
                row.from_country_code = held_at.country_code
                row.from_party_id = held_at.party_id
            return row
        row.station_id = place.evse.station_id
        row.ocpp_evse_id = place.evse.ocpp_evse_id
        row.ocpp_connector_id = place.connector_index
        row.from_country_code = place.location.country_code
        row.from_party_id = place.location.party_id
        if isinstance(request, ReserveNowIn):
            await self._hold(session, party, request, place)
        return row

    async def _place(
        self,
        session: AsyncSession,
        location_id: str,
        evse_uid: str | None,
        connector_id: str | None,
    ) -> _Place:
        location = (
            (
                await session.execute(
                    select(Location).where(
                        same_id(Location.ocpi_id, location_id), col(Location.publish).is_(True)
                    )
                )
            )
            .scalars()
            .first()
        )
        if location is None:
            raise unknown_place(f"location {location_id}")
        evses = list(
            (
                await session.execute(
                    select(LocationEvse)
                    .where(LocationEvse.location_id == location.id)
                    .order_by(col(LocationEvse.id))
                )
            ).scalars()
        )
        if evse_uid is None:
            if len(evses) != 1:
                raise OcpiError(
                    Status.INVALID_PARAMETERS,
                    f"location {location_id} has {len(evses)} EVSEs: name one (evse_uid)",
                )
            evse = evses[0]
        else:
            found = [e for e in evses if e.uid.upper() == evse_uid.upper()]
            if not found:
                raise unknown_place(f"EVSE {evse_uid} at location {location_id}")
            evse = found[0]
        connectors = evse.data.get("connectors") or []
        index = 1
        if connector_id is not None:
            ids = [str(c.get("id")).upper() for c in connectors]
            if connector_id.upper() not in ids:
                raise unknown_place(f"connector {connector_id} of EVSE {evse.uid}")
            index = ids.index(connector_id.upper()) + 1
        return _Place(location, evse, index)

    async def _usable(
        self,
        session: AsyncSession,
        command: CommandType,
        place: _Place,
        offline_ok: bool = False,
    ) -> Response | None:
        evse = place.evse
        capability = CAPABILITY.get(command)
        if capability and capability not in (evse.data.get("capabilities") or []):
            return Response("NOT_SUPPORTED", f"EVSE {evse.uid} is not {capability}")
        # The charger's state as stored, not as projected: a connector that just came back
        # takes a command before the eMSP has heard of it.
        live = await live_statuses(session, [evse.station_id])
        if not offline_ok and not live.online(evse.station_id):
            return Response("REJECTED", "charge point offline")
        status = evse.admin_status or live(evse.station_id, evse.ocpp_evse_id)
        if status in OUT_OF_SERVICE:
            return Response("REJECTED", f"EVSE {evse.uid} is {status}")
        return None

    async def _busy_for_another(self, session: AsyncSession, place: _Place, party: Party) -> bool:
        open_tx = (
            (
                await session.execute(
                    select(Transaction.id).where(
                        Transaction.station_id == place.evse.station_id,
                        Transaction.evse_id == place.evse.ocpp_evse_id,
                        Transaction.status == TransactionStatus.ACTIVE,
                    )
                )
            )
            .scalars()
            .all()
        )
        if not open_tx:
            return False
        owners = (
            (
                await session.execute(
                    select(ChargingSession.owner_id).where(
                        col(ChargingSession.transaction_id).in_(list(open_tx))
                    )
                )
            )
            .scalars()
            .all()
        )
        return any(owner != party.id for owner in owners) or len(owners) < len(open_tx)

    async def _hold(
        self, session: AsyncSession, party: Party, request: ReserveNowIn, place: _Place
    ) -> Reservation:
        """The reservation row: the same eMSP id again replaces it (same charger-side id)."""
        assert party.id is not None
        # Two RESERVE_NOW of one id at once: the second finds the first's row, not a conflict.
        await locks.hold(session, Lock.RESERVATION, party.id)
        reservation = await _reservation(session, party, request.reservation_id)
        if reservation is None:
            reservation = Reservation(
                party_id=party.id,
                emsp_reservation_id=request.reservation_id,
                station_id=place.evse.station_id,
                location_id=place.location.ocpi_id,
                expires_at=request.expiry_date,
                response_url=request.response_url,
            )
            session.add(reservation)
        reservation.station_id = place.evse.station_id
        reservation.ocpp_evse_id = place.evse.ocpp_evse_id if request.evse_uid else 0
        reservation.location_id = place.location.ocpi_id
        reservation.evse_uid = place.evse.uid if request.evse_uid else None
        reservation.token = request.token.model_dump(mode="json", exclude_none=True)
        reservation.authorization_reference = request.authorization_reference
        reservation.expires_at = request.expiry_date
        reservation.response_url = request.response_url
        reservation.status = ReservationStatus.REQUESTED
        await session.flush()
        return reservation

    # -- at the charger ----------------------------------------------------------------------

    async def _carry_out(self, row: OcpiCommand) -> None:
        """`row`: the command as it was decided and committed; nothing changes a command while
        this live node carries it out (only its answer, below, or a recovery once it died)."""
        command_id = row.id
        try:
            await self._run(row)
        except Exception:
            log.exception("command %s failed", command_id)
            async with self.database.begin() as session:
                fresh = await session.get(OcpiCommand, command_id, with_for_update=True)
                if fresh is not None and fresh.state == CommandState.ACCEPTED:
                    await self._answer(
                        session, fresh, "FAILED", "the platform failed; it is logged"
                    )
            self.outbox.wake()

    async def _run(self, row: OcpiCommand) -> None:
        command_id = row.id
        assert row.station_id is not None
        async with self.database() as session:
            call, reservation = await self._ocpp_call(session, row)
        result = (
            await self.commands.run(row.station_id, call, self.charger_timeout)
            if self.commands is not None
            else CommandResult(Outcome.OFFLINE, error_description="no chargers in this process")
        )
        outcome, message = _result(row.command, result)
        now = clock.now()
        answer: dict[str, Any] = dict(state=CommandState.ANSWERED, result=outcome, message=message)
        if outcome == "ACCEPTED" and row.command == CommandType.START_SESSION.value:
            answer["link_until"] = now + self.link_window
        async with self.database.begin() as session:
            # One statement, and only while it is unanswered: a node taken for dead meanwhile
            # had its commands answered FAILED by another (`recover`), which stands.
            answered = await session.execute(
                update(COMMANDS)
                .where(COMMANDS.c.id == command_id, COMMANDS.c.state == CommandState.ACCEPTED)
                .values(**answer, updated_at=now)
                .returning(COMMANDS.c.party_id)
            )
            if (party_id := answered.scalar()) is None:
                return
            await self.outbox.mark(session, [party_id], "command", str(command_id))
            if reservation is not None:
                held = await session.get(Reservation, reservation, with_for_update=True)
                if held is not None:
                    if row.command == CommandType.RESERVE_NOW.value:
                        held.status = (
                            ReservationStatus.ACTIVE
                            if outcome == "ACCEPTED"
                            else ReservationStatus.REFUSED
                        )
                    elif outcome == "ACCEPTED":
                        held.status = ReservationStatus.CANCELLED
        self.outbox.wake()

    async def _ocpp_call(
        self, session: AsyncSession, row: OcpiCommand
    ) -> tuple[Command, int | None]:
        request = row.request
        kind = CommandType(row.command)
        if kind == CommandType.START_SESSION:
            assert row.id is not None and row.id_tag is not None
            return RemoteStart(
                id_token=row.id_tag,
                token_type=OCPP_TOKEN_TYPES.get(request["token"]["type"], "ISO14443"),  # type: ignore[arg-type]
                evse_id=row.ocpp_evse_id,
                remote_start_id=row.id,  # persistent and unique: the command's own id
                group_id=request["token"].get("group_id"),
            ), None
        if kind == CommandType.STOP_SESSION:
            assert row.transaction_id is not None
            return RemoteStop(transaction_id=row.transaction_id), None
        if kind == CommandType.UNLOCK_CONNECTOR:
            assert row.ocpp_evse_id is not None
            return Unlock(evse_id=row.ocpp_evse_id, connector_id=row.ocpp_connector_id or 1), None
        party = await session.get(Party, row.party_id)
        assert party is not None
        reservation = await _reservation(session, party, request["reservation_id"])
        assert reservation is not None and reservation.id is not None
        if kind == CommandType.RESERVE_NOW:
            assert row.id_tag is not None
            return Reserve(
                reservation_id=reservation.id,
                expires_at=reservation.expires_at,
                id_token=row.id_tag,
                token_type=OCPP_TOKEN_TYPES.get(request["token"]["type"], "ISO14443"),  # type: ignore[arg-type]
                evse_id=reservation.ocpp_evse_id or None,
                group_id=request["token"].get("group_id"),
            ), reservation.id
        return CancelReservation(reservation_id=reservation.id), reservation.id

    async def _answer(
        self, session: AsyncSession, row: OcpiCommand, result: str, message: str | None
    ) -> None:
        row.state, row.result, row.message = CommandState.ANSWERED, result, message
        row.updated_at = clock.now()
        assert row.id is not None
        await self.outbox.mark(session, [row.party_id], "command", str(row.id))

    # -- for the operator -----------------------------------------------------------------

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        async with self.database() as session:
            rows = (
                await session.execute(
                    select(OcpiCommand).order_by(col(OcpiCommand.id).desc()).limit(limit)
                )
            ).scalars()
            return [
                {
                    "id": r.id,
                    "party_id": r.party_id,
                    "command": r.command,
                    "station_id": r.station_id,
                    "state": r.state,
                    "result": r.result,
                    "message": r.message,
                    "transaction_id": r.transaction_id,
                    "created_at": r.created_at.isoformat(),
                }
                for r in rows
            ]


def result_body(row: OcpiCommand) -> dict[str, Any]:
    body: dict[str, Any] = {"result": row.result}
    if row.message:
        body["message"] = [{"language": "en", "text": row.message[:512]}]
    return body


def _result(command: str, result: CommandResult) -> tuple[str, str | None]:
    """The CommandResult for the charger's answer (digest 4b)."""
    why = result.error_description
    if result.outcome is Outcome.TIMEOUT:
        return "TIMEOUT", "the charger did not answer in time"
    if result.outcome is Outcome.OFFLINE:
        return "FAILED", why or "the charger is not connected"
    if result.outcome is Outcome.INVALID:
        return "FAILED", why
    if result.outcome is Outcome.CALL_ERROR:
        if result.error_code in ("NotImplemented", "NotSupported"):
            return "NOT_SUPPORTED", why
        return "FAILED", f"{result.error_code}: {why}" if why else result.error_code
    status = result.status or ""
    mapped = {
        CommandType.UNLOCK_CONNECTOR.value: {
            "Unlocked": "ACCEPTED",
            "UnlockFailed": "FAILED",
            "NotSupported": "NOT_SUPPORTED",
        },
        CommandType.RESERVE_NOW.value: {
            "Accepted": "ACCEPTED",
            "Occupied": "EVSE_OCCUPIED",
            "Faulted": "EVSE_INOPERATIVE",
            "Unavailable": "EVSE_INOPERATIVE",
        },
        CommandType.CANCEL_RESERVATION.value: {
            "Accepted": "ACCEPTED",
            "Rejected": "UNKNOWN_RESERVATION",
        },
    }.get(command, {"Accepted": "ACCEPTED"})
    return mapped.get(
        status, "REJECTED"
    ), None if status in mapped else f"the charger said {status}"


async def _online(session: AsyncSession, station_id: str) -> bool:
    station = await session.get(Station, station_id)
    return bool(station and station.online)


async def _reservation(
    session: AsyncSession, party: Party, reservation_id: str
) -> Reservation | None:
    rows = await session.execute(
        select(Reservation).where(
            Reservation.party_id == party.id,
            Reservation.emsp_reservation_id == reservation_id,
        )
    )
    return rows.scalars().first()


async def _id_tag(session: AsyncSession, uid: str) -> str:
    """What a charger is given for an eMSP token: its uid, or a stand-in a 1.6 idTag can hold."""
    if len(uid) <= IDTAG_MAX:
        return uid
    known = (
        (
            await session.execute(
                select(OcpiToken.short_tag).where(
                    OcpiToken.uid_key == uid.upper(), col(OcpiToken.short_tag).is_not(None)
                )
            )
        )
        .scalars()
        .first()
    )
    return known or short_tag()


__all__ = ["RemoteCommands", "Response", "result_body"]
