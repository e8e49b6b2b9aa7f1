"""What each page of the web view shows, read from the ledger's read models and event log:
plain values for the templates. Every id and filter is passed to the queries as a parameter."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from smsledger.domain.money import BUCKETS
from smsledger.infra.bootstrap import Ledger
from smsledger.infra.cli.history import event_rows, find_events, state_as_of
from smsledger.infra.web.chart import days_of
from smsledger.infra.web.explain import RULES, decisions
from smsledger.projections import runner
from smsledger.projections.queries import run_query
from smsledger.projections.series_queries import parse_bound

# A page lists at most this many rows; the command line gives them all.
ROW_LIMIT = 500
CHART_DAYS = 31
FILTERS = ("since", "until", "provider", "service", "country")


class BadRequest(ValueError):
    """A query parameter the page cannot use; shown as a 400 page."""


class LedgerView:
    """The ledger as the pages read it, one request at a time."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._lock = threading.Lock()

    @contextmanager
    def reading(self) -> Iterator[Any]:
        """The read models' database, caught up first when the log has moved on (as `query`
        does); requests wait for each other, so one connection serves them in turn."""
        with self._lock:
            opened = self.ledger.opened
            if opened.recorder.last_notification_id() > runner.position(opened.database):
                self.ledger.catch_up()
            yield opened.database

    def overview(self) -> dict[str, Any]:
        with self.reading() as db:
            balances = run_query(db, "balances")
            daily = run_query(db, "daily")
            stats = run_query(db, "stats")
        days = days_of(daily)
        totals = {name: sum(b[name] for b in balances) for name in ("deposited", *BUCKETS)}
        return {
            "accounts": len(balances), "orders": sum(d["orders"] for d in daily),
            "totals": totals, "days": days[-CHART_DAYS:], "providers": _per_provider(stats),
            "position": runner.position(self.ledger.opened.database),
        }

    def history(self, ref: str, as_of_text: str | None) -> dict[str, Any] | None:
        """An order's, account's or refund request's events, state and decisions, with the
        rows that belong to it; None when nothing has that id."""
        as_of = _time(as_of_text, "as_of") if as_of_text else None
        with self.reading() as db:
            try:
                kind, _, events = find_events(self.ledger.opened, ref)
            except LookupError:
                return None
            state = state_as_of(events, as_of)
            page: dict[str, Any] = {
                "kind": kind, "ref": ref, "as_of": as_of_text, "state": state,
                "events": event_rows(events, as_of),
                "decisions": decisions(events, as_of), "related": {},
            }
            account = ref if kind == "account" else state.get("account")
            if account is not None:
                page["related"] = _related(db, kind, ref, account)
        page["rules"] = rules_cited(page)
        return page

    def balances(self) -> dict[str, Any]:
        with self.reading() as db:
            return _limited(run_query(db, "balances", extras=True))

    def providers(self) -> dict[str, Any]:
        with self.reading() as db:
            return _limited(run_query(db, "stats"))

    def daily(self, params: dict[str, str]) -> dict[str, Any]:
        filters = _filters(params, FILTERS)
        with self.reading() as db:
            rows = run_query(db, "daily", **filters)
        return {**_limited(rows), "days": days_of(rows), "filters": params}

    def money(self, params: dict[str, str]) -> dict[str, Any]:
        filters = _filters(params, ("since", "until"))
        with self.reading() as db:
            rows = run_query(db, "daily-money", **filters)
        return {**_limited(rows), "filters": params}


def _per_provider(stats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The provider table summed over services and countries."""
    totals: dict[str, dict[str, int]] = {}
    for row in stats:
        sums = totals.setdefault(row["provider"], {"orders": 0, "with_sms": 0, "refunded": 0,
                                                   "revenue": 0})
        for name in sums:
            sums[name] += row[name]
    return [
        {"provider": provider, **sums,
         "sms_rate": round(sums["with_sms"] / sums["orders"], 4) if sums["orders"] else 0.0}
        for provider, sums in sorted(totals.items())
    ]


def rules_cited(page: dict[str, Any]) -> list[tuple[str, str]]:
    """Every rule id the page shows (decisions, deposits' blocking rules, refunds and
    rejections), with what it says."""
    cited = {rule for decision in page["decisions"] for rule, _ in decision.rules}
    for rows in page["related"].values():
        for row in rows:
            cited.update(row.get("blocked_by") or ())
            cited.update(row.get("rules") or ())
    return [(rule, RULES.get(rule, "")) for rule in sorted(cited)]


def _related(db: Any, kind: str, ref: str, account: str) -> dict[str, list[dict[str, Any]]]:
    rejections = run_query(db, "rejections", account=account)
    if kind != "account":
        return {"rejections": [r for r in rejections if r["subject"] == ref]}
    return {
        "balance": run_query(db, "balances", account=account, extras=True),
        "orders": run_query(db, "orders", account=account),
        "deposits": run_query(db, "deposits", account=account),
        "refunds": run_query(db, "refunds", account=account),
        "rejections": rejections,
    }


def _limited(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rows": rows[:ROW_LIMIT], "total": len(rows)}


def _filters(params: dict[str, str], names: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in names:
        value = params.get(name, "").strip()
        if not value:
            continue
        found[name] = _time(value, name) if name in ("since", "until") else value
    return found


def _time(text: str, name: str) -> datetime:
    try:
        return parse_bound(text)
    except ValueError as error:
        raise BadRequest(f"{name}: {error}") from None
