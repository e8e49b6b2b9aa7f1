"""`smsledger history ID [--as-of T]`: an aggregate's events and its state as of a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from smsledger.consumers.messages import DecodeError, parse_time
from smsledger.domain import ids
from smsledger.infra.cli.inputs import UsageError
from smsledger.infra.stores.selection import OpenStore
from smsledger.projections.formats import iso

_SKIP = {"originator_id", "originator_version", "timestamp", "originator_topic"}
EXAMPLE_TIME = "2026-06-01T10:00:00Z"


def as_of_time(text: str) -> datetime:
    """The `--as-of` time, or a UsageError saying what is wrong with it."""
    try:
        return parse_time(text)
    except DecodeError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--as-of {text!r} is not an RFC 3339 time; write it like {EXAMPLE_TIME}"
        ) from None
    if "T" not in text.upper() and " " not in text:
        raise UsageError(f"--as-of {text!r} is a date without a time of day; write it like "
                         f"{text}T00:00:00Z")
    if parsed.tzinfo is None:
        raise UsageError(f"--as-of {text!r} has no UTC offset; add Z (UTC) or +HH:MM, "
                         f"as in {text}Z")
    raise UsageError(f"--as-of {text!r} is not an RFC 3339 time; write it like {EXAMPLE_TIME}")


class UnknownId(UsageError, LookupError):
    """No order, account or refund request has the id: a usage error on the command line,
    a page not found on the web view."""


def find_events(opened: OpenStore, ref: str) -> tuple[str, UUID, list[Any]]:
    """The events of the order, account or refund request called `ref`."""
    for kind, make in (("order", ids.order_id), ("account", ids.account_id),
                       ("refund request", ids.refund_request_id)):
        aggregate_id = make(ref)
        events = list(opened.app.events.get(aggregate_id))
        if events:
            return kind, aggregate_id, events
    raise UnknownId(f"no order, account or refund request called {ref!r} in this store")


def require_existed(kind: str, ref: str, events: list[Any], as_of: datetime | None) -> None:
    """A time before the aggregate's first event is an error, not an empty history."""
    if as_of is not None and events and events[0].timestamp > as_of:
        raise UsageError(f"{kind} {ref} did not exist yet at {iso(as_of)}: its first event "
                         f"is at {iso(events[0].timestamp)}")


def event_rows(events: list[Any], as_of: datetime | None) -> list[dict[str, Any]]:
    """Each event up to `as_of`: version, time, type and its data as JSON values."""
    rows = []
    for event in events:
        if as_of is not None and event.timestamp > as_of:
            break
        rows.append({
            "version": event.originator_version,
            "at": iso(event.timestamp),
            "event": type(event).__qualname__,
            "data": {k: json_value(v) for k, v in vars(event).items() if k not in _SKIP},
        })
    return rows


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`event_rows` for a table: the data as `key=value` text."""
    return [{"version": r["version"], "at": r["at"], "event": r["event"],
             "details": ", ".join(f"{k}={_text(v)}" for k, v in r["data"].items())}
            for r in rows]


def json_value(value: Any) -> Any:
    """An event attribute as a JSON value: times in RFC 3339, tuples as lists, ids as text."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return [json_value(v) for v in items]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) + "}"
    return "-" if value is None else str(value)


def state_as_of(events: list[Any], as_of: datetime | None) -> dict[str, Any]:
    aggregate: Any = None
    for event in events:
        if as_of is not None and event.timestamp > as_of:
            break
        aggregate = event.mutate(aggregate)
    # By the aggregate's class name, not isinstance: a history imports only the domain
    # module of the aggregate it shows (the mapper resolves its events' classes), not all
    # three with the order lifecycle's state machine.
    kind = type(aggregate).__name__ if aggregate is not None else None
    if kind == "Order":
        return {
            "order": aggregate.order, "account": aggregate.account, "state": aggregate.state,
            "price": aggregate.price, "provider": aggregate.provider,
            "charged": aggregate.charged, "released": aggregate.released,
            "deadline": iso(aggregate.deadline), "reason": aggregate.reason,
        }
    if kind == "Account":
        return {"account": aggregate.account, "status": aggregate.status,
                **aggregate.balances(), "open_orders": sorted(aggregate.holds)}
    if kind == "RefundRequest":
        return {"request": aggregate.request, "account": aggregate.account,
                "status": aggregate.status, "amount": aggregate.amount,
                "rules": list(aggregate.rules), "policy": aggregate.policy}
    return {}
