"""What both versions' handlers share: how they are routed, authorization with its event, and the follow-ups after a boot."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from ocpp import routing
from ocpp.routing import create_route_map

from csms import clock
from csms.authorization import (
    AuthorizationRequest,
    AuthorizationResult,
    Authorizer,
    AuthStatus,
    normalise_uid,
)
from csms.costs import NO_COSTS, TransactionCosts
from csms.mailbox import Mailbox
from csms.metering import Sample, normalise
from csms.provisioning import BootStatus
from csms.validation import Leniency

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.grants import Grants
    from csms.provisioning import Provisioning
    from csms.store import BootInfo, Store

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def on(action: str, lenient: Leniency | None = None) -> Callable[[F], F]:
    """The library's `@on`, but the request is checked by the connection (csms.validation)
    before it is routed, with the leniencies this handler declares, so the library skips its
    own check."""

    def decorate(handler: F) -> F:
        routed = routing.on(action, skip_schema_validation=True)(handler)
        routed.leniency = lenient
        return cast(F, routed)

    return decorate


class StationHandlers:
    """Mixed into each version's ChargePoint; `conn` is the StationConnection."""

    conn: StationConnection
    store: Store
    authorizer: Authorizer

    grants: Grants
    costs: TransactionCosts = NO_COSTS
    provisioning: Provisioning | None = None
    # The last boot was answered Pending: the platform provisions the charger (csms.provisioning).
    boot_pending = False
    _provisioning: asyncio.Task[bool] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The library gives every connection a dict of bound handlers and an asyncio.Queue for
        # replies (about 6 KiB); one table per class and a Mailbox do for an idle charger.
        self.route_map = Routes(self)
        self._response_queue: Mailbox[Any] = Mailbox()

    def drop_replies(self) -> None:
        """Forget replies that no call of ours waits for any more."""
        self._response_queue.clear()

    def setup(
        self,
        conn: StationConnection,
        store: Store,
        authorizer: Authorizer,
        grants: Grants,
        provisioning: Provisioning | None = None,
    ) -> None:
        self.conn, self.store, self.authorizer, self.grants = conn, store, authorizer, grants
        self.provisioning = provisioning

    async def decide(
        self, id_token: str, token_type: str | None = None, evse_id: int | None = None
    ) -> AuthorizationResult:
        request = AuthorizationRequest(self.conn.station_id, id_token, token_type, evse_id)
        if await self.grants.granted(self.conn.station_id, id_token):
            result = AuthorizationResult(AuthStatus.ACCEPTED)
            await self.store.authorization(self.conn.station_id, id_token, token_type, result)
            return result
        try:
            result = await asyncio.wait_for(
                self.authorizer.authorize(request), self.conn.config.authorization_budget
            )
        except TimeoutError:
            log.warning("%s: authorization of %s timed out", self.conn.station_id, id_token)
            result = AuthorizationResult(AuthStatus.INVALID)
        await self.store.authorization(self.conn.station_id, id_token, token_type, result)
        return result

    def may_start(self, decision: AuthorizationResult) -> AuthorizationResult:
        """A token of the master pass group stops any transaction but starts none (2.0.1 C16):
        a start with it is answered Invalid, with a cache expiry of now so that the charger's
        authorization cache keeps nothing of the refusal (the token still stops)."""
        group = self.conn.config.master_pass_group_id
        if (
            group
            and decision.status is AuthStatus.ACCEPTED
            and decision.group_id
            and normalise_uid(decision.group_id) == normalise_uid(group)
        ):
            log.info("%s: a master pass token may not start a transaction", self.conn.station_id)
            return dataclasses.replace(decision, status=AuthStatus.INVALID, expires_at=clock.now())
        return decision

    async def answer_boot(self, info: BootInfo) -> dict[str, Any]:
        """Accepted, or Pending while the charger is to be provisioned first (the policy of
        csms.provisioning); a Pending charger may send nothing but BootNotification."""
        conn = self.conn
        status = BootStatus.ACCEPTED
        if self.provisioning is not None:
            status = await self.provisioning.answer(
                conn.station_id, conn.ocpp_version, conn.accepted
            )
        self.boot_pending = status is BootStatus.PENDING
        if not self.boot_pending:
            return await self.accept(info)
        conn.accepted = False
        log.info("boot answered Pending (%s %s): provisioning", info.vendor, info.model)
        return {
            "current_time": clock.iso(clock.now()),
            "interval": conn.config.boot_retry_interval,
            "status": "Pending",
        }

    def provision(self) -> bool:
        """After a boot answered Pending: provision the charger (True), else nothing to do."""
        if not self.boot_pending or self.provisioning is None:
            return False
        if self._provisioning is None or self._provisioning.done():
            # A boot again while the set is still being sent (after the retry interval, on a
            # slow link) does not start a second run.
            self._provisioning = self.conn.spawn(
                self.provisioning.provision(self.conn, self.store), "provision"
            )
        return True

    async def accept(self, info: BootInfo) -> dict[str, Any]:
        """Store what a booting charger says about itself and accept it (registered chargers only get here)."""
        await self.store.booted(self.conn.station_id, info)
        self.conn.accepted = True
        log.info(
            "boot accepted (%s %s, firmware %s)", info.vendor, info.model, info.firmware_version
        )
        return {
            "current_time": clock.iso(clock.now()),
            "interval": self.conn.config.heartbeat_interval,
            "status": "Accepted",
        }

    def after_boot(self, trigger: Any) -> None:
        """Chargers often send no StatusNotification after booting (digest quirk 10): ask once."""
        conn = self.conn
        conn.status_seen = False

        def ask() -> None:
            if not conn.status_seen and not conn.closed.is_set():
                conn.spawn(conn.call(trigger), "trigger-status")

        conn.later(conn.config.status_trigger_delay, ask)

    def samples(self, meter_values: list[dict[str, Any]]) -> list[Sample]:
        """Every sampled value of 1.6 or 2.0.1 MeterValue objects, normalised."""
        samples: list[Sample] = []
        for mv in meter_values:
            at, _ = self.timestamp(mv["timestamp"])
            for sv in mv["sampled_value"]:
                samples.append(normalise(at, sv, self.conn.energy_unit_override))
        return samples

    @staticmethod
    def timestamp(value: str | None) -> tuple[Any, bool]:
        return clock.parse(value)


class Routes(Mapping[str, dict[str, Any]]):
    """The `ocpp` library's route map of one charge point, read from a table made once per
    class: the handlers of an action are bound when a message for it is routed."""

    __slots__ = ("_owner", "_table")
    _tables: ClassVar[dict[type, dict[str, dict[str, Any]]]] = {}

    def __init__(self, owner: object) -> None:
        cls = type(owner)
        if cls not in self._tables:
            self._tables[cls] = create_route_map(cls)
        self._owner, self._table = owner, self._tables[cls]

    def __getitem__(self, action: str) -> dict[str, Any]:
        return {
            key: value.__get__(self._owner) if callable(value) else value
            for key, value in self._table[action].items()
        }

    def __contains__(self, action: object) -> bool:
        return action in self._table

    @property
    def table(self) -> dict[str, dict[str, Any]]:
        """The class's table: each action's handlers as functions (unbound)."""
        return self._table

    def leniency(self, action: str) -> Leniency | None:
        """What the action's handler accepts beyond the schema (see `on`)."""
        return getattr(self._table[action]["_on_action"], "leniency", None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)
