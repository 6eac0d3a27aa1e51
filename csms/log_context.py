"""The charger a log line is about: a context variable, set where its connection is served."""

from __future__ import annotations

from contextvars import ContextVar

# Everything a charger's connection does (its handlers, the tasks they start) runs in a copy
# of the context the endpoint set this in; cpo.logs puts it on each line.
station_id: ContextVar[str | None] = ContextVar("station_id", default=None)
