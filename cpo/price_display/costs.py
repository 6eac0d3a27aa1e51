"""What a transaction costs so far, and what the driver is shown of it while charging.

The cost comes from the tariff engine as the transaction's Session is priced
(`ChargingSessions.cost_now`): under the tariff its connector had when it started, from the
readings stored so far. The display follows the event log announcements of this node's chargers:

- 2.0.1: CostUpdated with the running total, at most once every `every` seconds per transaction
  (0: with each reading), when its readings come (TransactionEvent Updated, MeterValues); the
  final total goes in the answer to TransactionEvent Ended (csms.costs, `final_cost`).
- 1.6, when `california` is on: the DataTransfer messages of the OCA's "Using OCPP 1.6 for
  California Pricing Requirements": SetUserPrice after an accepted Authorize (the price text for
  the idTag), RunningCost with the readings (throttled alike), FinalCost at the stop. A charger
  that answers UnknownVendorId or UnknownMessageId (or a CALLERROR saying it has no
  DataTransfer) is sent none again until this process restarts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from cpo.feed_follower import FeedFollower
from cpo.price_display.text import price_text, tariff_at
from cpo.sessions.from_transactions import ChargingSessions
from csms import clock
from csms.commands import Commands, CostUpdated, Outcome, PriceMessage
from csms.connection import StationConnection
from csms.events import Announcement, EventFeed, EventType
from csms.models import Event, Transaction, TransactionStatus
from csms.registry import Registry

log = logging.getLogger("cpo.price_display")

READINGS = {EventType.TRANSACTION_UPDATED, EventType.METER_VALUES_SAMPLED}
# What a 1.6 charger that knows no California Pricing answers.
UNKNOWN = {"UnknownVendorId", "UnknownMessageId"}
NO_DATA_TRANSFER = {"NotImplemented", "NotSupported"}
# A 1.6 StartTransaction is authorized again right after its Authorize: the price the driver
# was just told is not told again for this long.
PRICE_TOLD_FOR = 300.0  # seconds


def shown(total_cost: dict[str, float]) -> float:
    """What the driver pays: with taxes where the tariff states them."""
    return total_cost.get("incl_vat", total_cost["excl_vat"])


class Costs:
    """The running and final cost of transactions (the csms's cost port, csms.costs)."""

    def __init__(self, database: async_sessionmaker[AsyncSession], charging: ChargingSessions):
        self.database = database
        self.charging = charging

    async def of(self, tx: Transaction) -> tuple[float, str] | None:
        """The transaction's cost so far (with taxes) and its currency; None: no tariff."""
        async with self.database() as session:
            priced = await self.charging.cost_now(session, tx)
        return (shown(priced[0]), priced[1]) if priced is not None else None

    async def final_cost(self, station_id: str, ocpp_transaction_id: str) -> float | None:
        try:
            async with self.database() as session:
                tx = (
                    (
                        await session.execute(
                            select(Transaction).where(
                                col(Transaction.station_id) == station_id,
                                col(Transaction.ocpp_transaction_id) == ocpp_transaction_id,
                            )
                        )
                    )
                    .scalars()
                    .first()
                )
            cost = await self.of(tx) if tx is not None else None
        except Exception:  # an answer to a transaction message goes out whatever happens here
            log.exception("final cost of %s at %s", ocpp_transaction_id, station_id)
            return None
        return cost[0] if cost is not None else None


class CostDisplay(FeedFollower):
    loop_name = "cost-display"

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        costs: Costs,
        commands: Commands,
        registry: Registry[StationConnection],
        feed: EventFeed,
        every: float,
        california: bool,
    ) -> None:
        super().__init__(feed)
        self.database = database
        self.costs = costs
        self.commands = commands
        self.registry = registry
        self.every = every
        self.california = california
        self.without_costmsg: set[str] = set()  # 1.6 chargers that know no California Pricing
        self._sent: dict[int, float] = {}  # transaction id -> when (monotonic) its cost went
        self._priced: dict[tuple[str, str], float] = {}  # (charger, idTag) -> when told

    async def settled(self) -> None:
        """Until every event announced so far is handled and what it sends has its answer."""
        assert self._queue is not None
        while not self._queue.empty() or self._tasks:
            if self._tasks:
                await asyncio.wait(set(self._tasks))
            else:
                await asyncio.sleep(0)  # the loop takes the next event

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            try:
                self._handle(event)
            except Exception:
                log.exception("cost display: cannot handle %s", event.type)

    def _handle(self, event: Event | Announcement) -> None:
        conn = self.registry.get(event.station_id)
        if conn is None:
            return
        version, data = conn.ocpp_version, event.data
        if version == "1.6" and (not self.california or event.station_id in self.without_costmsg):
            return
        tx_id = data.get("transaction_id")
        if event.type == EventType.AUTHORIZATION_REQUESTED:
            if version == "1.6" and data.get("status") == "Accepted":
                key, now = (event.station_id, str(data["id_token"]).upper()), time.monotonic()
                if now - self._priced.get(key, -PRICE_TOLD_FOR) >= PRICE_TOLD_FOR:
                    self._priced = {
                        k: t for k, t in self._priced.items() if now - t < PRICE_TOLD_FOR
                    }
                    self._priced[key] = now
                    self.spawn(self._user_price(event.station_id, str(data["id_token"])))
        elif event.type in READINGS and tx_id:
            now = time.monotonic()
            if now - self._sent.get(int(tx_id), -self.every - 1) >= self.every:
                self._sent[int(tx_id)] = now
                self.spawn(self._running(event.station_id, int(tx_id), version))
        elif event.type == EventType.TRANSACTION_ENDED and tx_id:
            self._sent.pop(int(tx_id), None)
            if version == "1.6":
                self.spawn(self._final(event.station_id, int(tx_id)))

    async def _transaction(self, tx_id: int) -> Transaction | None:
        async with self.database() as session:
            return await session.get(Transaction, tx_id)

    async def _running(self, station_id: str, tx_id: int, version: str) -> None:
        tx = await self._transaction(tx_id)
        if tx is None or tx.status != TransactionStatus.ACTIVE:
            return
        cost = await self.costs.of(tx)
        if cost is None:
            return  # no tariff: nothing to show
        if version == "2.0.1":
            result = await self.commands.run(
                station_id, CostUpdated(transaction_id=tx_id, total_cost=cost[0])
            )
            if not result.accepted:
                log.info("CostUpdated to %s: %s", station_id, result.outcome)
            return
        if not (tx.ocpp_transaction_id or "").isdigit():
            return
        await self._price_message(
            station_id,
            "RunningCost",
            {
                "transactionId": int(tx.ocpp_transaction_id or 0),
                "timestamp": clock.iso(tx.meter_last_at or clock.now()),
                "meterValue": round(tx.meter_last_wh or tx.meter_start_wh or 0),
                "cost": round(cost[0], 2),
                "state": "Charging",
            },
        )

    async def _final(self, station_id: str, tx_id: int) -> None:
        tx = await self._transaction(tx_id)
        if tx is None or not (tx.ocpp_transaction_id or "").isdigit():
            return
        cost = await self.costs.of(tx)
        if cost is None:
            return
        total, currency = cost
        await self._price_message(
            station_id,
            "FinalCost",
            {
                "transactionId": int(tx.ocpp_transaction_id or 0),
                "cost": round(total, 2),
                "priceText": f"Cost: {total:.2f} {currency}",
            },
        )

    async def _user_price(self, station_id: str, id_token: str) -> None:
        async with self.database() as session:
            tariff = await tariff_at(session, station_id, None)
        if tariff is None:
            return
        text, _ = price_text(tariff, None)
        await self._price_message(
            station_id, "SetUserPrice", {"idToken": id_token, "priceText": text}
        )

    async def _price_message(self, station_id: str, message_id: str, data: dict[str, Any]) -> None:
        if station_id in self.without_costmsg:
            return
        command = PriceMessage(message_id=message_id, data=data)  # type: ignore[arg-type]
        result = await self.commands.run(station_id, command)
        unknown = result.outcome is Outcome.ANSWERED and result.status in UNKNOWN
        if unknown or (
            result.outcome is Outcome.CALL_ERROR and result.error_code in NO_DATA_TRANSFER
        ):
            log.info(
                "%s knows no California Pricing (%s): none sent again",
                station_id,
                result.status or result.error_code,
            )
            self.without_costmsg.add(station_id)
