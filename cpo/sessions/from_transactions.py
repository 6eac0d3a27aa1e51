"""Sessions and CDRs: each csms transaction becomes an OCPI Session and, once ended, one CDR.

The projection hands over the transactions its events touched; each is rebuilt whole from its
row and meter samples (so duplicates and out-of-order arrival change nothing), priced by the
tariff engine under the tariff its connector had when it started, and marked in the outbox for
the token's owner only. A CDR is made once the charger has nothing more to tell: at the end, or
when a 2.0.1 charger's missing TransactionEvents arrive, or after a wait for them. From then on
the session is sealed; a correction is a credit CDR and a new one (`correct`).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, or_, select

from cpo.cdrs.objects import cdr_location, cdr_object, credit_of, signed_data
from cpo.cdrs.tables import Cdr
from cpo.cdrs.v221 import AuthMethod
from cpo.commands.tables import CommandState, OcpiCommand, Reservation, ReservationStatus
from cpo.locations.tables import Location, LocationEvse
from cpo.ocpi.headers import PartyRef
from cpo.ocpi.models import VersionNumber
from cpo.ocpi.responses import timestamp
from cpo.our_roles import OurRoles
from cpo.push.outbox import Outbox
from cpo.sessions.tables import ChargingSession
from cpo.sessions.usage import Reading, SampleRow, Usage, readings, usage
from cpo.sessions.v221 import SessionStatus
from cpo.tables import Party
from cpo.tariffs.engine import Priced, PriceMemo, price
from cpo.tariffs.store import tariff_object
from cpo.tariffs.tables import Tariff
from cpo.tariffs.v221 import Tariff as TariffModel
from cpo.tokens.authorization import TOKEN_TYPES, find_token
from cpo.tokens.v221 import TokenType
from csms import clock
from csms.authorization import normalise_uid
from csms.models import LocalToken, MeterSample, Station, Transaction, TransactionStatus

log = logging.getLogger("cpo.sessions")

ACCEPTED = (None, "Accepted")
SETTLE_EVERY = 1.0  # seconds between two looks for due CDRs when none fell due here
_SAMPLE_COLUMNS = core_select(
    col(MeterSample.transaction_id),
    col(MeterSample.timestamp),
    col(MeterSample.measurand),
    col(MeterSample.value),
    col(MeterSample.unit),
    col(MeterSample.phase),
    col(MeterSample.location),
    col(MeterSample.context),
    col(MeterSample.signed_data),
)


# Live Sessions whose pricing state is kept between rebuilds (ADR 037): about 43 KiB each for a
# four-hour charge read every minute (tracemalloc), so at most some 90 MB.
MAX_MEMOS = 2000


@dataclass(frozen=True)
class SessionRules:
    currency: str = "EUR"  # when no tariff names one
    update_every: float = 300.0  # seconds between a live session's PATCHes (and its periods)
    gap_wait: float = 600.0  # how long a CDR waits for a 2.0.1 charger's missing messages
    max_power_w: float = 1_000_000.0  # a register step faster than this is a glitch


class ChargingSessions:
    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        roles: OurRoles,
        rules: SessionRules,
    ) -> None:
        self.database = database
        self.outbox = outbox
        self.roles = roles
        self.own = roles.default
        self.rules = rules
        # When `settle` next needs to look for due CDRs: at least every SETTLE_EVERY seconds
        # (so due times written before a restart are found), at once when one falls due here.
        self._settle_at = datetime.min.replace(tzinfo=UTC)
        # transaction id -> its Session row's and transaction's columns, the transaction's
        # progress, and the Session built from them (`build_ahead`)
        self._ahead: dict[int, tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...], Built]] = {}
        # transactions whose Sessions the last `refresh` took from `build_ahead` although
        # readings had arrived since: due another rebuild
        self.stale: set[int] = set()
        # transaction id -> where pricing its live Session last stopped (ADR 037), the most
        # recently priced MAX_MEMOS of them
        self._memos: OrderedDict[int, PriceMemo] = OrderedDict()

    def _memo(self, transaction_id: int | None) -> PriceMemo | None:
        if transaction_id is None:
            return None
        memo = self._memos.pop(transaction_id, None) or PriceMemo()
        self._memos[transaction_id] = memo
        if len(self._memos) > MAX_MEMOS:
            self._memos.popitem(last=False)
        return memo

    def look_again(self) -> None:
        """The next `settle` looks for due CDRs whatever it knew (another process may have
        written due times meanwhile: the projection's lease changed hands)."""
        self._settle_at = datetime.min.replace(tzinfo=UTC)

    # -- from the event log -----------------------------------------------------------------

    async def refresh(self, session: AsyncSession, transaction_ids: Iterable[int]) -> bool:
        """Rebuilds the sessions of these transactions; whether anything needs sending."""
        self.stale = set()
        ids = sorted(set(transaction_ids))
        if not ids:
            return False
        rows = await _sessions_of(session, ids)
        # Sealed: late news is for a credit CDR, by the operator.
        ids = [i for i in ids if (row := rows.get(i)) is None or not row.cdr_made]
        if not ids:
            return False
        txs = list(
            (
                await session.execute(select(Transaction).where(col(Transaction.id).in_(ids)))
            ).scalars()
        )
        built = self._take_ahead(rows, txs)
        samples = await _samples(session, [i for i in ids if i not in built])
        unplaced = [t for t in txs if (row := rows.get(t.id or 0)) is None or row.location is None]
        placeable = await _at_locations(session, unplaced)
        marked = False
        for tx in txs:
            assert tx.id is not None
            marked |= await self._refresh(
                session,
                tx,
                rows.get(tx.id),
                samples.get(tx.id, []),
                (tx.station_id, tx.evse_id or 1) in placeable,
                built.get(tx.id),
            )
        return marked

    async def build_ahead(self, session: AsyncSession, transaction_ids: Iterable[int]) -> None:
        """Builds, in `session` (one read of a consistent state, outside the write
        transaction), the live Sessions of these transactions that `refresh` is about to
        rebuild for their new readings.

        On SQLite the projection's write transaction holds off every other writer, the
        chargers' group commit included, and building a Session (its readings measured and
        priced under its tariff) is most of what it does there: built in it, the projection
        held the write lock about 45 % of the time under meter-values load, and the chargers
        waited (ADR 035). `refresh` takes a Session built here where the Session row and its
        transaction are as they were here, but for the readings that kept arriving (the
        transaction's progress columns, `_PROGRESS`): that Session is the one the state read
        here makes, a moment older than the state at the write, and the transaction is left
        in `stale`, for the projection to build again once more is due. Anything else that
        changed meanwhile (an end, a tariff, a row another process wrote) is built in the
        write transaction as before."""
        self._ahead.clear()
        ids = sorted(set(transaction_ids))
        if not ids:
            return
        rows = {i: row for i, row in (await _sessions_of(session, ids)).items() if not row.cdr_made}
        if not rows:
            return
        txs = [
            tx
            for tx in (
                await session.execute(select(Transaction).where(col(Transaction.id).in_(rows)))
            ).scalars()
            if tx.status == TransactionStatus.ACTIVE
        ]
        samples = await _samples(session, [tx.id for tx in txs if tx.id is not None])
        for tx in txs:
            assert tx.id is not None
            row = rows[tx.id]
            built = self._build(row, tx, samples[tx.id], row.data.get("cdr_token"))
            self._ahead[tx.id] = (
                _columns(row, _PUSHED),
                _columns(tx, _PROGRESS),
                _progress(tx),
                built,
            )

    def _take_ahead(
        self, rows: dict[int, ChargingSession], txs: list[Transaction]
    ) -> dict[int, Built]:
        """The Sessions `build_ahead` built whose rows and transactions are as they were then
        (but for the transactions' progress); notes in `stale` those that progressed since."""
        ahead, self._ahead = self._ahead, {}
        usable: dict[int, Built] = {}
        for tx in txs:
            assert tx.id is not None
            entry = ahead.get(tx.id)
            row = rows.get(tx.id)
            if entry is None or row is None:
                continue
            row_then, tx_then, progress_then, built = entry
            if _columns(row, _PUSHED) != row_then or _columns(tx, _PROGRESS) != tx_then:
                continue
            usable[tx.id] = built
            if _progress(tx) != progress_then:
                self.stale.add(tx.id)
        return usable

    async def _refresh(
        self,
        session: AsyncSession,
        tx: Transaction,
        row: ChargingSession | None,
        samples: list[SampleRow],
        placeable: bool = True,
        built: Built | None = None,
    ) -> bool:
        """`built`: the Session as `build_ahead` built it, if it still applies (`samples` is
        then not read)."""
        now = clock.now()
        created = row is None
        if row is None:
            row = await self._open(session, tx, now)
            if row is None:
                return False
        placed = row.location is None
        if row.location is None and placeable:
            await self._place(session, row, tx)
            built = None  # built for the row unplaced
        before = row.status
        if built is None:
            built = self._build(row, tx, samples, row.data.get("cdr_token"))
        data, closed, flags = built
        changed = _without_stamp(data) != _without_stamp(row.data)
        if changed:
            data["last_updated"] = timestamp(now)
            row.data, row.last_updated = data, now
        row.status, row.closed_periods, row.flags = data["status"], closed, flags
        ended = tx.status == TransactionStatus.ENDED
        if ended and row.status == SessionStatus.COMPLETED and row.location is not None:
            gaps = tx.last_seq_no is not None and tx.seq_seen < tx.last_seq_no + 1
            due = now + timedelta(seconds=self.rules.gap_wait) if gaps else now
            row.cdr_due_at = due if row.cdr_due_at is None else min(row.cdr_due_at, due)
            self._settle_at = min(self._settle_at, row.cdr_due_at)
        if not changed or row.owner_id is None or row.location is None:
            return False
        # Start and end travel at once; progress at most every `update_every` seconds.
        urgent = created or placed or before != row.status
        await self.outbox.mark(
            session,
            [row.owner_id],
            "session",
            row.ocpi_id,
            scope="status",  # a PATCH will do, if the owner holds what we last sent
            delay=0.0 if urgent else self.rules.update_every,
        )
        return True

    async def _open(
        self, session: AsyncSession, tx: Transaction, now: datetime
    ) -> ChargingSession | None:
        """A new Session, if someone is behind the transaction: an eMSP (its START_SESSION, its
        reservation, or its token the driver presented), or the operator (its own token).

        The operator's own charges are Sessions and CDRs like the others, for the operator's
        books: owned by no party (`owner_id` None, the CPO's own country_code/party_id in the
        cdr_token), so no outbox row, pull or command of any eMSP ever reaches them."""
        if not tx.id_token:
            return None
        assert tx.id is not None
        reference: str | None = None
        owner_id: int | None
        started = await self._started_by_command(session, tx)
        reserved = await self._reserved(session, tx) if started is None else None
        # As the authorization port asks: the operator's own tokens first.
        mine = await _operator_token(session, tx.id_token) if started is None else None
        if started is not None:
            owner_id, token = started.party_id, started.request["token"]
            reference = started.request.get("authorization_reference")
            auth_method = AuthMethod.COMMAND
            started.transaction_id, started.state = tx.id, CommandState.LINKED
        elif mine is not None:
            owner_id, auth_method = None, AuthMethod.WHITELIST
            token = {
                "country_code": self.own.country_code,
                "party_id": self.own.party_id,
                "uid": mine.uid,
                "type": _token_type(mine.type),
                "contract_id": mine.uid,
            }
        else:
            known = await find_token(session, tx.id_token, tx.id_token_type)
            if known is not None:
                owner_id, token = (
                    known.owner_id,
                    {
                        "country_code": known.country_code,
                        "party_id": known.party_id,
                        "uid": known.uid,
                        "type": known.type,
                        "contract_id": known.data.get("contract_id", known.uid),
                    },
                )
                realtime = tx.authorization_reference is not None or known.whitelist in (
                    "NEVER",
                    "ALLOWED_OFFLINE",
                )
                auth_method = AuthMethod.AUTH_REQUEST if realtime else AuthMethod.WHITELIST
            elif reserved is not None:
                owner_id, token, auth_method = (
                    reserved.party_id,
                    reserved.token,
                    AuthMethod.WHITELIST,
                )
            else:
                return None  # nobody's token: no one to bill
            if reserved is not None and reserved.party_id == owner_id:
                reference = reserved.authorization_reference
                reserved.status = ReservationStatus.USED
        cdr_token = {
            k: token[k] for k in ("country_code", "party_id", "uid", "type", "contract_id")
        }
        data: dict[str, Any] = {"cdr_token": cdr_token, "auth_method": auth_method}
        if reference:
            data["authorization_reference"] = reference
        row = ChargingSession(
            ocpi_id=uuid.uuid4().hex,  # 32 characters: CDR ids add suffixes within 39
            transaction_id=tx.id,
            owner_id=owner_id,
            pricing=await _pricing_rules(session, owner_id),
            data=data,
            last_updated=now,
        )
        session.add(row)
        await session.flush()
        return row

    @staticmethod
    async def _started_by_command(session: AsyncSession, tx: Transaction) -> OcpiCommand | None:
        rows = list(
            (
                await session.execute(
                    select(OcpiCommand).where(
                        OcpiCommand.command == "START_SESSION",
                        OcpiCommand.station_id == tx.station_id,
                        col(OcpiCommand.transaction_id).is_(None),
                        col(OcpiCommand.state).in_(
                            [CommandState.ACCEPTED, CommandState.ANSWERED, CommandState.EXPIRED]
                        ),
                        or_(col(OcpiCommand.result).is_(None), OcpiCommand.result == "ACCEPTED"),
                    )
                )
            ).scalars()
        )
        return linked_start(rows, tx)

    @staticmethod
    async def _reserved(session: AsyncSession, tx: Transaction) -> Reservation | None:
        if tx.reservation_id is None:
            return None
        reservation = await session.get(Reservation, tx.reservation_id)
        if reservation is None or reservation.station_id != tx.station_id:
            return None
        return reservation

    async def _place(self, session: AsyncSession, row: ChargingSession, tx: Transaction) -> None:
        """Where it happens and at what price, as they are now: kept for the session's life."""
        found = (
            await session.execute(
                select(LocationEvse, Location)
                .join(Location, col(Location.id) == col(LocationEvse.location_id))
                .where(
                    LocationEvse.station_id == tx.station_id,
                    LocationEvse.ocpp_evse_id == (tx.evse_id or 1),
                )
            )
        ).first()
        if found is None:
            return  # a charger EVSE at no Location yet: nothing an eMSP could place
        evse, location = found
        connectors = evse.data.get("connectors") or []
        if not connectors:
            return
        # The Session and its CDR are the Location owner's: a second id's site says so.
        owner = self.roles.role_of(location.country_code, location.party_id)
        row.data = row.data | {"country_code": owner.country_code, "party_id": owner.party_id}
        index = min(max((tx.connector_id or 1) - 1, 0), len(connectors) - 1)
        connector = connectors[index]
        row.location = cdr_location(location, evse, connector)
        row.time_zone = location.data.get("time_zone") or "UTC"
        row.tariff = await tariff_in_force(session, connector, tx.started_at or clock.now())
        station = await session.get(Station, tx.station_id)
        if station is not None and station.meter_serial_number:
            row.data = row.data | {"meter_id": station.meter_serial_number[:255]}

    def _build(
        self,
        row: ChargingSession,
        tx: Transaction,
        samples: list[SampleRow],
        cdr_token: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], int, list[str]]:
        """The Session object as the data stands, how many of its periods are closed, and flags."""
        ended = tx.status == TransactionStatus.ENDED
        start = tx.started_at or row.created_at
        end = (tx.ended_at if ended else tx.meter_last_at) or start
        read = readings(samples)
        measured = usage(
            start,
            max(end, start),
            tx.meter_start_wh,
            _stop_reading(tx, read) if ended else None,
            read,
            self.rules.max_power_w,
            # Cut where the live updates were cut, ended or not: the periods the owner holds
            # stay as they are and the last update only appends.
            timedelta(seconds=self.rules.update_every),
        )
        if ended:
            self._memos.pop(tx.id or 0, None)
        priced = self._price(row, measured, None if ended else self._memo(tx.id))
        periods = _with_live_dimensions(priced.charging_periods if priced else [], measured)
        if ended:
            closed = len(periods)
        else:
            last = measured.usage.boundaries[-1] if measured.usage.boundaries else None
            cut = timestamp(last) if last else None
            closed = sum(1 for p in periods if cut is not None and p["start_date_time"] < cut)
        if tx.auth_status not in ACCEPTED:
            status = SessionStatus.INVALID
        else:
            status = SessionStatus.COMPLETED if ended else SessionStatus.ACTIVE
        location = row.location or {}
        cpo = self._cpo_of(row)
        data: dict[str, Any] = {
            "country_code": cpo.country_code,
            "party_id": cpo.party_id,
            "id": row.ocpi_id,
            "start_date_time": timestamp(start),
            "kwh": round(measured.energy_wh / 1000, 4),
            "cdr_token": cdr_token,
            "auth_method": row.data.get("auth_method"),
            "location_id": location.get("id"),
            "evse_uid": location.get("evse_uid"),
            "connector_id": location.get("connector_id"),
            "currency": (row.tariff or {}).get("currency", self.rules.currency),
            "charging_periods": periods,
            "status": status,
        }
        if ended and tx.ended_at is not None:
            data["end_date_time"] = timestamp(max(tx.ended_at, start))
        # The latest word wins: the command's or reservation's reference, else the authorize's.
        reference = row.data.get("authorization_reference") or tx.authorization_reference
        if reference:
            data["authorization_reference"] = reference
        if row.data.get("meter_id"):
            data["meter_id"] = row.data["meter_id"]
        if priced is not None and row.tariff is not None:
            data["total_cost"] = priced.total_cost
        if row.data.get("last_updated"):
            data["last_updated"] = row.data["last_updated"]
        return data, closed, measured.flags

    async def cost_now(
        self, session: AsyncSession, tx: Transaction
    ) -> tuple[dict[str, float], str] | None:
        """What the transaction costs as its readings stand (its total_cost, and the currency),
        priced as its Session is: under the tariff its connector had when it started. None where
        no tariff applies. Reads only: a Session the projection has not placed yet is placed
        here in memory, never stored."""
        assert tx.id is not None
        row = (
            (
                await session.execute(
                    select(ChargingSession).where(ChargingSession.transaction_id == tx.id)
                )
            )
            .scalars()
            .first()
        )
        if row is None or row.location is None:
            row = ChargingSession(
                ocpi_id="", transaction_id=tx.id, data={}, last_updated=clock.now()
            )
            await self._place(session, row, tx)
        if row.tariff is None:
            return None
        samples = (await _samples(session, [tx.id]))[tx.id]
        data, _, _ = self._build(row, tx, samples, None)
        if "total_cost" not in data:
            return None
        return data["total_cost"], data["currency"]

    def _cpo_of(self, row: ChargingSession) -> PartyRef:
        """Our role the session is of: its Location's owner once placed, else the default."""
        return PartyRef(
            row.data.get("country_code") or self.own.country_code,
            row.data.get("party_id") or self.own.party_id,
        )

    def _price(
        self, row: ChargingSession, measured: Usage, memo: PriceMemo | None = None
    ) -> Priced | None:
        tariff = TariffModel.model_validate(row.tariff or _free(self.own, self.rules.currency))
        try:
            rules = VersionNumber(row.pricing) if row.pricing else VersionNumber.V2_2_1
            return price(tariff, measured.usage, row.time_zone or "UTC", rules, memo)
        except ValueError as e:
            log.error("session %s cannot be priced: %s", row.ocpi_id, e)
            return None

    # -- for the operator ---------------------------------------------------------------------

    async def recent(self, limit: int, status: str | None = None) -> list[dict[str, Any]]:
        """The newest sessions, each with its CDRs (credits and reissues included)."""
        async with self.database() as session:
            stmt = select(ChargingSession).order_by(col(ChargingSession.id).desc()).limit(limit)
            if status:
                stmt = stmt.where(ChargingSession.status == status.upper())
            rows = list((await session.execute(stmt)).scalars())
            return await self._views(session, rows)

    async def of_transactions(self, transaction_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The sessions of these transactions as `recent` shows them, by transaction id (one
        without a Session, nobody's token behind it, is not among them)."""
        ids = sorted(set(transaction_ids))
        if not ids:
            return {}
        async with self.database() as session:
            rows = list(
                (
                    await session.execute(
                        select(ChargingSession).where(col(ChargingSession.transaction_id).in_(ids))
                    )
                ).scalars()
            )
            return {v["transaction_id"]: v for v in await self._views(session, rows)}

    async def _views(
        self, session: AsyncSession, rows: list[ChargingSession]
    ) -> list[dict[str, Any]]:
        cdrs: dict[int, list[Cdr]] = {}
        found = await session.execute(
            select(Cdr)
            .where(col(Cdr.session_id).in_([r.id for r in rows]))
            .order_by(col(Cdr.session_id), col(Cdr.revision))
        )
        for cdr in found.scalars():
            cdrs.setdefault(cdr.session_id, []).append(cdr)
        return [_view(r, cdrs.get(r.id or 0, []), self.own) for r in rows]

    async def view(self, ocpi_id: str) -> dict[str, Any] | None:
        async with self.database() as session:
            row = await session_by_id(session, ocpi_id)
            if row is None:
                return None
            return _view(row, await _cdrs_of(session, row), self.own)

    async def correct_session(self, ocpi_id: str) -> dict[str, Any] | None:
        """The operator's correction: credit the standing CDR, issue a new one (LookupError if
        there is none standing); None if there is no such session."""
        async with self.database.begin() as session:
            row = await session_by_id(session, ocpi_id)
            if row is None:
                return None
            await self.correct(session, row)
            await session.flush()
            view = _view(row, await _cdrs_of(session, row), self.own)
        self.outbox.wake()
        return view

    # -- CDRs ---------------------------------------------------------------------------------

    async def settle(self, session: AsyncSession) -> bool:
        """Makes the CDRs that are due; whether any was made."""
        now = clock.now()
        if now < self._settle_at:
            return False
        self._settle_at = now + timedelta(seconds=SETTLE_EVERY)
        due = list(
            (
                await session.execute(
                    select(ChargingSession)
                    .where(
                        col(ChargingSession.cdr_due_at) <= now,
                        col(ChargingSession.cdr_made).is_(False),
                    )
                    # In the order they fell due: CDRs are listed in the order they were made.
                    .order_by(col(ChargingSession.cdr_due_at), col(ChargingSession.id))
                    .limit(200)
                )
            ).scalars()
        )
        if len(due) == 200:
            self._settle_at = now  # more are due: the next step goes on
        for row in due:
            tx = await session.get(Transaction, row.transaction_id)
            assert tx is not None
            await self._make_cdr(
                session,
                row,
                tx,
                (await _samples(session, [row.transaction_id]))[row.transaction_id],
            )
        return bool(due)

    async def _make_cdr(
        self,
        session: AsyncSession,
        row: ChargingSession,
        tx: Transaction,
        samples: list[SampleRow],
        revision: int = 0,
    ) -> Cdr | None:
        assert row.id is not None and row.location is not None
        row.cdr_made = True
        if tx.started_at is None or tx.ended_at is None:
            row.flags = [*row.flags, "no start or end time: no CDR"]
            return None
        read = readings(samples)
        measured = usage(
            tx.started_at,
            max(tx.ended_at, tx.started_at),
            tx.meter_start_wh,
            _stop_reading(tx, read),
            read,
            self.rules.max_power_w,
        )
        if measured.flags:
            log.warning(
                "charger %s, transaction %s, session %s: the CDR sets meter data aside: %s",
                tx.station_id,
                tx.id,
                row.ocpi_id,
                "; ".join(measured.flags),
            )
        priced = self._price(row, measured)
        if priced is None:
            row.flags = [*row.flags, "the tariff engine refused the usage: no CDR"]
            return None
        now = clock.now()
        suffix = "" if revision == 0 else f"-R{revision // 2}"
        data = cdr_object(
            self._cpo_of(row),
            cdr_id=row.ocpi_id + suffix,
            session_id=row.ocpi_id,
            session=row.data,
            location=row.location,
            tariff=row.tariff,
            priced=priced,
            start=tx.started_at,
            end=max(tx.ended_at, tx.started_at),
            signed=signed_data(samples),
            remark=_remark(tx, measured.flags + _missing(tx), row.tariff is None),
            last_updated=now,
        )
        cdr = Cdr(
            ocpi_id=data["id"],
            session_id=row.id,
            revision=revision,
            owner_id=row.owner_id,
            data=data,
            last_updated=now,
        )
        session.add(cdr)
        if row.owner_id is not None:
            await self.outbox.mark(session, [row.owner_id], "cdr", cdr.ocpi_id)
        return cdr

    async def correct(self, session: AsyncSession, row: ChargingSession) -> tuple[Cdr, Cdr | None]:
        """A credit CDR that cancels the session's current CDR, and a new one priced from the
        data as it is now (late meter values, a fixed tariff). Raises LookupError if the
        session has no CDR standing."""
        assert row.id is not None
        # Locked, then the CDRs read: two corrections at once take turns, each from the last.
        await session.refresh(row, with_for_update=True)
        cdrs = list(
            (
                await session.execute(
                    select(Cdr).where(Cdr.session_id == row.id).order_by(col(Cdr.revision))
                )
            ).scalars()
        )
        if not cdrs or cdrs[-1].revision % 2:
            raise LookupError(f"session {row.ocpi_id} has no CDR standing to correct")
        current, n = cdrs[-1], cdrs[-1].revision // 2 + 1
        now = clock.now()
        credit = Cdr(
            ocpi_id=f"{row.ocpi_id}-C{n}",
            session_id=row.id,
            revision=current.revision + 1,
            owner_id=current.owner_id,
            data=credit_of(current.data, f"{row.ocpi_id}-C{n}", now),
            last_updated=now,
        )
        session.add(credit)
        if current.owner_id is not None:
            await self.outbox.mark(session, [current.owner_id], "cdr", credit.ocpi_id)
        tx = await session.get(Transaction, row.transaction_id)
        assert tx is not None
        fresh = await self._make_cdr(
            session,
            row,
            tx,
            (await _samples(session, [row.transaction_id]))[row.transaction_id],
            current.revision + 2,
        )
        return credit, fresh


async def _operator_token(session: AsyncSession, id_token: str) -> LocalToken | None:
    """The operator's own token (`cpo token add`) the charger's idTag stands for, if any."""
    rows = await session.execute(
        select(LocalToken)
        .where(LocalToken.uid == normalise_uid(id_token))
        .order_by(col(LocalToken.id))
    )
    return rows.scalars().first()


def _token_type(local: str) -> str:
    """An OCPI TokenType for the operator's token type (free text, RFID unless told)."""
    if local in set(TokenType):
        return local
    return TOKEN_TYPES.get(local, "OTHER")


async def _at_locations(session: AsyncSession, txs: list[Transaction]) -> set[tuple[str, int]]:
    """Which of these transactions' (station, EVSE) stand at a Location: one query for a whole
    rebuild, instead of one per Session that is not placed yet."""
    stations = {tx.station_id for tx in txs}
    if not stations:
        return set()
    rows = await session.execute(
        core_select(col(LocationEvse.station_id), col(LocationEvse.ocpp_evse_id)).where(
            col(LocationEvse.station_id).in_(stations)
        )
    )
    return {(station_id, evse_id) for station_id, evse_id in rows}


async def session_by_id(session: AsyncSession, ocpi_id: str) -> ChargingSession | None:
    rows = await session.execute(
        select(ChargingSession).where(ChargingSession.ocpi_id == ocpi_id.lower())
    )
    return rows.scalars().first()


async def _cdrs_of(session: AsyncSession, row: ChargingSession) -> list[Cdr]:
    rows = await session.execute(
        select(Cdr).where(Cdr.session_id == row.id).order_by(col(Cdr.revision))
    )
    return list(rows.scalars())


def _view(row: ChargingSession, cdrs: list[Cdr], own: PartyRef) -> dict[str, Any]:
    token = row.data.get("cdr_token") or {}
    return {
        "id": row.ocpi_id,
        "transaction_id": row.transaction_id,
        "owner_party_id": row.owner_id,
        # A charge with one of the operator's own tokens: for its books, no eMSP's.
        "operator": row.owner_id is None
        and (token.get("country_code"), token.get("party_id")) == (own.country_code, own.party_id),
        "status": row.status,
        "flags": row.flags,
        "at_location": row.location is not None,
        "cdr_due_at": timestamp(row.cdr_due_at) if row.cdr_due_at else None,
        "session": row.data,
        "cdrs": [
            {
                "id": c.ocpi_id,
                "credit": bool(c.data.get("credit")),
                "total_cost": c.data.get("total_cost"),
                "location_url": c.location_url,
                "last_updated": timestamp(c.last_updated),
            }
            for c in cdrs
        ],
    }


Built = tuple[dict[str, Any], int, list[str]]  # a Session object, its closed periods, its flags

# What a transaction's readings move (csms.store.samples); the Session a state before them
# made is still that state's Session.
_PROGRESS = frozenset({"meter_last_wh", "meter_last_at", "updated_at", "seq_seen"})
# What the deliverer notes on a Session row when the owner has it (cpo.sessions.push): no part
# of the Session built, so a send between `build_ahead` and `refresh` leaves the build usable.
_PUSHED = frozenset({"pushed_periods", "pushed_digest"})


async def _sessions_of(session: AsyncSession, ids: list[int]) -> dict[int, ChargingSession]:
    """The Session rows of these transactions, by transaction id."""
    found = await session.execute(
        select(ChargingSession).where(col(ChargingSession.transaction_id).in_(ids))
    )
    return {row.transaction_id: row for row in found.scalars()}


def _columns(row: Any, leave_out: frozenset[str] = frozenset()) -> tuple[Any, ...]:
    """Every column of an ORM row but those left out, in the table's order."""
    return tuple(getattr(row, c.key) for c in row.__table__.columns if c.key not in leave_out)


def _progress(tx: Transaction) -> tuple[Any, ...]:
    return tuple(getattr(tx, name) for name in sorted(_PROGRESS))


async def _samples(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[SampleRow]]:
    """The samples of these transactions in the charger's time order. Columns, not ORM
    objects: a long charge has thousands of samples, read on each rebuild."""
    samples: dict[int, list[SampleRow]] = {i: [] for i in ids}
    for sample in await session.execute(
        _SAMPLE_COLUMNS.where(col(MeterSample.transaction_id).in_(ids)).order_by(
            col(MeterSample.timestamp), col(MeterSample.id)
        )
    ):
        samples[sample.transaction_id].append(cast(SampleRow, sample))
    return samples


def linked_start(rows: list[OcpiCommand], tx: Transaction) -> OcpiCommand | None:
    """The START_SESSION a new transaction answers: by remoteStartId (2.0.1), else the same
    charger, EVSE and idTag within the link window (1.6, and 2.0.1 firmware that omits it)."""
    for row in rows:
        if tx.remote_start_id is not None and row.id == tx.remote_start_id:
            return row
    started = tx.started_at or clock.now()
    for row in rows:
        if (
            row.station_id == tx.station_id
            and row.ocpp_evse_id in (None, tx.evse_id)
            and (row.id_tag or "").upper() == (tx.id_token or "").upper()
            and row.created_at - timedelta(minutes=5) <= started
            and (row.link_until is None or started <= row.link_until)
        ):
            return row
    return None


def _without_stamp(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "last_updated"}


def periods_digest(periods: list[dict[str, Any]]) -> str:
    return hashlib.sha256(orjson.dumps(periods, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def tariff_in_force(
    session: AsyncSession, connector: dict[str, Any], at: datetime
) -> dict[str, Any] | None:
    """The OCPI Tariff a Location's connector charges by at `at`: the first of its tariff_ids
    that exists and is in force then."""
    for tariff_id in connector.get("tariff_ids") or []:
        tariff = (
            (
                await session.execute(
                    select(Tariff).where(
                        Tariff.ocpi_id == tariff_id, col(Tariff.deleted).is_(False)
                    )
                )
            )
            .scalars()
            .first()
        )
        if tariff is not None and _in_force(tariff.data, at):
            return tariff_object(tariff)
    return None


def _in_force(tariff: dict[str, Any], at: datetime) -> bool:
    start, end = tariff.get("start_date_time"), tariff.get("end_date_time")
    stamp = timestamp(at)
    return (start is None or start <= stamp) and (end is None or stamp < end)


def _free(own: PartyRef, currency: str) -> dict[str, Any]:
    """Prices nothing: how a session at a connector without a tariff gets its periods."""
    return {
        "country_code": own.country_code,
        "party_id": own.party_id,
        "id": "NONE",
        "currency": currency,
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0, "step_size": 1}]}],
        "last_updated": "2000-01-01T00:00:00Z",
    }


def _with_live_dimensions(periods: list[dict[str, Any]], measured: Usage) -> list[dict[str, Any]]:
    """Adds the Session-only dimensions (POWER, CURRENT, STATE_OF_CHARGE): each period's last
    reading of them, so that a closed period never changes."""
    out = []
    starts = [p["start_date_time"] for p in periods]
    stamped = [(timestamp(r.at), r) for r in measured.readings]  # once, not once per period
    for i, period in enumerate(periods):
        until = starts[i + 1] if i + 1 < len(starts) else None
        # A reading measures the time up to it: the one at a period's end belongs to it.
        inside = [
            r
            for at, r in stamped
            if at > period["start_date_time"] and (until is None or at <= until)
        ]
        extra = _last_values(inside)
        dimensions = [*period["dimensions"], *extra]
        fresh = dict(period) | {"dimensions": dimensions}
        if fresh.get("tariff_id") == "NONE":
            del fresh["tariff_id"]
        out.append(fresh)
    return out


def _last_values(readings_: list[Reading]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for kind, value in (
        ("POWER", next((r.power_w for r in reversed(readings_) if r.power_w is not None), None)),
        (
            "CURRENT",
            next((r.current_a for r in reversed(readings_) if r.current_a is not None), None),
        ),
        ("STATE_OF_CHARGE", next((r.soc for r in reversed(readings_) if r.soc is not None), None)),
    ):
        if value is not None:
            volume = value / 1000 if kind == "POWER" else value
            found.append({"type": kind, "volume": round(volume, 4)})
    return found


def _stop_reading(tx: Transaction, read: Sequence[Reading]) -> float | None:
    """The charger's own register at the stop if it sent one, else the csms's stop reading
    (which the csms clamps when the register went backwards: the count judges what was read)."""
    at_stop = (r.energy_wh for r in read if r.at == tx.ended_at and r.energy_wh is not None)
    return next(at_stop, tx.meter_stop_wh)


def _missing(tx: Transaction) -> list[str]:
    if tx.last_seq_no is None or tx.seq_seen >= tx.last_seq_no + 1:
        return []
    return [f"{tx.last_seq_no + 1 - tx.seq_seen} of the charger's messages never arrived"]


def _remark(tx: Transaction, flags: list[str], no_tariff: bool) -> str | None:
    notes = []
    if tx.stop_reason:
        notes.append(f"stopped: {tx.stop_reason}")
    if no_tariff:
        notes.append("no tariff at this connector")
    notes += flags
    return "; ".join(notes)[:255] or None


async def _pricing_rules(session: AsyncSession, owner_id: int | None) -> str | None:
    """The version whose tariff rules price a session of this owner: 2.1.1's for a 2.1.1
    party (ADR 024), else 2.2.1's (None)."""
    if owner_id is None:
        return None
    version = (
        await session.execute(select(Party.version).where(col(Party.id) == owner_id))
    ).scalar()
    return VersionNumber.V2_1_1.value if version == VersionNumber.V2_1_1 else None
