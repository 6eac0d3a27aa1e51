"""The eMSP's versions and 2.2.1 version details: where a CPO finds everything else."""

from __future__ import annotations

from simulators.emsp.exchange import Call, Reply
from simulators.emsp.wire import VERSION

# (module, role) the simulator offers, as an eMSP does.
ENDPOINTS: list[tuple[str, str]] = [
    ("credentials", "SENDER"),
    ("locations", "RECEIVER"),
    ("sessions", "RECEIVER"),
    ("cdrs", "RECEIVER"),
    ("tariffs", "RECEIVER"),
    ("tokens", "SENDER"),
    ("commands", "SENDER"),
]


async def get_versions(call: Call) -> Reply:
    return Reply(data=[{"version": VERSION, "url": call.sim.details_url}])


async def get_details(call: Call) -> Reply:
    endpoints = [
        {"identifier": module, "role": role, "url": call.sim.module_url(module)}
        for module, role in ENDPOINTS
    ]
    return Reply(data={"version": VERSION, "endpoints": endpoints})
