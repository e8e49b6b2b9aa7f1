"""The inbound message contract (DESIGN §2): decoding and validation of one JSON object."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from smsledger.domain.money import MAX_AMOUNT
from smsledger.domain.policies import REFUND_REASONS


class DecodeError(ValueError):
    """The message breaks the contract; it is dead-lettered with `reason`."""

    def __init__(self, reason: str, detail: str, message_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.message_id = message_id


class Message(NamedTuple):
    id: str
    type: str
    at: datetime
    data: dict[str, Any]

    def get(self, key: str) -> Any:
        return self.data.get(key)


Check = Callable[[str, Any], Any]

_REF_MAX = 200
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def ref(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _REF_MAX:
        raise DecodeError("bad_field", f"{name} must be a non-empty string of <= {_REF_MAX}")
    return value


def text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise DecodeError("bad_field", f"{name} must be a string")
    return value


def optional_text(name: str, value: Any) -> str | None:
    return None if value is None else text(name, value)


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise DecodeError("bad_field", f"{name} must be true or false")
    return value


def _integer(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError("bad_amount", f"{name} must be an integer in minor units")
    if value < minimum or value > MAX_AMOUNT:
        raise DecodeError("bad_amount", f"{name} {value} is outside {minimum}..{MAX_AMOUNT}")
    return value


def amount(name: str, value: Any) -> int:
    return _integer(name, value, 1)


def fee(name: str, value: Any) -> int:
    return _integer(name, value, 0)


def currency(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise DecodeError("bad_currency", f"{name} must be an ISO 4217 code like USD")
    return value


def timestamp(name: str, value: Any) -> datetime:
    try:
        return parse_time(value)
    except DecodeError as error:
        raise DecodeError("bad_field", f"{name}: {error.detail}") from None


def one_of(*choices: str) -> Check:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise DecodeError("bad_field", f"{name} must be one of {', '.join(choices)}")
        return value

    return check


REQUIRED = object()

# Per type: field -> (check, default). REQUIRED marks a field that must be present.
CONTRACT: dict[str, dict[str, tuple[Check, Any]]] = {
    "account.opened": {
        "account": (ref, REQUIRED), "currency": (currency, "USD"), "eu_consumer": (flag, False),
    },
    "waiver.accepted": {"account": (ref, REQUIRED)},
    "deposit.succeeded": {
        "account": (ref, REQUIRED), "deposit": (ref, REQUIRED), "amount": (amount, REQUIRED),
        "currency": (currency, "USD"), "method": (one_of("card", "crypto", "other"), REQUIRED),
    },
    "order.requested": {
        "account": (ref, REQUIRED), "order": (ref, REQUIRED), "service": (ref, REQUIRED),
        "country": (ref, REQUIRED), "price": (amount, REQUIRED),
    },
    "number.issued": {
        "order": (ref, REQUIRED), "provider": (ref, REQUIRED), "phone": (ref, REQUIRED),
        "activation": (ref, REQUIRED), "price": (amount, None),
    },
    "number.unavailable": {
        "order": (ref, REQUIRED),
        "reason": (one_of("no_numbers", "service_unavailable", "provider_error"), REQUIRED),
    },
    "sms.delivered": {"order": (ref, REQUIRED), "text": (text, ""), "code": (optional_text, None)},
    "order.another_sms_requested": {"order": (ref, REQUIRED), "account": (ref, REQUIRED)},
    "order.completed": {"order": (ref, REQUIRED), "account": (ref, REQUIRED)},
    "order.cancel_requested": {
        "order": (ref, REQUIRED), "account": (ref, REQUIRED),
        "reason": (lambda n, v: None if v is None else one_of("number_already_used")(n, v), None),
    },
    "order.wrong_code_reported": {"order": (ref, REQUIRED), "account": (ref, REQUIRED)},
    "order.incomplete_sms_reported": {"order": (ref, REQUIRED), "account": (ref, REQUIRED)},
    "order.cancel_failed": {
        "order": (ref, REQUIRED), "account": (ref, REQUIRED), "detail": (text, ""),
    },
    "refund.requested": {
        "request": (ref, REQUIRED), "account": (ref, REQUIRED), "amount": (amount, None),
        "reason": (one_of(*REFUND_REASONS), REQUIRED), "details_provided": (flag, False),
    },
    "refund.details_provided": {"request": (ref, REQUIRED)},
    "refund.extended": {
        "request": (ref, REQUIRED), "until": (timestamp, REQUIRED), "reason": (text, REQUIRED),
    },
    "refund.paid": {"request": (ref, REQUIRED), "fee": (fee, 0)},
    "account.blocked": {
        "account": (ref, REQUIRED),
        "reason": (one_of("fraud", "law_enforcement", "abuse", "rules_violation"), REQUIRED),
    },
    "account.closed": {"account": (ref, REQUIRED)},
    "clock.tick": {},
}

PROVIDER_TYPES = frozenset({"number.issued", "number.unavailable", "sms.delivered"})


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise DecodeError("bad_timestamp", "at must be an RFC 3339 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise DecodeError("bad_timestamp", f"at {value!r} is not RFC 3339") from None
    if parsed.tzinfo is UTC:
        return parsed  # "Z" or "+00:00": UTC already
    if parsed.tzinfo is None:
        raise DecodeError("bad_timestamp", f"at {value!r} has no UTC offset")
    return parsed.astimezone(UTC)


def decode(raw: bytes | str) -> Message:
    """One inbound line or record as a validated `Message`, or a `DecodeError`."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise DecodeError("malformed_json", str(error)) from None
    if not isinstance(obj, dict):
        raise DecodeError("not_an_object", "a message must be a JSON object")
    raw_id = obj.get("id")
    message_id = raw_id if isinstance(raw_id, str) and raw_id and len(raw_id) <= _REF_MAX else None
    try:
        return _decode_object(obj, message_id)
    except DecodeError as error:
        error.message_id = message_id
        raise


def _decode_object(obj: dict[str, Any], message_id: str | None) -> Message:
    if message_id is None:
        raise DecodeError("bad_id", "id must be a non-empty string")
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in CONTRACT:
        raise DecodeError("unknown_type", f"type {kind!r} is not part of the contract")
    at = parse_time(obj.get("at"))
    data = obj.get("data", {})
    if data is None and not CONTRACT[kind]:
        data = {}
    if not isinstance(data, dict):
        raise DecodeError("bad_field", "data must be an object")
    return Message(message_id, kind, at, _decode_data(kind, data))


def _decode_data(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for name, check, default in _FIELDS[kind]:
        value = data.get(name)
        if value is not None:
            decoded[name] = check(name, value)
        elif name in data and default is REQUIRED:
            decoded[name] = check(name, value)  # a required field given as null: its check says why
        elif default is REQUIRED:
            raise DecodeError("missing_field", f"{kind} needs data.{name}")
        else:
            decoded[name] = default
    return decoded


_FIELDS: dict[str, tuple[tuple[str, Check, Any], ...]] = {
    kind: tuple((name, check, default) for name, (check, default) in fields.items())
    for kind, fields in CONTRACT.items()
}
