"""Folding stored events into the rows of the read models, one batch at a time.

The fold works on the stored form (topic and JSON state) rather than on domain event
objects: a rebuild decodes each event once with orjson and never constructs it, which is
what makes replaying the whole log fast. Topics are derived from the event classes, so a
renamed event class cannot silently fall out of the projection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from .account_folds import ACCOUNT_FOLDS
from .folding import Fold, StoredRow, originator_hex
from .order_folds import ORDER_FOLDS
from .refund_folds import REFUND_FOLDS
from .rows import BatchRows
from .series_folds import with_series


def touched_keys(events: list[StoredRow]) -> dict[str, set[tuple[str]]]:
    """The primary keys of the orders, balances and refunds rows these events change."""
    keys: dict[str, set[tuple[str]]] = {"orders": set(), "balances": set(), "refunds": set()}
    for originator, _, topic, _ in events:
        table = TABLE_OF_TOPIC.get(topic)
        if table is not None:
            keys[table].add((originator,))
    return keys


def fold_page(rows: BatchRows, page: Sequence[tuple[Any, ...]]) -> None:
    """Fold stored events as a log returns them: (originator id, version, topic, state as
    JSON, and whatever columns follow), each decoded once."""
    folds, loads = FOLDS, orjson.loads
    if page and not isinstance(page[0][0], str):  # a log returns one type of id throughout
        page = [(originator_hex(r[0]), r[1], r[2], r[3]) for r in page]
    for originator, version, topic, state, *_ in page:
        handler = folds.get(topic)
        if handler is not None:
            handler(rows, originator, version, loads(state))


def fold(rows: BatchRows, event: StoredRow) -> None:
    originator, version, topic, state = event
    handler = FOLDS.get(topic)
    if handler is not None:
        handler(rows, originator, version, state)


FOLDS: dict[str, Fold] = with_series({**ORDER_FOLDS, **ACCOUNT_FOLDS, **REFUND_FOLDS})

TABLE_OF_TOPIC: dict[str, str] = {
    topic: "orders" if ":Order." in topic else "balances" if ":Account." in topic else "refunds"
    for topic in FOLDS
}
