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
)


class BadLines:
    """Decides after each good line whether a bad one follows, and makes it."""

    def __init__(self, seed: int, share: float) -> None:
        # A separate generator, so the good lines are the same whatever the share.
        self._rng = Random(f"bad-input-{seed}")
        self._share = share
        self._count = 0
        self._accounts: list[str] = []

    def after(self, message: dict[str, Any], line: bytes) -> bytes | None:
        """A bad line to put after `line`, or None."""
        if message["type"] in ("account.opened", "deposit.succeeded"):
            self._accounts.append(message["data"]["account"])
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


_MAKERS: tuple[Callable[[BadLines, dict[str, Any], bytes], bytes], ...] = (
    BadLines.truncated,
    BadLines.not_json,
    BadLines.unknown_type,
    BadLines.missing_field,
    BadLines.bad_amount,
    BadLines.wrong_currency,
    BadLines.wrong_type,
)
