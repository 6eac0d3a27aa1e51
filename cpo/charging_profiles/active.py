"""The ActiveChargingProfile told to the eMSP: once an eMSP's profile was accepted on a session,
every change to what bounds that EVSE (its own profile set or cleared, the site power limit, an
operator's profile, a limit the charger reports from elsewhere) is read back from the charger
as its composite schedule and PUT to the eMSP's chargingprofiles SENDER endpoint through the
outbox (kind `active_profile`).

It follows this node's event feed: every change to what a charger holds is an event on the node
that sent it (csms.store.charging_profiles), and a charger's own report one on the node it is
connected to, so each change is seen once, on one node."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Table, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.charging_profiles.mapping import active_profile, full_power
from cpo.charging_profiles.tables import SessionProfile
from cpo.feed_follower import FeedFollower
from cpo.hubs.clients import called_as
from cpo.locations.tables import LocationEvse
from cpo.push.outbox import Outbox
from cpo.sessions.tables import ChargingSession
from cpo.tables import Party
from csms import clock
from csms.commands import Commands
from csms.commands.port import Outcome
from csms.commands.smart_charging import GetCompositeSchedule
from csms.events import EventFeed, EventType
from csms.models import Transaction, TransactionStatus

log = logging.getLogger("cpo.charging_profiles")

WAKE_ON = {EventType.CHARGING_PROFILE_CHANGED, EventType.CHARGING_LIMIT}
# How far ahead the eMSP is told (OCPI's guide: 5 to 60 minutes); it can GET a longer one.
AHEAD_SECONDS = 3600
KIND = "active_profile"  # the outbox kind (at most 16 characters, as every kind)
SESSION_PROFILES: Table = SessionProfile.__table__  # type: ignore[attr-defined]


class ActiveProfiles(FeedFollower):
    loop_name = "active-charging-profiles"

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        commands: Commands,
        feed: EventFeed,
        charger_timeout: float,
    ) -> None:
        super().__init__(feed)
        self.database = database
        self.outbox = outbox
        self.commands = commands
        self.charger_timeout = charger_timeout

    async def _run(self) -> None:
        """Each change is looked into in a task of its own: a slow charger holds up nobody."""
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            if event.type in WAKE_ON:
                self.spawn(self._changed(event.station_id, dict(event.data)))

    async def _changed(self, station_id: str, data: dict[str, Any]) -> None:
        try:
            for row in await self._followed(station_id, data):
                await self._tell(row)
        except Exception:
            log.exception("cannot tell eMSPs what changed on %s", station_id)

    async def _followed(self, station_id: str, data: dict[str, Any]) -> list[SessionProfile]:
        """The running sessions on the EVSE that changed (any EVSE: evse_id 0 or none) whose
        eMSP has had a profile accepted there. The event of the acceptance itself is what
        first makes a session followed: it comes from the store's write of what the charger
        accepted, before the request's own answer is written."""
        evse_id = data.get("evse_id")
        async with self.database.begin() as session:
            query = (
                select(SessionProfile)
                .join(ChargingSession, col(ChargingSession.id) == SessionProfile.session_id)
                .join(Transaction, col(Transaction.id) == ChargingSession.transaction_id)
                .where(
                    SessionProfile.station_id == station_id,
                    Transaction.status == TransactionStatus.ACTIVE,
                )
            )
            if evse_id:
                query = query.where(SessionProfile.ocpp_evse_id == evse_id)
            rows = list((await session.execute(query)).scalars())
            accepted = [
                r
                for r in rows
                if data.get("change") == "set"
                and data.get("profile_id") == r.profile_id
                and not r.ever_set
            ]
            if accepted:
                await session.execute(
                    update(SESSION_PROFILES)
                    .where(SESSION_PROFILES.c.id.in_([r.id for r in accepted]))
                    .values(ever_set=True)
                )
        return [r for r in rows if r.ever_set or r in accepted]

    async def _tell(self, row: SessionProfile) -> None:
        result = await self.commands.run(
            row.station_id,
            GetCompositeSchedule(evse_id=row.ocpp_evse_id, duration=AHEAD_SECONDS),
            self.charger_timeout,
        )
        now = clock.now()
        active = active_profile(result, now) if result.accepted else None
        if active is None and result.outcome is Outcome.ANSWERED:
            # The charger has nothing that bounds the EVSE: OCPI asks for its full capacity.
            max_w = await self._capacity(row)
            active = full_power(max_w, AHEAD_SECONDS, now) if max_w else None
        if active is None:
            log.info("no composite schedule of %s for session %s", row.station_id, row.session_id)
            return
        async with self.database.begin() as session:
            # The latest reading wins: of two looks racing, the older does not overwrite.
            kept = await session.execute(
                update(SESSION_PROFILES)
                .where(
                    SESSION_PROFILES.c.id == row.id,
                    or_(SESSION_PROFILES.c.active_at.is_(None), SESSION_PROFILES.c.active_at < now),
                )
                .values(active=active, active_at=now)
                .returning(SESSION_PROFILES.c.party_id)
            )
            party_id = kept.scalar()
            if party_id is None:
                return
            party = await session.get(Party, party_id)
            if party is not None:
                party = await called_as(session, party)  # behind a hub: the hub's endpoints
            if party is None or party.endpoint("chargingprofiles", "SENDER") is None:
                return  # an eMSP that publishes no SENDER interface can be told nothing
            await self.outbox.mark(session, [party_id], KIND, str(row.id))
        self.outbox.wake()

    async def _capacity(self, row: SessionProfile) -> float | None:
        """The most the EVSE can give: its strongest connector's max_electric_power (W)."""
        async with self.database() as session:
            evse = (
                (
                    await session.execute(
                        select(LocationEvse).where(
                            LocationEvse.station_id == row.station_id,
                            LocationEvse.ocpp_evse_id == row.ocpp_evse_id,
                        )
                    )
                )
                .scalars()
                .first()
            )
        if evse is None:
            return None
        powers = [
            float(c["max_electric_power"])
            for c in evse.data.get("connectors") or []
            if isinstance(c.get("max_electric_power"), int | float)
        ]
        return max(powers) if powers else None
