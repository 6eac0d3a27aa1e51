"""The eMSP's side of ChargingProfiles (2.2.1, 2.3.0): where the CPO POSTs the result of each
request (the response_url it was given) and PUTs the ActiveChargingProfile of a session the
eMSP set a profile on (its SENDER interface, `{endpoint}/{session_id}`)."""

from __future__ import annotations

from simulators.emsp.exchange import Call, Handler, Reply
from simulators.emsp.validation import problems


async def post_result(call: Call) -> Reply:
    sim = call.sim
    request_id = call.params["request_id"]
    sent = sim.sent_profile_requests.get(request_id)
    if sent is None:
        return call.reject(f"no charging-profile request was sent with id {request_id}", http=404)
    model = sim.models.PROFILE_RESULTS[sent["method"]]
    if found := problems(model, call.body):
        return call.reject(*found)
    sim.profile_results[request_id] = call.body
    return Reply()


async def put_active(call: Call) -> Reply:
    sim = call.sim
    session_id = call.params["session_id"]
    if found := problems(sim.models.ActiveChargingProfile, call.body):
        return call.reject(*found)
    if not any(s["session_id"] == session_id for s in sim.sent_profile_requests.values()):
        call.violate(f"ActiveChargingProfile of session {session_id}, on which no profile was set")
    sim.active_profiles.setdefault(session_id, []).append(call.body)
    return Reply()


RESULT: dict[str, Handler] = {"POST": post_result}
ACTIVE: dict[str, Handler] = {"PUT": put_active}
