"""How a charger connects: its Basic auth password (security profiles 1 and 2), changed without
ever locking the charger out (SetPassword), a 2.0.1 charger's network profiles
(SetNetworkProfile: the CSMS URL and security profile of a configuration slot), and the upgrade
of its security profile (UpgradeSecurityProfile), after which a lower one is refused.

The new password's hash is kept beside the current one before the charger is asked, and both
count until the charger logs in with the new one (csms.service), which then becomes the only
one. A charger that refuses it keeps the old one alone; one whose answer was lost (a timeout, a
dropped connection) may hold either, and either lets it in."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from ocpp.exceptions import OCPPError
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import Field

from csms.commands.port import (
    INT32_MAX,
    Command,
    CommandInputError,
    CommandResult,
    answered,
    implements,
    log,
    sends,
)
from csms.passwords import hash_password
from csms.security_profiles import raise_profile, required_profile

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

# The configuration keys that hold the password: set only through SetPassword.
PASSWORD_KEYS = {"authorizationkey", "securityctrlr.basicauthpassword"}


def not_the_password(key: str) -> None:
    """For the commands that set variables: a key that holds the charger's
    password may only change through SetPassword (ValueError otherwise)."""
    if key.lower() in PASSWORD_KEYS:
        raise ValueError(
            "the charger's password changes through set_password, which keeps it able to log in"
        )


TAKEN = ("Accepted", "RebootRequired")


class SetPassword(Command):
    """A new Basic auth password for the charger: the one given, or one the platform makes
    (then said once in the answer's data)."""

    name = "set_password"
    password: str | None = Field(
        default=None,
        min_length=16,
        max_length=40,
        pattern=r"^[\x21-\x7e]+$",
        description="16 to 40 printable characters; none: the platform makes one",
    )


async def _rotate(
    conn: StationConnection,
    store: Store,
    command: SetPassword,
    ask: Callable[[str], Awaitable[CommandResult]],
) -> CommandResult:
    password = command.password or secrets.token_hex(16)
    hashed = await asyncio.to_thread(hash_password, password)  # argon2: off the event loop
    await store.password_offered(conn.station_id, hashed)
    try:
        result = await ask(password)
    except OCPPError:
        await store.password_refused(conn.station_id, hashed)
        raise
    # A timeout or a lost connection leaves both passwords: the charger may hold either.
    if result.status not in TAKEN:
        await store.password_refused(conn.station_id, hashed)
    elif command.password is None:
        result.data["password"] = password
    return result


@implements(SetPassword, "1.6")
async def set_password_16(
    conn: StationConnection, store: Store, command: SetPassword, timeout: float | None
) -> CommandResult:
    async def ask(password: str) -> CommandResult:
        request = call16.ChangeConfiguration(key="AuthorizationKey", value=password)
        return answered(await conn.call(request, timeout))

    return await _rotate(conn, store, command, ask)


@implements(SetPassword, "2.0.1")
async def set_password_201(
    conn: StationConnection, store: Store, command: SetPassword, timeout: float | None
) -> CommandResult:
    async def ask(password: str) -> CommandResult:
        item = {
            "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"},
            "attribute_value": password,
        }
        reply = await conn.call(call201.SetVariables(set_variable_data=[item]), timeout)
        results = reply.set_variable_result or [{}]
        return answered(reply, status=str(results[0].get("attribute_status")))

    return await _rotate(conn, store, command, ask)


class SetNetworkProfile(Command):
    """A 2.0.1 network connection profile in a configuration slot; the charger uses it once
    OCPPCommCtrlr.NetworkConfigurationPriority names the slot (set_variables)."""

    name = "set_network_profile"
    slot: int = Field(ge=0, le=INT32_MAX, description="The configuration slot")
    csms_url: str = Field(
        min_length=8, max_length=512, pattern=r"^wss?://", description="ws:// or wss://"
    )
    security_profile: int = Field(ge=0, le=3)
    interface: Literal[
        "Wired0", "Wired1", "Wired2", "Wired3", "Wireless0", "Wireless1", "Wireless2", "Wireless3"
    ] = "Wired0"
    message_timeout: int = Field(default=30, ge=1, le=3600, description="Seconds")


def _network_profile(c: SetNetworkProfile) -> call201.SetNetworkProfile:
    return call201.SetNetworkProfile(
        configuration_slot=c.slot,
        connection_data={
            "ocpp_version": "OCPP20",
            "ocpp_transport": "JSON",
            "ocpp_csms_url": c.csms_url,
            "message_timeout": c.message_timeout,
            "security_profile": c.security_profile,
            "ocpp_interface": c.interface,
        },
    )


sends(SetNetworkProfile, "2.0.1", _network_profile)


class UpgradeSecurityProfile(Command):
    """Raises the security profile the charger connects with (OCPP 2.0.1 A05, the 1.6 security
    whitepaper), and once it accepted, refuses its connections with a lower one
    (csms.security_profiles). Never lowers one: that is the operator's, on the station.

    1.6: ChangeConfiguration SecurityProfile; the charger reconnects with the new profile at
    once. 2.0.1: SetNetworkProfile of `slot` (`csms_url`, the new profile) and
    OCPPCommCtrlr.NetworkConfigurationPriority naming that slot alone, so that the charger
    does not fall back to a lower profile we would refuse; it connects with it at its next
    reset (the `reset` command), as A05 has the CSMS follow with a Reset."""

    name = "upgrade_security_profile"
    security_profile: int = Field(
        ge=2, le=3, description="2: TLS and a password; 3: a client certificate"
    )
    csms_url: str | None = Field(
        default=None,
        min_length=8,
        max_length=512,
        pattern=r"^wss://",
        description="2.0.1: the wss:// URL of the new network profile",
    )
    slot: int = Field(default=1, ge=0, le=INT32_MAX, description="2.0.1: its configuration slot")


async def _upgrade(
    conn: StationConnection,
    store: Store,
    command: UpgradeSecurityProfile,
    ask: Callable[[], Awaitable[CommandResult]],
) -> CommandResult:
    current = await required_profile(store, conn.station_id)
    if current is not None and command.security_profile <= current:
        raise CommandInputError(
            f"{conn.station_id} connects with security profile {current} already;"
            " only the operator lowers it (the station's security_profile)"
        )
    result = await ask()
    if result.status in TAKEN:
        await raise_profile(store, conn.station_id, command.security_profile)
        log.warning(
            "security: %s connects with security profile %d or higher from now on",
            conn.station_id,
            command.security_profile,
        )
        result.data["security_profile"] = command.security_profile
    return result


@implements(UpgradeSecurityProfile, "1.6")
async def upgrade_security_profile_16(
    conn: StationConnection, store: Store, command: UpgradeSecurityProfile, timeout: float | None
) -> CommandResult:
    async def ask() -> CommandResult:
        request = call16.ChangeConfiguration(
            key="SecurityProfile", value=str(command.security_profile)
        )
        return answered(await conn.call(request, timeout))

    return await _upgrade(conn, store, command, ask)


@implements(UpgradeSecurityProfile, "2.0.1")
async def upgrade_security_profile_201(
    conn: StationConnection, store: Store, command: UpgradeSecurityProfile, timeout: float | None
) -> CommandResult:
    if command.csms_url is None:
        raise CommandInputError("a 2.0.1 charger is given the new profile with its csms_url")
    url = command.csms_url

    async def ask() -> CommandResult:
        profile = SetNetworkProfile(
            slot=command.slot, csms_url=url, security_profile=command.security_profile
        )
        result = answered(await conn.call(_network_profile(profile), timeout))
        if result.status != "Accepted":
            return result
        item = {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "NetworkConfigurationPriority"},
            "attribute_value": str(command.slot),
        }
        reply = await conn.call(call201.SetVariables(set_variable_data=[item]), timeout)
        results = reply.set_variable_result or [{}]
        return answered(reply, status=str(results[0].get("attribute_status")))

    return await _upgrade(conn, store, command, ask)
