"""The order series summed from the orders table, period by period: the stale periods after
a catch-up's batches, every period after a rebuild. One read of a period's orders, through
the index on their request time, gives its rows' counts, sums and medians."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from .rows import BatchRows
from .tables import columns_of

# Each series: how many characters of an order's request time name its period, the SQL
# that makes the period from them, and the length of a period.
SERIES = {
    "orders_hourly": (13, "substr(requested_at, 1, 13) || ':00:00Z'", timedelta(hours=1)),
    "orders_daily": (10, "substr(requested_at, 1, 10)", timedelta(days=1)),
}

_ORDERS_OF_PERIOD = (
    "SELECT COALESCE(provider, ''), service, country, state, issued_at IS NOT NULL,"
    " first_sms_at IS NOT NULL, released, charged, seconds_to_sms FROM orders"
    " WHERE requested_at >= ? AND requested_at < ?"
)
# The counted columns, in the table's order (the median comes after the first four).
_COUNTED = ("orders", "rejected", "issued", "sms_received", "timed_out", "cancelled",
            "refunded", "released", "revenue")
_STATES_COUNTED = frozenset({"rejected", "timed_out", "cancelled", "refunded"})


def write_series(db: Any, cursor: Any, rows: BatchRows) -> None:
    """At the end of a rebuild, once the orders are written: the money flows folded so
    far, and every period of the order series marked stale (summed by the refresh, after
    the orders' indexes are built)."""
    rows.money.write_out(db, cursor)
    for table, (_, period, _) in SERIES.items():
        db.execute(cursor, f"INSERT INTO series_stale (series, period)"
                   f" SELECT DISTINCT '{table}', {period} FROM orders")


def refresh_order_series(db: Any, cursor: Any) -> None:
    """Sum every stale period again: its rows deleted and written anew from its orders."""
    db.execute(cursor, "SELECT series, period FROM series_stale ORDER BY series, period")
    stale = cursor.fetchall()
    for table, period in stale:
        width, _, length = SERIES[table]
        start = datetime.fromisoformat(period)
        rows = _sum_period(db, cursor, period, period[:width],
                           (start + length).isoformat()[:width])
        db.execute(cursor, f"DELETE FROM {table} WHERE period = ?", (period,))
        if rows:
            names = columns_of(table)
            db.executemany(cursor, f"INSERT INTO {table} ({', '.join(names)})"
                           f" VALUES ({', '.join('?' * len(names))})", rows)
    if stale:
        db.execute(cursor, "DELETE FROM series_stale")


def _sum_period(db: Any, cursor: Any, period: str, low: str, high: str) -> list[tuple[Any, ...]]:
    """The rows of one period from the orders requested in [low, high) (request-time
    prefixes), in key order."""
    db.execute(cursor, _ORDERS_OF_PERIOD, (low, high))
    sums: dict[tuple[str, str, str], dict[str, int]] = {}
    times: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for provider, service, country, state, issued, received, released, charged, seconds \
            in cursor.fetchall():
        group = (provider, service, country)
        row = sums.get(group)
        if row is None:
            row = sums[group] = dict.fromkeys(_COUNTED, 0)
        row["orders"] += 1
        row["issued"] += int(issued)
        row["sms_received"] += int(received)
        if state in _STATES_COUNTED:
            row[state] += 1
        row["released"] += released
        row["revenue"] += charged
        if seconds is not None:
            times[group].append(float(seconds))
    return [
        (period, *group, *(row[name] for name in _COUNTED[:4]), median(times.get(group, [])),
         *(row[name] for name in _COUNTED[4:]))
        for group, row in sorted(sums.items())
    ]


def median(values: list[float]) -> float | None:
    """The middle value, or the mean of the two middle ones; None for no values."""
    return statistics.median(values) if values else None
