"""Values between the folds' form and each dialect's columns (see `tables.COLUMN_TYPES`).

The folds hold a time as RFC 3339 UTC text with a Z (seconds, or microseconds when there
is a fraction: `formats.iso`), a flag as 0/1 and a list as a list. SQLite stores a time at
fixed width (`formats.stamp`, so that text order is time order) and a list as JSON text;
PostgreSQL takes the text for `timestamptz`, `bool` for `boolean` and JSON text for `jsonb`,
and returns datetimes, bools and lists."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import orjson

from .formats import iso, stamp, unstamp
from .tables import kinds_of

Codec = Callable[[Any], Any]


def _json_text(value: Any) -> Any:
    return None if value is None else orjson.dumps(list(value)).decode()


def json_list(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value


def _flag_in(value: Any) -> Any:
    return None if value is None else bool(value)


def _flag_out(value: Any) -> Any:
    return None if value is None else int(value)


def time_out(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return unstamp(value) if isinstance(value, str) else value


ENCODE: dict[str, dict[str, Codec]] = {
    "sqlite": {"TIME": stamp, "JSON": _json_text},
    "postgres": {"JSON": _json_text, "BOOL": _flag_in},
}
DECODE: dict[str, dict[str, Codec]] = {
    "sqlite": {"TIME": unstamp, "JSON": json_list},
    "postgres": {"TIME": time_out, "JSON": json_list, "BOOL": _flag_out},
}


@cache
def encoders(table: str, dialect: str) -> tuple[tuple[int, Codec], ...]:
    """(column position, codec) of the columns whose values change on the way in."""
    codecs = ENCODE[dialect]
    return tuple((i, codecs[k]) for i, k in enumerate(kinds_of(table)) if k in codecs)


@cache
def decoders(table: str, dialect: str) -> tuple[tuple[int, Codec], ...]:
    codecs = DECODE[dialect]
    return tuple((i, codecs[k]) for i, k in enumerate(kinds_of(table)) if k in codecs)


def encode(codecs: tuple[tuple[int, Codec], ...], values: Sequence[Any]) -> tuple[Any, ...]:
    if not codecs:
        return tuple(values)
    out = list(values)
    for i, codec in codecs:
        out[i] = codec(out[i])
    return tuple(out)


def decode(codecs: tuple[tuple[int, Codec], ...], values: Sequence[Any]) -> tuple[Any, ...]:
    return encode(codecs, values)


def bound_in(dialect: str, moment: datetime) -> Any:
    """A time to compare a time column with, in the dialect's stored form."""
    return stamp(iso(moment)) if dialect == "sqlite" else iso(moment)
