"""OCPP 1.6J: every message a charger sends, each a short handler from request to domain change to reply."""

from __future__ import annotations

import logging
from typing import Any

from ocpp.routing import after
from ocpp.v16 import ChargePoint
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result
from ocpp.v16.enums import Action

from csms import clock
from csms.authorization import AuthorizationResult
from csms.certificates import signing
from csms.events import EventType
from csms.handlers import StationHandlers, on
from csms.store import BootInfo, StatusReport, TransactionFacts
from csms.v16.mapping import id_tag_info
from csms.validation import Leniency

# What real 1.6 chargers send beyond the schema (see csms.validation.Leniency).
SAMPLED_VALUE_ENUMS = frozenset({"context", "measurand", "phase", "location", "unit"})
METER_VALUES = Leniency(open_enums=SAMPLED_VALUE_ENUMS)
# A stop is never refused for a reason of its own or a register with decimals: the charger
# would retry it, then drop it, and the transaction would never be billed.
STOP = Leniency(open_enums=SAMPLED_VALUE_ENUMS | {"reason"}, decimals=frozenset({"meterStop"}))

log = logging.getLogger(__name__)


class ChargePoint16(StationHandlers, ChargePoint):
    accepted_csr: str | None = None  # the CSR answered Accepted, to sign once answered

    # -- provisioning ---------------------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kw: Any
    ) -> Any:
        info = BootInfo(
            vendor=charge_point_vendor,
            model=charge_point_model,
            serial_number=kw.get("charge_point_serial_number")
            or kw.get("charge_box_serial_number"),
            firmware_version=kw.get("firmware_version"),
            iccid=kw.get("iccid"),
            imsi=kw.get("imsi"),
            meter_type=kw.get("meter_type"),
            meter_serial_number=kw.get("meter_serial_number"),
        )
        return result.BootNotification(**await self.answer_boot(info))

    @after(Action.boot_notification)
    def after_boot_notification(self, **kw: Any) -> None:
        if self.provision():
            return
        self.after_boot(call16.TriggerMessage(requested_message="StatusNotification"))

    @on(Action.heartbeat)
    async def on_heartbeat(self, **kw: Any) -> Any:
        return result.Heartbeat(current_time=clock.iso(clock.now()))

    @on(Action.status_notification, lenient=Leniency())
    async def on_status_notification(
        self,
        connector_id: int,
        error_code: str,
        status: str,
        timestamp: str | None = None,
        info: str | None = None,
        vendor_error_code: str | None = None,
        **kw: Any,
    ) -> Any:
        at, suspect = self.timestamp(timestamp)
        report = StatusReport(
            evse_id=connector_id,
            connector_id=1 if connector_id else 0,
            status=status,
            timestamp=at,
            clock_suspect=suspect,
            error_code=error_code,
            info=None if info == "null" else info,  # some firmware writes the word
            vendor_error_code=vendor_error_code,
        )
        await self.store.status(self.conn.station_id, report)
        self.conn.status_seen = True
        return result.StatusNotification()

    # -- authorization and transactions -------------------------------------------------------

    @on(Action.authorize, lenient=Leniency(extra_fields=True))
    async def on_authorize(self, id_tag: str, **kw: Any) -> Any:
        decision = await self.decide(id_tag)
        return result.Authorize(id_tag_info=id_tag_info(decision))

    @on(Action.start_transaction)
    async def on_start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: str,
        reservation_id: int | None = None,
        **kw: Any,
    ) -> Any:
        decision = self.may_start(await self.decide(id_tag, evse_id=connector_id))
        at, suspect = self.timestamp(timestamp)
        facts = TransactionFacts(
            timestamp=at,
            clock_suspect=suspect,
            evse_id=connector_id,
            connector_id=1,
            id_token=id_tag,
            auth=decision,
            meter_wh=self._energy_wh(float(meter_start)),
            reservation_id=reservation_id,
        )
        tx = await self.store.start_transaction(self.conn.station_id, facts)
        log.info(
            "transaction %s started on connector %s (%s)", tx.id, connector_id, decision.status
        )
        # Always a transactionId, even when refused: the charger then stops the transaction itself.
        return result.StartTransaction(transaction_id=tx.id, id_tag_info=id_tag_info(decision))

    @on(Action.stop_transaction, lenient=STOP)
    async def on_stop_transaction(
        self,
        transaction_id: int,
        meter_stop: float,
        timestamp: str,
        id_tag: str | None = None,
        reason: str | None = None,
        transaction_data: list[dict[str, Any]] | None = None,
        **kw: Any,
    ) -> Any:
        at, suspect = self.timestamp(timestamp)
        samples = self.samples(transaction_data or [])
        decision: AuthorizationResult | None = await self.decide(id_tag) if id_tag else None
        facts = TransactionFacts(
            timestamp=at,
            clock_suspect=suspect,
            id_token=id_tag,
            meter_wh=self._energy_wh(float(meter_stop)),
            samples=samples,
            reason=reason or "Local",
        )
        await self.store.stop_transaction(self.conn.station_id, transaction_id, facts)
        log.info("transaction %s stopped (%s)", transaction_id, facts.reason)
        # The stop cannot be refused; idTagInfo only tells the charger about the token.
        return result.StopTransaction(id_tag_info=id_tag_info(decision) if decision else None)

    @on(Action.meter_values, lenient=METER_VALUES)
    async def on_meter_values(
        self,
        connector_id: int,
        meter_value: list[dict[str, Any]],
        transaction_id: int | None = None,
        **kw: Any,
    ) -> Any:
        samples = self.samples(meter_value)
        if samples:
            await self.store.meter_values(
                self.conn.station_id, connector_id, transaction_id, samples
            )
        return result.MeterValues()

    # -- certificates (csms.certificates) -------------------------------------------------------

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr: str, **kw: Any) -> Any:
        status = await signing.judge(self.conn, self.store, csr, None)
        # For the hook after the answer (a charger's CALLs are handled one at a time).
        self.accepted_csr = csr if status == "Accepted" else None
        return result.SignCertificate(status=status)

    @after(Action.sign_certificate)
    def after_sign_certificate(self, csr: str, **kw: Any) -> None:
        if self.accepted_csr == csr:
            self.accepted_csr = None
            signing.follow(self.conn, self.store, csr, None)

    # -- notifications ------------------------------------------------------------------------

    # Some firmware sends `data` as a JSON object where 1.6 says a string.
    @on(Action.data_transfer, lenient=Leniency(any_value=frozenset({"data"})))
    async def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None, **kw: Any
    ) -> Any:
        await self.store.event(
            self.conn.station_id,
            EventType.DATA_TRANSFER,
            vendor_id=vendor_id,
            message_id=message_id,
            data=data if isinstance(data, str) else repr(data),
        )
        return result.DataTransfer(status="UnknownVendorId")

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, status: str, **kw: Any) -> Any:
        await self.store.upload_status(
            self.conn.station_id, EventType.DIAGNOSTICS_STATUS, status, None
        )
        return result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status: str, **kw: Any) -> Any:
        await self.store.station_fields(
            self.conn.station_id,
            EventType.FIRMWARE_STATUS,
            {"firmware_status": status},
            status=status,
        )
        return result.FirmwareStatusNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(
        self, status: str, request_id: int | None = None, **kw: Any
    ) -> Any:
        await self.store.station_fields(
            self.conn.station_id,
            EventType.FIRMWARE_STATUS,
            {"firmware_status": status},
            status=status,
            request_id=request_id,
        )
        return result.SignedFirmwareStatusNotification()

    @on(Action.security_event_notification)
    async def on_security_event_notification(
        self, type: str, timestamp: str, tech_info: str | None = None, **kw: Any
    ) -> Any:
        await self.store.event(
            self.conn.station_id,
            EventType.SECURITY_EVENT,
            type=type,
            timestamp=timestamp,
            tech_info=tech_info,
        )
        return result.SecurityEventNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(
        self, status: str, request_id: int | None = None, **kw: Any
    ) -> Any:
        await self.store.upload_status(
            self.conn.station_id, EventType.LOG_STATUS, status, request_id
        )
        return result.LogStatusNotification()

    # -- helpers ------------------------------------------------------------------------------

    def _energy_wh(self, value: float) -> float:
        """meterStart / meterStop are Wh by the spec; the per-station override fixes kWh senders."""
        return value * 1000.0 if self.conn.energy_unit_override == "kWh" else value
