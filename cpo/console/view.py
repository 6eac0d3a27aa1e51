"""The console's HTML: Jinja2 templates (escaped by default) and the filters that show times,
energy, money and OCPP frames the same way on every page."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from csms import clock

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Pages are the platform's own: scripts, styles and connections only from here; no frames.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self';"
    " script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none';"
    " base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    return f"{duration((clock.now() - value).total_seconds())} ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def kwh(value: float | None, from_wh: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value / 1000 if from_wh else value:.3f}"


def money(value: Any, currency: str | None = None) -> str:
    """An amount, or an OCPI price ({excl_vat, incl_vat}: excl. VAT shown)."""
    if isinstance(value, dict):
        value = value.get("excl_vat")
    if value is None:
        return "—"
    try:
        amount = f"{float(value):.2f}"
    except (TypeError, ValueError):
        return str(value)
    return f"{amount} {currency}" if currency else amount


def pretty(payload: Any) -> str:
    """A frame or an object as indented JSON; text that is not JSON as it is."""
    if isinstance(payload, str):
        text = payload
        try:
            payload = json.loads(text)
        except ValueError:
            return text
    return json.dumps(payload, indent=2, ensure_ascii=False, default=str)


class View:
    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            when=when, ago=ago, duration=duration, kwh=kwh, money=money, pretty=pretty
        )

    def render(
        self,
        template: str,
        context: dict[str, Any],
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS | (headers or {}))
