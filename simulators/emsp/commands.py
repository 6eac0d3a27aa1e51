"""The eMSP's side of commands: where the CPO POSTs each CommandResult (the response_url)."""

from __future__ import annotations

from simulators.emsp.exchange import Call, Handler, Reply
from simulators.emsp.validation import problems


async def post_result(call: Call) -> Reply:
    sim = call.sim
    command_id = call.params["command_id"]
    if command_id not in sim.sent_commands:
        return call.reject(f"no command was sent with response_url id {command_id}", http=404)
    if found := problems(sim.models.CommandResult, call.body):
        return call.reject(*found)
    sim.command_results[command_id] = call.body
    return Reply()


RESULT: dict[str, Handler] = {"POST": post_result}
