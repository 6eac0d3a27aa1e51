"""The admin API seen from another process (the CLI): calls to the running server, and whatever
goes wrong as one line the operator can act on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any

import httpx

GET_A_TOKEN = (
    "set CPO_ADMIN_TOKEN to the token `cpo serve` printed at its first start, or issue a new"
    " one with `cpo admin-token` where the server's database is (the one before stops working)"
)
# Commands wait for a charger's answer (CPO_OCPP_RESPONSE_TIMEOUT, 30 s) and registrations for
# a peer's token list: well within this.
TIMEOUT = httpx.Timeout(180.0, connect=10.0)


class AdminError(Exception):
    """What went wrong, in one line; `problem` is the server's problem document, if any."""

    def __init__(self, message: str, problem: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.problem = problem or {}


class AdminClient:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def _client(self) -> httpx.Client:
        if not self.token:
            raise AdminError(f"no admin token: {GET_A_TOKEN}")
        if not (self.token.isascii() and self.token.isprintable()):
            raise AdminError("CPO_ADMIN_TOKEN has characters no admin token has")
        try:
            return httpx.Client(
                base_url=self.url,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=TIMEOUT,
            )
        except (httpx.InvalidURL, ValueError) as e:
            raise AdminError(f"the admin URL {self.url} is not usable: {e}") from None

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """The answer's JSON (None for 204 No Content); AdminError for anything else."""
        with self._client() as client, _talking(self.url):
            response = client.request(method, path, json=json, params=_params(params))
            self._check(response)
            if response.status_code == 204:
                return None
            try:
                return response.json()
            except ValueError:
                raise AdminError(
                    f"the server at {self.url} did not answer JSON: is CPO_ADMIN_URL the CPO"
                    " platform's?"
                ) from None

    def download(self, path: str, params: dict[str, Any], into: IO[bytes]) -> int:
        """Streams the answer into `into`; the bytes written."""
        written = 0
        with self._client() as client, _talking(self.url):
            with client.stream("GET", path, params=_params(params)) as response:
                if response.status_code >= 300:
                    response.read()
                    self._check(response)
                for chunk in response.iter_bytes():
                    into.write(chunk)
                    written += len(chunk)
        return written

    def _check(self, response: httpx.Response) -> None:
        if response.status_code < 300:
            return
        problem: dict[str, Any] = {}
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            try:
                problem = response.json()
            except ValueError:
                problem = {}
        if response.status_code == 401:
            raise AdminError(
                f"the server at {self.url} refused the admin token (401): {GET_A_TOKEN}"
            )
        if not isinstance(problem, dict) or "title" not in problem:
            raise AdminError(
                f"the server at {self.url} answered {response.status_code}"
                f" {response.reason_phrase}: is CPO_ADMIN_URL the CPO platform's?"
            )
        raise AdminError(describe(problem), problem)


def describe(problem: dict[str, Any]) -> str:
    """A problem document in one line: its title, detail and, for bad input, each problem."""
    line = str(problem["title"])
    if problem.get("detail"):
        line += f": {problem['detail']}"
    errors = problem.get("errors")
    if isinstance(errors, list) and errors and problem.get("status") == 422:
        line += " (" + "; ".join(_error(e) for e in errors[:10]) + ")"
    if problem.get("ocpi_status"):
        line += f" (OCPI {problem['ocpi_status']})"
    return line


def _error(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    where = error.get("field") or ".".join(map(str, error.get("loc") or [])) or "body"
    return f"{where}: {error.get('problem') or error.get('msg')}"


def _params(params: dict[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    return {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in params.items()
        if v is not None
    }


@contextlib.contextmanager
def _talking(url: str) -> Iterator[None]:
    """Turns the transport's failures into AdminErrors that say which server and what to do."""
    try:
        yield
    except httpx.ConnectError as e:
        raise AdminError(
            f"cannot reach the server at {url} ({_reason(e)}): is `cpo serve` running there?"
            " CPO_ADMIN_URL names it (default: CPO_HOST and CPO_PORT)"
        ) from None
    except httpx.TimeoutException:
        raise AdminError(f"the server at {url} did not answer in time") from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        raise AdminError(f"the admin URL {url} is not an http(s) URL") from None
    except httpx.HTTPError as e:
        raise AdminError(f"talking to the server at {url} failed: {_reason(e)}") from None


def _reason(error: BaseException) -> str:
    # httpx wraps the socket's error; its innermost message says what happened.
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return str(error) or type(error).__name__
