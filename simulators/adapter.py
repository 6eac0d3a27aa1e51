"""Adapter: what the 1.6 and 2.0.1 wire classes share, and the CALL answers both give alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.charge_point import ChargePoint
from ocpp.routing import after, on

from simulators import certificates
from simulators.common import Reading, SimTransaction, iso

if TYPE_CHECKING:
    from simulators.charge_point import ChargePointSimulator

MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"


class Adapter(ChargePoint):
    """One live connection of a ChargePointSimulator; simulators.v16 / v201 subclass it.

    A subclass mixes in its version's ocpp ChargePoint and adds what differs: the outgoing
    message shapes and the handlers whose payloads differ. Handlers here are routed by the
    action name (the ocpp Action enums are str enums, and the names here are the same in both
    versions); they build messages from the subclass's ocpp modules (`_call`, `_call_result`).
    """

    # The TriggerMessage requests this version knows how to follow.
    triggerable: frozenset[str] = frozenset()

    def __init__(self, sim: ChargePointSimulator, connection: Any) -> None:
        super().__init__(sim.id, connection, response_timeout=sim.response_timeout)
        self.sim = sim
        # What on_* decided for a CALL id, for its after_* hook to act on.
        self._decided: dict[str, tuple[str, Any]] = {}

    # ---------------------------------------------------------------- outgoing

    async def boot(self, reason: str) -> str:
        raise NotImplementedError

    async def heartbeat(self) -> str:
        return str((await self.sim._request(self._call.Heartbeat())).current_time)

    async def status(self, evse_id: int, status: str, error_code: str) -> None:
        raise NotImplementedError

    async def firmware_status(self, status: str, request_id: int | None, signed: bool) -> None:
        raise NotImplementedError

    async def authorize(self, id_tag: str, token_type: str) -> str:
        raise NotImplementedError

    async def sign_certificate(self, csr: str, kind: str | None) -> str:
        raise NotImplementedError

    async def start(
        self, tx: SimTransaction, reading: Reading, reservation_id: int | None
    ) -> SimTransaction:
        """Send the start of tx (its id and status still blank); tx as the CSMS booked it."""
        raise NotImplementedError

    async def meter(
        self, evse_id: int, reading: Reading, tx: SimTransaction | None, context: str
    ) -> None:
        raise NotImplementedError

    async def stop(
        self, tx: SimTransaction, reading: Reading, reason: str, id_tag: str | None
    ) -> str | None:
        raise NotImplementedError

    @staticmethod
    def sampled(value: float, measurand: str, unit: str, context: str) -> dict[str, Any]:
        """One sampled value in this version's shape."""
        raise NotImplementedError

    def meter_value(self, reading: Reading, context: str, full: bool) -> dict[str, Any]:
        """The register alone, or (full) with power, current, voltage and SoC as well."""
        sampled = self.sampled
        values = [sampled(reading.energy_wh, "Energy.Active.Import.Register", "Wh", context)]
        if full:
            values += [
                sampled(reading.power_w, "Power.Active.Import", "W", context),
                sampled(reading.current_a, "Current.Import", "A", context),
                sampled(reading.voltage_v, "Voltage", "V", context),
            ]
            if reading.soc is not None:
                values.append(sampled(reading.soc, "SoC", "Percent", context))
        return {"timestamp": iso(reading.timestamp), "sampled_value": values}

    # ---------------------------------------------------------------- CALLs from the CSMS
    # Follow-up CALLs go through after_* hooks that spawn tasks: awaiting a CALL inside an
    # on_* handler would block the receive loop that has to deliver its reply.

    def _decide(self, uid: str, action: str, default: str, data: Any = None) -> str:
        status = self.sim._answer(action, default)
        self._decided[uid] = (status, data)
        return status

    def _decision(self, uid: str) -> tuple[str | None, Any]:
        return self._decided.pop(uid, (None, None))

    def _decide_start(self, uid: str, action: str, evse_id: int | None, id_tag: str) -> str:
        """RemoteStartTransaction / RequestStartTransaction, on an EVSE that can take it."""
        sim = self.sim
        evse = evse_id or sim._free_evse(id_tag) or 1
        default = "Accepted" if sim._can_start(evse, id_tag) else "Rejected"
        return self._decide(uid, action, default, evse)

    def _start_if_accepted(
        self, uid: str, id_tag: str, remote_start_id: int | None, token_type: str, check: bool
    ) -> None:
        """Follow an accepted remote start; check: authorize the token first."""
        status, evse = self._decision(uid)
        if status == "Accepted" and self.sim.start_on_remote:
            self.sim._spawn(
                self.sim._remote_start(evse, id_tag, remote_start_id, token_type, check)
            )

    async def _decide_stop(self, uid: str, action: str, transaction_id: str) -> str:
        """RemoteStopTransaction / RequestStopTransaction of a transaction we have open."""
        evse = await self.sim._find_tx(transaction_id)
        return self._decide(uid, action, "Rejected" if evse is None else "Accepted", evse)

    def _stop_if_accepted(self, uid: str) -> None:
        status, evse = self._decision(uid)
        if status == "Accepted" and evse is not None:
            self.sim._spawn(self.sim._finish(evse, "Remote"))

    def _decide_availability(self, uid: str, evses: list[int], kind: str) -> str:
        sim = self.sim
        if any(e not in sim.evse_ids for e in evses):
            default = "Rejected"
        elif kind == "Inoperative" and any(e in sim.transactions for e in evses):
            default = "Scheduled"
        else:
            default = "Accepted"
        return self._decide(uid, "ChangeAvailability", default, (evses, kind))

    @after("ChangeAvailability")
    def after_change_availability(self, call_unique_id: str, **_: Any) -> None:
        status, data = self._decision(call_unique_id)
        if status in ("Accepted", "Scheduled"):
            evses, kind = data
            self.sim._spawn(self.sim._set_availability(evses, kind == "Operative"))

    def _reserve(
        self, uid: str, reservation_id: int, evse: int | None, id_tag: str, expiry: str
    ) -> str:
        sim = self.sim
        default = sim._reservation_status(evse, reservation_id)
        status = self._decide(uid, "ReserveNow", default, evse)
        if status == "Accepted":
            sim.reservations[reservation_id] = {"evse_id": evse, "id_tag": id_tag, "expiry": expiry}
        return status

    @after("ReserveNow")
    def after_reserve_now(self, call_unique_id: str, **_: Any) -> None:
        status, evse = self._decision(call_unique_id)
        if status == "Accepted":
            self.sim._spawn(self.sim.status(evse, "Reserved"))

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int, call_unique_id: str, **_: Any) -> Any:
        sim = self.sim
        known = sim.reservations.get(reservation_id)
        status = self._decide(
            call_unique_id, "CancelReservation", "Accepted" if known else "Rejected",
            known["evse_id"] if known else None,
        )  # fmt: skip
        if status == "Accepted":
            sim.reservations.pop(reservation_id, None)
        return self._call_result.CancelReservation(status=status)

    @after("CancelReservation")
    def after_cancel_reservation(self, call_unique_id: str, **_: Any) -> None:
        status, evse = self._decision(call_unique_id)
        if status == "Accepted" and evse is not None and evse not in self.sim.transactions:
            self.sim._spawn(self.sim.status(evse, self.sim._idle_status(evse)))

    def _decide_trigger(self, uid: str, message: str, evses: list[int]) -> str:
        default = "Accepted" if message in self.triggerable else "NotImplemented"
        return self._decide(uid, "TriggerMessage", default, (message, evses))

    @after("TriggerMessage")
    def after_trigger_message(self, call_unique_id: str, **_: Any) -> None:
        status, data = self._decision(call_unique_id)
        if status == "Accepted":
            self.sim._spawn(self.sim._trigger(*data))

    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        return self._call_result.ClearCache(status=self.sim._answer("ClearCache", "Accepted"))

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        status = self.sim._answer("DataTransfer", "UnknownVendorId")
        return self._call_result.DataTransfer(status=status)

    @on("GetLog")
    def on_get_log(
        self, log: dict[str, Any], log_type: str, request_id: int, call_unique_id: str, **_: Any
    ) -> Any:
        where = (log["remote_location"], request_id)
        status = self._decide(call_unique_id, "GetLog", "Accepted", where)
        name = f"{self.sim.id}-{log_type}.log" if status == "Accepted" else None
        return self._call_result.GetLog(status=status, filename=name)

    @after("GetLog")
    def after_get_log(self, call_unique_id: str, log_type: str, **_: Any) -> None:
        status, data = self._decision(call_unique_id)
        if status != "Accepted":
            return
        location, request_id = data

        async def notify(upload_status: str) -> None:
            await self.sim._request(
                self._call.LogStatusNotification(status=upload_status, request_id=request_id)
            )

        name = f"{self.sim.id}-{log_type}.log"
        self.sim._spawn(self.sim._upload(location, name, notify, failed="UploadFailure"))

    # Certificates (simulators.certificates): the roots it holds by its version's type names.

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        held = self.sim.certificates
        why = certificates.check_signed(certificate_chain, held.key, self.sim._trusted_roots())
        default = "Rejected" if why else "Accepted"
        status = self.sim._answer("CertificateSigned", default)
        if status == "Accepted":
            held.chain = certificate_chain
        else:
            held.refused.append(why or "told to")
        self.sim.certificate_answered.set()
        return self._call_result.CertificateSigned(status=status)

    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type: str, certificate: str, **_: Any) -> Any:
        default = "Accepted" if certificates.readable(certificate) else "Rejected"
        status = self.sim._answer("InstallCertificate", default)
        if status == "Accepted":
            self.sim.certificates.roots.setdefault(certificate_type, []).append(certificate)
        return self._call_result.InstallCertificate(status=status)

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data: dict[str, str], **_: Any) -> Any:
        roots = self.sim.certificates.roots
        found = [
            (kind, pem)
            for kind, pems in roots.items()
            for pem in pems
            if certificates.same(certificates.hash_data(pem), certificate_hash_data)
        ]
        status = self.sim._answer("DeleteCertificate", "Accepted" if found else "NotFound")
        if status == "Accepted":
            for kind, pem in found:
                roots[kind].remove(pem)
        return self._call_result.DeleteCertificate(status=status)
