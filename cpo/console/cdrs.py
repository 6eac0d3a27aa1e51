"""The CDRs and the money: the CDRs of a filter (end date, eMSP, Location) a page at a time,
their revenue per currency and energy in total and per day (the chart), the same CDRs as CSV,
and one CDR with its credit and reissue. Everything comes from the CDR report the admin API
serves (cpo.cdrs.report): its filter judges the form's fields, its queries read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cpo.cdrs.report import BadFilter, CdrFilter, CdrSummary, encoded
from cpo.console.forms import plain
from cpo.console.logins import Login
from cpo.console.paging import Pager, query_string
from cpo.console.stations import location_ids
from cpo.console.view import SECURITY_HEADERS

if TYPE_CHECKING:
    from cpo.console.routes import Console

PAGE = 50
FIELDS = ("from", "to", "party", "location")
FIELD_MAX = 64  # characters of a field's value: more than any date, id or date-time has
CDR_ID_MAX = 39  # cpo.cdrs.tables.Cdr.ocpi_id


def read_filter(request: Request) -> tuple[CdrFilter | None, dict[str, str], dict[str, str]]:
    """The filter the URL asks for (None if it cannot be read), the fields as typed, and
    each field's problem in words."""
    typed = {name: plain(request.query_params.get(name) or "").strip() for name in FIELDS}
    problems = {
        name: f"at most {FIELD_MAX} characters" for name, v in typed.items() if len(v) > FIELD_MAX
    }
    typed = {name: v[:FIELD_MAX] for name, v in typed.items()}
    if problems:
        return None, typed, problems
    try:
        where = CdrFilter.model_validate({name: v for name, v in typed.items() if v})
    except ValidationError as e:
        for err in e.errors(include_url=False, include_context=False, include_input=False):
            # A problem of the two dates together ("from must come before to") is told at `to`.
            field = str(err["loc"][0]) if err["loc"] else "to"
            problems.setdefault(field, err["msg"].removeprefix("Value error, "))
        return None, typed, problems
    return where, typed, {}


async def _checked(
    console: Console, request: Request
) -> tuple[CdrFilter | None, dict[str, str], dict[str, str]]:
    """As read_filter, and the filter's party and Location found (or their problem)."""
    where, typed, problems = read_filter(request)
    if where is not None:
        try:
            where = await console.report.check(where)
        except BadFilter as e:
            where, problems = None, {e.field: str(e)}
    return where, typed, problems


def chart_series(summary: CdrSummary) -> dict[str, Any]:
    """The per-day figures as the chart takes them: the days, the energy, and the revenue
    (excl. VAT) per currency, 0 on a day without one."""
    currencies = [r.currency for r in summary.revenue]
    return {
        "days": [d.date for d in summary.days],
        "energy": [d.energy_kwh for d in summary.days],
        "revenue": {
            currency: [
                next((r.excl_vat for r in d.revenue if r.currency == currency), 0.0)
                for d in summary.days
            ]
            for currency in currencies
        },
    }


async def cdrs_page(console: Console, request: Request, login: Login) -> Response:
    where, typed, problems = await _checked(console, request)
    pager = Pager.of(request, PAGE, typed)
    data: dict[str, Any] = {
        "typed": typed,
        "problems": problems,
        "parties": await console.ocpi_side.parties.all(),
        "csv": f"{request.url.path}.csv?{query_string(typed)}".rstrip("?"),
    }
    async with console.reads() as session:
        data["locations"] = (await location_ids(session))[:1000]
    if where is None:
        return console.render(request, login, "cdrs.html", status=400, rows=[], **data)
    page = await console.report.page(where, pager.offset, pager.size)
    summary = await console.report.summary(where)
    return console.render(
        request,
        login,
        "cdrs.html",
        rows=page.cdrs,
        paged=pager.counted(page.total),
        summary=summary,
        series=chart_series(summary),
        **data,
    )


async def cdrs_csv(console: Console, request: Request, login: Login) -> Response:
    """Exactly the CDRs of the page's filter, every one of them (not a page), oldest first."""
    where, _, problems = await _checked(console, request)
    if where is None:
        said = "; ".join(f"{field}: {problem}" for field, problem in problems.items())
        return console.error(request, login, 400, f"No CSV for this filter: {said}.")
    return StreamingResponse(
        encoded(await console.report.csv(where)),
        media_type="text/csv; charset=utf-8",
        headers=SECURITY_HEADERS | {"Content-Disposition": 'attachment; filename="cdrs.csv"'},
    )


async def cdr_page(console: Console, request: Request, login: Login) -> Response:
    cdr_id = request.path_params["cdr_id"]
    found = None
    if len(cdr_id) <= CDR_ID_MAX and plain(cdr_id) == cdr_id:
        found = await console.report.cdr(cdr_id)
    if found is None:
        return console.error(request, login, 404, f"There is no CDR {cdr_id[:CDR_ID_MAX]}.")
    row, cdr = found
    return console.render(request, login, "cdr.html", row=row, cdr=cdr)
