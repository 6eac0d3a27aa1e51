"""Firmware updates: UpdateFirmware in OCPP 1.6 (plain, or SignedUpdateFirmware of the 1.6
security whitepaper when a signing certificate and signature are given) and in 2.0.1 (block L).

The charger answers, then reports its progress in (Signed)FirmwareStatusNotification, which the
handlers record as FirmwareStatusChanged events; the signed 1.6 form and 2.0.1 carry the
request id the platform picked here, the plain 1.6 form carries none.

A 2.0.1 local controller can also serve an image to the chargers behind it (L03, L04):
PublishFirmware fetches it and checks its MD5, PublishFirmwareStatusNotification (recorded as
FirmwarePublishStatusChanged) says how far it got and, once Published, the URLs it serves it
at; UnpublishFirmware stops serving it. 1.6 has neither."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from csms.commands.port import (
    INT32_MAX,
    Command,
    CommandResult,
    answered,
    implements,
    request_ids,
    sends,
)

if TYPE_CHECKING:
    from csms.connection import StationConnection
    from csms.store import Store

LOCATION_MAX = 512  # 2.0.1 FirmwareType.location (1.6 says anyURI, unbounded)
CERTIFICATE_MAX = 5500  # signingCertificate, PEM, in both
SIGNATURE_MAX = 800  # signature, base64, in both
SCHEMES = ("http", "https", "ftp", "ftps", "sftp")

# What a charger reports once an update is over, one way or the other.
INSTALLED = "Installed"
FAILURES = frozenset(
    {
        "DownloadFailed",
        "InstallationFailed",
        "InstallVerificationFailed",
        "InvalidSignature",
        "InstallRebootFailed",  # not in 2.0.1's enum; some 1.6 signed firmware sends it
    }
)


class FirmwareImage(BaseModel):
    """Where the charger fetches the image and how it checks it: what an UpdateFirmware and a
    firmware campaign (cpo.firmware) share."""

    model_config = ConfigDict(extra="forbid")

    location: str = Field(
        min_length=1,
        max_length=LOCATION_MAX,
        description="URL of the image (http, https, ftp, ftps or sftp)",
        examples=["https://firmware.example.com/sim-2.0.0.bin"],
    )
    retrieve_date: datetime | None = Field(default=None, description="When to fetch it (none: now)")
    retries: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="The charger's own download retries"
    )
    retry_interval: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="Seconds between the charger's retries"
    )
    signing_certificate: str | None = Field(
        default=None,
        min_length=1,
        max_length=CERTIFICATE_MAX,
        description="PEM certificate the image was signed with (1.6: SignedUpdateFirmware)",
    )
    signature: str | None = Field(
        default=None, min_length=1, max_length=SIGNATURE_MAX, description="base64 signature"
    )

    @field_validator("location")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme.lower() not in SCHEMES or not parts.netloc:
            raise ValueError(f"location must be a URL ({', '.join(SCHEMES)}) with a host")
        return value

    @model_validator(mode="after")
    def _signed_whole(self) -> Self:
        if (self.signing_certificate is None) != (self.signature is None):
            raise ValueError("signing_certificate and signature go together")
        return self

    @property
    def signed(self) -> bool:
        return self.signature is not None

    def firmware(self) -> dict[str, Any]:
        """The FirmwareType of 2.0.1 and of the 1.6 security whitepaper."""
        retrieve = self.retrieve_date or datetime.now(UTC)
        if retrieve.tzinfo is None:
            retrieve = retrieve.replace(tzinfo=UTC)
        fields = {
            "location": self.location,
            "retrieve_date_time": retrieve.isoformat(),
            "signing_certificate": self.signing_certificate,
            "signature": self.signature,
        }
        return {k: v for k, v in fields.items() if v is not None}


class UpdateFirmware(Command, FirmwareImage):
    name = "update_firmware"
    request_id: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="none: the platform picks one"
    )

    def picked_request_id(self) -> int:
        if self.request_id is None:
            self.request_id = next(request_ids) % INT32_MAX
        return self.request_id


@implements(UpdateFirmware, "1.6")
async def update_firmware_16(
    conn: StationConnection, store: Store, command: UpdateFirmware, timeout: float | None
) -> CommandResult:
    if command.signed:
        request_id = command.picked_request_id()
        signed = call16.SignedUpdateFirmware(
            request_id=request_id,
            firmware=command.firmware(),
            retries=command.retries,
            retry_interval=command.retry_interval,
        )
        result = answered(await conn.call(signed, timeout))
        result.data["request_id"] = request_id
        return result
    plain = call16.UpdateFirmware(
        location=command.location,
        retrieve_date=command.firmware()["retrieve_date_time"],
        retries=command.retries,
        retry_interval=command.retry_interval,
    )
    # A plain 1.6 UpdateFirmware is answered with an empty object: taken, never refused.
    return answered(await conn.call(plain, timeout), status="Accepted")


@implements(UpdateFirmware, "2.0.1")
async def update_firmware_201(
    conn: StationConnection, store: Store, command: UpdateFirmware, timeout: float | None
) -> CommandResult:
    request_id = command.picked_request_id()
    request = call201.UpdateFirmware(
        request_id=request_id,
        firmware=command.firmware(),
        retries=command.retries,
        retry_interval=command.retry_interval,
    )
    result = answered(await conn.call(request, timeout))
    result.data["request_id"] = request_id
    return result


class PublishFirmware(Command, FirmwareImage):
    """2.0.1: a local controller fetches an image and serves it to the chargers behind it."""

    name = "publish_firmware"
    checksum: str = Field(
        pattern=r"^[0-9a-fA-F]{32}$", description="MD5 of the image, 32 hex digits"
    )
    request_id: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="none: the platform picks one"
    )

    @model_validator(mode="after")
    def _unsigned(self) -> Self:
        if self.signed or self.retrieve_date is not None:
            raise ValueError("a published image has a checksum, not a signature or a date")
        return self


class UnpublishFirmware(Command):
    """2.0.1: a local controller stops serving the image with this MD5."""

    name = "unpublish_firmware"
    checksum: str = Field(
        pattern=r"^[0-9a-fA-F]{32}$", description="MD5 of the image, 32 hex digits"
    )


@implements(PublishFirmware, "2.0.1")
async def publish_firmware_201(
    conn: StationConnection, store: Store, command: PublishFirmware, timeout: float | None
) -> CommandResult:
    if command.request_id is None:
        command.request_id = next(request_ids) % INT32_MAX
    request = call201.PublishFirmware(
        location=command.location,
        checksum=command.checksum.lower(),
        request_id=command.request_id,
        retries=command.retries,
        retry_interval=command.retry_interval,
    )
    result = answered(await conn.call(request, timeout))
    result.data["request_id"] = command.request_id
    return result


sends(
    UnpublishFirmware,
    "2.0.1",
    lambda c: call201.UnpublishFirmware(checksum=c.checksum.lower()),
)
