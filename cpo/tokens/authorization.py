"""The csms authorization port answered from OCPI: whitelisted tokens locally, the rest in real time.

Every idTag a charger presents is decided by the eMSP that owns it: from its pushed token list
when the token's whitelist allows, else by `POST {tokens}/{uid}/authorize` within a budget.
An idTag that cannot be an OCPI token uid is Invalid at once, and a uid travels as one
percent-encoded path segment, whatever it holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, or_, select

from cpo.hubs.clients import reach
from cpo.locations.tables import Location, LocationEvse
from cpo.ocpi.client import OcpiCallError, OcpiClient
from cpo.ocpi.headers import PartyRef
from cpo.ocpi.models import VersionNumber
from cpo.ocpi.responses import timestamp
from cpo.ocpi.urls import BadSegment, join, segment
from cpo.our_roles import OurRoles
from cpo.parties import HOLDING, client_in, hold_registered, peer_of
from cpo.tables import Party, PartyState
from cpo.tokens import v211
from cpo.tokens.store import store_token, token_object
from cpo.tokens.tables import OcpiToken
from cpo.tokens.v221 import AllowedType, Token
from cpo.tokens.wire import authorization_in, own_role
from csms import clock
from csms.authorization import (
    AuthorizationRequest,
    AuthorizationResult,
    Authorizer,
    AuthStatus,
)

log = logging.getLogger("cpo.tokens.authorization")

UID_MAX = 36  # an OCPI Token uid: CiString(36)

ALLOWED = {
    AllowedType.ALLOWED: AuthStatus.ACCEPTED,
    AllowedType.BLOCKED: AuthStatus.BLOCKED,
    AllowedType.EXPIRED: AuthStatus.EXPIRED,
    AllowedType.NO_CREDIT: AuthStatus.NO_CREDIT,
    AllowedType.NOT_ALLOWED: AuthStatus.NOT_ALLOWED,
}

# 2.0.1 IdTokenEnumType → OCPI TokenType (1.6 says nothing: RFID first).
TOKEN_TYPES = {
    "ISO14443": "RFID",
    "ISO15693": "RFID",
    "Central": "APP_USER",
    "eMAID": "APP_USER",
}


async def find_token(
    session: AsyncSession, id_token: str, ocpp_type: str | None = None
) -> OcpiToken | None:
    """The eMSP token a charger's idTag stands for: by uid (any case) or by its short stand-in;
    of the type the charger named first, then the oldest."""
    key = id_token.strip().upper()
    rows = list(
        (
            await session.execute(
                select(OcpiToken).where(
                    or_(col(OcpiToken.uid_key) == key, col(OcpiToken.short_tag) == key)
                )
            )
        ).scalars()
    )
    wanted = TOKEN_TYPES.get(ocpp_type or "", "RFID")
    rows.sort(key=lambda t: (t.type != wanted, t.id))
    return rows[0] if rows else None


class Unknown(Exception):
    """The party does not know the token (HTTP 404 / OCPI 2004)."""


class OcpiAuthorizer:
    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        client: OcpiClient,
        local: Authorizer,
        budget: float = 5.0,
        roles: OurRoles | None = None,
    ) -> None:
        """`roles`: ours, the one owning the Location asks; the client's default when None."""
        self.database = database
        self.client = client
        self.local = local
        self.budget = budget
        self.roles = roles

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        # The operator's own tokens (admin API, `cpo token add`) come first.
        mine = await self.local.authorize(request)
        if mine.status != AuthStatus.INVALID:
            return mine
        try:
            segment(request.id_token, UID_MAX, "uid")
        except BadSegment:
            # No eMSP can have issued it (OCPI uids are CiString(36)): nobody is asked.
            return AuthorizationResult(AuthStatus.INVALID)
        async with self.database() as session:
            token = await find_token(session, request.id_token, request.token_type)
            location, at = await self._location(session, request)
            owner = await session.get(Party, token.owner_id) if token else None
        if token is not None:
            if owner is None or owner.state not in HOLDING:
                # Its eMSP's registration ended (the token is on its way out with it).
                return AuthorizationResult(AuthStatus.INVALID)
            return await self._known(token, owner, location, at)
        return await self._ask_everyone(request, location, at)

    async def _location(
        self, session: AsyncSession, request: AuthorizationRequest
    ) -> tuple[dict[str, object] | None, PartyRef | None]:
        """The LocationReferences of where the driver stands, when that EVSE is at a Location,
        and our role owning it, which asks (None: the default role)."""
        stmt = (
            select(LocationEvse, Location)
            .join(Location, col(Location.id) == col(LocationEvse.location_id))
            .where(LocationEvse.station_id == request.station_id)
        )
        if request.evse_id:
            stmt = stmt.where(LocationEvse.ocpp_evse_id == request.evse_id)
        rows = (await session.execute(stmt)).all()
        if not rows:
            return None, None
        location = rows[0][1]
        references: dict[str, object] = {
            "location_id": location.ocpi_id,
            "evse_uids": [e.uid for e, loc in rows if loc.id == location.id],
        }
        at = self.roles.role_of(location.country_code, location.party_id) if self.roles else None
        return references, at

    async def _known(
        self,
        token: OcpiToken,
        owner: Party,
        location: dict[str, object] | None,
        at: PartyRef | None = None,
    ) -> AuthorizationResult:
        local = AuthorizationResult(
            AuthStatus.ACCEPTED if token.valid else AuthStatus.INVALID,
            group_id=token.data.get("group_id"),
        )
        if token.whitelist in ("ALWAYS", "ALLOWED"):
            return local
        if owner.hub_id is not None:
            async with self.database() as session:
                routed = await reach(session, owner)  # through its hub, while it is connected
        else:
            routed = owner if owner.state == PartyState.REGISTERED else None
        if routed is None:
            # Suspended, or behind a hub that says it is not connected: no traffic with it; as
            # if it did not answer.
            return (
                local
                if token.whitelist == "ALLOWED_OFFLINE"
                else AuthorizationResult(AuthStatus.INVALID)
            )
        try:
            answer = await asyncio.wait_for(
                self._ask(routed, token.uid, token.type, location, token_object(token), at),
                self.budget,
            )
            return _uncached(answer) if token.whitelist == "NEVER" else answer
        except (Unknown, OcpiCallError, TimeoutError, ValidationError) as e:
            if isinstance(e, Unknown):
                return AuthorizationResult(AuthStatus.INVALID)
            log.warning(
                "real-time authorization of %s at party %s failed: %s", token.uid, owner.id, e
            )
            # ALLOWED_OFFLINE: the eMSP cannot be reached, so the token's own validity decides.
            if token.whitelist == "ALLOWED_OFFLINE":
                return local
            return AuthorizationResult(AuthStatus.INVALID)

    async def _ask_everyone(
        self,
        request: AuthorizationRequest,
        location: dict[str, object] | None,
        at: PartyRef | None = None,
    ) -> AuthorizationResult:
        """A token nobody pushed: every party with a tokens SENDER is asked (a hub with an Open
        Routing request: it finds the owner among the parties behind it); Invalid if none
        claims it."""
        async with self.database() as session:
            parties = [
                p
                for p in (
                    await session.execute(select(Party).where(Party.state == PartyState.REGISTERED))
                ).scalars()
                if p.endpoint("tokens", "SENDER")
            ]
        if not parties:
            return AuthorizationResult(AuthStatus.INVALID)
        kind = TOKEN_TYPES.get(request.token_type or "", "RFID")
        asks = [
            asyncio.ensure_future(
                self._ask(
                    p,
                    request.id_token,
                    kind,
                    location,
                    sender=at,
                    open_routing=bool(p.hub_party),
                )
            )
            for p in parties
        ]
        try:
            for next_done in asyncio.as_completed(asks, timeout=self.budget):
                try:
                    return _uncached(await next_done)  # nobody pushed it: as if NEVER
                except (Unknown, OcpiCallError, ValidationError):
                    continue
        except TimeoutError:
            log.warning(
                "real-time authorization of %s: no answer in %ss", request.id_token, self.budget
            )
        finally:
            for ask in asks:
                ask.cancel()
        return AuthorizationResult(AuthStatus.INVALID)

    async def _remember(self, party: Party, token: Token) -> None:
        """The eMSP's copy of a token it answered for is kept (unless a newer one is held), so
        the Session and CDR of the charge it allows know their owner and contract. A hub's
        answer is kept under the party behind it that owns the token."""
        if party.id is not None and party.hub_party is not None:
            async with self.database() as session:
                owner = await client_in(
                    session, party.id, PartyRef(token.country_code, token.party_id)
                )
            if owner is None:
                log.warning(
                    "hub %s answered for %s, owned by %s/%s: not a party it relays for",
                    party.id, token.uid, token.country_code, token.party_id,
                )  # fmt: skip
                return
            party = owner
        if party.id is None or not party.has_role(token.country_code, token.party_id):
            return
        async with self.database.begin() as session:
            if await hold_registered(session, party.id) is None:
                return  # unregistered while it answered: nothing of it is kept
            held = (
                (
                    await session.execute(
                        select(OcpiToken)
                        .where(
                            OcpiToken.country_code == token.country_code.upper(),
                            OcpiToken.party_id == token.party_id.upper(),
                            OcpiToken.uid_key == token.uid.upper(),
                            OcpiToken.type == token.type.value,
                        )
                        .with_for_update()
                    )
                )
                .scalars()
                .first()
            )
            if held is None or held.last_updated < token.last_updated:
                await store_token(session, party.id, token)

    async def _ask(
        self,
        party: Party,
        uid: str,
        kind: str,
        location: dict[str, object] | None,
        asked: dict[str, Any] | None = None,
        sender: PartyRef | None = None,
        open_routing: bool = False,
    ) -> AuthorizationResult:
        """Asks the token's owner (or a party that may own it): `asked` is the token as stored,
        when it is; a 2.1.1 answer does not repeat it. `sender`: our role that asks, the one
        owning the Location where the token is presented (the default when None).
        `open_routing`: the party is a hub that is to find the owner (no OCPI-to-*)."""
        base = party.endpoint("tokens", "SENDER")
        if base is None:
            raise Unknown()
        try:
            url = join(base, segment(uid, UID_MAX, "uid"), "authorize")
        except BadSegment as e:
            raise Unknown() from e
        version = party.speaks
        if version == VersionNumber.V2_1_1:
            # 2.1.1 names no type in the URL, and its LocationReferences its own way.
            params, body = {}, v211.location_references_out(location) if location else None
        else:
            params, body = {"type": kind}, location
        try:
            result = await self.client.call(
                "POST",
                url,
                dataclasses.replace(peer_of(party), open_routing=open_routing),
                params=params,
                json=body,
                functional=True,
                module="tokens",
                sender=sender,
            )
        except OcpiCallError as e:
            if e.http_status == 404 or e.status_code == 2004:
                raise Unknown() from e
            raise
        info = authorization_in(result.data, version, asked or _unknown(party, uid, kind))
        await self._remember(party, info.token)
        return AuthorizationResult(
            ALLOWED[info.allowed],
            group_id=info.token.group_id,
            reference=info.authorization_reference,
        )


def _uncached(answer: AuthorizationResult) -> AuthorizationResult:
    """A token the eMSP decides at every use (whitelist NEVER): its answer expires at once in
    the charger's authorization cache (1.6 expiryDate, 2.0.1 cacheExpiryDateTime), so the
    charger asks again next time."""
    return dataclasses.replace(answer, expires_at=clock.now())


def _unknown(party: Party, uid: str, kind: str) -> dict[str, Any]:
    """A token nobody pushed, as far as the platform knows it when a 2.1.1 eMSP claims it (its
    answer does not carry the token): asked about again at every use."""
    country_code, party_id = own_role(party)
    return {
        "country_code": country_code,
        "party_id": party_id,
        "uid": uid,
        "type": kind,
        "contract_id": uid,
        "issuer": party.name or f"{country_code}-{party_id}",
        "valid": True,
        "whitelist": "NEVER",
        "last_updated": timestamp(clock.now()),
    }
