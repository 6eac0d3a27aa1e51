"""What the console's lists share: a page of a long list (its number read from the URL, its
links), and a search term read within bounds and matched as typed (no wildcards)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from cpo.console.forms import plain

SEARCH_MAX = 100  # characters of a search term
PAGES_MAX = 100_000  # a page number past this is no page of any list we keep


def search_term(request: Request, name: str = "q") -> str:
    """The search box's text: printable, trimmed, at most SEARCH_MAX characters."""
    return plain(request.query_params.get(name) or "").strip()[:SEARCH_MAX]


def like(text: str) -> str:
    """An ILIKE pattern that finds `text` anywhere, its % and _ taken as themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def query_string(values: dict[str, Any]) -> str:
    """The query of a link: the values given, the empty ones left out."""
    return urlencode({k: v for k, v in values.items() if v not in (None, "")})


@dataclass(frozen=True)
class Pager:
    """Page `number` (from 1) of `size` rows among `total`; links keep the list's filters."""

    number: int
    size: int
    total: int = 0
    keep: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, request: Request, size: int, keep: dict[str, Any] | None = None) -> Pager:
        """The page the URL asks for (`?page=`); one that is not a page number is the first."""
        raw = request.query_params.get("page", "")
        number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 1
        kept = tuple((k, str(v)) for k, v in (keep or {}).items() if v not in (None, ""))
        return cls(min(max(number, 1), PAGES_MAX), size, 0, kept)

    def counted(self, total: int) -> Pager:
        return Pager(self.number, self.size, total, self.keep)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_shown(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last_shown(self) -> int:
        return min(self.offset + self.size, self.total)

    def link(self, number: int) -> str:
        return "?" + query_string(dict(self.keep) | {"page": number if number > 1 else None})

    @property
    def previous(self) -> str | None:
        return self.link(min(self.number - 1, self.pages)) if self.number > 1 else None

    @property
    def next(self) -> str | None:
        return self.link(self.number + 1) if self.number < self.pages else None


async def rows_page(
    session: AsyncSession, model: Any, where: list[Any], order: Any, pager: Pager
) -> tuple[list[Any], int]:
    """The rows of `model` that match `where`, in `order`: the pager's page, and how many match."""
    total = await session.scalar(select(func.count()).select_from(model).where(*where))
    rows = await session.execute(
        select(model).where(*where).order_by(order).offset(pager.offset).limit(pager.size)
    )
    return list(rows.scalars()), int(total or 0)
