"""The eMSP's versions and version details: where a CPO finds everything else."""

from __future__ import annotations

from simulators.emsp.exchange import Call, Reply

# (module, role) the simulator offers, as an eMSP does.
ENDPOINTS: list[tuple[str, str]] = [
    ("credentials", "SENDER"),
    ("locations", "RECEIVER"),
    ("sessions", "RECEIVER"),
    ("cdrs", "RECEIVER"),
    ("tariffs", "RECEIVER"),
    ("tokens", "SENDER"),
    ("commands", "SENDER"),
    ("chargingprofiles", "SENDER"),
]
# Modules that came with 2.2: a 2.1.1 eMSP does not offer them.
SINCE_2_2 = {"chargingprofiles"}


async def get_versions(call: Call) -> Reply:
    return Reply(data=[{"version": call.sim.version, "url": call.sim.details_url}])


async def get_details(call: Call) -> Reply:
    sim = call.sim
    endpoints: list[dict[str, str]] = [
        {"identifier": module, "role": role, "url": sim.module_url(module)}
        for module, role in sim.offered_endpoints()
        if sim.spec.roles or module not in SINCE_2_2
    ]
    if not sim.spec.roles:  # 2.1.1: Endpoint is {identifier, url}
        endpoints = [{"identifier": e["identifier"], "url": e["url"]} for e in endpoints]
    return Reply(data={"version": sim.version, "endpoints": endpoints})
