"""Log lines that name the charger or party they are about, as readable text or one JSON object each.

Where work about one charger or party begins, the code says so in a context variable: the
OCPP endpoint the charger (`csms.log_context`), the OCPI router, the deliverer, registration
and the admin API the party (`about_party`). A filter on the one handler copies them onto each
record it emits, so a line whose level is off costs nothing more than before.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from csms.log_context import station_id

party: ContextVar[int | None] = ContextVar("party", default=None)

_TRACE = 5  # uvicorn's level below DEBUG (CPO_LOG_LEVEL=trace)
# uvicorn's loggers: through the same handler, in the same format.
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def about_party(party_id: int | None) -> None:
    """The rest of this task (and the tasks it starts) is about this party."""
    party.set(party_id)


class Context(logging.Filter):
    """Puts the charger (`station_id`) and the party (`party`) of the context on the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.station_id = station_id.get()
        record.party = party.get()
        return True


class TextFormatter(logging.Formatter):
    """`2026-05-04 10:00:00,123 INFO    csms.service station=CP1: connected (OCPP 1.6)`"""

    def __init__(self, process: str | None = None) -> None:
        where = f" [{process}]" if process else ""
        super().__init__(f"%(asctime)s %(levelname)-7s{where} %(name)s%(about)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        about = ""
        if (station := getattr(record, "station_id", None)) is not None:
            about += f" station={station}"
        if (party_id := getattr(record, "party", None)) is not None:
            about += f" party={party_id}"
        record.about = about
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and `station_id` / `party` when
    the line is about one (`process`: which of the platform's processes, when not the server)."""

    def __init__(self, process: str | None = None) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (station := getattr(record, "station_id", None)) is not None:
            line["station_id"] = station
        if (party_id := getattr(record, "party", None)) is not None:
            line["party"] = party_id
        if self.process:
            line["process"] = self.process
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The platform's handler on the root logger (so that configuring again replaces it)."""


def configure(level: str, form: Literal["text", "json"], process: str | None = None) -> None:
    """Every record of this process, uvicorn's too, through one handler on standard error."""
    handler = _Handler(sys.stderr)
    handler.addFilter(Context())
    handler.setFormatter(JsonFormatter(process) if form == "json" else TextFormatter(process))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    threshold = logging.getLevelNamesMapping().get(level.upper(), _TRACE)
    root.setLevel(threshold)
    for name in _UVICORN:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # The ocpp library logs every frame at INFO (the message log keeps them all already), and
    # Alembic a line per migration step at every start: both only when debugging.
    quiet = threshold if threshold <= logging.DEBUG else max(threshold, logging.WARNING)
    for name in ("ocpp", "alembic"):
        logging.getLogger(name).setLevel(quiet)
