"""What the CSMS needs to know of the platform's settings (the csms does not import cpo)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from csms.certificates.plug_and_charge import NoPlugAndCharge, PlugAndCharge

if TYPE_CHECKING:
    from csms.certificates import CertificateSigner


@dataclass(frozen=True, slots=True)
class CsmsConfig:
    auto_register: bool = False
    heartbeat_interval: int = 300
    response_timeout: float = 30.0
    rate_limit: float = 50.0
    rate_burst: int = 200
    message_log_days: float = 30.0
    message_log_max_frame: int = 64 * 1024
    message_log_bytes_per_minute: int = 1024 * 1024
    charger_data_bytes_per_minute: int = 8 * 1024 * 1024
    # After an accepted boot, wait this long for StatusNotifications before asking for them.
    status_trigger_delay: float = 10.0
    seen_flush_interval: float = 15.0
    # The longest a charger waits for an Authorize/Start decision; past it the answer is Invalid.
    authorization_budget: float = 6.0
    # A transaction left open by a reboot, with no sign of life for this long, is ended.
    stale_transaction_minutes: float = 120.0
    # After a start, how long chargers the database says are online get to reconnect.
    reconnect_grace: float = 45.0
    # Where chargers upload the files they are asked for (GetDiagnostics, GetLog): the
    # platform's public address + /uploads, and how long such a slot stays open.
    upload_url: str = "http://127.0.0.1:8000/uploads"
    upload_slot_seconds: float = 24 * 3600.0
    # Uploaded files (and slots never used) are removed this long after they were asked for.
    upload_retention_days: float = 90.0
    # Who signs the certificates chargers ask for (SignCertificate); None: every CSR is
    # Rejected. The O a CSR must name, when set (security profile 3: the CPO's name).
    signer: CertificateSigner | None = None
    certificate_organization: str | None = None
    # Who answers a 2.0.1 charger's Plug & Charge requests (EV contract certificates, OCSP).
    plug_and_charge: PlugAndCharge = NoPlugAndCharge()
    # When a boot is answered Pending to provision the charger first (csms.provisioning.BootPolicy),
    # and the interval a Pending answer gives (when the charger may boot again).
    boot_pending: str = "never"
    boot_retry_interval: int = 60
    # The group of master pass tokens (2.0.1 AuthCtrlr.MasterPassGroupId): they stop any
    # transaction and start none.
    master_pass_group_id: str | None = None
    # Answer the CALLs chargers send most without the `ocpp` library's per-call machinery
    # (csms.hot_path); off, every CALL goes through ChargePoint.route_message.
    hot_path: bool = True
