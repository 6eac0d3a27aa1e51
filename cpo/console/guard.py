"""Who is asking the console: the signed login cookie, the CSRF token every POST carries, the
Origin a browser names, and the back-off of repeated failed logins."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from itsdangerous import BadSignature, Signer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from cpo import meta
from cpo.console.logins import Login, Logins
from csms.passwords import Failures

PATH = "/console"
COOKIE = "cpo_console"  # the login: its secret, signed
FORM_COOKIE = "cpo_console_form"  # before a login: the login form's CSRF token, signed
COOKIE_MAX = 256  # characters: a cookie longer than any we set is not ours
SECRET_KEY = "cpo.console.secret"  # in the meta table, when CPO_CONSOLE_SECRET is unset

# Failed logins of one name from one address: 5 free, then a wait of 1 s doubling up to 5
# minutes. Of one address whatever the names: 20 free (an office behind one NAT).
NAME_FREE, ADDRESS_FREE, FIRST_WAIT, LONGEST_WAIT = 5, 20, 1.0, 300.0


class Refused(Exception):
    """A request the console does not take: 403 (CSRF, Origin, role) or 401 (no login)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


async def shared_secret(database: async_sessionmaker[AsyncSession], configured: str | None) -> str:
    """CPO_CONSOLE_SECRET, or the one the first node to start generated and stored: every node
    signs and checks with the same, so a login made on one is taken by the others."""
    if configured:
        return configured
    async with database.begin() as session:
        await meta.add(session, SECRET_KEY, secrets.token_urlsafe(48))
    async with database() as session:
        stored = await meta.read(session, SECRET_KEY)
    assert stored is not None
    return stored


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Guard:
    def __init__(self, logins: Logins, public_url: str) -> None:
        self.logins = logins
        self.public_origin = _origin(public_url)
        self._login_signer: Signer | None = None
        self._form_signer: Signer | None = None
        self._csrf_key = b""
        # In this node's memory: a restart forgets them, and each node counts its own (the
        # load balancer spreads an attacker's tries; each node still holds them off).
        self.names = Failures(NAME_FREE, FIRST_WAIT, LONGEST_WAIT)
        self.addresses = Failures(ADDRESS_FREE, FIRST_WAIT, LONGEST_WAIT)

    def use_secret(self, secret: str) -> None:
        self._login_signer = Signer(secret, salt="cpo.console.login")
        self._form_signer = Signer(secret, salt="cpo.console.form")
        self._csrf_key = hashlib.sha256(f"cpo.console.csrf\0{secret}".encode()).digest()

    # -- the login cookie -------------------------------------------------------------------

    def _unsign(self, signer: Signer | None, raw: str | None) -> str | None:
        if signer is None or not raw or len(raw) > COOKIE_MAX:
            return None
        try:
            return signer.unsign(raw).decode()
        except (BadSignature, UnicodeDecodeError):
            return None

    async def login(self, request: Request) -> Login | None:
        """The live login the request's cookie names; None for none, a forged, garbled or
        expired one, or one whose user was removed."""
        secret = self._unsign(self._login_signer, request.cookies.get(COOKIE))
        return await self.logins.find(secret) if secret else None

    def keep_login(self, response: Response, request: Request, login: Login) -> None:
        assert self._login_signer is not None
        value = self._login_signer.sign(login.secret).decode()
        _set(response, request, COOKIE, value)
        response.delete_cookie(FORM_COOKIE, path=PATH)

    def drop_login(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path=PATH)

    # -- CSRF -------------------------------------------------------------------------------

    def csrf_token(self, login: Login) -> str:
        """The login's token for forms and htmx requests: derived from its secret, so that no
        other login's token, nor one guessed, matches."""
        return hmac.new(self._csrf_key, login.secret.encode(), "sha256").hexdigest()

    def form_token(self, request: Request) -> tuple[str, str | None]:
        """The login form's token (before there is a login: a double-submit of a signed
        cookie), and the cookie to set when the browser holds none yet."""
        assert self._form_signer is not None
        held = self._unsign(self._form_signer, request.cookies.get(FORM_COOKIE))
        if held:
            return held, None
        token = secrets.token_urlsafe(24)
        return token, self._form_signer.sign(token).decode()

    def keep_form_token(self, response: Response, request: Request, cookie: str | None) -> None:
        if cookie is not None:
            _set(response, request, FORM_COOKIE, cookie)

    def check_post(self, request: Request, sent: str | None, expected: str | None) -> None:
        """Refused (403) unless the browser's Origin is ours and `sent` is the expected token."""
        self.check_origin(request)
        if not expected or not sent or not hmac.compare_digest(sent, expected):
            raise Refused(
                403, "the form's security token is missing or out of date: reload the page"
            )

    def check_origin(self, request: Request) -> None:
        """A browser names the page a POST comes from (Origin, else Referer): it must be ours.
        A client that names none (curl, a script) is judged by its token alone."""
        named = request.headers.get("origin")
        if named is None and (referer := request.headers.get("referer")):
            named = _origin(referer)
        if named is None:
            return
        own = _origin(f"{request.url.scheme}://{request.headers.get('host', '')}")
        if named.lower() not in (own, self.public_origin):
            raise Refused(403, f"a form posted from {named[:100]} is not taken here")

    # -- failed logins ----------------------------------------------------------------------

    def held_off(self, name: str, address: str) -> float:
        """Seconds this name from this address (or this address at all) must wait."""
        return max(self.names.held(f"{name}\0{address}"), self.addresses.held(address))

    def failed(self, name: str, address: str) -> None:
        self.names.fail(f"{name}\0{address}")
        self.addresses.fail(address)

    def succeeded(self, name: str, address: str) -> None:
        self.names.forget(f"{name}\0{address}")


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return url.strip().lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port
    except ValueError:
        return url.strip().lower()
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    netloc = host if port is None or port == default else f"{host}:{port}"
    return f"{parts.scheme.lower()}://{netloc}"


def _set(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path=PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
