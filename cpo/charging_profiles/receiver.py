"""ChargingProfiles, RECEIVER (2.2.1 and 2.3.0; 2.1.1 has no such module): an eMSP sets, reads
or clears the limit of its own running session; the answer says at once whether the platform
will try, the charger's result follows at the eMSP's response_url."""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response

from cpo.charging_profiles.mapping import to_ocpp
from cpo.charging_profiles.remote import ChargingProfileRequests
from cpo.charging_profiles.tables import Method
from cpo.charging_profiles.v221 import ACTIVE_DURATION_MAX, SetChargingProfile
from cpo.in_flight import check_response_url
from cpo.ocpi.models import URL, VersionNumber
from cpo.ocpi.responses import OcpiResponse
from cpo.ocpi.router import Call, Module
from cpo.ocpi.status import invalid
from csms.commands.port import ID_MAX

VERSIONS = frozenset({VersionNumber.V2_2_1, VersionNumber.V2_3_0})
URLS: TypeAdapter[str] = TypeAdapter(URL)


def module(requests: ChargingProfileRequests) -> Module:
    profiles = Module("chargingprofiles", "RECEIVER", versions=VERSIONS)

    @profiles.on("GET", "/{session_id}")
    async def active(call: Call) -> Response:
        """The ActiveChargingProfile for the next `duration` seconds, to `response_url`."""
        duration = _duration(call.request.query_params.get("duration"))
        response_url = _response_url(call)
        answer = await requests.receive(
            call.party, Method.GET, _session_id(call), response_url, duration=duration
        )
        return OcpiResponse(answer.to_json())

    @profiles.on("PUT", "/{session_id}")
    async def put(call: Call) -> Response:
        wanted = call.json(SetChargingProfile)
        try:  # what OCPI allows and an OCPP profile cannot hold is refused here, not later
            to_ocpp(wanted.charging_profile, 1, ID_MAX)
        except ValidationError as e:
            raise invalid(f"charging_profile: {e.errors()[0]['msg']}") from None
        check_response_url(call.party, wanted.response_url)
        answer = await requests.receive(
            call.party,
            Method.SET,
            _session_id(call),
            wanted.response_url,
            profile=wanted.charging_profile,
        )
        return OcpiResponse(answer.to_json())

    @profiles.on("DELETE", "/{session_id}")
    async def clear(call: Call) -> Response:
        answer = await requests.receive(
            call.party, Method.CLEAR, _session_id(call), _response_url(call)
        )
        return OcpiResponse(answer.to_json())

    return profiles


def _session_id(call: Call) -> str:
    return str(call.request.path_params["session_id"])


def _duration(raw: str | None) -> int:
    """Query parameters that cannot be read are HTTP 400 with OCPI 2001 (as pagination's)."""
    if raw is None:
        raise invalid("duration is required (seconds)", http=400)
    try:
        seconds = int(raw)
    except ValueError:
        raise invalid(f"duration must be a whole number, not {raw[:32]!r}", http=400) from None
    if not 1 <= seconds <= ACTIVE_DURATION_MAX:
        raise invalid(f"duration must be from 1 to {ACTIVE_DURATION_MAX} seconds", http=400)
    return seconds


def _response_url(call: Call) -> str:
    raw = call.request.query_params.get("response_url")
    if not raw:
        raise invalid("response_url is required", http=400)
    try:
        url = URLS.validate_python(raw)
    except ValidationError:
        raise invalid(
            "response_url must be an http(s) URL of at most 255 characters", http=400
        ) from None
    check_response_url(call.party, url, http=400)
    return url
