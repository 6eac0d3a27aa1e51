"""Transactions the platform starts, stops and asks about: RemoteStart, RemoteStop and
GetTransactionStatus (2.0.1 only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import Field, model_validator

from csms.commands.port import (
    ID_MAX,
    ID_TAG_MAX,
    INT32_MAX,
    Command,
    CommandInputError,
    CommandResult,
    TokenType,
    answered,
    id_tag,
    id_token,
    implements,
    request_ids,
)
from csms.commands.smart_charging import ChargingProfile, profile_fields, schedule_of

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store


class RemoteStart(Command):
    name = "remote_start"
    after_boot = True
    id_token: str = Field(min_length=1, max_length=36)
    token_type: TokenType = "ISO14443"
    evse_id: int | None = Field(default=None, ge=1, le=INT32_MAX)
    remote_start_id: int | None = Field(default=None, ge=0, le=INT32_MAX)
    group_id: str | None = Field(default=None, max_length=36)
    charging_profile: ChargingProfile | None = Field(
        default=None, description="A Tx profile for the transaction it starts (no transaction_id)"
    )

    @model_validator(mode="after")
    def _profile_for_this_start(self) -> RemoteStart:
        profile = self.charging_profile
        if profile is not None and (profile.purpose != "Tx" or profile.transaction_id is not None):
            raise ValueError(
                "a remote start carries a Tx profile for the transaction it starts:"
                " purpose Tx, no transaction_id"
            )
        return self

    @property
    def granted_token(self) -> str:
        """The token the charger may still ask about once it accepted: the platform decided."""
        return self.id_token


class RemoteStop(Command):
    """Names the transaction by the platform's id or by the charger's own (one of them)."""

    name = "remote_stop"
    after_boot = True
    transaction_id: int | None = Field(
        default=None, ge=1, le=ID_MAX, description="The platform's transaction id"
    )
    ocpp_transaction_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=36,
        description="The charger's id of the transaction (1.6: a number)",
    )

    @model_validator(mode="after")
    def _one_id(self) -> RemoteStop:
        if (self.transaction_id is None) == (self.ocpp_transaction_id is None):
            raise ValueError("name the transaction by transaction_id or ocpp_transaction_id")
        return self


class GetTransactionStatus(Command):
    """Whether the charger still holds messages of a transaction (or of any, without one)."""

    name = "get_transaction_status"
    transaction_id: int | None = Field(
        default=None, ge=1, le=ID_MAX, description="The platform's transaction id; none: any"
    )


async def transaction_to_stop(store: Store, station_id: str, command: RemoteStop) -> str:
    """The charger's id of the transaction a RemoteStop names. A charger's id the platform
    does not know goes to the charger as given: it may hold a transaction whose start never
    reached us, and it answers for itself."""
    if command.ocpp_transaction_id is not None:
        return command.ocpp_transaction_id
    assert command.transaction_id is not None
    tx = await store.transaction(command.transaction_id)
    if tx is None or tx.station_id != station_id or tx.ocpp_transaction_id is None:
        raise CommandInputError(f"no transaction {command.transaction_id} on {station_id}")
    return tx.ocpp_transaction_id


@implements(RemoteStart, "1.6")
async def remote_start_16(
    conn: StationConnection, store: Store, command: RemoteStart, timeout: float | None
) -> CommandResult:
    # Always name the connector: some chargers reject a start without one (digest quirk 13).
    profile = None
    if command.charging_profile is not None:
        schedule, _ = await schedule_of(store, conn.station_id, command.charging_profile, "1.6")
        profile = profile_fields(command.charging_profile, "1.6") | {
            "charging_profile_id": command.charging_profile.id,
            "charging_schedule": schedule,
        }
    request = call16.RemoteStartTransaction(
        id_tag=id_tag(command.id_token), connector_id=command.evse_id or 1, charging_profile=profile
    )
    return answered(await conn.call(request, timeout))


@implements(RemoteStart, "2.0.1")
async def remote_start_201(
    conn: StationConnection, store: Store, command: RemoteStart, timeout: float | None
) -> CommandResult:
    profile = None
    if command.charging_profile is not None:
        schedule, _ = await schedule_of(store, conn.station_id, command.charging_profile, "2.0.1")
        profile = profile_fields(command.charging_profile, "2.0.1") | {
            "id": command.charging_profile.id,
            "charging_schedule": [{"id": command.charging_profile.id} | schedule],
        }
    request = call201.RequestStartTransaction(
        charging_profile=profile,
        id_token=id_token(command.id_token, command.token_type),
        remote_start_id=command.remote_start_id
        if command.remote_start_id is not None
        else next(request_ids),
        evse_id=command.evse_id,
        group_id_token=id_token(command.group_id, "Central") if command.group_id else None,
    )
    return answered(await conn.call(request, timeout))


@implements(RemoteStop, "1.6")
async def remote_stop_16(
    conn: StationConnection, store: Store, command: RemoteStop, timeout: float | None
) -> CommandResult:
    tx_id = await transaction_to_stop(store, conn.station_id, command)
    if not (tx_id.isascii() and tx_id.isdigit()) or int(tx_id) > INT32_MAX:
        raise CommandInputError(f"an OCPP 1.6 transaction id is a number, not {tx_id!r}")
    return answered(
        await conn.call(call16.RemoteStopTransaction(transaction_id=int(tx_id)), timeout)
    )


@implements(RemoteStop, "2.0.1")
async def remote_stop_201(
    conn: StationConnection, store: Store, command: RemoteStop, timeout: float | None
) -> CommandResult:
    tx_id = await transaction_to_stop(store, conn.station_id, command)
    return answered(await conn.call(call201.RequestStopTransaction(transaction_id=tx_id), timeout))


@implements(GetTransactionStatus, "2.0.1")
async def transaction_status_201(
    conn: StationConnection, store: Store, command: GetTransactionStatus, timeout: float | None
) -> CommandResult:
    tx_id = None
    if command.transaction_id is not None:
        tx = await store.transaction(command.transaction_id)
        if tx is None or tx.station_id != conn.station_id or tx.ocpp_transaction_id is None:
            raise CommandInputError(f"no transaction {command.transaction_id} on {conn.station_id}")
        tx_id = tx.ocpp_transaction_id
    reply = await conn.call(call201.GetTransactionStatus(transaction_id=tx_id), timeout)
    # The answer has no status: whether messages are still queued is what it says.
    return answered(reply, status="Accepted")


__all__ = ["ID_TAG_MAX", "GetTransactionStatus", "RemoteStart", "RemoteStop"]
