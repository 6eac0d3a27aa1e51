"""The Tokens page: the operator's own id tokens and the eMSPs' tokens, searched on the server
(uid, contract id, eMSP), the eMSPs' a page at a time, most recently changed first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response

from cpo.console.logins import Login
from cpo.console.paging import Pager, like, search_term
from cpo.tables import Party
from cpo.tokens.tables import OcpiToken
from csms.models import LocalToken

if TYPE_CHECKING:
    from cpo.console.routes import Console

PAGE = 50
OWN_MAX = 200  # the operator's own tokens shown; a search finds the others
OCPI_TOKENS: Table = OcpiToken.__table__  # type: ignore[attr-defined]


async def own_tokens(session: AsyncSession, term: str) -> tuple[list[LocalToken], int]:
    where = [col(LocalToken.uid).ilike(like(term), escape="\\")] if term else []
    total = await session.scalar(select(func.count()).select_from(LocalToken).where(*where))
    rows = await session.execute(
        select(LocalToken).where(*where).order_by(col(LocalToken.uid)).limit(OWN_MAX)
    )
    return list(rows.scalars()), int(total or 0)


async def emsp_tokens(
    session: AsyncSession, term: str, pager: Pager
) -> tuple[list[tuple[OcpiToken, str | None]], int]:
    """The eMSPs' tokens whose uid, contract id, eMSP name or party id holds `term`."""
    where: list[Any] = []
    if term:
        pattern = like(term)
        where.append(
            or_(
                *(
                    c.ilike(pattern, escape="\\")
                    for c in (
                        col(OcpiToken.uid),
                        OCPI_TOKENS.c.data["contract_id"].as_string(),
                        col(OcpiToken.party_id),
                        col(Party.name),
                    )
                )
            )
        )
    owner = col(Party.id) == col(OcpiToken.owner_id)
    total = await session.scalar(
        select(func.count()).select_from(OcpiToken).join(Party, owner, isouter=True).where(*where)
    )
    rows = await session.execute(
        select(OcpiToken, Party.name)
        .join(Party, owner, isouter=True)
        .where(*where)
        .order_by(col(OcpiToken.last_updated).desc(), col(OcpiToken.id).desc())
        .offset(pager.offset)
        .limit(pager.size)
    )
    return [(token, name) for token, name in rows], int(total or 0)


async def tokens_page(console: Console, request: Request, login: Login) -> Response:
    term = search_term(request)
    pager = Pager.of(request, PAGE, {"q": term})
    async with console.reads() as session:
        own, own_total = await own_tokens(session, term)
        emsps, total = await emsp_tokens(session, term, pager)
    return console.render(
        request,
        login,
        "tokens.html",
        term=term,
        own=own,
        own_total=own_total,
        emsps=emsps,
        paged=pager.counted(total),
    )
