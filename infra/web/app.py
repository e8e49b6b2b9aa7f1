"""The web view's routes: GET (and HEAD) only, HTML rendered on the server with every value
escaped, no script on any page (the Content-Security-Policy forbids it too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from smsledger.infra.web.chart import daily_chart
from smsledger.infra.web.pages import CHART_DAYS, BadRequest, LedgerView

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_ID = 200  # ids longer than this are no id of the ledger's

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
)
_templates.filters["quote_id"] = lambda value: quote(str(value), safe="")


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("q", None)
    html = _templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def message(title: str, text: str, status: int) -> HTMLResponse:
    return page("message.html", status, title=title, message=text)


def build_app(view: LedgerView, allowed_hosts: list[str]) -> Starlette:
    """The page set over one ledger; requests naming another host are refused (a page on
    another site cannot reach this one through a DNS name that resolves to loopback)."""

    def overview(request: Request) -> Response:
        data = view.overview()
        return page("overview.html", title="Overview", chart=Markup(daily_chart(data["days"])),
                    **data)

    def search(request: Request) -> Response:
        ref = request.query_params.get("q", "").strip()
        if not ref:
            return RedirectResponse("/", status_code=303, headers=HEADERS)
        return RedirectResponse(f"/history/{quote(ref, safe='')}", status_code=303,
                                headers=HEADERS)

    def history(request: Request) -> Response:
        ref = request.path_params["ref"]
        if len(ref) > MAX_ID:
            return message("Not found", f"No id is {len(ref)} characters long.", 404)
        try:
            data = view.history(ref, request.query_params.get("as_of") or None)
        except BadRequest as error:
            return message("Bad request", str(error), 400)
        if data is None:
            return page("message.html", 404, title="Not found", q=ref,
                        message=f"No order, account or refund request is called “{ref}”.")
        return page("history.html", title=f"{data['kind']} {ref}", q=ref, **data)

    def balances(request: Request) -> Response:
        return page("table.html", title="Balances", page=view.balances(), links=("account",),
                    note="Money in minor units.", filter_names=(), filters={}, chart=None)

    def providers(request: Request) -> Response:
        return page("table.html", title="Providers", page=view.providers(), links=(),
                    note="Orders issued per provider, service and country (query stats).",
                    filter_names=(), filters={}, chart=None)

    def daily(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            data = view.daily(params)
        except BadRequest as error:
            return message("Bad request", str(error), 400)
        return page(
            "table.html", title="Orders per day", page=data, links=(), filters=params,
            filter_names=("since", "until", "provider", "service", "country"),
            note="Orders counted on the day they were requested (UTC), with what became of "
                 "them since (query daily).",
            chart=Markup(daily_chart(data["days"][-CHART_DAYS:])) if data["days"] else None,
        )

    def money(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            data = view.money(params)
        except BadRequest as error:
            return message("Bad request", str(error), 400)
        return page("table.html", title="Money per day", page=data, links=(), filters=params,
                    filter_names=("since", "until"), chart=None,
                    note="Deposits by method, refund requests by status now (on the day they "
                         "were made), forfeited balances (query daily-money).")

    def not_found(request: Request, exc: Exception) -> Response:
        return message("Not found", "There is no such page.", 404)

    def not_allowed(request: Request, exc: Exception) -> Response:
        return Response("This page set is read-only.\n", status_code=405,
                        headers={**HEADERS, "Allow": "GET, HEAD"})

    routes = [
        Route("/", overview, methods=["GET"]),
        Route("/search", search, methods=["GET"]),
        Route("/history/{ref:path}", history, methods=["GET"]),
        Route("/balances", balances, methods=["GET"]),
        Route("/providers", providers, methods=["GET"]),
        Route("/daily", daily, methods=["GET"]),
        Route("/money", money, methods=["GET"]),
    ]
    return Starlette(
        routes=routes, exception_handlers={404: not_found, 405: not_allowed},
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)],
    )
