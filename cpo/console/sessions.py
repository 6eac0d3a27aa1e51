"""The Sessions page: charges under way (live kWh, cost so far) and the recent ones, each with
the driver's token, its eMSP, the Location and the duration. A charge is its csms transaction
and, when someone's token is behind it, its OCPI Session as the admin API shows it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response

from cpo.console.logins import Login
from cpo.tables import Party
from csms import clock
from csms.models import Transaction, TransactionStatus

if TYPE_CHECKING:
    from cpo.console.routes import Console

ACTIVE_MAX = 500
RECENT_MAX = 50


@dataclass(frozen=True)
class Charge:
    transaction: Transaction
    session: dict[str, Any] | None  # the OCPI Session's view (ChargingSessions.recent)
    emsp: str  # the token owner's name, "operator" for the operator's own, "" for nobody
    token: str
    location: str
    seconds: float | None
    kwh: float | None
    cost: Any
    currency: str | None


def _emsp(view: dict[str, Any] | None, parties: dict[int, Party]) -> str:
    if view is None:
        return ""
    if view["operator"]:
        return "operator"
    party = parties.get(view["owner_party_id"] or 0)
    if party is None:
        return ""
    roles = ", ".join(f"{r['country_code']}*{r['party_id']}" for r in party.roles)
    return party.name or roles or f"party {party.id}"


def charge(tx: Transaction, view: dict[str, Any] | None, parties: dict[int, Party]) -> Charge:
    data = (view or {}).get("session") or {}
    token = (data.get("cdr_token") or {}).get("uid") or tx.id_token or ""
    end = tx.ended_at or (clock.now() if tx.status == TransactionStatus.ACTIVE else None)
    seconds = (end - tx.started_at).total_seconds() if end and tx.started_at else None
    # Under way: the meter's latest reading, as it came (the Session's kWh follows it once
    # the projection has priced it). Ended: the Session's, which leaves out meter glitches.
    last = tx.meter_stop_wh if tx.meter_stop_wh is not None else tx.meter_last_wh
    measured = (
        (last - tx.meter_start_wh) / 1000
        if last is not None and tx.meter_start_wh is not None
        else None
    )
    kwh = (
        data.get("kwh")
        if tx.status != TransactionStatus.ACTIVE and data.get("kwh") is not None
        else measured
    )
    return Charge(
        transaction=tx,
        session=view,
        emsp=_emsp(view, parties),
        token=token,
        location=data.get("location_id") or "",
        seconds=seconds,
        kwh=kwh,
        cost=data.get("total_cost"),
        currency=data.get("currency"),
    )


async def sessions_page(console: Console, request: Request, login: Login) -> Response:
    async with console.reads() as session:
        active = list(
            (
                await session.execute(
                    select(Transaction)
                    .where(Transaction.status == TransactionStatus.ACTIVE)
                    .order_by(col(Transaction.id).desc())
                    .limit(ACTIVE_MAX)
                )
            ).scalars()
        )
        recent = list(
            (
                await session.execute(
                    select(Transaction)
                    .where(Transaction.status != TransactionStatus.ACTIVE)
                    .order_by(col(Transaction.id).desc())
                    .limit(RECENT_MAX)
                )
            ).scalars()
        )
        parties = {p.id: p for p in (await session.execute(select(Party))).scalars() if p.id}
    views = await console.ocpi_side.charging.of_transactions(
        t.id for t in active + recent if t.id is not None
    )
    data: dict[str, Any] = {
        "active": [charge(t, views.get(t.id or 0), parties) for t in active],
        "recent": [charge(t, views.get(t.id or 0), parties) for t in recent],
    }
    if request.query_params.get("part") == "rows":
        return console.render(request, login, "_session_rows.html", **data)
    return console.render(request, login, "sessions.html", **data)
