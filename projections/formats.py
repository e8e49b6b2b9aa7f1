"""Formatting of values in the read models."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z, seconds precision unless there is a fraction."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stamp(text: str | None) -> str | None:
    """An `iso` time at fixed width (microseconds always written), as SQLite stores read-model
    times: its text order is time order."""
    if text is None or len(text) != 20:  # "YYYY-MM-DDTHH:MM:SSZ"; else a fraction is there
        return text
    return text[:19] + ".000000Z"


def unstamp(text: str | None) -> str | None:
    """A stored time back in the `iso` form (the fraction only when there is one)."""
    if text is None or not text.endswith(".000000Z"):
        return text
    return text[:19] + "Z"
