"""Where a push goes: the party's receiver for a module, and an object's URL under it."""

from __future__ import annotations

from cpo.ocpi.client import OcpiCallError, RefusedRequest
from cpo.ocpi.urls import BadSegment, join, segment
from cpo.tables import Party


def receiver_url(party: Party, module: str) -> str:
    """The party's receiver for `module`, exactly as it published it (a trailing slash too)."""
    url = party.endpoint(module, "RECEIVER")
    if url is None:
        raise OcpiCallError(f"party {party.id} lists no {module} RECEIVER any more", "", None, 2000)
    return url


def object_url(party: Party, module: str, country_code: str, party_id: str, *ids: str) -> str:
    """`{endpoint}/{country_code}/{party_id}/{id}[/…]`, each segment checked and encoded. An id
    that cannot be one is refused for good (OCPI 2001): no request could carry it."""
    base = receiver_url(party, module)
    try:
        segments = [segment(country_code, 2, "country_code"), segment(party_id, 3, "party_id")]
        segments += [segment(i) for i in ids]
    except BadSegment as e:
        raise RefusedRequest(f"{module} {'/'.join(ids)}: {e}", base, None, 2001) from None
    return join(base, *segments)
