"""Reading the time series, and the time bounds of `--since`/`--until` for every view."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_ORDER_SERIES_COLUMNS = (
    "period, provider, service, country, orders, rejected, issued, sms_received,"
    " median_seconds_to_sms, timed_out, cancelled, refunded, released, revenue"
)

SERIES_QUERIES: dict[str, tuple[str, str, str]] = {
    # name: (select, account column for --account, order by), as in queries.QUERIES
    "hourly": (f"SELECT {_ORDER_SERIES_COLUMNS} FROM orders_hourly", "",
               "period, provider, service, country"),
    "daily": (f"SELECT {_ORDER_SERIES_COLUMNS} FROM orders_daily", "",
              "period, provider, service, country"),
    "daily-money": ("SELECT day, flow, kind, count, amount, fee FROM money_daily", "",
                    "day, flow, kind"),
}

# The column each view's --since/--until compare, and the form of its values: "stamp" (a
# read-model time column), "time" (RFC 3339 UTC text), "hour" (the start of an hour) or
# "day" (a date).
TIME_COLUMNS: dict[str, tuple[str, str]] = {
    "orders": ("requested_at", "stamp"),
    "deposits": ("at", "stamp"),
    "refunds": ("requested_at", "stamp"),
    "rejections": ("at", "stamp"),
    "hourly": ("period", "hour"),
    "daily": ("period", "day"),
    "daily-money": ("day", "day"),
}

# Views with provider, service and country columns (--provider, --service, --country).
GROUP_VIEWS = frozenset({"orders", "stats", "hourly", "daily"})


def _order_series(period_name: str) -> Any:
    def shape(r: tuple[Any, ...]) -> dict[str, Any]:
        issued, received = int(r[6]), int(r[7])
        return {
            period_name: r[0], "provider": r[1] or None, "service": r[2], "country": r[3],
            "orders": int(r[4]), "rejected": int(r[5]), "issued": issued,
            "sms_received": received,
            "sms_rate": round(received / issued, 4) if issued else 0.0,
            "median_seconds_to_sms": r[8], "timed_out": int(r[9]), "cancelled": int(r[10]),
            "refunded": int(r[11]), "released": int(r[12]), "revenue": int(r[13]),
        }

    return shape


def _daily_money(r: tuple[Any, ...]) -> dict[str, Any]:
    return {"day": r[0], "flow": r[1], "kind": r[2], "count": int(r[3]), "amount": int(r[4]),
            "fee": int(r[5])}


SERIES_SHAPES = {
    "hourly": _order_series("hour"), "daily": _order_series("day"), "daily-money": _daily_money,
}


def time_bound(moment: datetime, form: str, dialect: str = "sqlite") -> str:
    """`moment` as a bound on a column of this form: a value is at or after the bound when
    it is at or after `moment`, and a period when it starts at or after it (so a bound
    inside an hour or day leaves that period out of `--since` and in for `--until`).

    Text times are compared as text, to the second: "2026-06-01T10:00:00" sorts before every
    stored time of that second ("…:00Z", "…:00.5Z") and after every earlier one; a
    PostgreSQL time column compares with the time itself."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        raise ValueError(f"time bound {moment.isoformat()} has a fraction of a second")
    if form == "stamp" and dialect == "postgres":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form in ("time", "stamp"):
        return moment.strftime("%Y-%m-%dT%H:%M:%S")
    start = moment.replace(minute=0, second=0)
    if form == "day":
        start = start.replace(hour=0)
    if start < moment:
        start += timedelta(days=1) if form == "day" else timedelta(hours=1)
    return start.strftime("%Y-%m-%d" if form == "day" else "%Y-%m-%dT%H:00:00Z")


def parse_bound(text: str) -> datetime:
    """A `--since`/`--until` bound: an RFC 3339 time with its offset, to the second, or a
    date (its midnight UTC). ValueError says what is wrong."""
    try:
        if _DATE.fullmatch(text):
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("z", "Z")) if "T" in text.upper() else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time or a date")
    if moment.microsecond:
        raise ValueError(f"{text!r}: give whole seconds")
    return moment.astimezone(UTC)
