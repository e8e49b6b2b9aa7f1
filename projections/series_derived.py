"""The time series' columns summed or derived from the orders table: the rebuild's sums, and
the median time to SMS of each group whose orders' times changed."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from .rows import BatchRows

# Each series: its table, how many characters of an order's request time name its period,
# the SQL that makes the period from them, and the step to the next period.
SERIES = (
    ("orders_hourly", 13, "substr(requested_at, 1, 13) || ':00:00Z'", timedelta(hours=1)),
    ("orders_daily", 10, "substr(requested_at, 1, 10)", timedelta(days=1)),
)

_STATE_COUNT = "SUM(CASE WHEN state = '{}' THEN 1 ELSE 0 END)"


def sum_order_series(db: Any, cursor: Any) -> None:
    """The order series' rows from the orders table, a statement per table, for read models
    whose folds did not count them (the rebuild): the same sums the folds keep, every
    median left stale."""
    sums = ", ".join((
        "COUNT(*)", _STATE_COUNT.format("rejected"), "COUNT(issued_at)", "COUNT(first_sms_at)",
        "NULL", _STATE_COUNT.format("timed_out"), _STATE_COUNT.format("cancelled"),
        _STATE_COUNT.format("refunded"), "SUM(released)", "SUM(charged)", "1",
    ))
    for table, _, period, _ in SERIES:
        db.execute(
            cursor,
            f"INSERT INTO {table} (period, provider, service, country, orders, rejected, issued,"
            " sms_received, median_seconds_to_sms, timed_out, cancelled, refunded, released,"
            f" revenue, stale) SELECT {period}, COALESCE(provider, ''), service, country,"
            f" {sums} FROM orders GROUP BY 1, 2, 3, 4",
        )


def write_series(db: Any, cursor: Any, rows: BatchRows) -> None:
    """At the end of a rebuild, once the orders are written: the money flows folded so far,
    and the order series summed from the orders."""
    rows.money.write_out(db, cursor)
    sum_order_series(db, cursor)


def refresh_series_medians(db: Any, cursor: Any) -> None:
    """The median time to SMS of every stale group: one read of each stale period's orders
    through the index on their request time."""
    for table, width, _, step in SERIES:
        db.execute(cursor, f"SELECT period, provider, service, country FROM {table}"
                   " WHERE stale = 1")
        stale: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for period, *group in cursor.fetchall():
            stale[period].append(tuple(group))
        updates: list[tuple[Any, ...]] = []
        for period, groups in sorted(stale.items()):
            times = _times_to_sms(db, cursor, period[:width], _next(period, width, step))
            updates.extend((median(times.get(group, [])), period, *group) for group in groups)
        if updates:
            db.executemany(
                cursor,
                f"UPDATE {table} SET median_seconds_to_sms = ?, stale = 0"
                " WHERE period = ? AND provider = ? AND service = ? AND country = ?",
                updates,
            )


def _next(period: str, width: int, step: timedelta) -> str:
    """The next period's prefix of a request time (the exclusive upper bound of this one)."""
    start = datetime.fromisoformat(period)
    return (start + step).isoformat()[:width]


def _times_to_sms(db: Any, cursor: Any, low: str, high: str) -> dict[tuple[str, ...], list[float]]:
    db.execute(
        cursor,
        "SELECT COALESCE(provider, ''), service, country, seconds_to_sms FROM orders"
        " WHERE requested_at >= ? AND requested_at < ? AND seconds_to_sms IS NOT NULL",
        (low, high),
    )
    times: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for provider, service, country, seconds in cursor.fetchall():
        times[(provider, service, country)].append(float(seconds))
    return times


def median(values: list[float]) -> float | None:
    """The middle value, or the mean of the two middle ones; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    middle = ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]
    return sum(middle) / len(middle)
