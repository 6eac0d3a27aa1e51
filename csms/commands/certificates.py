"""The certificates a charger holds (2.0.1 block M, the 1.6 security whitepaper):
InstallCertificate of a root, GetInstalledCertificateIds (what it answers is kept, per
charger), DeleteCertificate, and a renewal of its own certificate (a trigger of
SignCertificate, which csms.certificates.signing then answers).

Certificate types have their 2.0.1 names here; a 1.6 charger knows two roots and calls the
CSMS's CentralSystemRootCertificate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from cryptography import x509
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import Field

from csms.certificates import records
from csms.commands.port import (
    Command,
    CommandInputError,
    CommandResult,
    Outcome,
    answered,
    implements,
    sends,
)

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

CERTIFICATE_MAX = 5500  # InstallCertificate's certificate, both versions

RootType = Literal[
    "CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate"
]
InstalledType = Literal[
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
    "V2GCertificateChain",
]
# The 2.0.1 names of the types a 1.6 charger knows, as 1.6 spells them.
IN_16 = {
    "CSMSRootCertificate": "CentralSystemRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}
FROM_16 = {v: k for k, v in IN_16.items()}


class InstallCertificate(Command):
    """A root certificate for the charger to trust (PEM)."""

    name = "install_certificate"
    certificate_type: RootType
    certificate: str = Field(
        min_length=1,
        max_length=CERTIFICATE_MAX,
        pattern=r"-----BEGIN CERTIFICATE-----",
        description="One X.509 certificate, PEM",
    )


class GetInstalledCertificateIds(Command):
    """Which certificates the charger holds (of these types; none named: of every type)."""

    name = "get_installed_certificate_ids"
    certificate_types: list[InstalledType] = Field(default_factory=list, max_length=5)


class DeleteCertificate(Command):
    """Removes a certificate from the charger, named by its CertificateHashData (as
    get_installed_certificate_ids answers it)."""

    name = "delete_certificate"
    hash_algorithm: Literal["SHA256", "SHA384", "SHA512"]
    issuer_name_hash: str = Field(min_length=1, max_length=128, pattern=r"^[0-9A-Fa-f]+$")
    issuer_key_hash: str = Field(min_length=1, max_length=128, pattern=r"^[0-9A-Fa-f]+$")
    serial_number: str = Field(min_length=1, max_length=40, pattern=r"^[0-9A-Fa-f]+$")


class RenewCertificate(Command):
    """Asks the charger for a new key and a CSR for it (TriggerMessage
    SignChargingStationCertificate; 1.6: ExtendedTriggerMessage SignChargePointCertificate);
    the platform signs what it sends."""

    name = "renew_certificate"
    certificate_type: Literal["ChargingStationCertificate", "V2GCertificate"] = (
        "ChargingStationCertificate"
    )


def _pem(text: str) -> str:
    try:
        x509.load_pem_x509_certificate(text.encode())
    except ValueError as e:
        raise CommandInputError(f"the certificate is not a PEM X.509 certificate ({e})") from None
    return text


@implements(InstallCertificate, "1.6")
async def install_16(
    conn: StationConnection, store: Store, command: InstallCertificate, timeout: float | None
) -> CommandResult:
    kind = IN_16.get(command.certificate_type)
    if kind is None:
        raise CommandInputError(f"a 1.6 charger holds no {command.certificate_type}")
    request = call16.InstallCertificate(
        certificate_type=kind, certificate=_pem(command.certificate)
    )
    return answered(await conn.call(request, timeout))


@implements(InstallCertificate, "2.0.1")
async def install_201(
    conn: StationConnection, store: Store, command: InstallCertificate, timeout: float | None
) -> CommandResult:
    request = call201.InstallCertificate(
        certificate_type=command.certificate_type, certificate=_pem(command.certificate)
    )
    return answered(await conn.call(request, timeout))


@implements(GetInstalledCertificateIds, "1.6")
async def installed_16(
    conn: StationConnection,
    store: Store,
    command: GetInstalledCertificateIds,
    timeout: float | None,
) -> CommandResult:
    # 1.6 asks for one type at a time: each asked for in turn, the answers joined.
    asked: list[str] = list(command.certificate_types) or list(IN_16)
    if unknown := [t for t in asked if t not in IN_16]:
        raise CommandInputError(f"a 1.6 charger holds no {', '.join(unknown)}")
    chain: list[dict[str, Any]] = []
    statuses = []
    for kind in dict.fromkeys(asked):
        request = call16.GetInstalledCertificateIds(certificate_type=IN_16[kind])
        reply = await conn.call(request, timeout)
        statuses.append(str(reply.status))
        chain += [
            {"certificate_type": kind, "certificate_hash_data": h}
            for h in reply.certificate_hash_data or []
        ]
    status = "Accepted" if "Accepted" in statuses else "NotFound"
    await records.reported(store, conn.station_id, list(dict.fromkeys(asked)), chain)
    return answered_with(status, chain)


@implements(GetInstalledCertificateIds, "2.0.1")
async def installed_201(
    conn: StationConnection,
    store: Store,
    command: GetInstalledCertificateIds,
    timeout: float | None,
) -> CommandResult:
    types: list[str] | None = list(dict.fromkeys(command.certificate_types)) or None
    reply = await conn.call(call201.GetInstalledCertificateIds(certificate_type=types), timeout)
    chain = [
        {
            "certificate_type": c["certificate_type"],
            "certificate_hash_data": c["certificate_hash_data"],
        }
        for c in reply.certificate_hash_data_chain or []
    ]
    # NotFound: the charger holds none of these, which is as worth keeping as a list.
    await records.reported(store, conn.station_id, types, chain)
    return answered_with(str(reply.status), chain)


def answered_with(status: str, chain: list[dict[str, Any]]) -> CommandResult:
    """The answer as one list of CertificateHashData by type, whichever version gave it."""
    return CommandResult(
        Outcome.ANSWERED, status=status, data={"status": status, "certificates": chain}
    )


def _hash_data(command: DeleteCertificate) -> dict[str, str]:
    return {
        "hash_algorithm": command.hash_algorithm,
        "issuer_name_hash": command.issuer_name_hash.lower(),
        "issuer_key_hash": command.issuer_key_hash.lower(),
        "serial_number": command.serial_number.lower(),
    }


async def _delete(
    conn: StationConnection,
    store: Store,
    request: Any,
    hash_data: dict[str, str],
    timeout: float | None,
) -> CommandResult:
    result = answered(await conn.call(request, timeout))
    if result.status == "Accepted":
        await records.deleted(store, conn.station_id, hash_data)
    return result


@implements(DeleteCertificate, "1.6")
async def delete_16(
    conn: StationConnection, store: Store, command: DeleteCertificate, timeout: float | None
) -> CommandResult:
    data = _hash_data(command)
    return await _delete(
        conn, store, call16.DeleteCertificate(certificate_hash_data=data), data, timeout
    )


@implements(DeleteCertificate, "2.0.1")
async def delete_201(
    conn: StationConnection, store: Store, command: DeleteCertificate, timeout: float | None
) -> CommandResult:
    data = _hash_data(command)
    return await _delete(
        conn, store, call201.DeleteCertificate(certificate_hash_data=data), data, timeout
    )


@implements(RenewCertificate, "1.6")
async def renew_16(
    conn: StationConnection, store: Store, command: RenewCertificate, timeout: float | None
) -> CommandResult:
    if command.certificate_type != "ChargingStationCertificate":
        raise CommandInputError("a 1.6 charger has no V2G certificate to renew over OCPP")
    request = call16.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
    return answered(await conn.call(request, timeout))


sends(
    RenewCertificate,
    "2.0.1",
    lambda c: call201.TriggerMessage(
        requested_message="SignChargingStationCertificate"
        if c.certificate_type == "ChargingStationCertificate"
        else "SignV2GCertificate"
    ),
)
