"""What the admin API answers and the query parameters it takes, as pydantic models: the
endpoints build their answers from them, and the OpenAPI document declares them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cpo.cdrs.report import CdrFilter

CURSOR_MAX = 1 << 62


# -- query parameters -------------------------------------------------------------------------


class Query(BaseModel):
    """Query parameters: unknown ones are refused, not ignored (a typo would go unnoticed)."""

    model_config = ConfigDict(extra="forbid")


class Limit(Query):
    limit: int = Field(default=100, ge=1, le=1000, description="How many, at most")


class Before(Limit):
    before: int | None = Field(
        default=None, ge=1, le=CURSOR_MAX, description="Only rows older than this id (paging)"
    )


class EventsQuery(Limit):
    after: int = Field(default=0, ge=0, le=CURSOR_MAX, description="Events after this id")
    station_id: str | None = Field(default=None, max_length=48, description="One charger's")


class SessionsQuery(Limit):
    status: Literal["ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"] | None = Field(
        default=None, description="Only sessions in this state"
    )


class TokenType(Query):
    type: str = Field(default="RFID", min_length=1, max_length=16, description="The token's type")


class LocalListQuery(Query):
    full: bool = Field(default=True, description="false: only the changes since the last list")


class PullQuery(Query):
    full: bool = Field(default=False, description="true: every token, not only changes")


class CdrQuery(CdrFilter):
    offset: int = Field(default=0, ge=0, le=10_000_000, description="CDRs skipped (paging)")
    limit: int = Field(default=100, ge=1, le=1000, description="CDRs in this page, at most")
    format: Literal["json", "csv"] = Field(
        default="json",
        description="csv: every CDR of the filter, one a line (also Accept: text/csv)",
    )


class CdrSummaryQuery(CdrFilter):
    pass


# -- answers ------------------------------------------------------------------------------------


class Problem(BaseModel):
    """RFC 9457 problem details; `errors` lists each problem of a body or query."""

    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class ConnectorView(BaseModel):
    evse_id: int
    connector_id: int
    status: str | None
    status_detail: str | None
    error_code: str | None
    info: str | None
    vendor_error_code: str | None
    status_at: datetime | None
    availability: str
    updated_at: datetime | None


class StationView(BaseModel):
    id: str
    ocpp_version: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    iccid: str | None
    imsi: str | None
    meter_type: str | None
    meter_serial_number: str | None
    accepted_at: datetime | None
    online: bool = Field(description="As the database records it")
    last_seen: datetime | None
    connected_at: datetime | None
    disconnected_at: datetime | None
    connection_epoch: int | None
    status: str | None
    error_code: str | None
    status_at: datetime | None
    firmware_status: str | None
    diagnostics_status: str | None
    energy_unit_override: str | None
    security_profile: int = Field(
        description="The lowest OCPP security profile it may connect with"
    )
    created_at: datetime
    password_set: bool
    connected: bool = Field(description="Holds a WebSocket on this node now")
    boot_status: Literal["Pending", "Accepted", "Rejected"] | None = Field(
        default=None,
        description="How its last boot was answered under CPO_BOOT_PENDING (none: never"
        " booted under a policy)",
    )


class StationDetail(StationView):
    connectors: list[ConnectorView]


class SampleView(BaseModel):
    id: int
    evse_id: int | None
    timestamp: datetime
    measurand: str
    phase: str | None
    location: str | None
    context: str | None
    value: float | None
    unit: str | None
    signed_data: str | None


class TransactionView(BaseModel):
    id: int = Field(description="The platform's transaction id")
    station_id: str
    ocpp_transaction_id: str | None = Field(description="The charger's id of it")
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    id_token_type: str | None
    auth_status: str | None
    authorization_reference: str | None
    started_at: datetime | None
    ended_at: datetime | None
    meter_start_wh: float | None
    meter_stop_wh: float | None
    meter_last_wh: float | None
    meter_last_at: datetime | None
    stop_reason: str | None
    status: Literal["active", "ended"]
    remote_start_id: int | None
    reservation_id: int | None
    charging_state: str | None
    last_seq_no: int | None
    seq_seen: int
    offline: bool
    clock_suspect: bool
    suspect: bool
    created_at: datetime
    updated_at: datetime


class TransactionDetail(TransactionView):
    samples: list[SampleView]


class EventView(BaseModel):
    id: int
    created_at: datetime
    station_id: str
    type: str
    data: dict[str, Any]


class MessageView(BaseModel):
    id: int
    created_at: datetime
    station_id: str
    direction: Literal["in", "out"]
    message_type: int | None
    action: str | None
    message_id: str | None
    payload: str = Field(description="The frame as it was on the wire (cut when very long)")


class DeviceModelQuery(Limit):
    component: str | None = Field(
        default=None, max_length=50, description="Only this component (case-blind; % wildcards)"
    )
    variable: str | None = Field(
        default=None, max_length=50, description="Only this variable (case-blind; % wildcards)"
    )


class DeviceVariableView(BaseModel):
    """One variable of a 2.0.1 charger's device model, as the charger last reported it."""

    component: str
    component_instance: str
    evse_id: int = Field(description="0: the charger itself")
    connector_id: int = Field(description="0: the EVSE itself")
    variable: str
    variable_instance: str
    attributes: list[dict[str, Any]] = Field(description="type, value, mutability, ...")
    characteristics: dict[str, Any] | None = Field(description="unit, data_type, limits, ...")
    updated_at: datetime


class HeldProfileView(BaseModel):
    evse_id: int = Field(description="0: the whole charger")
    profile_id: int
    purpose: Literal["StationMax", "TxDefault", "Tx"]
    stack_level: int
    profile: dict[str, Any] = Field(description="As set_charging_profile took it")
    set_at: datetime


class CertificatesQuery(Limit):
    expiring_within_days: int | None = Field(
        default=None,
        ge=0,
        le=3650,
        description="Only each charger's newest certificate, still valid and expiring within"
        " this many days",
    )
    station_id: str | None = Field(default=None, max_length=48, description="One charger's")


class IssuedCertificateView(BaseModel):
    """A certificate the platform's CA signed for a charger (SignCertificate)."""

    station_id: str
    kind: Literal["ChargingStationCertificate", "V2GCertificate"]
    serial: str = Field(description="Hexadecimal")
    not_after: datetime
    fingerprint: str = Field(description="SHA-256 of the DER, hexadecimal")
    created_at: datetime
    pem: str | None = Field(default=None, description="Given for one charger's certificates")


class InstalledCertificateView(BaseModel):
    """A certificate the charger said it holds (get_installed_certificate_ids)."""

    certificate_type: str
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str
    reported_at: datetime


class AuthorityView(BaseModel):
    certificate: str = Field(description="PEM; install it as the CSMSRootCertificate")


class StationCertificates(BaseModel):
    issued: list[IssuedCertificateView]
    installed: list[InstalledCertificateView]


class UploadView(BaseModel):
    """A file a charger was asked for (get_diagnostics, get_log) and what became of it."""

    id: int
    station_id: str
    kind: str = Field(description="Diagnostics (1.6 GetDiagnostics), DiagnosticsLog or SecurityLog")
    requested_at: datetime
    expires_at: datetime = Field(description="The charger's upload is refused after this")
    status: str = Field(
        description="Requested, then the charger's answer and its status notifications"
        " (Uploading, Uploaded, UploadFailed, ...)"
    )
    file_name: str | None
    content_type: str | None
    size: int | None = Field(description="Bytes received; none until the file came")
    received_at: datetime | None


class CommandOutcome(BaseModel):
    outcome: Literal["answered"]
    status: str | None = Field(description="What the charger answered (Accepted, Rejected, ...)")
    data: dict[str, Any]
    error_code: str | None
    error_description: str | None


class LocalListResult(BaseModel):
    status: str | None
    data: dict[str, Any]


class TokenView(BaseModel):
    id: int
    uid: str
    type: str
    status: Literal["Accepted", "Blocked", "Expired"]
    expires_at: datetime | None
    created_at: datetime


class Upserted(BaseModel):
    id: str
    created: bool
    changed: bool
    status_ignored: list[str] | None = Field(
        default=None, description="EVSEs whose status in the file was not taken"
    )


class Unassigned(BaseModel):
    station_id: str
    ocpp_evse_id: int
    connector_id: int
    status: str | None


class CdrLink(BaseModel):
    id: str
    credit: bool
    total_cost: dict[str, float] | None
    location_url: str | None
    last_updated: str


class SessionView(BaseModel):
    id: str = Field(description="The OCPI Session id")
    transaction_id: int
    owner_party_id: int | None
    operator: bool = Field(description="Charged with one of the operator's own tokens")
    status: str
    flags: list[str]
    at_location: bool
    cdr_due_at: str | None
    session: dict[str, Any] = Field(description="The OCPI Session object as last built")
    cdrs: list[CdrLink]


class OcpiCommandView(BaseModel):
    id: int
    party_id: int
    command: str
    station_id: str | None
    state: str
    result: str | None
    message: str | None
    transaction_id: int | None
    created_at: str


class PartyRole(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    country_code: str
    party_id: str


class PartyView(BaseModel):
    id: int
    name: str
    state: Literal["INVITED", "REGISTERING", "REGISTERED", "SUSPENDED", "UNREGISTERED"]
    roles: list[PartyRole]
    version: str | None
    versions_url: str | None
    endpoints: list[dict[str, Any]]
    token_encoding: Literal["base64", "raw"]
    allowed_origins: list[str]
    pending_versions_url: str | None
    pending_since: datetime | None
    created_at: datetime
    updated_at: datetime
    registered_at: datetime | None
    can_call_us: bool
    we_can_call: bool
    hub_party: str | None = Field(
        default=None, description="A roaming hub: its own country code and party id"
    )
    hub_id: int | None = Field(
        default=None, description="A party behind a hub: the hub that relays for it"
    )
    client_status: Literal["CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED"] | None = Field(
        default=None, description="Behind a hub: its connection, as the hub last reported it"
    )
    client_updated: datetime | None = None


class ClientsPulled(BaseModel):
    kept: int = Field(description="Parties the hub listed, kept as its clients")
    skipped: int = Field(description="Items of its list that were not valid ClientInfo")
    connected: int = Field(description="Clients that became CONNECTED")


class RegisteredParty(PartyView):
    tokens: int = Field(description="Its valid tokens the platform holds")


class UnregisteredParty(PartyView):
    peer_told: bool
    peer_problem: str | None


class Invitation(BaseModel):
    party_id: int
    versions_url: str = Field(description="Our versions URL, for the eMSP")
    token: str = Field(description="Token A, for the eMSP; shown this once")
    note: str | None = Field(default=None, description="Something to check about the URL")


class PushFailure(BaseModel):
    kind: str
    object_id: str
    attempts: int
    error: str | None


class PushModule(BaseModel):
    pending: int = Field(description="Objects of this module waiting to be sent")
    failed: int = Field(description="Objects the party refused for good (retry sends them again)")
    oldest_pending_seconds: float | None


class PushStatus(BaseModel):
    pending: int
    retrying: int
    failed: list[PushFailure]
    delivered: int
    oldest_pending_seconds: float | None
    errors: list[PushFailure]
    modules: dict[str, PushModule] = Field(
        description="The same per OCPI module (locations, tariffs, sessions, cdrs) with any"
    )


class Marked(BaseModel):
    marked: int


class Retried(BaseModel):
    retried: int


class Pulled(BaseModel):
    stored: int
    skipped: int
    invalidated: int


class OcpiRequestView(BaseModel):
    id: int
    created_at: datetime
    party_id: int | None
    direction: Literal["in", "out"]
    method: str
    url: str
    http_status: int | None
    ocpi_status: int | None
    request_id: str | None
    correlation_id: str | None
    duration_ms: float | None
    request_body: str | None
    response_body: str | None
    error: str | None


# -- firmware campaigns -----------------------------------------------------------------------


class CampaignStep(BaseModel):
    at: datetime
    attempt: int
    status: str = Field(
        description="Sent, the answer (Accepted, Rejected, Offline, ...) or a status the charger reported"
    )
    detail: str | None = None


class CampaignCharger(BaseModel):
    station_id: str
    state: Literal[
        "pending",
        "sending",
        "accepted",
        "updating",
        "offline",
        "retry",
        "installed",
        "failed",
        "cancelled",
    ]
    attempts: int
    firmware_status: str | None
    firmware_version: str | None = Field(description="What the charger said at its last boot")
    request_id: int | None
    next_attempt_at: datetime | None
    updated_at: datetime
    history: list[CampaignStep]


class CampaignView(BaseModel):
    id: int
    created_at: datetime
    location: str
    signed: bool
    attempts: int
    attempt_interval: int
    states: dict[str, int] = Field(description="How many chargers are in each state")


class CampaignDetail(CampaignView):
    chargers: list[CampaignCharger]


class ChargerShare(BaseModel):
    station_id: str
    limit_w: float | None = Field(description="The site limit the charger holds; None: none yet")


class PowerLimitView(BaseModel):
    location_id: str
    limit_w: int
    updated_at: str
    chargers: list[ChargerShare]


class ProvisioningValue(BaseModel):
    """The value a provisioning key is to be set to (1.6 ChangeConfiguration, 2.0.1
    SetVariables); checked against what the charger's OCPP version takes."""

    model_config = ConfigDict(extra="forbid")
    value: str = Field(max_length=1000)


class ProvisioningKeyView(BaseModel):
    key: str = Field(description="A 1.6 configuration key or a 2.0.1 Component.Variable")
    value: str
    updated_at: datetime


class ProvisioningResultView(BaseModel):
    key: str
    value: str
    status: str = Field(
        description="The charger's answer (Accepted, RebootRequired, Rejected, NotSupported,"
        " UnknownVariable, ...) or why there was none (timeout, offline, call_error)"
    )
    detail: str | None
    at: datetime


class StationProvisioning(BaseModel):
    """What the platform sets on a charger before it accepts its boot, and how it went."""

    boot_status: Literal["Pending", "Accepted", "Rejected"] | None
    reason: str | None = Field(description="Why it is Pending (a refused key, a changed set)")
    keys: list[ProvisioningKeyView] = Field(description="The charger's own keys")
    wanted: dict[str, str] = Field(
        description="Everything it is to take: every charger's keys, its own over them, and"
        " (2.0.1) the master pass group"
    )
    results: list[ProvisioningResultView] = Field(description="Its answers, the last time")
