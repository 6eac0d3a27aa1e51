"""The outgoing OCPI client: our headers on every call, envelopes checked, `Link` pages followed.

Every request goes only where its peer may be called: on the peer's origins, at public
addresses unless private peers are allowed (cpo.ocpi.addresses). 307/308 redirects are followed
within those origins, a few deep, and a `Link` only on the origin that gave it; an answer is
read as it streams in, up to a size limit; a failure to get any answer reads the same whatever
its cause (docs/adr/013-outgoing-requests.md).

It runs on aiohttp: every push, command result and real-time authorization is one request, and
aiohttp's C parser costs a fraction of httpx's pure-Python one per request (the status → eMSP
and resync benchmarks spent a third of the platform's time in httpx).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import orjson
from yarl import URL

from cpo import metrics
from cpo.ocpi import addresses
from cpo.ocpi.headers import (
    CORRELATION_ID,
    FROM_COUNTRY,
    FROM_PARTY,
    REQUEST_ID,
    PartyRef,
    new_id,
    routing,
)
from cpo.ocpi.requestlog import RequestLog
from cpo.ocpi.responses import dumps
from cpo.ocpi.status import Status
from cpo.ocpi.tokens import Encoding, authorization
from cpo.ocpi.urls import BadUrl, follow, origin, parse, same_origin

log = logging.getLogger("cpo.ocpi.client")

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)


class OcpiCallError(Exception):
    """A call that did not come back as an OCPI success; the peer's codes are kept."""

    def __init__(
        self,
        message: str,
        url: str,
        http_status: int | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.url = message, url
        self.http_status, self.status_code = http_status, status_code

    @property
    def unreachable(self) -> bool:
        return self.http_status is None


class RefusedRequest(OcpiCallError):
    """A request the platform would not send (where it points, or what it carries): nothing
    left this host, so the peer is not unreachable."""

    @property
    def unreachable(self) -> bool:
        return False


@dataclass
class OcpiResult:
    http_status: int
    status_code: int
    message: str | None
    data: Any
    headers: Mapping[str, str]  # case-insensitive
    url: str = ""  # where the answer came from, after any redirects


@dataclass(frozen=True)
class Peer:
    """Who we call and how: the token we hold for them, where they may be called (their
    origins: `scheme://host:port`) and the encoding they expect."""

    token: str
    origins: frozenset[str]
    encoding: Encoding = "base64"
    party_id: int | None = None  # our Party row, for the request log
    ref: PartyRef | None = None  # their role, for the routing headers of functional modules
    # Through a hub, to whichever party it finds (Open Routing): OCPI-from-* only.
    open_routing: bool = False


# A peer behind a web framework may move a URL (a trailing slash); more than this is a loop.
MAX_REDIRECTS = 3
FOLLOWED = (307, 308)  # the method and body stay the same
# Said of every failure to get an answer, so that the message never tells a peer whether
# some port is open (refused, timed out and unreachable read alike).
NO_ANSWER = "no answer (refused, unreachable, timed out or TLS failed)"
PRIVATE_HINT = "private peers are refused unless CPO_OCPI_ALLOW_PRIVATE_PEERS=true"


class OcpiClient:
    def __init__(
        self,
        own: PartyRef,
        log: RequestLog,
        timeout: float = 10.0,
        verify: bool = True,
        allow_private: bool = False,
        max_body: int = 1 << 20,
        max_page: int = 16 << 20,
    ) -> None:
        self.own = own
        self.log = log
        self.timeout = timeout  # seconds for a whole request, answer included
        self._verify = verify  # peers' certificates checked
        self.allow_private = allow_private  # loopback, link-local and private addresses too
        self.max_body, self.max_page = max_body, max_page  # bytes of an answer, of a page
        self._http: aiohttp.ClientSession | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        """One pooled session, made on first use (aiohttp wants a running loop for it)."""
        if self._http is None or self._http.closed:
            if self.allow_private:
                connector = aiohttp.TCPConnector(ssl=self._verify)
            else:
                connector = aiohttp.TCPConnector(
                    ssl=self._verify,
                    resolver=addresses.PublicResolver(),
                    socket_factory=addresses.public_socket,
                )
            self._http = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def _destination(self, url: str, peer: Peer) -> URL:
        """Before a request: its URL on one of the peer's origins, not at a forbidden address."""
        try:
            parsed = parse(url)
        except BadUrl as e:
            raise RefusedRequest(str(e), url) from None
        where = origin(parsed)
        if where not in peer.origins:
            allowed = ", ".join(sorted(peer.origins)) or "none"
            raise RefusedRequest(
                f"{url} is on {where}, not on the party's origins ({allowed}); "
                "the operator may allow that origin for the party",
                url,
            )
        if not self.allow_private:
            try:
                addresses.check(parsed.host or "")
            except addresses.ForbiddenAddress as e:
                raise RefusedRequest(f"{url}: {e}; {PRIVATE_HINT}", url) from None
        return parsed

    async def call(
        self,
        method: str,
        url: str,
        peer: Peer,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        functional: bool = False,
        correlation_id: str | None = None,
        module: str = "other",
        limit: int | None = None,
        sender: PartyRef | None = None,
    ) -> OcpiResult:
        """One request, following 307/308 within the peer's origins (at most MAX_REDIRECTS);
        anything but an envelope with status 1000 raises OcpiCallError. At most `limit` bytes
        of the answer are read (max_body when not given). `sender`: our role a functional
        request is from (OCPI-from-*), the one owning what it carries; the default when None."""
        request_id = new_id()
        headers = {
            "Authorization": authorization(peer.token, peer.encoding),
            REQUEST_ID: request_id,
            CORRELATION_ID: correlation_id or new_id(),
        }
        if functional and peer.open_routing:
            me = sender or self.own
            headers |= {FROM_COUNTRY: me.country_code, FROM_PARTY: me.party_id}
        elif functional and peer.ref is not None:
            headers |= routing(sender or self.own, peer.ref)
        content = None
        if json is not None:
            content = dumps(json)
            headers["Content-Type"] = "application/json"
        if params:
            url = f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"
        started = time.perf_counter()
        for hop in range(MAX_REDIRECTS + 1):
            entry: dict[str, Any] = dict(
                party_id=peer.party_id,
                direction="out",
                method=method,
                url=url,
                request_id=request_id,
                correlation_id=headers[CORRELATION_ID],
                request_body=content,
            )
            try:
                target = self._destination(url, peer)
                status, answer_headers, body = await self._exchange(
                    method, target, content, headers, limit or self.max_body
                )
            except OcpiCallError as e:
                self._done(entry, module, started, e.message, http_status=e.http_status)
                raise
            if not 300 <= status < 400:
                break
            moved_to = answer_headers.get("location")
            moved = follow(url, moved_to) if moved_to else None
            refusal = _redirect_problem(url, status, moved, hop, peer)
            self._done(entry, module, started, refusal, http_status=status, final=False)
            if refusal is not None:
                raise OcpiCallError(refusal, url, status)
            assert moved is not None
            url = moved
        result, problem = _read(status, body, answer_headers)
        if result is not None:
            result.url = url
        self._done(
            entry,
            module,
            started,
            problem,
            http_status=status,
            ocpi_status=result.status_code if result else None,
            response_body=body,
        )
        if problem or result is None:
            raise OcpiCallError(
                f"{url}: {problem or 'no envelope'}",
                url,
                status,
                result.status_code if result else None,
            )
        return result

    async def _exchange(
        self, method: str, target: URL, content: bytes | None, headers: dict[str, str], limit: int
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One HTTP exchange: its status, headers and body (none read from a redirect)."""
        url = str(target)
        try:
            async with self.http.request(
                method,
                target,
                data=content,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                if 300 <= response.status < 400:
                    return response.status, response.headers, b""
                return response.status, response.headers, await _read_capped(response, limit)
        except _TooLarge as e:
            raise OcpiCallError(
                f"{url}: the answer is larger than {e.limit} bytes; not read", url, e.status
            ) from None
        except (aiohttp.ClientError, TimeoutError) as e:
            forbidden = _forbidden(e)
            if forbidden is not None:
                raise RefusedRequest(f"{url}: {forbidden}; {PRIVATE_HINT}", url) from e
            if isinstance(e, aiohttp.InvalidURL):
                raise RefusedRequest(f"{url} is not a URL that can be called", url) from e
            # The cause stays out of the message (a peer must not learn whether a port is
            # open); it is only in the debug log.
            log.debug("OCPI %s %s: %s: %s", method, url, type(e).__name__, e)
            raise OcpiCallError(f"cannot reach {url}: {NO_ANSWER}", url) from e

    def _done(
        self,
        entry: dict[str, Any],
        module: str,
        started: float,
        error: str | None,
        final: bool = True,
        **answer: Any,
    ) -> None:
        """One hop into the request log; the whole call into the metrics once it ends."""
        elapsed = time.perf_counter() - started
        if final or error is not None:
            metrics.observe("out", module, answer.get("ocpi_status"), elapsed)
        self.log.append(**entry, **answer, duration_ms=elapsed * 1000, error=error)

    async def pages(
        self,
        url: str,
        peer: Peer,
        params: dict[str, Any] | None = None,
        functional: bool = True,
        max_pages: int = 10_000,
        module: str = "other",
    ) -> AsyncIterator[list[Any]]:
        """Every page of a list, following `Link: <…>; rel="next"` until there is none. A Link
        is followed only to the origin of the answer that gave it."""
        next_url: str | None = url
        for _ in range(max_pages):
            if next_url is None:
                return
            result = await self.call(
                "GET",
                next_url,
                peer,
                params=params,
                functional=functional,
                module=module,
                limit=self.max_page,
            )
            if not isinstance(result.data, list):
                raise OcpiCallError("a list endpoint answered without a list", next_url, 200, 1000)
            yield result.data
            params = None  # the Link carries the filters from here on
            match = _LINK_NEXT.search(result.headers.get("link", ""))
            next_url = follow(result.url, match.group(1)) if match and result.data else None
            if next_url is not None and not same_origin(next_url, [origin(result.url)]):
                raise RefusedRequest(
                    f"{result.url}: its Link points to another origin ({next_url}); not followed",
                    next_url,
                )


class _TooLarge(Exception):
    def __init__(self, status: int, limit: int) -> None:
        self.status, self.limit = status, limit


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The answer's body, read as it streams in and given up past `limit` bytes."""
    if response.content_length is not None and response.content_length > limit:
        raise _TooLarge(response.status, limit)
    body = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > limit:
            raise _TooLarge(response.status, limit)
    return bytes(body)


def _forbidden(e: BaseException) -> str | None:
    """The refusal of a forbidden address, wherever aiohttp wrapped it."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, addresses.ForbiddenAddress):
            return str(seen)
        inner = getattr(seen, "os_error", None)
        seen = inner if isinstance(inner, BaseException) else seen.__cause__
    return None


def _redirect_problem(
    url: str, status: int, target: str | None, hop: int, peer: Peer
) -> str | None:
    """Why a redirect is not followed, or None when it is."""
    if status not in FOLLOWED:
        return (
            f"{url}: HTTP {status} redirect to {target or '(no Location)'} not followed; "
            "only 307/308 (same method and body) are"
        )
    if target is None:
        return f"{url}: HTTP {status} without a Location"
    if not same_origin(target, peer.origins):
        return f"{url}: HTTP {status} redirect to {target}, off the party's origins; not followed"
    if hop >= MAX_REDIRECTS:
        return f"{url}: more than {MAX_REDIRECTS} redirects; not followed"
    return None


def _read(
    http_status: int, content: bytes, headers: Mapping[str, str]
) -> tuple[OcpiResult | None, str | None]:
    """The envelope of an answer and, when it is not a success, what is wrong with it."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = None
    if not (
        isinstance(body, dict)
        and isinstance(body.get("status_code"), int)
        and isinstance(body.get("timestamp"), str)
    ):
        return None, f"HTTP {http_status} without an OCPI envelope"
    result = OcpiResult(
        http_status=http_status,
        status_code=body["status_code"],
        message=body.get("status_message") if isinstance(body.get("status_message"), str) else None,
        data=body.get("data"),
        headers=headers,
    )
    if http_status >= 300:
        return (
            result,
            f"HTTP {http_status}, OCPI {result.status_code}: {result.message or ''}".strip(),
        )
    if result.status_code != Status.SUCCESS:
        return result, f"OCPI {result.status_code}: {result.message or ''}".strip()
    return result, None
