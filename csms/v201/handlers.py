"""OCPP 2.0.1: every message a charging station sends, each a short handler from request to domain change to reply."""

from __future__ import annotations

import logging
from typing import Any

from ocpp.routing import after
from ocpp.v201 import ChargePoint
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result
from ocpp.v201.enums import Action

from csms import clock
from csms.certificates import signing
from csms.certificates.plug_and_charge import Answer
from csms.events import EventType
from csms.handlers import StationHandlers, on
from csms.store import BootInfo, StatusReport, TransactionFacts
from csms.v201.mapping import id_token_info
from csms.validation import Leniency

# What real 2.0.1 chargers send beyond the schema (see csms.validation.Leniency).
METER_VALUES = Leniency(open_enums=frozenset({"context", "measurand", "phase", "location"}))

log = logging.getLogger(__name__)


class ChargePoint201(StationHandlers, ChargePoint):
    accepted_csr: str | None = None  # the CSR answered Accepted, to sign once answered

    # -- provisioning ---------------------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **kw: Any
    ) -> Any:
        modem = charging_station.get("modem") or {}
        info = BootInfo(
            vendor=charging_station.get("vendor_name"),
            model=charging_station.get("model"),
            serial_number=charging_station.get("serial_number"),
            firmware_version=charging_station.get("firmware_version"),
            iccid=modem.get("iccid"),
            imsi=modem.get("imsi"),
            reason=reason,
        )
        return result.BootNotification(**await self.answer_boot(info))

    @after(Action.boot_notification)
    def after_boot_notification(self, **kw: Any) -> None:
        if self.provision():
            return
        self.after_boot(call201.TriggerMessage(requested_message="StatusNotification"))
        self.conn.spawn(self.ask_about_suspects(), "transaction-status")

    async def ask_about_suspects(self) -> None:
        """Transactions open before a reboot may have ended unreported (digest quirk 2): ask.

        A charger that cannot answer (a CALLERROR, no reply) leaves them to the stale sweep.
        """
        for tx in await self.store.suspect_transactions(self.conn.station_id):
            assert tx.id is not None
            reply = await self.conn.call(
                call201.GetTransactionStatus(transaction_id=tx.ocpp_transaction_id)
            )
            if reply.messages_in_queue:
                continue  # its Ended is still in the charger's queue and will come
            if reply.ongoing_indicator is False:
                await self.store.end_not_ongoing(tx.id)
            elif reply.ongoing_indicator:
                await self.store.confirm_ongoing(tx.id)

    @on(Action.heartbeat)
    async def on_heartbeat(self, **kw: Any) -> Any:
        return result.Heartbeat(current_time=clock.iso(clock.now()))

    @on(Action.status_notification, lenient=Leniency())
    async def on_status_notification(
        self,
        evse_id: int,
        connector_id: int,
        connector_status: str,
        timestamp: str | None = None,
        **kw: Any,
    ) -> Any:
        at, suspect = self.timestamp(timestamp)
        report = StatusReport(
            evse_id=evse_id,
            connector_id=connector_id,
            status=connector_status,
            timestamp=at,
            clock_suspect=suspect,
        )
        await self.store.status(self.conn.station_id, report)
        self.conn.status_seen = True
        return result.StatusNotification()

    @on(Action.notify_display_messages)
    async def on_notify_display_messages(
        self,
        request_id: int,
        message_info: list[dict[str, Any]] | None = None,
        tbc: bool = False,
        **kw: Any,
    ) -> Any:
        """The messages a GetDisplayMessages asked for, kept as an event (the operator reads
        them in the station's events)."""
        await self.store.event(
            self.conn.station_id,
            EventType.DISPLAY_MESSAGES,
            request_id=request_id,
            tbc=tbc,
            messages=message_info or [],
        )
        return result.NotifyDisplayMessages()

    # -- smart charging (block K): what the charger holds and what limits it from elsewhere --

    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(
        self,
        request_id: int,
        charging_limit_source: str,
        charging_profile: list[dict[str, Any]],
        evse_id: int,
        tbc: bool = False,
        **kw: Any,
    ) -> Any:
        """What a GetChargingProfiles asked for, kept as an event."""
        await self.store.event(
            self.conn.station_id,
            EventType.CHARGING_PROFILES,
            request_id=request_id,
            source=charging_limit_source,
            evse_id=evse_id,
            tbc=tbc,
            profiles=charging_profile,
        )
        return result.ReportChargingProfiles()

    @on(Action.notify_charging_limit)
    async def on_notify_charging_limit(
        self,
        charging_limit: dict[str, Any],
        evse_id: int | None = None,
        charging_schedule: list[dict[str, Any]] | None = None,
        **kw: Any,
    ) -> Any:
        """A limit set by someone else than the platform (an energy manager, the grid)."""
        await self.store.event(
            self.conn.station_id,
            EventType.CHARGING_LIMIT,
            evse_id=evse_id,
            limit=charging_limit,
            schedules=charging_schedule or [],
            cleared=False,
        )
        return result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    async def on_cleared_charging_limit(
        self, charging_limit_source: str, evse_id: int | None = None, **kw: Any
    ) -> Any:
        await self.store.event(
            self.conn.station_id,
            EventType.CHARGING_LIMIT,
            evse_id=evse_id,
            limit={"charging_limit_source": charging_limit_source},
            cleared=True,
        )
        return result.ClearedChargingLimit()

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(
        self,
        charging_needs: dict[str, Any],
        evse_id: int,
        max_schedule_tuples: int | None = None,
        **kw: Any,
    ) -> Any:
        """What an ISO 15118 car says it needs; the platform proposes no schedule of its own."""
        await self.store.event(
            self.conn.station_id, EventType.EV_CHARGING_NEEDS, evse_id=evse_id, needs=charging_needs
        )
        return result.NotifyEVChargingNeeds(status="Rejected")

    @on(Action.notify_ev_charging_schedule)
    async def on_notify_ev_charging_schedule(
        self, time_base: str, charging_schedule: dict[str, Any], evse_id: int, **kw: Any
    ) -> Any:
        await self.store.event(
            self.conn.station_id,
            EventType.EV_CHARGING_NEEDS,
            evse_id=evse_id,
            time_base=time_base,
            schedule=charging_schedule,
        )
        return result.NotifyEVChargingSchedule(status="Accepted")

    @on(Action.notify_monitoring_report)
    async def on_notify_monitoring_report(
        self,
        request_id: int,
        seq_no: int,
        generated_at: str,
        monitor: list[dict[str, Any]] | None = None,
        tbc: bool = False,
        **kw: Any,
    ) -> Any:
        """The monitors a GetMonitoringReport asked for, kept as an event."""
        await self.store.event(
            self.conn.station_id,
            EventType.MONITORING_REPORT,
            request_id=request_id,
            seq_no=seq_no,
            generated_at=generated_at,
            tbc=tbc,
            monitors=monitor or [],
        )
        return result.NotifyMonitoringReport()

    @on(Action.notify_customer_information)
    async def on_notify_customer_information(
        self,
        data: str,
        seq_no: int,
        generated_at: str,
        request_id: int,
        tbc: bool = False,
        **kw: Any,
    ) -> Any:
        """What the charger holds of a customer (a CustomerInformation report), kept as an event."""
        await self.store.event(
            self.conn.station_id,
            EventType.CUSTOMER_INFORMATION,
            request_id=request_id,
            seq_no=seq_no,
            generated_at=generated_at,
            tbc=tbc,
            data=data,
        )
        return result.NotifyCustomerInformation()

    @on(Action.notify_event)
    async def on_notify_event(
        self,
        generated_at: str,
        seq_no: int,
        event_data: list[dict[str, Any]],
        tbc: bool = False,
        **kw: Any,
    ) -> Any:
        for item in event_data:
            component, variable = item.get("component") or {}, item.get("variable") or {}
            evse = component.get("evse") or {}
            # Connector state reported as a device-model event is a status report like any other.
            if variable.get("name") == "AvailabilityState" and component.get("name") in (
                "Connector",
                "EVSE",
                "ChargingStation",
            ):
                at, suspect = self.timestamp(item.get("timestamp"))
                report = StatusReport(
                    evse_id=evse.get("id", 0),
                    connector_id=evse.get("connector_id", 1 if evse.get("id") else 0),
                    status=str(item.get("actual_value")),
                    timestamp=at,
                    clock_suspect=suspect,
                )
                await self.store.status(self.conn.station_id, report)
                self.conn.status_seen = True
        await self.store.event(
            self.conn.station_id,
            EventType.EVENT_NOTIFIED,
            generated_at=generated_at,
            seq_no=seq_no,
            tbc=tbc,
            event_data=event_data,
        )
        return result.NotifyEvent()

    @on(Action.notify_report)
    async def on_notify_report(
        self,
        request_id: int,
        generated_at: str,
        seq_no: int,
        tbc: bool = False,
        report_data: list[dict[str, Any]] | None = None,
        **kw: Any,
    ) -> Any:
        for item in report_data or []:
            evse = (item.get("component") or {}).get("evse") or {}
            if evse.get("id"):
                await self.store.discover(
                    self.conn.station_id, evse["id"], evse.get("connector_id", 1)
                )
        await self.store.report(
            self.conn.station_id,
            report_data or [],
            request_id=request_id,
            generated_at=generated_at,
            seq_no=seq_no,
            tbc=tbc,
        )
        return result.NotifyReport()

    # -- authorization and transactions -------------------------------------------------------

    @on(Action.authorize, lenient=Leniency(extra_fields=True))
    async def on_authorize(self, id_token: dict[str, Any], **kw: Any) -> Any:
        decision = await self.decide(id_token["id_token"], id_token["type"])
        return result.Authorize(id_token_info=id_token_info(decision))

    @on(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        **kw: Any,
    ) -> Any:
        at, suspect = self.timestamp(timestamp)
        evse = kw.get("evse") or {}
        id_token = kw.get("id_token") or {}
        token = id_token.get("id_token")
        decision = None
        if token and id_token.get("type") != "NoAuthorization":
            decision = await self.decide(token, id_token.get("type"), evse.get("id"))
            if event_type == "Started" or trigger_reason == "Authorized":
                decision = self.may_start(decision)  # a stop (StopAuthorized) may be anyone's
        # The token of a stop authorization is the stopper's (one of the starter's group, a
        # master pass): answered, and kept as an authorization, but the transaction stays
        # the starter's, who is billed for it.
        stopper = trigger_reason == "StopAuthorized"
        facts = TransactionFacts(
            timestamp=at,
            clock_suspect=suspect,
            ocpp_transaction_id=transaction_info["transaction_id"],
            evse_id=evse.get("id"),
            connector_id=evse.get("connector_id"),
            id_token=None if stopper else token,
            token_type=None if stopper else id_token.get("type"),
            auth=None if stopper else decision,
            samples=self.samples(kw.get("meter_value") or []),
            reason=transaction_info.get("stopped_reason"),
            remote_start_id=transaction_info.get("remote_start_id"),
            reservation_id=kw.get("reservation_id"),
            charging_state=transaction_info.get("charging_state"),
            trigger_reason=trigger_reason,
            seq_no=seq_no,
            offline=bool(kw.get("offline")),
        )
        await self.store.transaction_event(self.conn.station_id, event_type, facts)
        if event_type in ("Started", "Ended"):
            log.info(
                "transaction %s %s (%s)",
                facts.ocpp_transaction_id,
                "started" if event_type == "Started" else "stopped",
                trigger_reason if event_type == "Started" else facts.reason or trigger_reason,
            )
        # Transaction messages are never refused: the answer carries the token's verdict, and
        # at the end what the driver pays (block I: totalCost, only once charging has ended).
        total = None
        if event_type == "Ended":
            total = await self.costs.final_cost(
                self.conn.station_id, transaction_info["transaction_id"]
            )
        return result.TransactionEvent(
            id_token_info=id_token_info(decision) if decision else None,
            total_cost=round(total, 2) if total is not None else None,
        )

    @on(Action.meter_values, lenient=METER_VALUES)
    async def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **kw: Any
    ) -> Any:
        samples = self.samples(meter_value)
        if samples:
            await self.store.meter_values(self.conn.station_id, evse_id, None, samples)
        return result.MeterValues()

    # -- certificates (csms.certificates) -------------------------------------------------------

    @on(Action.sign_certificate)
    async def on_sign_certificate(
        self, csr: str, certificate_type: str | None = None, **kw: Any
    ) -> Any:
        status = await signing.judge(self.conn, self.store, csr, certificate_type)
        # For the hook after the answer (a charger's CALLs are handled one at a time).
        self.accepted_csr = csr if status == "Accepted" else None
        return result.SignCertificate(status=status)

    @after(Action.sign_certificate)
    def after_sign_certificate(
        self, csr: str, certificate_type: str | None = None, **kw: Any
    ) -> None:
        if self.accepted_csr == csr:
            self.accepted_csr = None
            signing.follow(self.conn, self.store, csr, certificate_type)

    @on(Action.get_15118_ev_certificate)
    async def on_get_15118_ev_certificate(
        self, iso15118_schema_version: str, action: str, exi_request: str, **kw: Any
    ) -> Any:
        pki = self.conn.config.plug_and_charge
        answer = await pki.contract_certificate(
            self.conn.station_id, iso15118_schema_version, action, exi_request
        )
        await self._plug_and_charge("Get15118EVCertificate", answer, action=action)
        return result.Get15118EVCertificate(
            status=answer.status,
            exi_response=answer.data or "",
            status_info=_reason(answer),
        )

    @on(Action.get_certificate_status)
    async def on_get_certificate_status(self, ocsp_request_data: dict[str, str], **kw: Any) -> Any:
        pki = self.conn.config.plug_and_charge
        answer = await pki.certificate_status(self.conn.station_id, ocsp_request_data)
        await self._plug_and_charge(
            "GetCertificateStatus", answer, serial=ocsp_request_data.get("serial_number")
        )
        return result.GetCertificateStatus(
            status=answer.status, ocsp_result=answer.data, status_info=_reason(answer)
        )

    async def _plug_and_charge(self, request: str, answer: Answer, **data: Any) -> None:
        await self.store.event(
            self.conn.station_id,
            EventType.PLUG_AND_CHARGE,
            request=request,
            status=answer.status,
            reason=answer.reason,
            **data,
        )

    # -- notifications ------------------------------------------------------------------------

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

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(
        self, status: str, request_id: int | None = None, **kw: Any
    ) -> Any:
        await self.store.station_fields(
            self.conn.station_id,
            EventType.FIRMWARE_STATUS,
            {"firmware_status": status},
            status=status,
            request_id=request_id,
        )
        return result.FirmwareStatusNotification()

    @on(Action.publish_firmware_status_notification)
    async def on_publish_firmware_status_notification(
        self,
        status: str,
        location: list[str] | None = None,
        request_id: int | None = None,
        **kw: Any,
    ) -> Any:
        await self.store.event(
            self.conn.station_id,
            EventType.FIRMWARE_PUBLISH_STATUS,
            status=status,
            locations=location or [],
            request_id=request_id,
        )
        return result.PublishFirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(
        self, status: str, request_id: int | None = None, **kw: Any
    ) -> Any:
        await self.store.upload_status(
            self.conn.station_id, EventType.LOG_STATUS, status, request_id
        )
        return result.LogStatusNotification()

    @on(Action.reservation_status_update)
    async def on_reservation_status_update(
        self, reservation_id: int, reservation_update_status: str, **kw: Any
    ) -> Any:
        await self.store.event(
            self.conn.station_id,
            EventType.RESERVATION_STATUS,
            reservation_id=reservation_id,
            status=reservation_update_status,
        )
        return result.ReservationStatusUpdate()

    @on(Action.data_transfer, lenient=Leniency())
    async def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None, **kw: Any
    ) -> Any:
        await self.store.event(
            self.conn.station_id,
            EventType.DATA_TRANSFER,
            vendor_id=vendor_id,
            message_id=message_id,
            data=data,
        )
        return result.DataTransfer(status="UnknownVendorId")

    # -- helpers ------------------------------------------------------------------------------


def _reason(answer: Answer) -> dict[str, str] | None:
    """A StatusInfo saying why (its code at most 20 characters, the text 512)."""
    if answer.reason_code is None:
        return None
    info = {"reason_code": answer.reason_code[:20]}
    return info | ({"additional_info": answer.reason[:512]} if answer.reason else {})
