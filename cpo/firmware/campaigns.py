"""Firmware campaigns: send one image to many chargers and follow each to Installed or a
failure.

A campaign lives on the CPO side: it is operator work that drives the csms through its command
port and reads what chargers reported from the csms's event log, like the projection. Every
node runs the same loop; the database decides who does what: a charger's attempt is claimed with
an UPDATE guarded by its state and attempt count, and the cursor over the event log moves with an
UPDATE guarded by its old value, so two nodes never send one attempt twice nor record one
notification twice (READ COMMITTED is enough: the second UPDATE waits for the first's row lock,
then matches nothing).

Each step:
1. follows the log's FirmwareStatusChanged events: one names its attempt by request id (2.0.1,
   1.6 signed); a plain 1.6 one belongs to the charger's one active campaign (a partial unique
   index keeps it one). Installed ends the charger's part; a failure sends it again after the
   campaign's attempt interval, or ends it as failed after its last attempt;
2. sends the update to the chargers due it (new ones, retries whose time came, chargers that were
   offline and are back), at most `concurrency` at a time on this node;
3. counts a charger that took the update and then said nothing for `silence` seconds (after the
   retrieve date, if one was given) as a failed attempt: a charger that rebooted into its old
   image, or lost the request, would otherwise stay "updating" for ever.

The operator may cancel a campaign: chargers not yet done leave it at once (a charger already
installing goes on; the campaign no longer follows it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field
from sqlalchemy import and_, case, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.feed_follower import FeedFollower
from cpo.firmware.tables import (
    FirmwareCampaign,
    FirmwareStep,
    FirmwareTarget,
    TargetState,
)
from cpo.operator_input import Conflict, NotFound
from csms.commands import CommandResult, Commands, Outcome, UpdateFirmware
from csms.commands.firmware import FAILURES, INSTALLED, FirmwareImage
from csms.events import Announcement, EventFeed, EventType
from csms.models import Event, Meta, Station, utcnow

log = logging.getLogger("cpo.firmware")

CURSOR = "cpo.firmware.cursor"
PLATFORM = "platform"  # a history line the platform wrote (the send, the answer)
ENDED_BY_PLATFORM = ("NoReport", "Cancelled")  # lines that close an attempt the charger began
STATIONS_MAX = 10_000
BATCH = 500  # events read per step
WAKE_ON = {EventType.FIRMWARE_STATUS, EventType.STATION_CONNECTED, EventType.STATION_BOOTED}
KICK = Announcement(station_id="", type=EventType.FIRMWARE_STATUS, data={})
# States in which a plain 1.6 notification (no request id) is taken as the campaign's.
UNDER_WAY = (TargetState.SENDING, TargetState.ACCEPTED, TargetState.UPDATING)


class CampaignIn(FirmwareImage):
    """A campaign: the image, the chargers, and how often each is tried."""

    stations: list[str] = Field(min_length=1, max_length=STATIONS_MAX)
    attempts: int = Field(default=3, ge=1, le=100, description="Most sends per charger")
    attempt_interval: int = Field(
        default=300, ge=0, le=7 * 86400, description="Seconds before a failed charger is retried"
    )


class Campaigns(FeedFollower):
    loop_name = "firmware-campaigns"

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        commands: Commands,
        feed: EventFeed,
        concurrency: int = 10,
        poll: float = 1.0,
        stale: float = 120.0,
        silence: float = 7200.0,
        readers: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        """`readers`: sessions that only read, for the checks each step makes whether or not
        a campaign runs; on SQLite every transaction of `database` takes the write lock."""
        super().__init__(feed)
        self.database = database
        self.readers = readers or database
        self.commands = commands
        self.poll = poll
        self.stale = stale  # seconds a "sending" row may stay so before its node is deemed dead
        self.silence = silence  # seconds a charger that took the update may say nothing
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._sending: set[int] = set()

    # -- the operator's side ---------------------------------------------------------------------

    async def create(self, spec: CampaignIn) -> int:
        ids = list(dict.fromkeys(spec.stations))
        try:
            async with self.database.begin() as session:
                known = set(
                    (await session.execute(select(Station.id).where(col(Station.id).in_(ids))))
                    .scalars()
                    .all()
                )
                if missing := [s for s in ids if s not in known]:
                    raise NotFound(f"no such station: {', '.join(missing[:20])}")
                taken = (
                    await session.execute(
                        select(FirmwareTarget.station_id).where(
                            col(FirmwareTarget.station_id).in_(ids), col(FirmwareTarget.active)
                        )
                    )
                ).scalars()
                if busy := sorted(taken):
                    raise Conflict(f"already in an active campaign: {', '.join(busy[:20])}")
                campaign = FirmwareCampaign(
                    **spec.model_dump(exclude={"stations"}),
                )
                session.add(campaign)
                await session.flush()
                assert campaign.id is not None
                campaign_id = campaign.id
                session.add_all(FirmwareTarget(campaign_id=campaign_id, station_id=s) for s in ids)
        except IntegrityError as e:  # another campaign took one of them meanwhile
            raise Conflict("a charger of this campaign joined another active one") from e
        self._kick()
        return campaign_id

    async def cancel(self, campaign_id: int) -> int:
        """End a campaign: every charger still in it leaves it, whatever node is sending to it
        (the send's answer is then not recorded: its guarded update matches nothing). Returns
        how many chargers left it."""
        async with self.database.begin() as session:
            if await session.get(FirmwareCampaign, campaign_id) is None:
                raise NotFound(f"no such campaign: {campaign_id}")
            left = (
                await session.execute(
                    update(FirmwareTarget)
                    .where(
                        col(FirmwareTarget.campaign_id) == campaign_id,
                        col(FirmwareTarget.active),
                    )
                    .values(state=TargetState.CANCELLED, active=False, updated_at=utcnow())
                    .returning(col(FirmwareTarget.id), col(FirmwareTarget.attempts))
                )
            ).all()
            session.add_all(
                FirmwareStep(target_id=i, attempt=n, source=PLATFORM, status="Cancelled")
                for i, n in left
                if i is not None
            )
        return len(left)

    async def all(self) -> list[dict[str, Any]]:
        async with self.database() as session:
            campaigns = (
                await session.execute(select(FirmwareCampaign).order_by(col(FirmwareCampaign.id)))
            ).scalars()
            counts = await session.execute(
                select(FirmwareTarget.campaign_id, FirmwareTarget.state, func.count()).group_by(
                    col(FirmwareTarget.campaign_id), col(FirmwareTarget.state)
                )
            )
            by_campaign: dict[int, dict[str, int]] = {}
            for campaign_id, state, n in counts:
                by_campaign.setdefault(campaign_id, {})[state] = n
            return [
                _campaign_view(c) | {"states": by_campaign.get(c.id or 0, {})} for c in campaigns
            ]

    async def get(self, campaign_id: int) -> dict[str, Any]:
        async with self.database() as session:
            campaign = await session.get(FirmwareCampaign, campaign_id)
            if campaign is None:
                raise NotFound(f"no such campaign: {campaign_id}")
            rows = (
                await session.execute(
                    select(FirmwareTarget, Station.firmware_version)
                    .join(Station, col(Station.id) == col(FirmwareTarget.station_id), isouter=True)
                    .where(col(FirmwareTarget.campaign_id) == campaign_id)
                    .order_by(col(FirmwareTarget.station_id))
                )
            ).all()
            steps = (
                await session.execute(
                    select(FirmwareStep)
                    .where(col(FirmwareStep.target_id).in_([t.id for t, _ in rows]))
                    .order_by(
                        col(FirmwareStep.attempt),
                        # the send and its answer, what the charger said, how the platform ended it
                        case(
                            (col(FirmwareStep.status).in_(ENDED_BY_PLATFORM), 2),
                            (col(FirmwareStep.source) != PLATFORM, 1),
                            else_=0,
                        ),
                        col(FirmwareStep.id),
                    )
                )
            ).scalars()
            history: dict[int, list[dict[str, Any]]] = {}
            for step in steps:
                history.setdefault(step.target_id, []).append(
                    {
                        "at": step.at.isoformat(),
                        "attempt": step.attempt,
                        "status": step.status,
                    }
                    | ({"detail": step.detail} if step.detail else {})
                )
            chargers = [
                {
                    "station_id": t.station_id,
                    "state": t.state,
                    "attempts": t.attempts,
                    "firmware_status": t.firmware_status,
                    "firmware_version": version,
                    "request_id": t.request_id,
                    "next_attempt_at": t.next_attempt_at.isoformat() if t.next_attempt_at else None,
                    "updated_at": t.updated_at.isoformat(),
                    "history": history.get(t.id or 0, []),
                }
                for t, version in rows
            ]
        states: dict[str, int] = {}
        for charger in chargers:
            states[charger["state"]] = states.get(charger["state"], 0) + 1
        return _campaign_view(campaign) | {"states": states, "chargers": chargers}

    # -- the loop --------------------------------------------------------------------------------

    def _kick(self) -> None:
        if self._queue is not None:
            self._queue.put_nowait(KICK)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            try:
                await self.step()
            except Exception:
                log.exception("firmware campaigns: a step failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken(self._queue), self.poll)

    @staticmethod
    async def _woken(queue: asyncio.Queue[Event | Announcement]) -> None:
        while (await queue.get()).type not in WAKE_ON:
            pass
        while not queue.empty():  # what came meanwhile is read by the same step
            queue.get_nowait()

    async def step(self) -> None:
        while await self._follow() >= BATCH:
            pass
        await self._expire_silent()
        await self._send_due()

    # -- following the chargers' notifications -----------------------------------------------

    async def _follow(self) -> int:
        if not await self._news():
            return 0
        try:
            async with self.database.begin() as session:
                top, meta = await self._top_and_cursor(session)
                if meta is None:  # first run: what came before no campaign existed
                    session.add(Meta(key=CURSOR, value=str(top)))
                    return 0
                cursor = int(meta.value)
                if top <= cursor:
                    return 0
                events = (
                    (
                        await session.execute(
                            select(Event)
                            .where(
                                col(Event.id) > cursor,
                                col(Event.id) <= top,
                                col(Event.type) == EventType.FIRMWARE_STATUS.value,
                            )
                            .order_by(col(Event.id))
                            .limit(BATCH)
                        )
                    )
                    .scalars()
                    .all()
                )
                last = events[-1].id if len(events) == BATCH and events[-1].id else top
                moved = await session.execute(
                    update(Meta)
                    .where(col(Meta.key) == CURSOR, col(Meta.value) == meta.value)
                    .values(value=str(last))
                )
                if moved.rowcount != 1:  # type: ignore[attr-defined]
                    return 0  # another node read these; nothing was written
                for event in events:
                    await self._reported(session, event)
                return len(events)
        except IntegrityError:
            return 0  # two nodes made the cursor at once: the other's stands

    async def _news(self) -> bool:
        """Whether events came after the cursor, or there is no cursor yet (`_follow` then
        looks in a write transaction)."""
        async with self.readers() as session:
            top, meta = await self._top_and_cursor(session)
        return meta is None or top > int(meta.value)

    @staticmethod
    async def _top_and_cursor(session: AsyncSession) -> tuple[int, Meta | None]:
        """The newest event's id, and the row of how far the campaigns have read."""
        top = (await session.execute(select(func.max(col(Event.id))))).scalar() or 0
        return top, await session.get(Meta, CURSOR)

    async def _reported(self, session: AsyncSession, event: Event) -> None:
        status = str(event.data.get("status"))
        request_id = event.data.get("request_id")
        query = select(FirmwareTarget).where(
            col(FirmwareTarget.station_id) == event.station_id, col(FirmwareTarget.active)
        )
        if request_id is not None:
            query = query.where(col(FirmwareTarget.request_id) == int(request_id))
        else:
            query = query.where(col(FirmwareTarget.state).in_(UNDER_WAY))
        target = (await session.execute(query)).scalars().first()
        if target is None:
            return  # not a campaign's (a single UpdateFirmware, or an Idle answer to a trigger)
        assert target.id is not None
        session.add(
            FirmwareStep(
                target_id=target.id, at=event.created_at, attempt=target.attempts, status=status
            )
        )
        values: dict[str, Any] = {"firmware_status": status, "updated_at": utcnow()}
        if status == INSTALLED:
            values |= {"state": TargetState.INSTALLED, "active": False}
        elif status in FAILURES:
            campaign = await session.get(FirmwareCampaign, target.campaign_id)
            assert campaign is not None
            values |= _again(campaign, target.attempts, TargetState.RETRY)
        elif status != "Idle":
            values |= {"state": TargetState.UPDATING}
        await session.execute(
            update(FirmwareTarget)
            .where(
                col(FirmwareTarget.id) == target.id,
                col(FirmwareTarget.attempts) == target.attempts,
                col(FirmwareTarget.active),
            )
            .values(**values)
        )

    async def _expire_silent(self) -> None:
        now = utcnow()
        quiet_since = now - timedelta(seconds=self.silence)
        silent = (
            select(FirmwareTarget, FirmwareCampaign)
            .join(FirmwareCampaign, col(FirmwareCampaign.id) == col(FirmwareTarget.campaign_id))
            .where(
                col(FirmwareTarget.active),
                col(FirmwareTarget.state).in_((TargetState.ACCEPTED, TargetState.UPDATING)),
                col(FirmwareTarget.updated_at) < quiet_since,
            )
            .limit(BATCH)
        )
        async with self.readers() as session:
            if (await session.execute(silent)).first() is None:
                return  # the usual answer: no write transaction for it
        async with self.database.begin() as session:
            rows = (await session.execute(silent)).all()
            for target, campaign in rows:
                if campaign.retrieve_date and campaign.retrieve_date > quiet_since:
                    continue  # told to fetch it later: its silence counts from then
                # Guarded: a notification read meanwhile (here or on another node) wins.
                expired = await session.execute(
                    update(FirmwareTarget)
                    .where(
                        col(FirmwareTarget.id) == target.id,
                        col(FirmwareTarget.attempts) == target.attempts,
                        col(FirmwareTarget.state) == target.state,
                        col(FirmwareTarget.updated_at) == target.updated_at,
                    )
                    .values(updated_at=now, **_again(campaign, target.attempts, TargetState.RETRY))
                )
                if expired.rowcount == 1:  # type: ignore[attr-defined]
                    assert target.id is not None
                    session.add(
                        FirmwareStep(
                            target_id=target.id,
                            attempt=target.attempts,
                            source=PLATFORM,
                            status="NoReport",
                            detail=f"no status from the charger for {self.silence:g} s",
                        )
                    )

    # -- sending ---------------------------------------------------------------------------------

    async def _send_due(self) -> None:
        now = utcnow()
        async with self.readers() as session:
            due = (
                (
                    await session.execute(
                        select(FirmwareTarget.id)
                        .join(Station, col(Station.id) == col(FirmwareTarget.station_id))
                        .where(self._due(now))
                        .order_by(col(FirmwareTarget.id))
                        .limit(self._concurrency * 4)
                    )
                )
                .scalars()
                .all()
            )
        for target_id in due:
            if target_id in self._sending:
                continue
            self._sending.add(target_id)
            self.spawn(self._send(target_id), name=f"firmware-{target_id}")

    def _due(self, now: datetime) -> Any:
        """Which targets are due a send (of a query joining their Station)."""
        return and_(
            col(FirmwareTarget.active),
            or_(
                col(FirmwareTarget.state) == TargetState.PENDING,
                and_(
                    col(FirmwareTarget.state) == TargetState.RETRY,
                    col(FirmwareTarget.next_attempt_at) <= now,
                ),
                and_(col(FirmwareTarget.state) == TargetState.OFFLINE, col(Station.online)),
                and_(
                    col(FirmwareTarget.state) == TargetState.SENDING,
                    col(FirmwareTarget.updated_at) < now - timedelta(seconds=self.stale),
                ),
            ),
        )

    async def _send(self, target_id: int) -> None:
        try:
            async with self._slots:
                await self._attempt(target_id)
        except Exception:
            log.exception("firmware campaigns: sending to target %d failed", target_id)
        finally:
            self._sending.discard(target_id)

    async def _attempt(self, target_id: int) -> None:
        async with self.database.begin() as session:
            target = await session.get(FirmwareTarget, target_id)
            if target is None or not target.active:
                return
            # Still due as the write sees it: the list it came from was read earlier (on the
            # read connections, or by another node), and a send that ended since left the
            # target waiting for its next attempt.
            due = (
                await session.execute(
                    select(FirmwareTarget.id)
                    .join(Station, col(Station.id) == col(FirmwareTarget.station_id))
                    .where(col(FirmwareTarget.id) == target_id, self._due(utcnow()))
                )
            ).first()
            if due is None:
                return
            attempt = target.attempts + 1
            claimed = await session.execute(
                update(FirmwareTarget)
                .where(
                    col(FirmwareTarget.id) == target_id,
                    col(FirmwareTarget.state) == target.state,
                    col(FirmwareTarget.attempts) == target.attempts,
                )
                .values(state=TargetState.SENDING, attempts=attempt, updated_at=utcnow())
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return  # another node (or step) took it
            campaign = await session.get(FirmwareCampaign, target.campaign_id)
            assert campaign is not None
            sent = FirmwareStep(
                target_id=target_id, attempt=attempt, source=PLATFORM, status="Sent"
            )
            session.add(sent)
            await session.flush()
            assert sent.id is not None
            await session.execute(
                update(FirmwareTarget)
                .where(col(FirmwareTarget.id) == target_id)
                .values(request_id=sent.id)
            )
            station_id = target.station_id
            command = UpdateFirmware(
                location=campaign.location,
                retrieve_date=campaign.retrieve_date,
                retries=campaign.retries,
                retry_interval=campaign.retry_interval,
                signing_certificate=campaign.signing_certificate,
                signature=campaign.signature,
                request_id=sent.id,
            )
        result = await self.commands.run(station_id, command)
        # Taken now: the charger's first notification may be written before this answer is.
        await self._answered(target_id, campaign, attempt, result, utcnow())

    async def _answered(
        self,
        target_id: int,
        campaign: FirmwareCampaign,
        attempt: int,
        result: CommandResult,
        at: datetime,
    ) -> None:
        if result.accepted:
            status, values = str(result.status), {"state": TargetState.ACCEPTED}
        elif result.outcome is Outcome.OFFLINE:
            status, values = "Offline", _again(campaign, attempt, TargetState.OFFLINE)
        else:
            status = result.status or result.outcome.value
            values = _again(campaign, attempt, TargetState.RETRY)
        detail = result.error_description or result.error_code
        async with self.database.begin() as session:
            session.add(
                FirmwareStep(
                    target_id=target_id,
                    at=at,
                    attempt=attempt,
                    source=PLATFORM,
                    status=status,
                    detail=detail,
                )
            )
            # Guarded: the charger's first notification may have moved it on already.
            await session.execute(
                update(FirmwareTarget)
                .where(
                    col(FirmwareTarget.id) == target_id,
                    col(FirmwareTarget.attempts) == attempt,
                    col(FirmwareTarget.state) == TargetState.SENDING,
                )
                .values(updated_at=utcnow(), **values)
            )


def _again(campaign: FirmwareCampaign, attempts: int, waiting: TargetState) -> dict[str, Any]:
    """A charger's next state after a failed attempt: waiting for another, or failed."""
    if attempts >= campaign.attempts:
        return {"state": TargetState.FAILED, "active": False}
    at: datetime = utcnow() + timedelta(seconds=campaign.attempt_interval)
    return {"state": waiting, "next_attempt_at": at}


def _campaign_view(campaign: FirmwareCampaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "created_at": campaign.created_at.isoformat(),
        "location": campaign.location,
        "signed": campaign.signature is not None,
        "attempts": campaign.attempts,
        "attempt_interval": campaign.attempt_interval,
    }


__all__ = ["CampaignIn", "Campaigns"]
