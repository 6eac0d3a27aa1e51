"""The Users page (for administrators): the console's accounts and their roles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from cpo.console import accounts
from cpo.console.logins import Login

if TYPE_CHECKING:
    from cpo.console.routes import Console


async def users_page(console: Console, request: Request, login: Login) -> Response:
    users = [accounts.user_view(u) for u in await accounts.users(console.reads)]
    return console.render(request, login, "users.html", users=users)
