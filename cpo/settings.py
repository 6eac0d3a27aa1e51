"""The platform's settings: one object, read from CPO_* environment variables and .env."""

from __future__ import annotations

import os
import secrets
import socket
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cpo.ocpi.models import IMPLEMENTED, VersionNumber, newest_first


class RoleBusiness(BaseModel):
    """The business details a role of ours shows in our credentials."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    website: str | None = Field(default=None, max_length=255)


class RoleSetting(BaseModel):
    """One of the operator's own CPO party ids (CPO_ROLES)."""

    model_config = ConfigDict(extra="forbid")

    country_code: str = Field(pattern=r"^[A-Za-z]{2}$")
    party_id: str = Field(pattern=r"^[A-Za-z0-9]{3}$")
    business_details: RoleBusiness

    # OCPI compares party ids without regard to case: one spelling is kept, the upper one.
    @field_validator("country_code", "party_id")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class Settings(BaseSettings):
    # populate_by_name: fields with an old name as well are still set by their own name (the
    # push worker reads the server's settings back from their JSON).
    model_config = SettingsConfigDict(
        env_prefix="CPO_", env_file=".env", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    database_url: str = "sqlite+aiosqlite:///./cpo.db"
    public_url: str | None = Field(
        default=None, description="Base URL peers use to reach us; defaults to http://host:port"
    )
    admin_token: str | None = Field(
        default=None,
        description="Bearer token of the admin API; generated and stored when unset. The CLI"
        " sends it (the server's own, printed at its first start, or one `cpo admin-token`"
        " issued)",
    )
    admin_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://",
        description="Where the CLI finds the server it administers (http://host:port); when"
        " unset, CPO_HOST and CPO_PORT on this machine",
    )
    country_code: str = Field(default="NL", pattern=r"^[A-Z]{2}$")
    party_id: str = Field(default="CPO", pattern=r"^[A-Z0-9]{3}$")
    business_name: str = Field(default="CPO Platform", min_length=1, max_length=100)
    business_website: str | None = None
    roles: list[RoleSetting] | None = Field(
        default=None,
        min_length=1,
        description="The CPO party ids this deployment serves, as a JSON list of"
        ' {"country_code", "party_id", "business_details": {"name", "website"}}; the first is'
        " the default (docs/adr/032-several-cpo-party-ids.md). Unset: one, from"
        " CPO_COUNTRY_CODE, CPO_PARTY_ID, CPO_BUSINESS_NAME and CPO_BUSINESS_WEBSITE",
    )

    # OCPI
    ocpi_versions: Annotated[list[VersionNumber], NoDecode] = Field(
        default_factory=lambda: newest_first(IMPLEMENTED),
        description="The OCPI versions served and offered to peers, comma-separated; each"
        " party speaks the highest one both sides have",
    )
    ocpi_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for a peer")
    ocpi_page_limit: int = Field(default=100, ge=1, le=1000, description="Largest page served")
    ocpi_log_retention_days: float = Field(default=30.0, gt=0)
    ocpi_verify_tls: bool = Field(default=True, description="Check peers' TLS certificates")
    ocpi_allow_private_peers: bool = Field(
        default=False,
        description="Let outgoing OCPI requests reach loopback, link-local and private addresses"
        " (tests, demos, a peer on the same network); off in production",
    )
    max_body_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        description="Largest body taken on /ocpi and /admin, and read from a peer (a page aside)",
    )
    upload_max_bytes: int = Field(
        default=20 << 20,
        ge=1024,
        description="Largest file a charger may upload when asked (GetDiagnostics, GetLog)",
    )
    upload_slot_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 30,
        description="How long a charger asked for a file may take to upload it",
    )
    upload_retention_days: float = Field(
        default=90.0, gt=0, description="How long files chargers uploaded are kept"
    )
    password_hash_memory_kib: int = Field(
        default=65536,
        ge=19 * 1024,
        le=4 << 20,
        description="argon2id memory (KiB) of each password hash: chargers' and console users'",
    )
    password_hash_time_cost: int = Field(
        default=3, ge=2, le=20, description="argon2id passes of each password hash"
    )
    firmware_silence: float = Field(
        default=7200.0,
        gt=0,
        le=30 * 86400,
        description="Seconds a charger that took a campaign's update may stay silent before the"
        " attempt counts as failed",
    )
    ocpi_max_page_bytes: int = Field(
        default=16 << 20, ge=1024, description="Largest page of a list read from a peer"
    )
    authorize_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Budget of a real-time authorization at an eMSP"
    )
    push_retry_max: float = Field(
        default=300.0, gt=0, description="Longest wait between two tries of a failed push"
    )
    push_probe_max: float = Field(
        default=2.0,
        gt=0,
        description="Longest pause between two probes of an eMSP that cannot be reached",
    )
    # At a few hundred changes a second, 8 in flight left the eMSP waiting on our own loop
    # (bench/RESULTS.md, status → eMSP); 16 connections are little to ask of an eMSP.
    push_concurrency: int = Field(default=16, ge=1, description="Objects in flight per party")
    push_poll: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between looks at the event log and the outbox when nothing"
        " announced work (announcements wake them at once)",
    )
    push_worker: bool = Field(
        default=True,
        description="Run the projection and the deliverer in a worker process of their own"
        " (a second core); off: in the server's process",
    )
    projection_lease_seconds: float = Field(
        default=5.0,
        ge=1,
        le=300,
        description="How long the projection's lease lasts unrenewed: on several nodes, the"
        " longest a standby waits when the projecting node dies (ADR 017)",
    )
    reconcile_hours: float = Field(
        default=6.0, gt=0, description="How often each party is checked for objects it missed"
    )

    currency: str = Field(
        default="EUR",
        pattern=r"^[A-Z]{3}$",
        description="Of sessions at connectors without a tariff",
    )
    session_update_seconds: float = Field(
        default=300.0, gt=0, description="Least time between two updates of a live session"
    )
    cdr_gap_wait_seconds: float = Field(
        default=600.0, ge=0, description="How long a CDR waits for a charger's missing messages"
    )
    remote_start_window_seconds: float = Field(
        default=900.0,
        ge=0,
        description="How long after an accepted START_SESSION its transaction may begin",
    )
    charging_profile_min_interval: float = Field(
        default=10.0,
        ge=0,
        description="Seconds between two OCPI charging-profile calls of one kind on one session "
        "(sooner: TOO_OFTEN)",
    )
    cost_update_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Least time between two running costs told to a charger during a"
        " transaction (2.0.1 CostUpdated, 1.6 RunningCost); 0: with every reading",
    )
    california_pricing: bool = Field(
        default=False,
        description="Tell 1.6 chargers prices and costs as the OCA's California Pricing"
        " DataTransfer messages (SetUserPrice, RunningCost, FinalCost)",
    )
    max_plausible_power_kw: float = Field(
        default=1000.0, gt=0, description="A meter step faster than this is a glitch, not energy"
    )

    # OCPP
    auto_register: bool = False
    heartbeat_interval: int = Field(default=300, ge=10)
    ocpp_response_timeout: float = Field(default=30.0, gt=0)
    ws_ping_interval: float = Field(default=30.0, ge=0)
    ws_ping_timeout: float = Field(default=60.0, ge=0)
    ws_max_size: int = Field(default=1 << 20, ge=1024, description="Largest OCPP frame in bytes")
    ws_per_message_deflate: bool = Field(
        default=True,
        description="Offer permessage-deflate to chargers (each message compressed on its own)",
    )
    rate_limit: float = Field(
        default=50.0,
        gt=0,
        description="OCPP frames per second per charger (CALLs, stray replies, broken frames)",
    )
    rate_burst: int = Field(default=200, ge=1)
    boot_pending: Literal["never", "new", "always"] = Field(
        default="never",
        description="Answer a boot Pending and provision the charger first: never, new (its first"
        " boot, or after its provisioning set changed) or always",
    )
    boot_retry_interval: int = Field(
        default=60, ge=1, le=86400, description="Seconds a Pending charger waits to boot again"
    )
    master_pass_group_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=36,
        description="Group id of master pass tokens: they stop any transaction and start none;"
        " sent to 2.0.1 chargers as AuthCtrlr.MasterPassGroupId when they are provisioned",
    )
    ocpp_hot_path: bool = Field(
        default=True,
        description="Answer Heartbeat, StatusNotification, MeterValues, TransactionEvent,"
        " Start/StopTransaction and Authorize without the ocpp library's per-call machinery"
        " (the same frames, faster); false sends every CALL through the library",
    )
    status_trigger_delay: float = Field(
        default=10.0,
        ge=0,
        description="Ask for StatusNotifications when none follow a boot this long",
    )
    message_log_days: float = Field(
        default=30.0,
        gt=0,
        # CPO_MESSAGE_LOG_RETENTION_DAYS: its earlier name, still read for existing deployments.
        validation_alias=AliasChoices("CPO_MESSAGE_LOG_DAYS", "CPO_MESSAGE_LOG_RETENTION_DAYS"),
        description="Days OCPP frames are kept in the message log",
    )
    message_log_max_frame: int = Field(
        default=64 * 1024, ge=256, description="Bytes of one OCPP frame kept in the message log"
    )
    message_log_bytes_per_minute: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Bytes of one charger's frames kept in the message log per minute; past"
        " them, its frames are logged by action, id and size only",
    )
    charger_data_bytes_per_minute: int = Field(
        default=8 * 1024 * 1024,
        ge=64 * 1024,
        description="Bytes one charger may add per minute to the event log and meter samples;"
        " past them, what it says beside its state changes is cut",
    )
    reconnect_grace_seconds: float = Field(
        default=45.0,
        ge=0,
        lt=60,
        description="After a start, how long chargers recorded online get to reconnect before"
        " they are marked offline (a crash left them online)",
    )
    stale_transaction_minutes: float = Field(
        default=120.0,
        gt=0,
        description="Close a transaction a reboot left open after this long without news",
    )

    # Several nodes (docs/deploy.md)
    redis_url: str | None = Field(
        default=None,
        description="redis://…: turns on the cluster of several nodes on one PostgreSQL: which"
        " node holds which charger, and commands and wake-ups between nodes",
    )
    node_name: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="This node among several (default: host name, process id and a random"
        " part, new at each start)",
    )

    node_lease_seconds: float = Field(
        default=5.0,
        ge=1,
        le=60,
        description="Several nodes: a node that stops renewing its lease in Redis (it died) is"
        " taken for dead this long after; its chargers are then marked offline",
    )
    drain_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="Several nodes: on SIGTERM, how long /health answers 503 before the node"
        " closes its chargers' sockets, so that the load balancer stops routing to it first"
        " (HAProxy: `inter` x `fall`)",
    )

    # The operator console (/console/)
    console_secret: str | None = Field(
        default=None,
        min_length=32,
        description="Signs the console's cookies; when unset, one is generated and kept in the"
        " database, so that every node shares it",
    )
    console_session_minutes: float = Field(
        default=60.0,
        gt=0,
        le=7 * 24 * 60,
        description="A console login ends after this many minutes without a request",
    )
    console_session_max_hours: float = Field(
        default=12.0,
        gt=0,
        le=30 * 24,
        description="A console login ends this many hours after it began, however active",
    )

    # The CPO's certificate authority, which signs the certificates chargers ask for
    # (SignCertificate); made on first use. Keep the key out of version control; several
    # nodes share the same two files.
    ca_cert: str = Field(default="./ca/cpo-ca.pem", description="The CA's certificate (PEM)")
    ca_key: str = Field(default="./ca/cpo-ca.key", description="The CA's private key (PEM)")
    certificate_days: int = Field(
        default=365, ge=1, le=3650, description="How long a certificate issued to a charger lasts"
    )
    certificate_organization: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The O a charger's certificate request must name (its CPO's); unset: any",
    )
    certificate_warn_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Issued certificates this close to expiry count in"
        " cpo_ocpp_certificates_expiring",
    )

    # TLS (security profile 2 terminated by uvicorn)
    tls_cert: str | None = None
    tls_key: str | None = None
    # Security profile 3 (ADR 027)
    tls_client_ca: str | None = Field(
        default=None,
        description="PEM file of the CAs whose client certificates chargers may present"
        " (security profile 3, with CPO_TLS_CERT); unset: none is asked for",
    )
    tls_client_cert_required: bool = Field(
        default=False,
        description="With CPO_TLS_CLIENT_CA: refuse at TLS every connection without a client"
        " certificate (profile 3 only); off: chargers with passwords connect as well",
    )
    forwarded_allow_ips: str = "127.0.0.1"

    log_level: str = "info"
    log_format: Literal["text", "json"] = Field(
        default="text", description="text: one readable line per record; json: one JSON object"
    )

    @field_validator("ocpi_versions", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("ocpi_versions")
    @classmethod
    def _served(cls, value: list[VersionNumber]) -> list[VersionNumber]:
        if not value:
            raise ValueError("name at least one OCPI version")
        missing = [v for v in value if v not in IMPLEMENTED]
        if missing:
            raise ValueError(
                f"OCPI {', '.join(missing)} is not served by this code yet"
                f" (it serves {', '.join(IMPLEMENTED)})"
            )
        return newest_first(value)

    @field_validator("roles")
    @classmethod
    def _distinct_roles(cls, value: list[RoleSetting] | None) -> list[RoleSetting] | None:
        seen: set[tuple[str, str]] = set()
        for role in value or []:
            key = (role.country_code, role.party_id)
            if key in seen:
                raise ValueError(f"{'/'.join(key)} is named twice")
            seen.add(key)
        return value

    @property
    def cpo_roles(self) -> list[RoleSetting]:
        """Our CPO roles, the default first: CPO_ROLES, or the one the single-party settings
        describe."""
        if self.roles:
            return self.roles
        business = RoleBusiness(name=self.business_name, website=self.business_website)
        return [
            RoleSetting(
                country_code=self.country_code,
                party_id=self.party_id,
                business_details=business,
            )
        ]

    @property
    def listens_everywhere(self) -> bool:
        """CPO_HOST names every interface (0.0.0.0, ::), which is no address a peer can use."""
        return self.host in ("0.0.0.0", "::", "")

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        # Listening everywhere, the machine's own name is the best guess at how peers reach
        # it; the banner and `cpo party invite` tell the operator to set CPO_PUBLIC_URL.
        host = socket.gethostname() if self.listens_everywhere else self.host
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def admin_api_url(self) -> str:
        """The admin API the CLI calls: CPO_ADMIN_URL's, else this machine's server's."""
        if self.admin_url:
            return self.admin_url.rstrip("/").removesuffix("/admin/api") + "/admin/api"
        scheme = "https" if self.tls_cert else "http"
        host = "127.0.0.1" if self.listens_everywhere else self.host
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{self.port}/admin/api"

    @property
    def ocpi_versions_url(self) -> str:
        return self.base_url + "/ocpi/versions"

    @property
    def ocpp_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/ocpp"
