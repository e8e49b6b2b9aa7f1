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
        detail = printable(detail)
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.message_id = message_id


def printable(text: str) -> str:
    """`text` with every unprintable character escaped, safe for any store and terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Message(NamedTuple):
    id: str
    type: str
    at: datetime
    data: dict[str, Any]

    def get(self, key: str) -> Any:
        return self.data.get(key)


Check = Callable[[str, Any], Any]

_REF_MAX = 200
_CURRENCY = re.compile(r"[A-Z]{3}")
DEFAULT_CURRENCY = "USD"
# Control characters free text may not hold: all of Unicode's (Cc) but tab, LF and CR.
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def ref_problem(value: Any) -> tuple[str, str] | None:
    """Why `value` cannot be an id or a name (reason, what it must be), or None.

    Ids and names are printable text (`str.isprintable`: no control, format, surrogate,
    private-use, unassigned or separator character other than the space, so no NUL, no
    line break, no bidirectional override), 1 to 200 characters, without surrounding
    whitespace: every store keeps them as they are and every terminal shows them as they are.
    """
    if not isinstance(value, str) or not value or len(value) > _REF_MAX:
        return "bad_field", f"a non-empty string of <= {_REF_MAX} characters"
    if not value.isprintable():
        return "unprintable_character", "printable text (no control characters)"
    if value[0] == " " or value[-1] == " ":
        return "bad_field", "text without leading or trailing spaces"
    return None


def is_ref(value: Any) -> bool:
    """`ref_problem(value) is None`, in the fewest steps (it runs for every id and name)."""
    return (isinstance(value, str) and 0 < len(value) <= _REF_MAX and value.isprintable()
            and value[0] != " " != value[-1])


def ref(name: str, value: Any) -> str:
    if isinstance(value, str):  # is_ref(value), inline: this runs for every id and name
        if 0 < len(value) <= _REF_MAX and value.isprintable() and value[0] != " " != value[-1]:
            return value
    reason, must = ref_problem(value) or ("bad_field", "")
    raise DecodeError(reason, f"{name} must be {must}")


def text(name: str, value: Any) -> str:
    """Free text (an SMS): any string without control characters but tab and line breaks."""
    if not isinstance(value, str):
        raise DecodeError("bad_field", f"{name} must be a string")
    if not value.isprintable() and _TEXT_CONTROL.search(value):
        raise DecodeError("unprintable_character", f"{name} holds a control character")
    return value


def optional_text(name: str, value: Any) -> str | None:
    """Absent, or printable text (a code) that may be empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise DecodeError("bad_field", f"{name} must be a string")
    if not value.isprintable():
        raise DecodeError("unprintable_character", f"{name} must be printable text")
    return value


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
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
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
        "account": (ref, REQUIRED), "currency": (currency, DEFAULT_CURRENCY),
        "eu_consumer": (flag, False),
    },
    "waiver.accepted": {"account": (ref, REQUIRED)},
    "deposit.succeeded": {
        "account": (ref, REQUIRED), "deposit": (ref, REQUIRED), "amount": (amount, REQUIRED),
        "currency": (currency, DEFAULT_CURRENCY),
        "method": (one_of("card", "crypto", "other"), REQUIRED),
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


# RFC 3339's date-time with upper-case T and Z (the RFC allows lower case; the contract
# does not), ASCII digits, at most nine fraction digits (kept to the microsecond).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
# Event times the contract takes: every deadline, window and bound derived from one (days,
# at most weeks) stays far inside what a datetime can hold.
EARLIEST_AT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_AT = datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
_AT_RANGE = "1970-01-01T00:00:00Z..9998-12-31T23:59:59Z"


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise DecodeError("bad_timestamp", f"at {repr(value)[:60]} is not an RFC 3339 date-time")
    if len(value) == 20 and value[4:20:3] == "--T::Z":
        pass  # the common form, YYYY-MM-DDTHH:MM:SSZ: fromisoformat checks its digits
    elif not _RFC3339.fullmatch(value):
        raise DecodeError("bad_timestamp", f"at {repr(value)[:60]} is not an RFC 3339 date-time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise DecodeError("bad_timestamp", f"at {value!r} is not a valid time") from None
    try:
        if parsed.tzinfo is not UTC:  # "Z" is UTC already
            parsed = parsed.astimezone(UTC)
        inside = EARLIEST_AT <= parsed <= LATEST_AT
    except OverflowError:  # in UTC before year 1 or after 9999
        inside = False
    if not inside:
        raise DecodeError("bad_timestamp", f"at {value!r} is outside {_AT_RANGE}")
    return parsed


def decode(raw: bytes | str) -> Message:
    """One inbound line or record as a validated `Message`, or a `DecodeError`."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise DecodeError("malformed_json", str(error)) from None
    if not isinstance(obj, dict):
        raise DecodeError("not_an_object", "a message must be a JSON object")
    raw_id = obj.get("id")
    # The id a dead letter is filed under: only one the stores can hold and show as it is.
    message_id = raw_id if is_ref(raw_id) else None
    try:
        return _decode_object(obj, message_id)
    except DecodeError as error:
        error.message_id = message_id
        raise


def _decode_object(obj: dict[str, Any], message_id: str | None) -> Message:
    if message_id is None:
        reason, must = ref_problem(obj.get("id")) or ("bad_id", "")
        raise DecodeError("bad_id" if reason == "bad_field" else reason, f"id must be {must}")
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
