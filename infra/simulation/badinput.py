"""Hostile and malformed inbound lines, mixed into simulated traffic only when asked for."""

from __future__ import annotations

import copy
from collections.abc import Callable
from random import Random
from typing import Any

import orjson

# Fields no valid message of the type can lack; removing any of them cannot yield a valid message.
REQUIRED: dict[str, tuple[str, ...]] = {
    "account.opened": ("account",),
    "waiver.accepted": ("account",),
    "deposit.succeeded": ("account", "deposit", "amount"),
    "order.requested": ("account", "order", "price"),
    "number.issued": ("order",),
    "number.unavailable": ("order",),
    "sms.delivered": ("order",),
    "order.another_sms_requested": ("order", "account"),
    "order.completed": ("order", "account"),
    "order.cancel_requested": ("order", "account"),
    "order.wrong_code_reported": ("order", "account"),
    "order.incomplete_sms_reported": ("order", "account"),
    "refund.requested": ("request", "account"),
    "refund.details_provided": ("request",),
    "refund.paid": ("request",),
    "account.blocked": ("account",),
    "account.closed": ("account",),
    "clock.tick": (),
}
AMOUNT_FIELDS = ("amount", "price", "fee")
ID_FIELDS = ("account", "order", "deposit", "request")
BOOL_FIELDS = ("eu_consumer", "details_provided")
UNKNOWN_TYPES = ("order.teleported", "sms.recalled", "account.hacked", "Order.Requested", "")
WRONG_CURRENCIES = ("EUR", "GBP", "BTC", "RUB")
NOT_JSON = (
    b"[]",
    b"null",
    b"42",
    b'"m-000001"',
    b"not json at all",
    b"\xff\xfe\x00garbage",
    b'{"id": "x", }',
    b"{}",
    b'{"id": "x", "id": 1, "type": [], "at": {}, "data": null}',
)
# Times no message may carry: beyond what a datetime holds once in UTC, with deadlines
# past the calendar's end, before 1970, or in forms RFC 3339's contract profile refuses.
POISON_TIMES = (
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:50:00Z",
    "9999-12-25T00:00:00Z", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
    "2026-06-01t10:00:00z", "2026-W23-1T10:00:00Z", "2026-06-01 10:00:00Z",
    "+20000-01-01T00:00:00Z", "2026-06-01T10:00:00+2400", "2026-02-30T00:00:00Z",
)
# Characters no id or name may hold (NUL, other C0 and C1 controls, DEL, bidi override).
CONTROL_CHARS = ("\u0000", "\u0001", "\n", "\t", "\u007f", "\u0085", "\u202e", "\u2028")
# Numbers no field takes, written as JSON text (orjson cannot write most of them).
HUGE_NUMBERS = (b"1" + b"0" * 30, b"18446744073709551616", b"-9223372036854775809", b"1e400",
                b"1e-400", b"NaN", b"Infinity", b"12.0")
LENIENT = (("currency", "USD\n"), ("currency", "usd"), ("currency", " USD"),
           ("account", "   "), ("order", " o-1"), ("deposit", "d\n"))


class BadLines:
    """Decides after each good line whether a bad one follows, and makes it."""

    def __init__(self, seed: int, share: float) -> None:
        # A separate generator, so the good lines are the same whatever the share.
        self._rng = Random(f"bad-input-{seed}")
        self._share = share
        self._count = 0
        self._accounts: list[str] = []
        self._ids: list[str] = []  # ids of good messages seen so far

    def after(self, message: dict[str, Any], line: bytes) -> bytes | None:
        """A bad line to put after `line`, or None."""
        if message["type"] in ("account.opened", "deposit.succeeded"):
            self._accounts.append(message["data"]["account"])
        self._ids.append(message["id"])
        if self._rng.random() >= self._share:
            return None
        self._count += 1
        maker = self._rng.choice(_MAKERS)
        return maker(self, message, line).rstrip(b"\n") + b"\n"

    def _copy(self, message: dict[str, Any]) -> dict[str, Any]:
        bad = copy.deepcopy(message)
        bad["id"] = f"x-{self._count:06d}"
        return bad

    def _fabricated_deposit(self, message: dict[str, Any], amount: int, currency: str) -> bytes:
        account = self._rng.choice(self._accounts) if self._accounts else "acc-0001"
        data = {
            "account": account,
            "deposit": f"dep-x{self._count:05d}",
            "amount": amount,
            "currency": currency,
            "method": "card",
        }
        bad = {"id": f"x-{self._count:06d}", "type": "deposit.succeeded", "at": message["at"]}
        return orjson.dumps({**bad, "data": data})

    def truncated(self, message: dict[str, Any], line: bytes) -> bytes:
        body = line.rstrip(b"\n")
        return body[: self._rng.randint(1, len(body) - 1)]

    def not_json(self, message: dict[str, Any], line: bytes) -> bytes:
        return self._rng.choice(NOT_JSON)

    def unknown_type(self, message: dict[str, Any], line: bytes) -> bytes:
        bad = self._copy(message)
        bad["type"] = self._rng.choice(UNKNOWN_TYPES)
        return orjson.dumps(bad)

    def missing_field(self, message: dict[str, Any], line: bytes) -> bytes:
        bad = self._copy(message)
        choices = [("data", key) for key in REQUIRED.get(message["type"], ())]
        choices += [("top", "id"), ("top", "type"), ("top", "at")]
        if message["data"]:  # a tick's data is empty, so one without data may still be valid
            choices.append(("top", "data"))
        where, key = self._rng.choice(choices)
        del (bad["data"] if where == "data" else bad)[key]
        return orjson.dumps(bad)

    def bad_amount(self, message: dict[str, Any], line: bytes) -> bytes:
        absurd = self._rng.random() < 0.3
        fields = [key for key in AMOUNT_FIELDS if key in message["data"]]
        if not fields:
            amount = 10**15 if absurd else -self._rng.randint(1, 5000)
            return self._fabricated_deposit(message, amount, "USD")
        bad = self._copy(message)
        key = self._rng.choice(fields)
        bad["data"][key] = 10**15 if absurd else -1 - abs(bad["data"][key])
        return orjson.dumps(bad)

    def wrong_currency(self, message: dict[str, Any], line: bytes) -> bytes:
        amount = self._rng.choice((500, 1000, 2000))
        return self._fabricated_deposit(message, amount, self._rng.choice(WRONG_CURRENCIES))

    def wrong_type(self, message: dict[str, Any], line: bytes) -> bytes:
        bad = self._copy(message)
        data = bad["data"]
        options: list[tuple[str, Any]] = [("at", "yesterday"), ("at", 1780272000)]
        options += [(key, str(data[key])) for key in AMOUNT_FIELDS if key in data]
        options += [(key, 12.5) for key in AMOUNT_FIELDS if key in data]
        options += [(key, 42) for key in ID_FIELDS if key in data]
        options += [(key, "yes") for key in BOOL_FIELDS if key in data]
        options += [("data", list(data.values())), ("data", "data")]
        key, value = self._rng.choice(options)
        (bad if key in ("at", "data") else data)[key] = value
        return orjson.dumps(bad)


    def poison_time(self, message: dict[str, Any], line: bytes) -> bytes:
        bad = self._copy(message)
        bad["at"] = self._rng.choice(POISON_TIMES)
        return orjson.dumps(bad)

    def control_character(self, message: dict[str, Any], line: bytes) -> bytes:
        bad = self._copy(message)
        char = self._rng.choice(CONTROL_CHARS)
        names = [key for key in (*ID_FIELDS, "service", "provider", "phone", "country")
                 if isinstance(bad["data"].get(key), str)]
        if not names or self._rng.random() < 0.3:
            bad["id"] = f"{bad['id'][:3]}{char}{bad['id'][3:]}"
        else:
            key = self._rng.choice(names)
            value = bad["data"][key]
            cut = self._rng.randint(0, len(value))
            bad["data"][key] = value[:cut] + char + value[cut:]
        return orjson.dumps(bad)

    def huge_number(self, message: dict[str, Any], line: bytes) -> bytes:
        bad = self._copy(message)
        fields = [key for key in AMOUNT_FIELDS if key in bad["data"]]
        key = self._rng.choice(fields) if fields else "amount"
        bad["data"][key] = "HUGE"  # the number is written in place of this marker
        if not fields:
            bad["type"] = "deposit.succeeded"
            bad["data"] = {"account": "acc-0001", "deposit": f"dep-h{self._count:05d}",
                           "amount": "HUGE", "currency": "USD", "method": "card"}
        return orjson.dumps(bad).replace(b'"HUGE"', self._rng.choice(HUGE_NUMBERS))

    def deep_nesting(self, message: dict[str, Any], line: bytes) -> bytes:
        bad = self._copy(message)
        depth = self._rng.choice((40, 300, 1100, 5000))
        key = self._rng.choice(["id", *bad["data"]])  # only fields the type's contract checks
        if key == "id":
            bad["id"] = "NEST"
        else:
            bad["data"][key] = "NEST"
        if depth > 1000:  # deeper than any JSON parser here reads
            nested = b"[" * depth + b"]" * depth
        else:
            nested = b'{"a":' * depth + b"1" + b"}" * depth
        return orjson.dumps(bad).replace(b'"NEST"', nested, 1)

    def lenient(self, message: dict[str, Any], line: bytes) -> bytes:
        """What a lax reading of the contract takes: a currency "USD\\n", blank ids."""
        choices = [(k, v) for k, v in LENIENT if k == "currency" or k in message["data"]]
        key, value = self._rng.choice(choices)
        if key == "currency":
            return self._fabricated_deposit(message, 500, value)
        bad = self._copy(message)
        bad["data"][key] = value
        return orjson.dumps(bad)

    def reused_id(self, message: dict[str, Any], line: bytes) -> bytes:
        """A good message's id again, with other bytes (valid or not): no effect."""
        bad = copy.deepcopy(message)
        bad["id"] = self._rng.choice(self._ids)
        bad["data"] = {**bad["data"], "note": f"other bytes {self._count}"}
        return orjson.dumps(bad)

    def squatted_id(self, message: dict[str, Any], line: bytes) -> bytes:
        """A malformed line carrying the id the next good message will carry."""
        bad = self._copy(message)
        number = int(message["id"].rsplit("-", 1)[-1]) + 1 if message["id"][-1:].isdigit() else 0
        bad["id"] = f"m-{number:06d}"
        bad["type"] = "deposit.succeeded"
        bad["data"] = {"account": "acc-0001", "deposit": "dep-squat", "amount": -5,
                       "currency": "USD", "method": "card"}
        return orjson.dumps(bad)

    def long_line(self, message: dict[str, Any], line: bytes) -> bytes:
        """Longer than the line cap (64 KiB by default), and not a valid message either."""
        bad = self._copy(message)
        bad["type"] = "sms.padded"
        bad["data"] = {**bad["data"], "padding": "x" * self._rng.choice((70_000, 200_000))}
        return orjson.dumps(bad)


_MAKERS: tuple[Callable[[BadLines, dict[str, Any], bytes], bytes], ...] = (
    BadLines.truncated,
    BadLines.not_json,
    BadLines.unknown_type,
    BadLines.missing_field,
    BadLines.bad_amount,
    BadLines.wrong_currency,
    BadLines.wrong_type,
    BadLines.poison_time,
    BadLines.control_character,
    BadLines.huge_number,
    BadLines.deep_nesting,
    BadLines.lenient,
    BadLines.reused_id,
    BadLines.squatted_id,
    BadLines.long_line,
)
