"""The order series summed from order rows: after a catch-up's batches, the stale periods
from the orders table (one read of a day's orders, through the index on their request time,
gives the counts, sums and medians of its row and its stale hours' rows); in a rebuild, from
the order rows as it writes them. Both sum with `_add`, so they give the same rows."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from .columns import bound_in
from .rows import BatchRows
from .tables import columns_of

# The hour of a request time ("YYYY-MM-DDTHH"), per dialect.
_HOUR = {"sqlite": "substr(requested_at, 1, 13)",
         "postgres": "to_char(requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')"}
_ORDERS_OF_DAY = (
    "SELECT {hour}, COALESCE(provider, ''), service, country, state,"
    " issued_at IS NOT NULL, first_sms_at IS NOT NULL, released, charged, seconds_to_sms"
    " FROM orders WHERE requested_at >= ? AND requested_at < ?"
)
# Where each order's state is counted among a row's sums: orders, rejected, issued,
# sms_received, timed_out, cancelled, refunded, released, revenue.
_STATE_SLOT = {"rejected": 1, "timed_out": 4, "cancelled": 5, "refunded": 6}

Sums = dict[tuple[str, ...], tuple[list[int], list[float]]]


class SeriesSums:
    """The order series summed from finished order rows as a rebuild writes them: the same
    sums a refresh makes from the table, without reading it back."""

    def __init__(self) -> None:
        self.hourly: Sums = {}

    def add(self, orders: dict[tuple[Any, ...], dict[str, Any]], keep: str | None) -> None:
        """Every order row except those of the order `keep` (not finished yet)."""
        hourly = self.hourly
        for key, row in orders.items():
            if key[0] != keep:
                _add(hourly, (row["requested_at"][:13], row["provider"] or "", row["service"],
                              row["country"]), row["state"], row["issued_at"] is not None,
                     row["first_sms_at"] is not None, row["released"], row["charged"],
                     row["seconds_to_sms"])

    def write(self, db: Any, cursor: Any) -> None:
        _replace(db, cursor, "orders_daily", [], _rows(_days_of(self.hourly)))
        _replace(db, cursor, "orders_hourly", [], _rows(self.hourly, suffix=":00:00Z"))


def write_series(db: Any, cursor: Any, rows: BatchRows, sums: SeriesSums) -> None:
    """At the end of a rebuild, once every aggregate is folded: the money flows and the
    order series."""
    rows.money.write_out(db, cursor)
    sums.write(db, cursor)


def refresh_order_series(db: Any, cursor: Any) -> None:
    """Sum every stale period again, a day at a time: one read of the day's orders gives
    its row of the daily series and the rows of its stale hours, written anew."""
    db.execute(cursor, "SELECT series, period FROM series_stale")
    stale = cursor.fetchall()
    hours: dict[str, set[str]] = defaultdict(set)
    for table, period in stale:
        of_day = hours[period[:10]]
        if table == "orders_hourly":
            of_day.add(period[:13])
    for day, stale_hours in sorted(hours.items()):
        hourly = _sum_day(db, cursor, day)
        _replace(db, cursor, "orders_daily", [day], _rows(_days_of(hourly)))
        _replace(db, cursor, "orders_hourly", [h + ":00:00Z" for h in sorted(stale_hours)],
                 _rows({k: v for k, v in hourly.items() if k[0] in stale_hours},
                       suffix=":00:00Z"))
    if stale:
        db.execute(cursor, "DELETE FROM series_stale")


def _sum_day(db: Any, cursor: Any, day: str) -> Sums:
    """The sums of every hour of the day, from its orders."""
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    db.execute(cursor, _ORDERS_OF_DAY.format(hour=_HOUR[db.dialect]),
               (bound_in(db.dialect, start), bound_in(db.dialect, start + timedelta(days=1))))
    hourly: Sums = {}
    for hour, provider, service, country, *order in cursor.fetchall():
        _add(hourly, (hour, provider, service, country), *order)
    return hourly


def _add(sums: Sums, key: tuple[str, ...], state: str, issued: Any, received: Any,
         released: int, charged: int, seconds: Any) -> None:
    """Count one order into its group's sums."""
    found = sums.get(key)
    if found is None:
        found = sums[key] = ([0] * 9, [])
    row, times = found
    row[0] += 1
    if issued:
        row[2] += 1
    if received:
        row[3] += 1
    slot = _STATE_SLOT.get(state)
    if slot is not None:
        row[slot] += 1
    row[7] += released
    row[8] += charged
    if seconds is not None:
        times.append(float(seconds))


def _days_of(hourly: Sums) -> Sums:
    """The hours' sums added up by day (the times to SMS together, for the day's median)."""
    daily: Sums = {}
    for (hour, *group), (row, times) in sorted(hourly.items()):
        found = daily.get((hour[:10], *group))
        if found is None:
            daily[(hour[:10], *group)] = (list(row), list(times))
            continue
        total, all_times = found
        for index, value in enumerate(row):
            total[index] += value
        all_times.extend(times)
    return daily


def _rows(sums: Sums, suffix: str = "") -> list[tuple[Any, ...]]:
    """In the tables' column order: the median after the first four counts."""
    return [(key[0] + suffix, *key[1:], *row[:4], median(times), *row[4:])
            for key, (row, times) in sorted(sums.items())]


def _replace(db: Any, cursor: Any, table: str, periods: list[str],
             rows: list[tuple[Any, ...]]) -> None:
    for period in periods:
        db.execute(cursor, f"DELETE FROM {table} WHERE period = ?", (period,))
    if rows:
        names = columns_of(table)
        db.executemany(cursor, f"INSERT INTO {table} ({', '.join(names)})"
                       f" VALUES ({', '.join('?' * len(names))})", rows)


def median(values: list[float]) -> float | None:
    """The middle value, or the mean of the two middle ones; None for no values."""
    return statistics.median(values) if values else None
