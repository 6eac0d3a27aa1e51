"""The outgoing OCPI client: our headers on every call, envelopes checked, `Link` pages followed.

It runs on aiohttp: every push, command result and real-time authorization is one request, and
aiohttp's C parser costs a fraction of httpx's pure-Python one per request (the status → eMSP
and resync benchmarks spent a third of the platform's time in httpx).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from cpo import metrics
from cpo.ocpi.headers import CORRELATION_ID, REQUEST_ID, PartyRef, new_id, routing
from cpo.ocpi.requestlog import RequestLog
from cpo.ocpi.responses import dumps
from cpo.ocpi.status import Status
from cpo.ocpi.tokens import Encoding, authorization

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


@dataclass
class OcpiResult:
    http_status: int
    status_code: int
    message: str | None
    data: Any
    headers: Mapping[str, str]  # case-insensitive


@dataclass(frozen=True)
class Peer:
    """Who we call and how: the token we hold for them and the encoding they expect."""

    token: str
    encoding: Encoding = "base64"
    party_id: int | None = None  # our Party row, for the request log
    ref: PartyRef | None = None  # their role, for the routing headers of functional modules


class OcpiClient:
    def __init__(
        self, own: PartyRef, log: RequestLog, timeout: float = 10.0, verify: bool = True
    ) -> None:
        self.own = own
        self.log = log
        self.timeout = timeout  # seconds for a whole request, answer included
        self._verify = verify  # peers' certificates checked
        self._http: aiohttp.ClientSession | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        """One pooled session, made on first use (aiohttp wants a running loop for it)."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._verify), trust_env=False
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

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
    ) -> OcpiResult:
        """One request; anything but an envelope with status 1000 raises OcpiCallError."""
        request_id = new_id()
        headers = {
            "Authorization": authorization(peer.token, peer.encoding),
            REQUEST_ID: request_id,
            CORRELATION_ID: correlation_id or new_id(),
        }
        if functional and peer.ref is not None:
            headers |= routing(self.own, peer.ref)
        content = None
        if json is not None:
            content = dumps(json)
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
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
            async with self.http.request(
                method,
                url,
                data=content,
                params=params,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as e:  # InvalidURL is a ClientError too
            reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            metrics.observe("out", module, None, time.perf_counter() - started)
            self.log.append(
                **entry, duration_ms=(time.perf_counter() - started) * 1000, error=reason
            )
            raise OcpiCallError(f"cannot reach {url}: {reason}", url) from e
        if params:
            entry["url"] = str(response.url)
        result, problem = _read(response.status, body, response.headers)
        metrics.observe(
            "out", module, result.status_code if result else None, time.perf_counter() - started
        )
        self.log.append(
            **entry,
            http_status=response.status,
            ocpi_status=result.status_code if result else None,
            duration_ms=(time.perf_counter() - started) * 1000,
            response_body=body,
            error=problem,
        )
        if problem or result is None:
            raise OcpiCallError(
                f"{entry['url']}: {problem or 'no envelope'}",
                entry["url"],
                response.status,
                result.status_code if result else None,
            )
        return result

    async def pages(
        self,
        url: str,
        peer: Peer,
        params: dict[str, Any] | None = None,
        functional: bool = True,
        max_pages: int = 10_000,
        module: str = "other",
    ) -> AsyncIterator[list[Any]]:
        """Every page of a list, following `Link: <…>; rel="next"` until there is none."""
        next_url: str | None = url
        for _ in range(max_pages):
            if next_url is None:
                return
            result = await self.call(
                "GET", next_url, peer, params=params, functional=functional, module=module
            )
            if not isinstance(result.data, list):
                raise OcpiCallError("a list endpoint answered without a list", next_url, 200, 1000)
            yield result.data
            params = None  # the Link carries the filters from here on
            match = _LINK_NEXT.search(result.headers.get("link", ""))
            next_url = match.group(1) if match and result.data else None


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
