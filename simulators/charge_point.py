"""ChargePointSimulator: a scriptable OCPP 1.6J / 2.0.1 charger that reaches a CSMS over the wire."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from simulators import certificates, v16, v201
from simulators.adapter import Adapter
from simulators.common import (
    BATTERY_WH,
    START_SOC,
    VOLTAGE_V,
    CallErrorReceived,
    Reading,
    SessionRejected,
    SimTransaction,
    parse_iso,
    utc_now,
)
from simulators.connection import Connection

__all__ = ["CallErrorReceived", "ChargePointSimulator", "SessionRejected", "SimTransaction"]


class ChargePointSimulator(Connection):
    """One simulated charge point: scripted from Python, and answering CSMS CALLs like a charger.

    Tune its answers with `answers` (action -> status), `silent` (never answer) and `errors`
    (action -> CALLERROR code); `configuration` (1.6) / `variables` (2.0.1) back the
    Get/Change configuration and Get/SetVariables requests. With `signed`, the readings that
    open and close a transaction also go out signed (a simulated OCMF record).
    """

    def __init__(
        self,
        id: str,
        url: str = "ws://127.0.0.1:8000/ocpp",
        ocpp: str = "1.6",
        password: str | None = None,
        evses: int = 1,
        vendor: str = "CPOSim",
        model: str = "Sim-1",
        serial: str = "SIM-0001",
        firmware: str = "1.0.0",
        power_w: float = 11000.0,
        response_timeout: float = 10.0,
        signed: bool = False,
        csms_ca: str | None = None,
    ) -> None:
        super().__init__(id, url, ocpp, password, response_timeout)
        self.evse_ids = list(range(1, evses + 1))
        self.vendor, self.model, self.serial, self.firmware = vendor, model, serial, firmware
        self.power_w = power_w
        self.signed = signed

        self.registration: str | None = None
        self.heartbeat_interval = 300
        self.transactions: dict[int, SimTransaction] = {}
        self.reservations: dict[int, dict[str, Any]] = {}
        self.statuses: dict[int, str] = {}
        self.answers: dict[str, str] = {}
        # The last IdTagInfo (1.6) / IdTokenInfo (2.0.1) the CSMS gave for each token, by
        # upper-cased token: what a charger's authorization cache would hold.
        self.id_tag_infos: dict[str, dict[str, Any]] = {}
        # False: accept remote starts but never start (no driver came, firmware that forgets).
        self.start_on_remote = True
        # The local authorization list (id -> status) and its version; a charger without one
        # answers NotSupported.
        self.local_list: dict[str, str] = {}
        self.local_list_version = 0
        self.local_list_supported = True
        # The TxProfile limit in force per EVSE: limit_w, until (None: open-ended), profile_id.
        # A charger without smart charging answers NotSupported.
        self.charging_limits: dict[int, dict[str, Any]] = {}
        # Every charging profile it holds, by (EVSE, profile id), as it was set.
        self.profiles: dict[tuple[int, int], dict[str, Any]] = {}
        self.smart_charging_supported = True
        # 2.0.1 display messages by id (MessageInfo as set), and the running cost of each
        # transaction as CostUpdated last said it.
        self.display_messages: dict[int, dict[str, Any]] = {}
        self.costs: dict[str, float] = {}
        # 1.6: the California Pricing messages it was sent (messageId, data), and whether it
        # knows them at all (a charger that does not answers UnknownVendorId).
        self.price_messages: list[tuple[str, dict[str, Any]]] = []
        self.knows_costmsg = True
        # 2.0.1 variable monitors by id, the monitoring base and level, network profiles by
        # slot, and what it holds of customers (identifier or token -> what it would report).
        self.monitors: dict[int, dict[str, Any]] = {}
        self.monitoring: dict[str, Any] = {"base": "All", "level": 9}
        self.network_profiles: dict[int, dict[str, Any]] = {}
        self.customers: dict[str, str] = {}
        # What the next firmware updates go wrong with, one each ("DownloadFailed",
        # "InstallationFailed", "InvalidSignature", or "Silent": it starts downloading and
        # then never says another word); an empty list: they all install.
        self.firmware_failures: list[str] = []
        # 2.0.1, as a local controller: the images it serves, by MD5, at the URLs it said.
        self.published: dict[str, list[str]] = {}
        # Its certificates: the roots it holds (InstallCertificate), its own certificate and
        # the key made for it (SignCertificate, CertificateSigned), checked against the CSMS
        # root it holds or `csms_ca` (PEM). The CSR names `csr_common_name` (its id) and
        # `csr_organization`; `certificate_answered` is set at each CertificateSigned.
        self.certificates = certificates.Held()
        self.csms_ca = csms_ca
        self.csr_common_name = id
        self.csr_organization: str | None = None
        self.certificate_answered = asyncio.Event()
        self.configuration: dict[str, str] = (
            v16.default_configuration(self) if ocpp == "1.6" else {}
        )
        self.variables: dict[tuple[str, str], str] = (
            v201.default_variables(self) if ocpp == "2.0.1" else {}
        )

        # What the charger uploads when asked for diagnostics or a log (GetDiagnostics,
        # GetLog), how (PUT: the bytes as the body; POST: multipart/form-data with one file;
        # None: it accepts, then never uploads), and the HTTP status each upload got.
        self.log_content = b"CPOSim log\n" + b"0123456789abcdef" * 64
        self.upload_method: str | None = "PUT"
        self.upload_results: list[int] = []

        self._register: dict[int, float] = {}
        self._soc: dict[int, float] = {}
        self._clock: dict[int, datetime] = {}
        self._inoperative: set[int] = set()
        self._reset_when_idle = False
        self._starting = 0
        self._started = asyncio.Event()

    def _adapter(self, ws: ClientConnection) -> Adapter:
        if self.ocpp == "1.6":
            return v16.ChargePoint16(self, ws)
        return v201.ChargePoint201(self, ws)

    # ------------------------------------------------------------------ messages

    async def boot(self) -> str:
        return await self._boot("PowerUp")

    async def _boot(self, reason: str) -> str:
        _, cp, _ = self._live()
        self.registration = await cp.boot(reason)
        return self.registration

    async def heartbeat(self) -> str:
        _, cp, _ = self._live()
        return await cp.heartbeat()

    async def status(self, evse_id: int, status: str, error_code: str = "NoError") -> None:
        _, cp, _ = self._live()
        self.statuses[evse_id] = status
        await cp.status(evse_id, status, error_code)

    async def authorize(self, id_tag: str) -> str:
        _, cp, _ = self._live()
        return await cp.authorize(id_tag, "ISO14443")

    async def sign_certificate(self, kind: str | None = None, csr: str | None = None) -> str:
        """A new key, and SignCertificate of a CSR for it (or of `csr` as given); the status."""
        _, cp, _ = self._live()
        self.certificates.key = certificates.new_key()
        self.certificate_answered.clear()
        if csr is None:
            csr = certificates.csr(
                self.certificates.key, self.csr_common_name, self.csr_organization
            )
        return await cp.sign_certificate(csr, kind)

    def _trusted_roots(self) -> list[str]:
        roots = self.certificates.roots
        held = roots.get("CSMSRootCertificate", []) + roots.get("CentralSystemRootCertificate", [])
        return held + ([self.csms_ca] if self.csms_ca else [])

    async def start_transaction(
        self,
        evse_id: int,
        id_tag: str,
        remote_start_id: int | None = None,
        reservation_id: int | None = None,
    ) -> SimTransaction:
        return await self._start(evse_id, id_tag, remote_start_id, reservation_id, "ISO14443")

    async def _start(
        self,
        evse_id: int,
        id_tag: str,
        remote_start_id: int | None,
        reservation_id: int | None,
        token_type: str,
        at: datetime | None = None,
    ) -> SimTransaction:
        _, cp, _ = self._live()
        if reservation_id is None:
            # A driver holding a reservation on this EVSE consumes it, as a real charger reports.
            reservation_id = next(
                (
                    rid
                    for rid, r in self.reservations.items()
                    if r["evse_id"] == evse_id and r["id_tag"].lower() == id_tag.lower()
                ),
                None,
            )
        self._soc[evse_id] = START_SOC
        reading = self._sample(evse_id, 0.0, at)
        draft = SimTransaction(
            transaction_id="",
            evse_id=evse_id,
            id_tag=id_tag,
            meter_start_wh=reading.energy_wh,
            status="",
            started_at=reading.timestamp,
            remote_start_id=remote_start_id,
            id_token_type=token_type,
        )
        self._starting += 1
        self._started.clear()
        try:
            tx = await cp.start(draft, reading, reservation_id)
            self.transactions[evse_id] = tx
        finally:
            self._starting -= 1
            if not self._starting:
                self._started.set()
        if reservation_id is not None:
            self.reservations.pop(reservation_id, None)
        return tx

    async def send_meter_values(self, evse_id: int, seconds: float = 60.0) -> None:
        await self._meter(evse_id, seconds, "Sample.Periodic")

    async def _meter(
        self, evse_id: int, seconds: float, context: str, tx_event: bool = True
    ) -> None:
        _, cp, _ = self._live()
        tx = self.transactions.get(evse_id)
        reading = self._sample(evse_id, seconds if tx else 0.0)
        await cp.meter(evse_id, reading, tx if tx_event else None, context)

    async def stop_transaction(
        self, evse_id: int, reason: str = "Local", id_tag: str | None = None
    ) -> str | None:
        _, cp, _ = self._live()
        if evse_id not in self.transactions:
            raise KeyError(f"{self.id}: no open transaction on EVSE {evse_id}")
        reading = self._sample(evse_id, 0.0)
        # The car is already unplugged whatever the CSMS answers, so forget it before sending.
        tx = self.transactions.pop(evse_id)
        # A TxProfile lives as long as its transaction.
        self.charging_limits.pop(evse_id, None)
        tx.meter_stop_wh = reading.energy_wh
        return await cp.stop(tx, reading, reason, id_tag)

    async def present(self, evse_id: int, id_tag: str) -> str | None:
        """A card held to an EVSE that charges: the charger stops the transaction if the card
        started it, if the CSMS answers it with the group of the card that started it (1.6
        parentIdTag, 2.0.1 groupIdToken), or (2.0.1 C16) if its group is the master pass
        group the charger was given (AuthCtrlr.MasterPassGroupId). The stop reason, or None
        when the transaction goes on."""
        tx = self.transactions.get(evse_id)
        if tx is None:
            raise KeyError(f"{self.id}: no open transaction on EVSE {evse_id}")
        if id_tag.lower() == tx.id_tag.lower():
            reason = "Local"
        else:
            if await self.authorize(id_tag) != "Accepted":
                return None
            group = _group(self.id_tag_infos.get(id_tag.upper()))
            master = self.variables.get(("AuthCtrlr", "MasterPassGroupId"))
            if group and master and group.upper() == master.upper():
                reason = "MasterPass"
            elif (
                group
                and group.upper()
                == (_group(self.id_tag_infos.get(tx.id_tag.upper())) or "").upper()
            ):
                reason = "Local"
            else:
                return None
        await self.stop_transaction(evse_id, reason, id_tag)
        await self.status(evse_id, "Finishing")
        await self.status(evse_id, self._idle_status(evse_id))
        return reason

    async def run_session(
        self,
        evse_id: int,
        id_tag: str,
        meter_updates: int = 3,
        seconds_per_update: float = 60.0,
        *,
        pause: float = 0.0,
    ) -> SimTransaction:
        """A driver's visit; with pause > 0 it also waits that long (real time) between samples."""
        status = await self.authorize(id_tag)
        if status != "Accepted":
            raise SessionRejected(status)
        # Without real pauses, back-date the start so the simulated session ends now, not in the future.
        at = (
            None if pause > 0 else utc_now() - timedelta(seconds=meter_updates * seconds_per_update)
        )
        await self.status(evse_id, "Preparing")
        tx = await self._start(evse_id, id_tag, None, None, "ISO14443", at)
        if tx.status != "Accepted" and self._stop_on_invalid():
            await self._finish(evse_id, "DeAuthorized")
            return tx
        await self.status(evse_id, "Charging")
        for _ in range(meter_updates):
            if pause > 0:
                await asyncio.sleep(pause)
            if self.transactions.get(evse_id) is not tx:
                return tx  # the CSMS stopped it remotely meanwhile
            await self.send_meter_values(evse_id, seconds_per_update)
        if self.transactions.get(evse_id) is tx:
            await self._finish(evse_id, "Local")
        return tx

    def meter_wh(self, evse_id: int) -> int:
        return int(self._register.get(evse_id, 0.0))

    def forget_transactions(self) -> list[SimTransaction]:
        """Lose the open transactions without a word to the CSMS, as a power cut can."""
        lost = list(self.transactions.values())
        self.transactions.clear()
        self.charging_limits.clear()
        return lost

    async def reboot(self, reason: str = "PowerUp") -> str:
        """Drop the link, come back and boot; transactions still held carry on, unreported."""
        return await self._reboot(None, reason)

    def _sample(self, evse_id: int, seconds: float, at: datetime | None = None) -> Reading:
        """Advance the EVSE's simulated clock and meter; the clock never runs backwards."""
        last = self._clock.get(evse_id)
        if at is not None:
            clock = max(at, last) if last is not None else at
        elif seconds > 0 and last is not None:
            clock = last + timedelta(seconds=seconds)
        else:
            clock = max(last, utc_now()) if last is not None else utc_now()
        self._clock[evse_id] = clock
        charging = evse_id in self.transactions
        if charging and seconds > 0:
            wh = self._energy_wh(evse_id, clock - timedelta(seconds=seconds), clock)
            self._register[evse_id] = self._register.get(evse_id, 0.0) + wh
            self._soc[evse_id] = min(
                100.0, self._soc.get(evse_id, START_SOC) + wh / BATTERY_WH * 100
            )
        power = self._power_w(evse_id, clock) if charging else 0.0
        phases = 3 if self.power_w > 7400 else 1
        return Reading(
            timestamp=clock,
            energy_wh=self.meter_wh(evse_id),
            power_w=round(power, 1),
            current_a=round(power / (VOLTAGE_V * phases), 1),
            voltage_v=VOLTAGE_V,
            soc=round(self._soc.get(evse_id, START_SOC), 1) if charging else None,
        )

    def _power_w(self, evse_id: int, at: datetime) -> float:
        """What the EVSE draws at a moment: its power, capped by a limit in force then."""
        limit = self.charging_limits.get(evse_id)
        if limit is None or (limit["until"] is not None and at >= limit["until"]):
            return self.power_w
        return min(self.power_w, float(limit["limit_w"]))

    def _energy_wh(self, evse_id: int, start: datetime, end: datetime) -> float:
        """The energy drawn from start to end; a limit caps it until the limit runs out."""
        seconds = (end - start).total_seconds()
        limit = self.charging_limits.get(evse_id)
        if limit is None:
            return self.power_w * seconds / 3600.0
        until = limit["until"]
        capped = (
            seconds if until is None else min(max((until - start).total_seconds(), 0.0), seconds)
        )
        power = min(self.power_w, float(limit["limit_w"]))
        return (power * capped + self.power_w * (seconds - capped)) / 3600.0

    # ------------------------------------------------------------------ charger behaviour

    def _set_profile(
        self,
        evse_id: int,
        purpose: str,
        transaction_id: str | None,
        profile_id: int,
        schedule: dict[str, Any],
        profile: dict[str, Any],
    ) -> str:
        """SetChargingProfile: held per (EVSE, id) as given; a TxProfile also caps the power of
        the transaction open on the EVSE (_set_limit). A profile of another purpose for an EVSE
        the charger does not have is refused."""
        if purpose == "TxProfile":
            status = self._set_limit(evse_id, purpose, transaction_id, profile_id, schedule)
        elif evse_id and evse_id not in self.evse_ids:
            status = self._answer("SetChargingProfile", "Rejected")
        else:
            status = self._answer("SetChargingProfile", "Accepted")
        if status == "Accepted":
            self.profiles = {k: p for k, p in self.profiles.items() if k[1] != profile_id}
            self.profiles[evse_id, profile_id] = profile
        return status

    def _composite(self, evse_id: int) -> float | None:
        """The lowest first-period limit (W) of the profiles that bound the EVSE now: the
        charger-wide ones, and the EVSE's own."""
        limits = [
            _watts(_schedule_of(p)) for (e, _), p in self.profiles.items() if e in (0, evse_id)
        ]
        return min(limits) if limits else None

    def _set_limit(
        self,
        evse_id: int,
        purpose: str,
        transaction_id: str | None,
        profile_id: int,
        schedule: dict[str, Any],
    ) -> str:
        """SetChargingProfile: a TxProfile for the transaction open on the EVSE caps its power.

        Only TxProfiles cap, and of a schedule only its first period, from the moment it
        arrives.
        """
        tx = self.transactions.get(evse_id)
        fits = (
            purpose == "TxProfile"
            and tx is not None
            and transaction_id in (None, tx.transaction_id)
        )
        status = self._answer("SetChargingProfile", "Accepted" if fits else "Rejected")
        if status != "Accepted" or tx is None:
            return status
        period = schedule["charging_schedule_period"][0]
        limit = float(period["limit"])
        if schedule.get("charging_rate_unit") == "A":
            limit *= VOLTAGE_V * (period.get("number_phases") or 3)
        start = schedule.get("start_schedule")
        begins = parse_iso(start) if start else tx.started_at
        duration = schedule.get("duration")
        self.charging_limits[evse_id] = {
            "limit_w": limit,
            "until": begins + timedelta(seconds=duration) if duration is not None else None,
            "profile_id": profile_id,
        }
        return status

    def _clear_limits(
        self, evse_id: int | None, profile_id: int | None, purpose: str | None
    ) -> str:
        """ClearChargingProfile: remove the limits that match every criterion given."""
        matching = [
            e
            for e, limit in self.charging_limits.items()
            if purpose in (None, "TxProfile")
            and evse_id in (None, e)
            and profile_id in (None, limit["profile_id"])
        ]
        held = [
            k
            for k, p in self.profiles.items()
            if evse_id in (None, k[0])
            and profile_id in (None, k[1])
            and purpose in (None, p.get("charging_profile_purpose"))
        ]
        found = "Accepted" if matching or held else "Unknown"
        status = self._answer("ClearChargingProfile", found)
        if status == "Accepted":
            for e in matching:
                del self.charging_limits[e]
            for k in held:
                del self.profiles[k]
        return status

    def _local_list(
        self, version: int, update_type: str, entries: list[tuple[str, str | None]]
    ) -> str:
        """SendLocalList: Full replaces, Differential updates (no status: remove)."""
        if not self.local_list_supported:
            return self._answer("SendLocalList", "NotSupported")
        if update_type == "Differential" and version <= self.local_list_version:
            return self._answer("SendLocalList", "VersionMismatch")
        status = self._answer("SendLocalList", "Accepted")
        if status != "Accepted":
            return status
        if update_type == "Full":
            self.local_list = {}
        for id_token, token_status in entries:
            if token_status is None:
                self.local_list.pop(id_token, None)
            else:
                self.local_list[id_token] = token_status
        self.local_list_version = version
        return status

    def _answer(self, action: str, default: str) -> str:
        return self.answers.get(action, default)

    def _stop_on_invalid(self) -> bool:
        """StopTransactionOnInvalidId / TxCtrlr.StopTxOnInvalidId (off unless configured)."""
        if self.ocpp == "1.6":
            return self.configuration.get("StopTransactionOnInvalidId") == "true"
        return self.variables.get(("TxCtrlr", "StopTxOnInvalidId")) == "true"

    def _idle_status(self, evse_id: int) -> str:
        if evse_id in self._inoperative:
            return "Unavailable"
        if any(r["evse_id"] == evse_id for r in self.reservations.values()):
            return "Reserved"
        return "Available"

    def _can_start(self, evse_id: int, id_tag: str) -> bool:
        if evse_id not in self.evse_ids or evse_id in self.transactions:
            return False
        if evse_id in self._inoperative or self.statuses.get(evse_id) == "Faulted":
            return False
        return all(
            r["evse_id"] != evse_id or r["id_tag"].lower() == id_tag.lower()
            for r in self.reservations.values()
        )

    def _free_evse(self, id_tag: str) -> int | None:
        return next((e for e in self.evse_ids if self._can_start(e, id_tag)), None)

    def _tx_evse(self, transaction_id: str) -> int | None:
        return next(
            (e for e, tx in self.transactions.items() if tx.transaction_id == transaction_id), None
        )

    async def _find_tx(self, transaction_id: str) -> int | None:
        """The EVSE of an open transaction, waiting out a start whose reply is still on its way."""
        evse_id = self._tx_evse(transaction_id)
        if evse_id is None and self._starting:
            # The CSMS may learn the id (and send a RemoteStop for it) before our
            # StartTransaction / TransactionEvent reply has been read here.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._started.wait(), self.response_timeout)
            evse_id = self._tx_evse(transaction_id)
        return evse_id

    def _reservation_status(self, evse_id: int | None, reservation_id: int) -> str:
        if evse_id is None or evse_id not in self.evse_ids:
            return "Rejected"
        if evse_id in self._inoperative:
            return "Unavailable"
        if self.statuses.get(evse_id) == "Faulted":
            return "Faulted"
        # The same reservation id may be re-sent to replace (move) a reservation.
        held = any(
            r["evse_id"] == evse_id for rid, r in self.reservations.items() if rid != reservation_id
        )
        if evse_id in self.transactions or held:
            return "Occupied"
        return "Accepted"

    async def _finish(self, evse_id: int, reason: str) -> None:
        """Stop (if still open), then the cable comes out."""
        if evse_id in self.transactions:
            await self.stop_transaction(evse_id, reason)
        await self.status(evse_id, "Finishing")
        await self.status(evse_id, self._idle_status(evse_id))
        if self._reset_when_idle and not self.transactions:
            # A 2.0.1 Reset OnIdle answered "Scheduled" happens now.
            self._reset_when_idle = False
            self._spawn(self._reboot("ImmediateReset", "RemoteReset"))

    async def _remote_start(
        self, evse_id: int, id_tag: str, remote_start_id: int | None, token_type: str, check: bool
    ) -> None:
        if check:
            _, cp, _ = self._live()
            if await cp.authorize(id_tag, token_type) != "Accepted":
                return
        await self.status(evse_id, "Preparing")
        tx = await self._start(evse_id, id_tag, remote_start_id, None, token_type)
        if tx.status != "Accepted" and self._stop_on_invalid():
            await self._finish(evse_id, "DeAuthorized")
        else:
            await self.status(evse_id, "Charging")

    async def _set_availability(self, evse_ids: list[int], operative: bool) -> None:
        for evse_id in evse_ids:
            if operative:
                self._inoperative.discard(evse_id)
            else:
                self._inoperative.add(evse_id)
            # A busy EVSE changes once its transaction ends (the "Scheduled" answer).
            if evse_id not in self.transactions:
                await self.status(evse_id, self._idle_status(evse_id))

    async def _trigger(self, message: str, evse_ids: list[int]) -> None:
        if message == "BootNotification":
            await self._boot("Triggered")
        elif message == "Heartbeat":
            await self.heartbeat()
        elif message == "StatusNotification":
            for evse_id in evse_ids:
                await self.status(evse_id, self.statuses.get(evse_id, self._idle_status(evse_id)))
        elif message == "MeterValues":
            # 2.0.1 answers a MeterValues trigger with MeterValues, never a TransactionEvent.
            for evse_id in evse_ids:
                await self._meter(evse_id, 0.0, "Trigger", tx_event=self.ocpp == "1.6")
        elif message in ("SignChargingStationCertificate", "SignChargePointCertificate"):
            await self.sign_certificate(
                "ChargingStationCertificate" if self.ocpp != "1.6" else None
            )
        elif message == "SignV2GCertificate":
            await self.sign_certificate("V2GCertificate")
        elif message == "TransactionEvent":
            for evse_id in evse_ids:
                if evse_id in self.transactions:
                    await self._meter(evse_id, 0.0, "Trigger")

    async def _update_firmware(self, location: str, request_id: int | None, signed: bool) -> None:
        """What a charger does after it accepted an UpdateFirmware: download, [verify,]
        install, reboot into the new image (named after the file at `location`) and say so."""
        failure = self.firmware_failures.pop(0) if self.firmware_failures else None

        async def say(status: str) -> None:
            _, cp, _ = self._live()
            await cp.firmware_status(status, request_id, signed)

        await say("Downloading")
        if failure == "Silent":
            return
        if failure == "DownloadFailed":
            await say(failure)
            return
        await say("Downloaded")
        if signed:
            if failure == "InvalidSignature":
                await say(failure)
                return
            await say("SignatureVerified")
        await say("Installing")
        if failure is not None:
            await say("InstallationFailed")
            return
        self.firmware = location.rstrip("/").rsplit("/", 1)[-1][:50] or self.firmware
        await self._reboot(None, "FirmwareUpdate")
        await say("Installed")

    async def _upload(
        self,
        location: str,
        file_name: str,
        notify: Callable[[str], Awaitable[None]],
        failed: str,
    ) -> None:
        """Upload the log to `location` by HTTP, telling the CSMS as a charger does: Uploading,
        then Uploaded or `failed` (UploadFailed in 1.6 diagnostics, UploadFailure for logs)."""
        if self.upload_method is None:
            return
        await notify("Uploading")
        try:
            async with httpx.AsyncClient(timeout=self.response_timeout) as client:
                if self.upload_method == "POST":
                    files = {"file": (file_name, self.log_content, "text/plain")}
                    response = await client.post(location, files=files)
                else:
                    headers = {"Content-Type": "text/plain"}
                    response = await client.put(location, content=self.log_content, headers=headers)
            self.upload_results.append(response.status_code)
            done = response.is_success
        except httpx.HTTPError:
            self.upload_results.append(0)
            done = False
        await notify("Uploaded" if done else failed)

    async def _reboot(self, stop_reason: str | None, boot_reason: str) -> str:
        """Drop the socket, come back and boot; with a stop_reason (a Reset), end transactions first."""
        self._rebooting = True
        try:
            if stop_reason is not None:
                for evse_id in list(self.transactions):
                    with contextlib.suppress(Exception):
                        await self.stop_transaction(evse_id, stop_reason)
            await self._drop()
            await self._reconnect()
        finally:
            self._rebooting = False
        registration = await self._boot(boot_reason)
        if registration == "Accepted":
            for evse_id in self.evse_ids:
                status = "Charging" if evse_id in self.transactions else self._idle_status(evse_id)
                await self.status(evse_id, status)
        return registration

    async def _come_back(self) -> None:
        """After a server-side drop: reconnect and report state, without a BootNotification."""
        await super()._come_back()
        for evse_id in self.evse_ids:
            status = "Charging" if evse_id in self.transactions else self._idle_status(evse_id)
            await self.status(evse_id, status)


def _group(info: dict[str, Any] | None) -> str | None:
    """The group of a token as the CSMS answered it: 1.6 parentIdTag, 2.0.1 groupIdToken."""
    if not info:
        return None
    group = info.get("parent_id_tag") or (info.get("group_id_token") or {}).get("id_token")
    return str(group) if group else None


def _schedule_of(profile: dict[str, Any]) -> dict[str, Any]:
    """A profile's (first) schedule, in 1.6's shape (one) or 2.0.1's (a list)."""
    schedule = profile["charging_schedule"]
    return schedule[0] if isinstance(schedule, list) else schedule  # type: ignore[no-any-return]


def _watts(schedule: dict[str, Any]) -> float:
    period = schedule["charging_schedule_period"][0]
    limit = float(period["limit"])
    if schedule.get("charging_rate_unit") == "A":
        limit *= VOLTAGE_V * (period.get("number_phases") or 3)
    return limit
