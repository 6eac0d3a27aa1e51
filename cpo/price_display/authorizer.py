"""The authorization port with the price: a token allowed to charge is told, on a 2.0.1 charger,
the price of the EVSE it stands at (idTokenInfo.personalMessage)."""

from __future__ import annotations

import dataclasses
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.price_display.text import price_text, tariff_at
from cpo.tokens.authorization import find_token
from csms.authorization import (
    AuthorizationRequest,
    AuthorizationResult,
    Authorizer,
    AuthStatus,
)

log = logging.getLogger("cpo.price_display")


class PricedAuthorizer:
    def __init__(self, inner: Authorizer, database: async_sessionmaker[AsyncSession]) -> None:
        self.inner = inner
        self.database = database

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        decision = await self.inner.authorize(request)
        if decision.status is not AuthStatus.ACCEPTED or request.token_type is None:
            return decision  # 1.6 (no token type) has no room for a message
        try:
            async with self.database() as session:
                tariff = await tariff_at(session, request.station_id, request.evse_id)
                if tariff is None:
                    return decision
                token = await find_token(session, request.id_token, request.token_type)
            wanted = token.data.get("language") if token is not None else None
            text, language = price_text(tariff, wanted)
        except Exception:  # the price is a courtesy: the verdict goes out without it
            log.exception("price for %s at %s", request.id_token, request.station_id)
            return decision
        return dataclasses.replace(decision, personal_message=text, language=language)
