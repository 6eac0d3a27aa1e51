"""The OCPI side put together: parties, request log, client, router, modules and registration.

The server and the CLI build the same object from the settings, so `cpo party register`
run beside a running server does exactly what the admin API does inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo import leases
from cpo.cdrs import sender as cdrs_sender
from cpo.charging_profiles import receiver as charging_profiles_receiver
from cpo.charging_profiles.active import ActiveProfiles
from cpo.charging_profiles.remote import ChargingProfileRequests
from cpo.commands import receiver as commands_receiver
from cpo.commands.remote import RemoteCommands
from cpo.credentials import endpoints as credentials_endpoints
from cpo.credentials.registration import Registration
from cpo.hubs import receiver as hubs_receiver
from cpo.locations import sender as locations_sender
from cpo.locations.store import Locations
from cpo.ocpi.client import OcpiCallError, OcpiClient
from cpo.ocpi.requestlog import RequestLog
from cpo.ocpi.router import OcpiRouter
from cpo.ocpi.status import OcpiError
from cpo.ocpi.tokens import Encoding
from cpo.ocpi.urls import BadUrl, origin
from cpo.operator_input import Conflict, NotFound
from cpo.our_roles import OurRoles
from cpo.parties import HOLDING, NotRegistered, Parties, clients_in
from cpo.projection import LEASE, Projection, holder_name
from cpo.push.deliverer import Deliverer
from cpo.push.outbox import Outbox, retry_failed
from cpo.push.resync import resync
from cpo.push.senders import read_ahead, senders
from cpo.sessions import sender as sessions_sender
from cpo.sessions.from_transactions import ChargingSessions, SessionRules
from cpo.sessions.preferences import Preferences
from cpo.settings import Settings
from cpo.tables import Party, PartyState
from cpo.tariffs import sender as tariffs_sender
from cpo.tariffs.store import Tariffs
from cpo.tokens import receiver as tokens_receiver
from cpo.tokens.authorization import OcpiAuthorizer
from cpo.tokens.local_lists import LocalLists
from cpo.tokens.store import Dropped
from cpo.versions import endpoints as versions_endpoints
from csms.authorization import LocalAuthorizer
from csms.events import EventFeed
from csms.service import Csms

log = logging.getLogger("cpo.ocpi_side")

RECONCILE = "reconcile"  # the lease whose expiry says the next reconciliation is due
RECONCILE_CHECK = 60.0  # seconds between a node's looks at whether it is due


def _ignore(token_ids: list[int]) -> None:
    """Token changes made outside the server reach chargers' lists at the next full push."""


def _origins(values: list[str]) -> list[str]:
    try:
        return sorted({origin(v) for v in values})
    except BadUrl as e:
        raise ValueError(str(e)) from None


# Origins (scheme://host[:port]) a party may be called at besides its versions URL's own.
Origins = Annotated[
    list[Annotated[str, Field(max_length=255)]],
    Field(max_length=20),
    AfterValidator(_origins),
]


class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=100, description="A label for the operator")
    token_encoding: Literal["base64", "raw"] = Field(
        default="base64", description="raw for peers that send and expect unencoded tokens"
    )
    allowed_origins: Origins = Field(
        default_factory=list, description="More origins the party may be called at"
    )


class OriginsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    allowed_origins: Origins = Field(
        description="Every origin the party may be called at besides its versions URL's own"
    )


class RegistrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    versions_url: str = Field(min_length=8, max_length=255, pattern=r"^https?://")
    token: str = Field(
        min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$", description="The peer's token A"
    )
    token_encoding: Literal["base64", "raw"] = "base64"
    name: str = Field(default="", max_length=100)
    allowed_origins: Origins = Field(
        default_factory=list, description="More origins the party may be called at"
    )


class OcpiSide:
    def __init__(
        self,
        settings: Settings,
        database: async_sessionmaker[AsyncSession],
        csms: Csms | None = None,
        readers: async_sessionmaker[AsyncSession] | None = None,
        feed: EventFeed | None = None,
        deliverer_name: str | None = None,
    ) -> None:
        """`readers`: sessions that only read, on connections of their own (the deliverer's
        reads of what it sends do not queue behind writes); `sessions` when not given.
        `feed`: what wakes the projection; the csms's own when not given. `deliverer_name`:
        what the deliverer's leases are known by (cpo.push.worker)."""
        feed = feed or (csms.store.feed if csms else None)
        self.roles = OurRoles.of(settings)
        own = self.roles.default
        self.settings = settings
        self.log = RequestLog(database, settings.ocpi_log_retention_days)
        self.parties = Parties(database, readers)
        self.client = OcpiClient(
            own,
            self.log,
            settings.ocpi_timeout,
            settings.ocpi_verify_tls,
            allow_private=settings.ocpi_allow_private_peers,
            max_body=settings.max_body_bytes,
            max_page=settings.ocpi_max_page_bytes,
        )
        self.router = OcpiRouter(
            settings.base_url,
            own,
            self.parties,
            self.log,
            settings.ocpi_versions,
            ours=self.roles.refs,
        )
        self.registration = Registration(self.router, self.parties, self.client, self.roles)
        self.outbox = Outbox()
        self.database = database
        self.locations = Locations(database, self.outbox, self.roles)
        self.tariffs = Tariffs(database, self.outbox, self.roles)
        self.charging = ChargingSessions(
            database,
            self.outbox,
            self.roles,
            SessionRules(
                currency=settings.currency,
                update_every=settings.session_update_seconds,
                gap_wait=settings.cdr_gap_wait_seconds,
                max_power_w=settings.max_plausible_power_kw * 1000,
            ),
        )
        self.projection = Projection(
            database,
            self.locations,
            self.charging,
            feed,
            leases.Holding(
                database,
                LEASE,
                holder_name(settings.node_name, deliverer_name),
                settings.projection_lease_seconds,
            ),
            poll=settings.push_poll,
            # Only SQLite's write transactions hold off every other writer (ADR 035).
            readers=readers if settings.database_url.startswith("sqlite") else None,
        )
        self.deliverer = Deliverer(
            database,
            self.outbox,
            senders(database, self.client, readers or database, self.roles),
            readers,
            # Its node's name first: the deliverers of live nodes keep their leases (ADR 018).
            name=deliverer_name or f"{settings.node_name}/{uuid.uuid4().hex[:12]}",
            poll=settings.push_poll,
            backoff_cap=settings.push_retry_max,
            probe_cap=settings.push_probe_max,
            concurrency=settings.push_concurrency,
            read_ahead=read_ahead(),
        )
        self.registration.on_registered = self._registered
        self.registration.on_unregistered = self._unregistered
        self._background: set[asyncio.Task[object]] = set()
        self._first_pulls: dict[int, asyncio.Task[object]] = {}
        # One pull of a party's tokens at a time in this process: a pull asked for while the
        # first one runs waits for it, and then reads only what changed since.
        self._pulling: dict[int, asyncio.Lock] = {}
        for module in versions_endpoints.modules(self.router):
            self.router.add(module)
        self.router.add(credentials_endpoints.module(self.registration))
        self.router.add(
            locations_sender.module(self.router, self.locations, settings.ocpi_page_limit)
        )
        self.router.add(tariffs_sender.module(self.router, self.tariffs, settings.ocpi_page_limit))
        self.preferences = Preferences(
            database, csms.commands if csms else None, settings.authorize_timeout
        )
        self.router.add(
            sessions_sender.module(
                self.router, database, settings.ocpi_page_limit, self.preferences
            )
        )
        self.router.add(cdrs_sender.module(self.router, database, settings.ocpi_page_limit))
        # Chargers' local lists follow token changes (only in the server, where chargers are).
        self.local_lists = LocalLists(database, csms) if csms else None
        self.router.add(
            tokens_receiver.module(
                database, self.local_lists.tokens_changed if self.local_lists else _ignore
            )
        )
        self.remote = RemoteCommands(
            database,
            self.outbox,
            csms.commands if csms else None,
            settings.ocpp_response_timeout,
            settings.remote_start_window_seconds,
            node=settings.node_name,
            live_nodes=csms.cluster.live_nodes if csms and csms.cluster else None,
        )
        self.router.add(commands_receiver.module(self.remote))
        self.charging_profiles = ChargingProfileRequests(
            database,
            self.outbox,
            csms.commands if csms else None,
            settings.ocpp_response_timeout,
            settings.charging_profile_min_interval,
            node=settings.node_name,
            live_nodes=csms.cluster.live_nodes if csms and csms.cluster else None,
        )
        self.router.add(charging_profiles_receiver.module(self.charging_profiles))
        # What bounds a followed session's EVSE, told to its eMSP (only where chargers are).
        self.active_profiles = (
            ActiveProfiles(
                database,
                self.outbox,
                csms.commands,
                csms.store.feed,
                settings.ocpp_response_timeout,
            )
            if csms
            else None
        )
        self.router.add(hubs_receiver.module(database, lambda ids: self.outbox.wake()))
        self.authorizer = OcpiAuthorizer(
            database,
            self.client,
            LocalAuthorizer(database),
            settings.authorize_timeout,
            self.roles,
        )
        self._reconciler: asyncio.Task[None] | None = None

    async def start(self, push: bool = True) -> None:
        """The server's background work: the log writer, the commands a restart interrupted
        (reported FAILED), and, unless a push worker runs them (`push` False), the projection
        and the deliverer."""
        await self.remote.start()
        await self.charging_profiles.start()
        if self.active_profiles is not None:
            self.active_profiles.start()
        if self.local_lists is not None:
            self.local_lists.start()
        if push:
            self.start_push()
        else:
            self.log.start()
        self._reconciler = asyncio.create_task(self._reconcile(), name="reconcile")

    def start_push(self) -> None:
        """The push worker's work (cpo.push.worker): the projection and the deliverer."""
        self.log.start()
        self.projection.start()
        self.deliverer.start()

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self.local_lists:
            self.local_lists.stop()
        if self._reconciler:
            self._reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciler
        # Each step is bounded: a shutdown must end even if a peer or the database hangs.
        steps = [
            ("commands", self.remote.stop()),
            ("charging profiles", self.charging_profiles.stop()),
            *(
                [("active charging profiles", self.active_profiles.stop())]
                if self.active_profiles is not None
                else []
            ),
            ("deliverer", self.deliverer.stop()),
            ("projection", self.projection.stop()),
            ("OCPI client", self.client.close()),
            ("OCPI request log", self.log.stop()),
        ]
        for name, step in steps:
            try:
                await asyncio.wait_for(step, 10)
            except TimeoutError:
                log.error("stopping the %s took over 10 s; going on without it", name)

    async def _registered(self, party_id: int) -> None:
        """A new party gets every Location and Tariff, and its tokens are fetched (not awaited:
        the peer may still be waiting for our answer to its registration)."""
        await resync(self.database, self.outbox, party_id)
        task: asyncio.Task[object] = asyncio.create_task(self._first_pull(party_id))
        self._background.add(task)
        self._first_pulls[party_id] = task

        def done(task: asyncio.Task[object]) -> None:
            self._background.discard(task)
            if self._first_pulls.get(party_id) is task:
                del self._first_pulls[party_id]

        task.add_done_callback(done)

    async def _unregistered(
        self, party_id: int, dropped: list[Dropped], revocation: int | None
    ) -> None:
        """Chargers that keep a local list forget the tokens that went with the party."""
        if self.local_lists is not None and revocation is not None:
            self.local_lists.tokens_removed(dropped, revocation)

    async def first_pull(self, party_id: int, wait: float) -> None:
        """Waits, `wait` seconds at most, for the first pull of a new party's tokens (it goes
        on if the wait ends first)."""
        task = self._first_pulls.get(party_id)
        if task is not None:
            await asyncio.wait({task}, timeout=wait)

    async def _first_pull(self, party_id: int) -> None:
        # Logged; the reconciliation pulls again (unless the party is gone meanwhile). A hub's
        # list of the parties behind it comes first: their tokens are kept under them.
        with contextlib.suppress(OcpiError, NotRegistered):
            await self.pull_tokens(party_id, full=True, clients_first=True)

    async def pull_clients(self, party_id: int) -> dict[str, int]:
        """A hub's list of the parties it relays for (nothing for a party that is no hub)."""
        party = await self.registered(party_id, (PartyState.REGISTERED,))
        if party.hub_party is None:
            raise Conflict(f"party {party_id} is no hub: it relays for nobody")
        try:
            counts = await hubs_receiver.pull(self.database, self.client, party)
        except OcpiCallError as e:
            log.warning("client list of hub %s failed: %s", party_id, e.message)
            raise OcpiError(
                e.status_code or 3001, f"the hub's client list failed: {e.message}"
            ) from e
        self.outbox.wake()
        return counts

    async def pull_tokens(
        self, party_id: int, full: bool = False, clients_first: bool = False
    ) -> dict[str, int]:
        """`clients_first`: a hub's list of the parties it relays for is fetched first (their
        tokens are kept under them). The lock is taken before anything is awaited: the first
        pull, started as a party registers, goes before any asked for after."""
        async with self._pulling.setdefault(party_id, asyncio.Lock()):
            party = await self.registered(party_id, (PartyState.REGISTERED,))
            self.not_behind_hub(party, "pull its tokens")
            if clients_first and party.hub_party is not None:
                with contextlib.suppress(OcpiError):
                    await self.pull_clients(party_id)
            owners = None
            if party.hub_party is not None:
                async with self.database() as session:
                    owners = {
                        (str(r["country_code"]).upper(), str(r["party_id"]).upper()): c.id
                        for c in await clients_in(session, party_id)
                        if c.id is not None and c.state in HOLDING
                        for r in c.roles
                    }
            try:
                return await tokens_receiver.pull(self.database, self.client, party, full, owners)
            except OcpiCallError as e:
                log.warning("token pull from party %s failed: %s", party_id, e.message)
                raise OcpiError(
                    e.status_code or 3001, f"the party's tokens list failed: {e.message}"
                ) from e

    async def _reconcile(self) -> None:
        """Every `reconcile_hours`, on one node of the cluster (the first that finds it due),
        every party gets again what it does not hold in its current version."""
        every = self.settings.reconcile_hours * 3600
        while True:
            await asyncio.sleep(min(every, RECONCILE_CHECK))
            try:
                async with self.database.begin() as session:
                    turn = await leases.take_turn(
                        session, RECONCILE, self.settings.node_name, every
                    )
            except Exception:
                log.exception("cannot tell whether the reconciliation is due")
                continue
            if turn:
                await self.reconcile()

    async def reconcile(self) -> None:
        """Each registered party gets what it does not hold in its current version, and its
        tokens are pulled again."""
        for party in await self.parties.all():
            if party.state == PartyState.REGISTERED and party.id is not None:
                if party.hub_id is not None:
                    continue  # behind a hub: the hub gets the broadcast, and lists its tokens
                if party.hub_party is not None:
                    with contextlib.suppress(Exception):
                        await self.pull_clients(party.id)
                with contextlib.suppress(Exception):
                    await resync(self.database, self.outbox, party.id, only_stale=True)
                with contextlib.suppress(Exception):
                    await self.pull_tokens(party.id)

    # -- what the operator does (admin API and CLI) ---------------------------------------------

    async def party(self, party_id: int) -> Party:
        party = await self.parties.get(party_id)
        if party is None:
            raise NotFound(f"no party {party_id}")
        return party

    async def registered(self, party_id: int, states: tuple[str, ...] = HOLDING) -> Party:
        """The party an operation is about, if it is registered (in one of `states`);
        NotRegistered when it is unknown, unregistered, or only invited."""
        party = await self.parties.get(party_id)
        if party is None:
            raise NotRegistered(party_id)
        if party.state not in states:
            raise NotRegistered(party_id, party.state)
        return party

    async def invite(
        self, name: str = "", encoding: Encoding = "base64", allowed: list[str] | None = None
    ) -> dict[str, Any]:
        party, token_a = await self.parties.invite(name, encoding)
        assert party.id is not None
        if allowed:
            await self.parties.swap(party.id, party.incoming_token_hash, allowed_origins=allowed)
        return {"party_id": party.id, "versions_url": self.router.versions_url, "token": token_a}

    async def register(
        self,
        versions_url: str,
        token_a: str,
        encoding: Encoding = "base64",
        name: str = "",
        allowed: list[str] | None = None,
    ) -> Party:
        """Raises OcpiError with the OCPI status of the step that failed."""
        return await self.registration.register(
            versions_url, token_a, encoding, name, allowed or []
        )

    async def allow_origins(self, party_id: int, allowed: list[str]) -> Party:
        """The origins the party may be called at besides its versions URL's (all of them)."""
        party = await self.party(party_id)
        assert party.id is not None
        if not await self.parties.swap(
            party.id, party.incoming_token_hash, allowed_origins=allowed
        ):
            raise Conflict(f"party {party_id} changed meanwhile; try again")
        return await self.party(party_id)

    async def approve_move(self, party_id: int) -> Party:
        """The party's pending move to another origin takes effect (its endpoints read there)."""
        return await self.registration.approve_move(await self.party(party_id))

    async def reject_move(self, party_id: int) -> Party:
        return await self.registration.reject_move(await self.party(party_id))

    async def suspend(self, party_id: int) -> Party:
        return await self._move(party_id, PartyState.SUSPENDED, (PartyState.REGISTERED,))

    async def resume(self, party_id: int) -> Party:
        return await self._move(party_id, PartyState.REGISTERED, (PartyState.SUSPENDED,))

    @staticmethod
    def not_behind_hub(party: Party, what: str) -> None:
        """A party behind a hub has no registration of its own: the hub's is what is acted on."""
        if party.hub_id is not None:
            raise Conflict(
                f"party {party.id} is reached through hub #{party.hub_id}: {what} on the hub"
            )

    async def resync(self, party_id: int) -> int:
        """Marks every Location and Tariff for the party again: how many."""
        party = await self.registered(party_id)
        self.not_behind_hub(party, "resync")
        assert party.id is not None
        return await resync(self.database, self.outbox, party.id)

    async def retry_pushes(self, party_id: int) -> int:
        """The pushes the party refused for good are due again: how many."""
        party = await self.registered(party_id)
        assert party.id is not None
        async with self.database.begin() as session:
            count = await retry_failed(session, party.id)
        self.outbox.wake()
        return count

    async def rotate(self, party_id: int) -> Party:
        party = await self.registered(party_id)
        self.not_behind_hub(party, "rotate the credentials")
        return await self.registration.rotate(party)

    async def unregister(self, party_id: int) -> str | None:
        """Ends a registration, or withdraws an invitation; NotRegistered for a party that is
        unknown or unregistered already."""
        party = await self.parties.get(party_id)
        if party is None or party.state == PartyState.UNREGISTERED:
            raise NotRegistered(party_id, party.state if party else None)
        self.not_behind_hub(party, "unregister")
        return await self.registration.unregister(party)

    async def _move(self, party_id: int, state: PartyState, only_from: tuple[str, ...]) -> Party:
        party = await self.parties.set_state(party_id, state, only_from=only_from)
        if party is None or party.state not in HOLDING:
            raise NotRegistered(party_id, party.state if party else None)
        if party.state != state:
            raise Conflict(
                f"party {party_id} is {party.state}; only a {' or '.join(only_from)} party can become {state}"
            )
        return party
