"""A bare HTTP/1.1 client for tests that send what httpx would not: a request head whose body
never follows, or a chunked body that is cut short. It reads the answer while the body waits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class RawRequest:
    """One request on its own connection: `head()`, then any `chunk()`s, then `answer()`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def head(self, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await self.writer.drain()

    async def chunk(self, data: bytes) -> None:
        """One chunk of a `Transfer-Encoding: chunked` body."""
        self.writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await self.writer.drain()

    async def answer(self, timeout: float = 10) -> Answer:
        """The status, headers and body (by Content-Length) of the server's answer."""
        async with asyncio.timeout(timeout):
            head = await self.reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in header_lines:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return Answer(int(status_line.split(" ")[1]), headers, body)


@contextlib.asynccontextmanager
async def raw_request(port: int) -> AsyncIterator[RawRequest]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield RawRequest(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
