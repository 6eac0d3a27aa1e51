"""The credentials handshake, both ways: a peer registers with our token A, or we with theirs.

Whichever side starts, the end state is one REGISTERED party holding the token it calls us with
(stored hashed) and the token we call it with, its roles and its 2.2.1 endpoints. A failure at
any step leaves no half-registered party: an invitation stays usable, a registration we started
is removed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from cpo import logs
from cpo.credentials.v221 import Credentials
from cpo.credentials.wire import CREDENTIALS, credentials_in, credentials_out
from cpo.hubs.clients import hub_roles, keep_roles
from cpo.ocpi.client import OcpiCallError, OcpiClient, OcpiResult, Peer
from cpo.ocpi.models import VersionNumber
from cpo.ocpi.router import Call, OcpiRouter
from cpo.ocpi.status import OcpiError, Status, invalid, not_allowed
from cpo.ocpi.tokens import Encoding, new_token, token_hash
from cpo.ocpi.urls import BadUrl, origin, same_origin
from cpo.our_roles import OurRoles
from cpo.parties import Parties, RolesTaken, clients_in, party_label, peer_of
from cpo.push import outbox
from cpo.tables import Party, PartyState
from cpo.tokens.local_lists import OFFLINE_OK, note_revocation
from cpo.tokens.store import Dropped, drop_owned
from cpo.versions import v211
from cpo.versions.v221 import Version, VersionDetails
from csms import clock

log = logging.getLogger("cpo.credentials.registration")

_versions: TypeAdapter[list[Version]] = TypeAdapter(list[Version])
REQUIRED_ENDPOINTS = ("credentials",)


@dataclass
class Discovered:
    versions_url: str
    version: str
    endpoints: list[dict[str, Any]]
    encoding: Encoding


def _other(encoding: Encoding) -> Encoding:
    return "raw" if encoding == "base64" else "base64"


class Registration:
    def __init__(
        self,
        router: OcpiRouter,
        parties: Parties,
        client: OcpiClient,
        roles: OurRoles,
    ) -> None:
        self.router = router
        self.parties = parties
        self.client = client
        self.roles = roles
        self._locks: dict[int, asyncio.Lock] = {}
        # Called with the party's id once it is registered (the first full sync starts there).
        self.on_registered: Callable[[int], Awaitable[object]] | None = None
        # Called once a registration ended, with the tokens that went with it and, when
        # chargers' local lists may hold some, the number of that revocation.
        self.on_unregistered: (
            Callable[[int, list[Dropped], int | None], Awaitable[object]] | None
        ) = None

    async def _registered(self, party_id: int) -> None:
        log.info("party %s registered", party_id)
        if self.on_registered is not None:
            await self.on_registered(party_id)

    def own_credentials(self, token: str) -> dict[str, Any]:
        """Every role of ours, the default first (2.1.1, which has room for one, sends that)."""
        return {
            "token": token,
            "url": self.router.versions_url,
            "roles": [
                {
                    "role": "CPO",
                    "business_details": role.business_details,
                    "party_id": role.ref.party_id,
                    "country_code": role.ref.country_code,
                }
                for role in self.roles.all
            ],
        }

    async def discover(
        self,
        versions_url: str,
        token: str,
        encoding: Encoding,
        party_id: int | None,
        allowed: Iterable[str] = (),
        version: VersionNumber | None = None,
    ) -> Discovered:
        """The peer's endpoints in `version` (the newest both sides speak when None), read with
        `token`; OCPI 3001/3002/3003 when that fails.

        Its details and every endpoint must be on the versions URL's origin or on one the
        operator `allowed` for the party. A 401 with one token encoding is tried once with
        the other: many peers want raw tokens, and 2.1.1 peers are asked raw first (2.1.1
        sends tokens as they are).
        """
        try:
            origins = frozenset({origin(versions_url), *allowed})
        except BadUrl as e:
            raise OcpiError(Status.CLIENT_API_UNUSABLE, f"versions URL: {e}") from None

        async def get(url: str, module: str, encoding: Encoding) -> tuple[OcpiResult, Encoding]:
            """The answer, and the encoding that got it: the other one after a 401."""
            try:
                peer = Peer(token, origins, encoding, party_id)
                return await self.client.call("GET", url, peer, module=module), encoding
            except OcpiCallError as e:
                if e.http_status != 401:
                    raise self._unusable(e) from e
            try:
                peer = Peer(token, origins, _other(encoding), party_id)
                return await self.client.call("GET", url, peer, module=module), _other(encoding)
            except OcpiCallError as e:
                raise self._unusable(e) from e

        result, encoding = await get(versions_url, "versions", encoding)
        try:
            versions = _versions.validate_python(result.data)
        except ValidationError as e:
            raise OcpiError(
                Status.CLIENT_API_UNUSABLE,
                f"{versions_url} did not answer a list of versions: {e.errors()[0]['msg']}",
            ) from e
        offered = {v.version: v for v in versions}
        wanted = [version] if version is not None else self.router.versions
        chosen = next((v for v in wanted if v in offered), None)
        if chosen is None:
            raise OcpiError(
                Status.UNSUPPORTED_VERSION,
                f"no common OCPI version: {versions_url} offers "
                f"{', '.join(offered) or 'none'}; this platform speaks {', '.join(wanted)}",
            )
        match = offered[chosen]
        if not same_origin(match.url, origins):
            raise OcpiError(
                Status.CLIENT_API_UNUSABLE,
                f"{versions_url} puts its {chosen} details at {match.url}, {_off(origins)}",
            )
        if chosen == VersionNumber.V2_1_1:
            encoding = "raw"
        result, encoding = await get(match.url, "details", encoding)
        try:
            details = VersionDetails.model_validate(result.data)
        except ValidationError as e:
            raise OcpiError(
                Status.CLIENT_API_UNUSABLE,
                f"{match.url} did not answer version details: {e.errors()[0]['msg']}",
            ) from e
        if details.version != chosen:
            raise OcpiError(
                Status.UNSUPPORTED_VERSION,
                f"{match.url} describes version {details.version}, not {chosen}",
            )
        endpoints = [e.wire() for e in details.endpoints]
        if chosen == VersionNumber.V2_1_1:
            endpoints = v211.endpoints_in(endpoints)
        astray = [e for e in endpoints if not same_origin(str(e["url"]), origins)]
        if astray:
            named = ", ".join(f"{e['identifier']} {e['role']} at {e['url']}" for e in astray[:5])
            raise OcpiError(
                Status.CLIENT_API_UNUSABLE, f"{match.url} lists {named}, {_off(origins)}"
            )
        missing = [
            m for m in REQUIRED_ENDPOINTS if not any(e["identifier"] == m for e in endpoints)
        ]
        if missing:
            raise OcpiError(
                Status.NO_MATCHING_ENDPOINTS,
                f"{match.url} lists no {', '.join(missing)} endpoint",
            )
        return Discovered(versions_url, chosen, endpoints, encoding)

    def _kept(self, version: str | None) -> VersionNumber | None:
        """The party's version when this platform still serves it: a move or a rotation keeps
        it; None (the newest both speak) when it is no longer served."""
        return next((v for v in self.router.versions if v == version), None)

    @staticmethod
    def _unusable(e: OcpiCallError) -> OcpiError:
        return OcpiError(Status.CLIENT_API_UNUSABLE, f"cannot use the peer's API: {e.message}")

    def _lock(self, party_id: int) -> asyncio.Lock:
        return self._locks.setdefault(party_id, asyncio.Lock())

    async def _roles_free(self, creds: Credentials, party_id: int | None) -> None:
        """Refuses early what `_swap_registering` would refuse at the end (an early answer,
        before any call to the peer; the end decides)."""
        if not creds.unique_roles():
            raise invalid("roles: each (role, country_code, party_id) may appear only once")
        holder = await self.parties.holder_of(hub_roles(creds)[0], party_id)
        if holder is not None:
            raise self._taken(creds, holder.id)

    async def _swap_registering(
        self, party_id: int, expected_hash: str | None, creds: Credentials, **changes: Any
    ) -> bool:
        """Gives the party its credentials' roles if they are still free (one transaction).
        A hub keeps its own role; the parties a 2.3.0 hub lists become its clients."""
        roles, hub_party, relayed = hub_roles(creds)
        try:
            won = await self.parties.swap_registering(
                party_id, expected_hash, roles, hub_party=hub_party, **changes
            )
        except RolesTaken as e:
            raise self._taken(creds, e.holder_id) from None
        hub = await self.parties.get(party_id) if won and relayed else None
        if hub is not None:
            async with self.parties.database.begin() as session:
                await keep_roles(session, hub, relayed)
        return won

    @staticmethod
    def _taken(creds: Credentials, holder_id: int | None) -> OcpiError:
        named = ", ".join(f"{r.country_code}/{r.party_id} {r.role}" for r in creds.roles)
        return invalid(
            f"roles: one of {named} is registered already by another party (#{holder_id})"
        )

    # -- the peer starts: POST (register) and PUT (update) on our credentials ------------------

    async def accept(self, call: Call, creds: Credentials) -> dict[str, Any]:
        """Register (an INVITED party's POST) or update (a REGISTERED party's PUT).

        An update whose versions URL is on an origin the party may not be called at changes
        the tokens and roles at once, but the move itself waits for the operator
        (`approve_move`): until then nothing is sent to the new origin.
        """
        party = call.party
        assert party.id is not None
        moving = party.state != PartyState.INVITED and not self._at_home(party, creds.url)
        async with self._lock(party.id):
            await self._roles_free(creds, party.id)
            token = new_token()
            changes: dict[str, Any] = dict(
                state=PartyState.REGISTERED,
                name=party.name or creds.roles[0].business_details.name,
                incoming_token_hash=token_hash(token),
                outgoing_token=creds.token,
                registered_at=party.registered_at or clock.now(),
            )
            if moving:
                changes |= self._pending(party, creds.url)
            else:
                # The version is the one whose credentials endpoint the peer called.
                found = await self.discover(
                    creds.url,
                    creds.token,
                    call.caller.encoding,
                    party.id,
                    party.allowed_origins,
                    call.in_version,
                )
                changes |= dict(
                    version=found.version,
                    versions_url=creds.url,
                    endpoints=found.endpoints,
                    token_encoding=found.encoding,
                    pending_versions_url=None,
                    pending_since=None,
                )
            won = await self._swap_registering(
                party.id, party.incoming_token_hash, creds, **changes
            )
        if not won:
            raise not_allowed("this token was used for a registration meanwhile; it is spent")
        if not moving:
            await self._registered(party.id)
        return self.own_credentials(token)

    @staticmethod
    def _at_home(party: Party, versions_url: str) -> bool:
        return party.versions_url is None or same_origin(versions_url, party.origins())

    @staticmethod
    def _pending(party: Party, versions_url: str) -> dict[str, Any]:
        """The changes that hold a move to another origin for the operator to approve."""
        log.warning(
            "party %s asks to move to %s (versions URL %s); it waits for the operator: "
            "cpo party approve %s",
            party.id, _origin_or(versions_url), versions_url, party.id,
        )  # fmt: skip
        return dict(pending_versions_url=versions_url, pending_since=clock.now())

    async def approve_move(self, party: Party) -> Party:
        """The operator lets the party move: its endpoints are read at the new versions URL
        (with the token it gave us) and used from now on."""
        assert party.id is not None
        async with self._lock(party.id):
            fresh = await self.parties.get(party.id)
            if fresh is None or fresh.pending_versions_url is None:
                raise not_allowed(f"party #{party.id} has no move waiting for approval")
            if fresh.state not in (PartyState.REGISTERED, PartyState.SUSPENDED):
                raise not_allowed(f"party #{party.id} is {fresh.state}")
            target = fresh.pending_versions_url
            found = await self.discover(
                target,
                fresh.outgoing_token or "",
                peer_of(fresh).encoding,
                fresh.id,
                fresh.allowed_origins,
                self._kept(fresh.version),
            )
            won = await self.parties.swap(
                party.id,
                fresh.incoming_token_hash,
                versions_url=target,
                version=found.version,
                endpoints=found.endpoints,
                token_encoding=found.encoding,
                pending_versions_url=None,
                pending_since=None,
            )
        if not won:
            raise not_allowed("the party changed its credentials meanwhile; look again")
        log.info("party %s moved to %s, approved by the operator", party.id, target)
        await self._registered(party.id)  # the new place gets everything
        moved = await self.parties.get(party.id)
        assert moved is not None
        return moved

    async def reject_move(self, party: Party) -> Party:
        assert party.id is not None
        async with self._lock(party.id):
            fresh = await self.parties.get(party.id)
            if fresh is None or fresh.pending_versions_url is None:
                raise not_allowed(f"party #{party.id} has no move waiting for approval")
            won = await self.parties.swap(
                party.id, fresh.incoming_token_hash, pending_versions_url=None, pending_since=None
            )
        if not won:
            raise not_allowed("the party changed its credentials meanwhile; look again")
        kept = await self.parties.get(party.id)
        assert kept is not None
        return kept

    async def forget(self, party: Party) -> None:
        """The peer unregistered (DELETE on our credentials): its token stops working at once."""
        if not await self._end(party, party.incoming_token_hash):
            raise not_allowed("not registered")

    async def _end(self, party: Party, expected: str | None | PartyState) -> bool:
        """Ends a registration in one transaction: the party UNREGISTERED without tokens, the
        tokens of its drivers deleted, what waited for it in the outbox dropped. Whether this
        call ended it (false: another did, or the party changed meanwhile).

        Its drivers' tokens go rather than wait for the eMSP to return: they were the eMSP's
        word under a relation that ended, and none may authorize a charge without a registered
        eMSP behind it. When the same eMSP registers again, it pushes its tokens anew and we
        pull its list (`on_registered`), so they and the sessions they start are the new
        registration's.
        """
        assert party.id is not None
        async with self.parties.database.begin() as session:
            # The party's row is locked from here: token writes and outbox marks for it, which
            # read it under a share lock, wait for this transaction or see it gone.
            ended = await self.parties.swap_in(
                session,
                party.id,
                expected,
                state=PartyState.UNREGISTERED,
                incoming_token_hash=None,
                outgoing_token=None,
            )
            if not ended:
                return False
            dropped_tokens = await drop_owned(session, party.id)
            dropped_rows = await outbox.drop(session, party.id)
            # A hub's registration carried the parties behind it: theirs end with it.
            for client in await clients_in(session, party.id):
                assert client.id is not None
                if await self.parties.swap_in(
                    session, client.id, PartyState.UNREGISTERED, state=PartyState.UNREGISTERED
                ):
                    dropped_tokens += await drop_owned(session, client.id)
                    dropped_rows += await outbox.drop(session, client.id)
            listed = any(t.whitelist in OFFLINE_OK for t in dropped_tokens)
            revocation = await note_revocation(session) if listed else None
        log.info(
            "party %s (%s) unregistered: %d pending pushes dropped, %d tokens removed",
            party.id,
            party_label(party),
            dropped_rows,
            len(dropped_tokens),
        )
        if self.on_unregistered is not None:
            await self.on_unregistered(party.id, dropped_tokens, revocation)
        return True

    # -- we start: the operator gave us the peer's versions URL and token A --------------------

    async def register(
        self,
        versions_url: str,
        token_a: str,
        encoding: Encoding = "base64",
        name: str = "",
        allowed: Iterable[str] = (),
    ) -> Party:
        found = await self.discover(versions_url, token_a, encoding, None, allowed)
        token_b = new_token()
        party = await self.parties.add(
            Party(
                name=name,
                state=PartyState.REGISTERING,
                version=found.version,
                versions_url=versions_url,
                endpoints=found.endpoints,
                incoming_token_hash=token_hash(token_b),
                outgoing_token=token_a,
                token_encoding=found.encoding,
                allowed_origins=list(allowed),
            )
        )
        assert party.id is not None
        logs.about_party(party.id)
        try:
            theirs = await self._post_credentials(party, "POST", token_a, token_b)
        except BaseException:
            await self.parties.remove(party.id)
            raise
        try:
            await self._roles_free(theirs, party.id)
        except OcpiError:
            await self._tell_gone(party, theirs.token)
            await self.parties.remove(party.id)
            raise
        # Their credentials may name a versions URL elsewhere than the one we were given.
        moved = (
            dict(versions_url=theirs.url)
            if self._at_home(party, theirs.url)
            else self._pending(party, theirs.url)
        )
        try:
            await self._swap_registering(
                party.id,
                token_hash(token_b),
                theirs,
                state=PartyState.REGISTERED,
                name=name or theirs.roles[0].business_details.name,
                outgoing_token=theirs.token,
                registered_at=clock.now(),
                **moved,
            )
        except OcpiError:
            await self._tell_gone(party, theirs.token)
            await self.parties.remove(party.id)
            raise
        registered = await self.parties.get(party.id)
        assert registered is not None
        await self._registered(party.id)
        return registered

    async def rotate(self, party: Party) -> Party:
        """PUT our credentials with a new token: the peer re-reads our endpoints and answers its own new token."""
        assert party.id is not None
        if party.state != PartyState.REGISTERED or not party.outgoing_token:
            raise not_allowed(f"party #{party.id} is {party.state}, not REGISTERED")
        async with self._lock(party.id):
            token_b = new_token()
            old_hash = party.incoming_token_hash
            # The peer calls our versions with the new token before it answers, so it must
            # work now; the old one is given back if the peer refuses.
            await self.parties.swap(party.id, old_hash, incoming_token_hash=token_hash(token_b))
            try:
                theirs = await self._post_credentials(party, "PUT", party.outgoing_token, token_b)
                await self._roles_free(theirs, party.id)
            except BaseException:
                await self.parties.swap(party.id, token_hash(token_b), incoming_token_hash=old_hash)
                raise
            changes: dict[str, Any] = dict(outgoing_token=theirs.token)
            if not self._at_home(party, theirs.url):
                changes |= self._pending(party, theirs.url)
            else:
                changes |= dict(versions_url=theirs.url)
                try:
                    encoding = peer_of(party).encoding
                    found = await self.discover(
                        theirs.url,
                        theirs.token,
                        encoding,
                        party.id,
                        party.allowed_origins,
                        self._kept(party.version),
                    )
                    changes |= dict(endpoints=found.endpoints, version=found.version)
                except OcpiError:
                    pass  # the new token works; the old endpoints stay until the next update
            try:
                await self._swap_registering(party.id, token_hash(token_b), theirs, **changes)
            except OcpiError:
                await self.parties.swap(party.id, token_hash(token_b), incoming_token_hash=old_hash)
                raise
        updated = await self.parties.get(party.id)
        assert updated is not None
        return updated

    async def unregister(self, party: Party) -> str | None:
        """The operator ends the relation: DELETE at the peer (best effort), tokens dropped here.

        Returns the peer's error when it could not be told.
        """
        assert party.id is not None
        problem = None
        url = party.endpoint("credentials")
        if (
            party.state in (PartyState.REGISTERED, PartyState.SUSPENDED)
            and party.outgoing_token
            and url
        ):
            try:
                await self.client.call("DELETE", url, peer_of(party), module="credentials")
            except OcpiCallError as e:
                problem = e.message
        # Whatever its tokens are now (a rotation may be under way): the operator ends it. Lost
        # to the peer's own DELETE meanwhile, the relation ended all the same.
        await self._end(party, PartyState.UNREGISTERED)
        return problem

    async def _tell_gone(self, party: Party, token: str) -> str | None:
        """DELETE our credentials at the peer; its complaint, if any, is returned, not raised."""
        url = party.endpoint("credentials")
        if url is None:
            return "the party lists no credentials endpoint"
        try:
            await self.client.call("DELETE", url, peer_of(party, token), module="credentials")
        except OcpiCallError as e:
            return e.message
        return None

    async def _post_credentials(
        self, party: Party, method: str, token: str, ours: str
    ) -> Credentials:
        url = party.endpoint("credentials")
        assert url is not None  # discover() made sure
        try:
            result = await self.client.call(
                method,
                url,
                peer_of(party, token),
                json=credentials_out(self.own_credentials(ours), party.speaks),
                module="credentials",
            )
        except OcpiCallError as e:
            raise OcpiError(
                e.status_code or Status.CLIENT_API_UNUSABLE,
                f"{method} credentials failed: {e.message}",
            ) from e
        try:
            return credentials_in(CREDENTIALS[party.speaks].model_validate(result.data))
        except ValidationError as e:
            raise OcpiError(
                Status.CLIENT_API_UNUSABLE,
                f"{url} answered invalid credentials: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}",
            ) from e


def _origin_or(url: str) -> str:
    try:
        return origin(url)
    except BadUrl:
        return url[:200]


def _off(origins: frozenset[str]) -> str:
    return (
        f"off the party's origins ({', '.join(sorted(origins))}); "
        "the operator may allow more origins for the party"
    )
