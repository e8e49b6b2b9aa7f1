"""Poison lines: no single line can crash, stall or corrupt the ledger — times near the ends
of the calendar, control characters, ids taken by other lines, a currency set by whoever
comes first, lenient formats and huge lines. Each becomes a dead letter with a reason."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import orjson
import pytest

from smsledger.consumers.ingest import KEPT_BYTES, LongLine, bounded_lines, ingest_lines
from smsledger.consumers.journal import RELEASED_NOTE
from smsledger.consumers.messages import DecodeError, decode
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings, settings_from_env
from tests.scenario import Outcome, Scenario, memory_store_url, run

AT = "2026-06-01T10:05:00Z"
DEPOSIT = {"account": "a1", "deposit": "d9", "amount": 5, "currency": "USD", "method": "card"}
ORDER = {"account": "a1", "order": "o9", "service": "telegram", "country": "KZ", "price": 10}


def line(message_id: str, kind: str, data: dict[str, Any] | None = None, at: Any = AT) -> bytes:
    return orjson.dumps({"id": message_id, "type": kind, "at": at, "data": data or {}})


def funded() -> Scenario:
    s = Scenario()
    s.account()
    s.deposit(1000, deposit="d1")
    return s


def after() -> bytes:
    """A valid deposit that must still be applied after the poison line."""
    return line("after", "deposit.succeeded", {**DEPOSIT, "deposit": "d-after", "amount": 7})


def run_poisoned(poison: bytes, *, batch_size: int = 100) -> Outcome:
    outcome = run([*funded().lines(), poison, after()], batch_size=batch_size)
    assert outcome.balance()["deposited"] == 1007, "the lines around the poison are applied"
    return outcome


def only_dead_letter(outcome: Outcome) -> dict[str, Any]:
    (letter,) = outcome.query("dead-letters")
    assert outcome.counts["dead_lettered"] == 1
    return letter


# --- Times at the ends of the calendar ----------------------------------------------------

OVERFLOWING = [
    line("t1", "clock.tick", at="0001-01-01T00:00:00+01:00"),
    line("t2", "clock.tick", at="9999-12-31T23:59:59-01:00"),
    line("t3", "order.requested", ORDER, at="9999-12-31T23:50:00Z"),  # its deadline overflows
    line("t4", "refund.requested", {"request": "r9", "account": "a1", "reason": "other"},
         at="9999-12-25T00:00:00Z"),
    line("t5", "clock.tick", at="0001-01-01T00:00:00Z"),  # the park bound before it overflows
    line("t6", "clock.tick", at="1969-12-31T23:59:59Z"),
]


@pytest.mark.parametrize("poison", OVERFLOWING, ids=[f"t{i}" for i in range(1, 7)])
def test_a_time_near_the_ends_of_the_calendar_is_a_dead_letter(poison: bytes) -> None:
    outcome = run_poisoned(poison)
    letter = only_dead_letter(outcome)
    assert letter["reason"] == "bad_timestamp"
    assert "outside 1970-01-01T00:00:00Z..9998-12-31T23:59:59Z" in letter["detail"]


def test_the_earliest_and_latest_times_of_the_contract_are_taken() -> None:
    assert decode(line("a", "clock.tick", at="1970-01-01T00:00:00Z")).at.year == 1970
    assert decode(line("b", "clock.tick", at="9998-12-31T23:59:59Z")).at.year == 9998
    order = line("c", "order.requested", ORDER, at="9998-12-31T23:59:59Z")
    # The wall-clock bound (SMSLEDGER_MAX_FUTURE) set wide: the calendar's end is the test.
    outcome = run([*funded().lines(), order], max_future=timedelta(days=3_000_000))
    assert outcome.order("o9")["state"] == "requested"


# --- Lenient formats ----------------------------------------------------------------------

LENIENT = [
    ("currency with a newline", line("c", "deposit.succeeded", {**DEPOSIT, "currency": "USD\n"}),
     "bad_currency"),
    ("lower-case currency", line("c", "deposit.succeeded", {**DEPOSIT, "currency": "usd"}),
     "bad_currency"),
    ("whitespace-only message id", line("   ", "clock.tick"), "bad_id"),
    ("message id with a trailing space", line("m ", "clock.tick"), "bad_id"),
    ("whitespace-only account", line("c", "deposit.succeeded", {**DEPOSIT, "account": " \t"}),
     "unprintable_character"),
    ("account with a leading space", line("c", "deposit.succeeded", {**DEPOSIT, "account": " a1"}),
     "bad_field"),
    ("ISO week date", line("c", "clock.tick", at="2026-W23-1T10:00:00Z"), "bad_timestamp"),
    ("lower-case z", line("c", "clock.tick", at="2026-06-01T10:00:00z"), "bad_timestamp"),
    ("lower-case t", line("c", "clock.tick", at="2026-06-01t10:00:00Z"), "bad_timestamp"),
    ("space for T", line("c", "clock.tick", at="2026-06-01 10:00:00Z"), "bad_timestamp"),
    ("date only", line("c", "clock.tick", at="2026-06-01"), "bad_timestamp"),
    ("offset without colon", line("c", "clock.tick", at="2026-06-01T10:00:00+0200"),
     "bad_timestamp"),
    ("non-ASCII digits", line("c", "clock.tick", at="２０２６-06-01T10:00:00Z"), "bad_timestamp"),
    ("ten fraction digits", line("c", "clock.tick", at="2026-06-01T10:00:00.1234567890Z"),
     "bad_timestamp"),
]


@pytest.mark.parametrize(("case", "poison", "reason"), LENIENT, ids=[c[0] for c in LENIENT])
def test_what_the_contract_does_not_allow_is_a_dead_letter(
    case: str, poison: bytes, reason: str
) -> None:
    assert only_dead_letter(run_poisoned(poison))["reason"] == reason, case


@pytest.mark.parametrize(
    "at", ["2026-06-01T10:00:00Z", "2026-06-01T12:00:00+02:00", "2026-06-01T10:00:00.5Z",
           "2026-06-01T10:00:00.123456789Z", "2026-06-01T10:00:00-00:00"])
def test_rfc_3339_times_in_the_contract_form_are_taken(at: str) -> None:
    assert decode(line("a", "clock.tick", at=at)).at.hour == 10


# --- Control characters -------------------------------------------------------------------

CONTROL = [
    ("NUL in the message id", line("m\u0000x", "clock.tick")),
    ("NUL in an account", line("c", "deposit.succeeded", {**DEPOSIT, "account": "a\u00001"})),
    ("NUL in a service", line("c", "order.requested", {**ORDER, "service": "tele\u0000gram"})),
    ("NUL in a code", line("c", "sms.delivered", {"order": "o1", "code": "1\u00002"})),
    ("NUL in an SMS text", line("c", "sms.delivered", {"order": "o1", "text": "a\u0000"})),
    ("line feed in a deposit id", line("c", "deposit.succeeded", {**DEPOSIT, "deposit": "d\n"})),
    ("DEL in a country", line("c", "order.requested", {**ORDER, "country": "K\u007fZ"})),
    ("C1 control in a provider",
     line("c", "number.issued", {"order": "o1", "provider": "p\u0085", "phone": "1",
                                 "activation": "x"})),
    ("bidirectional override in an account",
     line("c", "deposit.succeeded", {**DEPOSIT, "account": "a\u202e1"})),
]


@pytest.mark.parametrize(("case", "poison"), CONTROL, ids=[c[0] for c in CONTROL])
def test_a_control_character_in_an_id_or_name_is_a_dead_letter(case: str, poison: bytes) -> None:
    letter = only_dead_letter(run_poisoned(poison))
    assert letter["reason"] == "unprintable_character", case
    assert letter["raw"].encode() == poison
    assert letter["detail"].isprintable()


def test_a_dead_letter_of_an_unprintable_id_is_filed_under_no_id() -> None:
    poison = line("m\u0000x", "clock.tick")
    outcome = run([*funded().lines(), poison, poison])
    assert [d["message"] for d in outcome.query("dead-letters")] == [None, None]
    assert outcome.counts["duplicates"] == 0  # not stored, so not a duplicate


def test_an_sms_text_may_hold_line_breaks_and_tabs() -> None:
    text = "Your code:\n\t52817\r\n"
    message = decode(line("s", "sms.delivered", {"order": "o1", "text": text, "code": "52817"}))
    assert message.data["text"] == text


def test_printable_unicode_names_are_taken() -> None:
    data = {**DEPOSIT, "account": "Zoë — 東京 🙂"}
    assert decode(line("u", "deposit.succeeded", data)).data["account"] == data["account"]


# --- Message ids taken by other lines -----------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 100])
def test_a_dead_letter_does_not_reserve_the_id_of_a_later_valid_message(batch_size: int) -> None:
    s = funded()
    genuine = s.send("deposit.succeeded", account="a1", deposit="d2", amount=1000,
                     currency="USD", method="card")
    squatter = line(genuine["id"], "deposit.succeeded", {**DEPOSIT, "amount": -5})
    lines = s.lines()
    lines.insert(2, squatter)
    outcome = run(lines, batch_size=batch_size)
    assert outcome.balance()["deposited"] == 2000
    letter = only_dead_letter(outcome)
    assert (letter["message"], letter["reason"]) == (genuine["id"], "bad_amount")
    assert letter["detail"].endswith(RELEASED_NOTE), "the collision is shown to the operator"
    assert outcome.counts["applied"] == 3


def test_reading_a_squatted_input_again_changes_nothing() -> None:
    s = funded()
    genuine = s.send("deposit.succeeded", account="a1", deposit="d2", amount=1000,
                     currency="USD", method="card")
    lines = s.lines()
    lines.insert(2, line(genuine["id"], "deposit.succeeded", {**DEPOSIT, "amount": -5}))
    store = memory_store_url()
    first = run(lines, store=store)
    again = run(lines, store=store)
    assert again.counts["applied"] == 0
    assert again.balance()["deposited"] == 2000
    assert again.query("dead-letters") == first.query("dead-letters")


def test_a_second_bad_line_under_a_dead_lettered_id_is_its_own_dead_letter() -> None:
    first = line("m-x", "deposit.succeeded", {**DEPOSIT, "amount": -5})
    second = line("m-x", "deposit.succeeded", {**DEPOSIT, "currency": "usd"})
    outcome = run([*funded().lines(), first, second, after()])
    assert [d["reason"] for d in outcome.query("dead-letters")] == ["bad_amount", "bad_currency"]
    assert outcome.balance()["deposited"] == 1007


def test_a_valid_line_reusing_an_applied_id_is_a_visible_duplicate_without_effect() -> None:
    s = funded()
    reused = line(s.messages[1]["id"], "deposit.succeeded", {**DEPOSIT, "amount": 500})
    outcome = run([*s.lines(), reused, after()])
    assert outcome.balance()["deposited"] == 1007
    letter = only_dead_letter(outcome)
    assert (letter["message"], letter["reason"]) == (s.messages[1]["id"], "duplicate_id")
    assert letter["raw"].encode() == reused


# --- The currency of an account -----------------------------------------------------------


def _usd_traffic(s: Scenario, n: int) -> None:
    for i in range(n):
        s.deposit(10, deposit=f"du{i}")


def test_a_deposit_in_another_currency_before_the_opening_does_not_set_the_currency() -> None:
    s = Scenario()
    s.send("deposit.succeeded", account="a1", deposit="d-eur", amount=500, currency="EUR",
           method="card")
    s.account(currency="USD")
    _usd_traffic(s, 48)
    outcome = run(s)
    balance = outcome.balance()
    assert (balance["currency"], balance["deposited"]) == ("USD", 480)
    letter = only_dead_letter(outcome)
    assert (letter["reason"], letter["message"]) == ("currency_mismatch", s.messages[0]["id"])


def test_a_deposit_parked_for_its_opening_is_credited_when_the_currencies_agree() -> None:
    s = Scenario()
    s.send("deposit.succeeded", account="a1", deposit="d-eur", amount=500, currency="EUR",
           method="card")
    s.account(currency="EUR")
    outcome = run(s, batch_size=1)
    assert (outcome.balance()["currency"], outcome.balance()["deposited"]) == ("EUR", 500)
    assert outcome.query("dead-letters") == []


def test_a_deposit_in_another_currency_for_an_account_never_opened_is_a_dead_letter() -> None:
    s = Scenario()
    s.deposit(100, deposit="d-usd")  # opens the account in USD, as DESIGN §2 says
    s.send("deposit.succeeded", account="a1", deposit="d-eur", amount=500, currency="EUR",
           method="card")
    outcome = run(s)
    assert outcome.balance()["deposited"] == 100
    letter = only_dead_letter(outcome)
    assert letter["reason"] == "unknown_account"
    assert "account.opened" in letter["detail"]


# --- Line size ----------------------------------------------------------------------------


class PieceCountingStream(io.BytesIO):
    """A stream that remembers the longest piece any read handed out."""

    longest = 0

    def readline(self, size: int | None = -1) -> bytes:
        piece = super().readline(size)
        self.longest = max(self.longest, len(piece))
        return piece


def test_a_line_over_the_cap_is_read_in_pieces_and_dead_lettered_with_its_head() -> None:
    huge = line("big", "sms.delivered", {"order": "o1", "text": "x" * 50_000})
    stream = PieceCountingStream(b"\n".join([*funded().lines(), huge, after(), b""]))
    ledger = bootstrap(Settings(store=memory_store_url(), policy="sms-service"))
    counts = ingest_lines(ledger.engine(), bounded_lines(stream, 2_000), source="f",
                          max_line_bytes=2_000)
    ledger.catch_up()
    outcome = Outcome(ledger, counts.as_dict())
    assert stream.longest <= 2_001
    assert outcome.balance()["deposited"] == 1007
    letter = only_dead_letter(outcome)
    assert letter["reason"] == "line_too_long"
    assert str(len(huge)) in letter["detail"]
    assert letter["raw"].encode() == huge[:KEPT_BYTES]


def test_a_line_of_exactly_the_cap_is_a_message() -> None:
    body = line("fit", "clock.tick")
    lines = list(bounded_lines(io.BytesIO(body + b"\n" + body), len(body)))
    assert lines == [body + b"\n", body]


def test_a_line_over_the_cap_in_a_list_is_dead_lettered_too() -> None:
    huge = line("big", "sms.delivered", {"order": "o1", "text": "x" * 300})
    ledger = bootstrap(Settings(store=memory_store_url(), policy="sms-service"))
    counts = ingest_lines(ledger.engine(), [*funded().lines(), huge], source="f",
                          max_line_bytes=200)
    assert counts.dead_lettered == 1


def test_a_long_line_reports_its_size_without_the_newline() -> None:
    pieces = list(bounded_lines(io.BytesIO(b"y" * 5000 + b"\nz\n"), 100))
    assert pieces == [LongLine(b"y" * KEPT_BYTES, 5000), b"z\n"]


def test_the_line_cap_is_a_setting() -> None:
    assert settings_from_env({}).max_line_bytes == 65_536
    assert settings_from_env({"SMSLEDGER_MAX_LINE_BYTES": "4096"}).max_line_bytes == 4096
    with pytest.raises(ValueError, match="SMSLEDGER_MAX_LINE_BYTES"):
        settings_from_env({"SMSLEDGER_MAX_LINE_BYTES": "0"})


def test_a_decode_error_detail_is_printable() -> None:
    with pytest.raises(DecodeError) as raised:
        decode(line("c", "clock.tick", at="2026\u0000"))
    assert raised.value.detail.isprintable()
