"""Tariffs, SENDER: eMSPs page through our prices."""

from __future__ import annotations

from sqlmodel import col, select
from starlette.responses import Response

from cpo.models import Tariff
from cpo.ocpi.pagination import fetch_page, page_headers, page_of
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.router import Call, Module, OcpiRouter
from cpo.sites import Sites, tariff_object


def module(router: OcpiRouter, sites: Sites, max_limit: int) -> Module:
    tariffs = Module("tariffs", "SENDER")

    @tariffs.on("GET")
    async def page(call: Call) -> Response:
        params = call.request.query_params
        wanted = page_of(params, max_limit)
        async with sites.sessions() as session:
            rows, total = await fetch_page(
                session,
                select(Tariff).where(col(Tariff.deleted).is_(False)),
                wanted,
                col(Tariff.last_updated),
                Tariff.id,
            )
        data = [tariff_object(t) for t in rows]
        url = router.module_url("tariffs")
        return OcpiResponse(data, headers=page_headers(url, params, wanted, total, len(data)))

    return tariffs
