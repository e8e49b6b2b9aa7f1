"""The time series as a test computes them on its own: sums over `query orders`, `deposits`
and `refunds` of each period (bounded by --since/--until), and the times to SMS read from
the orders table, which no query shows."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from smsledger.projections.queries import run_query


def period_starts(rows: list[dict[str, Any]], field: str) -> list[datetime]:
    """The distinct periods of series rows ("2026-06-01T10:00:00Z" or "2026-06-01")."""
    return sorted({datetime.fromisoformat(row[field]).replace(tzinfo=UTC) for row in rows})


def order_series_from_orders(db: Any, starts: list[datetime], step: timedelta,
                             field: str) -> list[dict[str, Any]]:
    """Each period's rows of `query hourly` or `query daily`, from the period's orders."""
    stamp = "%Y-%m-%dT%H:00:00Z" if field == "hour" else "%Y-%m-%d"
    found = []
    for start in starts:
        orders = run_query(db, "orders", since=start, until=start + step)
        groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
        for order in orders:
            groups[(order["provider"] or "", order["service"], order["country"])].append(order)
        times = _times_to_sms(db, start, start + step)
        for group in sorted(groups):
            found.append(_sums(start.strftime(stamp), field, group, groups[group],
                               times.get(group, [])))
    return found


def _sums(period: str, field: str, group: tuple[Any, ...], orders: list[dict[str, Any]],
          times: list[float]) -> dict[str, Any]:
    states = Counter(order["state"] for order in orders)
    issued = sum(1 for order in orders if order["provider"] is not None)
    return {
        field: period, "provider": group[0] or None, "service": group[1], "country": group[2],
        "orders": len(orders), "rejected": states["rejected"], "issued": issued,
        "sms_received": len(times), "sms_rate": round(len(times) / issued, 4) if issued else 0.0,
        "median_seconds_to_sms": statistics.median(times) if times else None,
        "timed_out": states["timed_out"], "cancelled": states["cancelled"],
        "refunded": states["refunded"], "released": sum(o["released"] for o in orders),
        "revenue": sum(o["charged"] for o in orders),
    }


def _times_to_sms(db: Any, start: datetime, end: datetime) -> dict[tuple[Any, ...], list[float]]:
    rows = db.query(
        "SELECT COALESCE(provider, ''), service, country, seconds_to_sms FROM orders"
        " WHERE first_sms_at IS NOT NULL AND requested_at >= ? AND requested_at < ?",
        (start.strftime("%Y-%m-%dT%H:%M:%S"), end.strftime("%Y-%m-%dT%H:%M:%S")),
    )
    times: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for provider, service, country, seconds in rows:
        times[(provider, service, country)].append(float(seconds))
    return times


def money_from_views(db: Any, days: list[datetime]) -> list[dict[str, Any]]:
    """The deposit and refund rows of `query daily-money`, from each day's deposits and
    refund requests."""
    found = []
    for start in days:
        day = start.strftime("%Y-%m-%d")
        bounds = {"since": start, "until": start + timedelta(days=1)}
        flows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for deposit in run_query(db, "deposits", **bounds):
            _count(flows[("deposit", deposit["method"])], deposit["amount"], 0)
        for refund in run_query(db, "refunds", **bounds):
            _count(flows[("refund", refund["status"])], refund["amount"], refund["fee"])
        found.extend({"day": day, "flow": flow, "kind": kind, "count": c, "amount": a, "fee": f}
                     for (flow, kind), (c, a, f) in sorted(flows.items()))
    return found


def _count(sums: list[int], amount: int, fee: int) -> None:
    sums[0] += 1
    sums[1] += amount
    sums[2] += fee
