"""Request bodies over CPO_MAX_BODY_BYTES (or a wider limit of their path, such as the uploads')
are refused, counted while they stream, never read whole first."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """The request's body is (or says it is) larger than the platform takes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes, the most taken here")
        self.limit = limit


class BodyLimit:
    """ASGI middleware: the app's `receive` raises BodyTooLarge once an HTTP request's body
    passes `max_bytes`, or at the first read when its Content-Length says it will.

    Only reading raises. An endpoint that checks the caller's credentials before it reads
    refuses a stranger without taking a byte of the body, however large it claims to be; an
    answer sent before the body was read whole closes the connection, so that what is left of
    the body is not read either (HTTP/1.1 would otherwise drain it to find the next request).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, wider: dict[str, int] | None = None) -> None:
        """`wider`: path prefixes whose bodies have a limit of their own (files chargers upload)."""
        self.app = app
        self.max_bytes = max_bytes
        self.wider = wider or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced, chunked = _body_headers(scope)
        path: str = scope["path"]
        limit = next(
            (bound for prefix, bound in self.wider.items() if path.startswith(prefix)),
            self.max_bytes,
        )
        taken = 0
        unread = chunked or bool(announced)

        async def limited() -> Message:
            nonlocal taken, unread
            if announced is not None and announced > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                taken += len(message.get("body", b""))
                if taken > limit:  # chunked: no length was announced
                    raise BodyTooLarge(limit)
                unread = unread and message.get("more_body", False)
            return message

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and unread:
                message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
            await send(message)

        await self.app(scope, limited, closing)


_CLOSE = (b"connection", b"close")


def _body_headers(scope: Scope) -> tuple[int | None, bool]:
    """The announced Content-Length, and whether the body comes chunked."""
    announced, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                announced = int(value)
            except ValueError:  # the server lets no such request through
                pass
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return announced, chunked
