"""The stored form the folds read: an event as (originator hex, version, topic, state)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .rows import BatchRows

StoredRow = tuple[str, int, str, dict[str, Any]]  # originator hex, version, topic, state
Fold = Callable[["BatchRows", str, int, dict[str, Any]], None]


def z(stamp: str | None) -> str | None:
    """orjson's UTC timestamps ("...+00:00") in the read models' form ("...Z"); in an
    RFC 3339 timestamp "+00:00" can only be its offset, so one replace does it."""
    return None if stamp is None else stamp.replace("+00:00", "Z")


def originator_hex(originator: Any) -> str:
    """A stored originator id as the read models key it: SQLite stores the hex already,
    PostgreSQL returns a UUID."""
    return originator if isinstance(originator, str) else originator.hex
