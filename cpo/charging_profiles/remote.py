"""eMSP charging-profile requests: decided at once from what the platform knows (whose session,
still running, capable, not too often), carried out on the charger through the csms command
port as the session's TxProfile, a ClearChargingProfile of it, or a GetCompositeSchedule, and
reported to the eMSP's `response_url` through the outbox (kind `profile_result`).

Every request is a row, so a restart owes no eMSP an answer: one the charger had not answered
when its node went is reported UNKNOWN, OCPI's word for a result nobody can know.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from cpo.charging_profiles.mapping import active_profile, profile_id, to_ocpp
from cpo.charging_profiles.tables import (
    ChargingProfileRequest,
    Method,
    RequestState,
    SessionProfile,
)
from cpo.charging_profiles.v221 import (
    ChargingProfile,
    ChargingProfileResponseType,
    ChargingProfileResultType,
)
from cpo.in_flight import InFlight
from cpo.locations.tables import LocationEvse
from cpo.push.outbox import Outbox
from cpo.sessions.from_transactions import session_by_id
from cpo.sessions.v221 import SessionStatus
from cpo.tables import Party
from csms import clock, upsert
from csms.commands import Command, CommandResult, Commands, Outcome
from csms.commands.smart_charging import (
    ClearChargingProfile,
    GetCompositeSchedule,
    SetChargingProfile,
)
from csms.models import Transaction, TransactionStatus

REQUESTS: Table = ChargingProfileRequest.__table__  # type: ignore[attr-defined]
SESSION_PROFILES: Table = SessionProfile.__table__  # type: ignore[attr-defined]
CAPABLE = "CHARGING_PROFILE_CAPABLE"
# When each kind of call last came for a session: each is limited on its own, so an eMSP
# may set a profile and read back the result at once, but not hammer either.
LAST_CALL = {
    Method.SET: SESSION_PROFILES.c.last_set_at,
    Method.GET: SESSION_PROFILES.c.last_get_at,
    Method.CLEAR: SESSION_PROFILES.c.last_clear_at,
}
KIND = "profile_result"  # the outbox kind of the results owed (16 characters at most)

log = logging.getLogger("cpo.charging_profiles")


@dataclass(frozen=True)
class Response:
    """A ChargingProfileResponse: whether the platform will try, and how long the eMSP waits."""

    result: ChargingProfileResponseType
    timeout: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result.value, "timeout": self.timeout}


class ChargingProfileRequests(InFlight):
    table = ChargingProfileRequest
    waiting = RequestState.ACCEPTED
    sweep_name = "cp-recover"

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        commands: Commands | None,
        charger_timeout: float,
        min_interval: float,
        node: str | None = None,
        live_nodes: Callable[[], Awaitable[set[str]]] | None = None,
    ) -> None:
        """`min_interval`: seconds between two calls of one kind on one session (TOO_OFTEN);
        `node`, `live_nodes`: as cpo.in_flight.InFlight takes them."""
        super().__init__(database, outbox, charger_timeout, node, live_nodes)
        self.commands = commands
        self.min_interval = timedelta(seconds=min_interval)

    async def interrupted(self, session: AsyncSession, row: Any) -> None:
        """Reported UNKNOWN: the charger's answer was lost with the node that waited for it."""
        row.state, row.result = RequestState.ANSWERED, ChargingProfileResultType.UNKNOWN
        row.updated_at = clock.now()
        assert row.id is not None
        await self.outbox.mark(session, [row.party_id], KIND, str(row.id))

    # -- the synchronous answer -----------------------------------------------------------------

    async def receive(
        self,
        party: Party,
        method: Method,
        session_id: str,
        response_url: str,
        profile: ChargingProfile | None = None,
        duration: int | None = None,
    ) -> Response:
        """Decides at once; an ACCEPTED request then runs in the background. The caller has
        checked `response_url` (cpo.in_flight.check_response_url)."""
        async with self.database.begin() as session:
            decided = await self._decide(session, party, method, session_id, response_url)
            if isinstance(decided, Response):
                return decided
            row = decided
            if profile is not None:
                row.request = profile.model_dump(mode="json", exclude_none=True)
            elif duration is not None:
                row.request = {"duration": duration}
            session.add(row)
        assert row.id is not None
        self.spawn(self._carry_out(row), name=f"charging-profile-{row.id}")
        return Response(ChargingProfileResponseType.ACCEPTED, self.timeout)

    async def _decide(
        self,
        session: AsyncSession,
        party: Party,
        method: Method,
        session_id: str,
        response_url: str,
    ) -> Response | ChargingProfileRequest:
        assert party.id is not None
        unknown = Response(ChargingProfileResponseType.UNKNOWN_SESSION)
        found = await session_by_id(session, session_id) if len(session_id) <= 36 else None
        # Another party's session is as unknown to the caller as one that never was.
        if found is None or found.id is None or found.owner_id != party.id:
            return unknown
        tx = await session.get(Transaction, found.transaction_id)
        if (
            found.status != SessionStatus.ACTIVE
            or tx is None
            or tx.id is None
            or tx.status != TransactionStatus.ACTIVE
        ):
            return unknown
        evse_id = tx.evse_id or 1
        evse = (
            (
                await session.execute(
                    select(LocationEvse).where(
                        LocationEvse.station_id == tx.station_id,
                        LocationEvse.ocpp_evse_id == evse_id,
                    )
                )
            )
            .scalars()
            .first()
        )
        if evse is not None and CAPABLE not in (evse.data.get("capabilities") or []):
            return Response(ChargingProfileResponseType.NOT_SUPPORTED)
        if not await self._in_turn(session, party.id, found.id, found.ocpi_id, tx, method):
            return Response(ChargingProfileResponseType.TOO_OFTEN)
        return ChargingProfileRequest(
            party_id=party.id,
            method=method.value,
            session_id=found.id,
            response_url=response_url,
            station_id=tx.station_id,
            ocpp_evse_id=evse_id,
            transaction_id=tx.id,
            node=self.node,
        )

    async def _in_turn(
        self,
        session: AsyncSession,
        party_id: int,
        session_row: int,
        ocpi_id: str,
        tx: Transaction,
        method: Method,
    ) -> bool:
        """Whether this call of `method` on the session comes at least `min_interval` after
        the last one (and then it is the last one). The session's row is made if it is not
        there, then one conditional UPDATE takes the turn: of two calls at once, on any nodes,
        the second waits for the first's row lock and then finds the turn taken (ADR 016)."""
        evse_id = tx.evse_id or 1
        row = {
            "session_id": session_row,
            "ocpi_session_id": ocpi_id,
            "party_id": party_id,
            "station_id": tx.station_id,
            "ocpp_evse_id": evse_id,
            "profile_id": profile_id(evse_id),
            "ever_set": False,
        }
        await session.execute(
            upsert.insert(session, SESSION_PROFILES)
            .values(row)
            .on_conflict_do_nothing(index_elements=["session_id"])
        )
        now = clock.now()
        last = LAST_CALL[method]
        taken = await session.execute(
            update(SESSION_PROFILES)
            .where(
                SESSION_PROFILES.c.session_id == session_row,
                or_(last.is_(None), last <= now - self.min_interval),
            )
            .values({last.name: now})
            .returning(SESSION_PROFILES.c.id)
        )
        return taken.first() is not None

    # -- at the charger ----------------------------------------------------------------------

    async def _carry_out(self, row: ChargingProfileRequest) -> None:
        request_id = row.id
        try:
            await self._run(row)
        except Exception:
            log.exception("charging profile request %s failed", request_id)
            await self._answer(row, ChargingProfileResultType.UNKNOWN, None)

    async def _run(self, row: ChargingProfileRequest) -> None:
        call = _ocpp_call(row)
        result = (
            await self.commands.run(row.station_id, call, self.charger_timeout)
            if self.commands is not None
            else CommandResult(Outcome.OFFLINE, error_description="no chargers in this process")
        )
        outcome = _result(Method(row.method), result)
        profile = None
        if row.method == Method.GET and outcome == ChargingProfileResultType.ACCEPTED:
            profile = active_profile(result, clock.now())
            if profile is None:  # an answer without a schedule tells nothing
                outcome = ChargingProfileResultType.UNKNOWN
        if outcome != ChargingProfileResultType.ACCEPTED:
            log.info(
                "charging profile %s on %s: %s %s %s",
                row.method, row.station_id, result.outcome, result.status or "",
                result.error_description or result.error_code or "",
            )  # fmt: skip
        await self._answer(row, outcome, profile)

    async def _answer(
        self,
        row: ChargingProfileRequest,
        outcome: ChargingProfileResultType,
        profile: dict[str, Any] | None,
    ) -> None:
        async with self.database.begin() as session:
            # One statement, and only while it is unanswered: a node taken for dead meanwhile
            # had its requests answered UNKNOWN by another (`recover`), which stands.
            answered = await session.execute(
                update(REQUESTS)
                .where(REQUESTS.c.id == row.id, REQUESTS.c.state == RequestState.ACCEPTED)
                .values(
                    state=RequestState.ANSWERED,
                    result=outcome.value,
                    profile=profile,
                    updated_at=clock.now(),
                )
                .returning(REQUESTS.c.party_id)
            )
            if (party_id := answered.scalar()) is None:
                return
            await self.outbox.mark(session, [party_id], KIND, str(row.id))
        self.outbox.wake()


def _ocpp_call(row: ChargingProfileRequest) -> Command:
    if row.method == Method.SET:
        profile = ChargingProfile.model_validate(row.request)
        return SetChargingProfile(
            evse_id=row.ocpp_evse_id,
            profile=to_ocpp(profile, row.ocpp_evse_id, row.transaction_id),
        )
    if row.method == Method.GET:
        return GetCompositeSchedule(evse_id=row.ocpp_evse_id, duration=row.request["duration"])
    return ClearChargingProfile(id=profile_id(row.ocpp_evse_id))


def _result(method: Method, result: CommandResult) -> ChargingProfileResultType:
    """The charger's answer in OCPI's three words: what it did not say (no answer in time, not
    connected) is UNKNOWN; whatever it refused or could not take is REJECTED."""
    if result.outcome in (Outcome.TIMEOUT, Outcome.OFFLINE):
        return ChargingProfileResultType.UNKNOWN
    if result.outcome is not Outcome.ANSWERED:
        return ChargingProfileResultType.REJECTED
    if result.status == "Accepted":
        return ChargingProfileResultType.ACCEPTED
    if method == Method.CLEAR and result.status == "Unknown":
        return ChargingProfileResultType.UNKNOWN  # the charger held no such profile
    return ChargingProfileResultType.REJECTED


def result_body(row: ChargingProfileRequest) -> dict[str, Any]:
    """ChargingProfileResult, ClearProfileResult, or ActiveChargingProfileResult (GET)."""
    body: dict[str, Any] = {"result": row.result}
    if row.method == Method.GET and row.profile is not None:
        body["profile"] = row.profile
    return body


__all__ = ["ChargingProfileRequests", "Response", "result_body"]
