"""Kafka records are decoded once, when they are buffered for the merge: the merge key is
the producer's stamp (run, line) when the record has one, else the message's time, and the
engine applies the decoded message it carries."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from smsledger.consumers.engine import Engine
from smsledger.consumers.journal import Inbound
from smsledger.consumers.messages import DecodeError, Message
from smsledger.consumers.partitions import EARLIEST, RUN_HEADER, SEQUENCE_HEADER, buffered
from tests.scenario import Scenario, run

AT = datetime(2026, 6, 1, 10, 0, 5, tzinfo=UTC)


def _record(data: dict[str, object], at: str = "2026-06-01T10:00:05Z") -> bytes:
    return orjson.dumps({"id": "m-1", "type": "account.opened", "at": at, "data": data})


def test_a_valid_record_carries_its_message_and_is_keyed_by_its_time() -> None:
    held = buffered(_record({"account": "a1"}), None, 2, "t", 0, 41)
    assert held.key == (0, AT, 2)
    assert held.inbound[:4] == (held.inbound.raw, "t", 0, 41)
    assert isinstance(held.inbound.decoded, Message)
    assert held.inbound.decoded.data["account"] == "a1"


def test_a_record_breaking_the_contract_keeps_its_time_and_carries_the_error() -> None:
    held = buffered(_record({"account": ""}), None, 1, "t", 0, 3)
    assert held.key == (0, AT, 1)
    assert isinstance(held.inbound.decoded, DecodeError)
    assert held.inbound.decoded.reason == "bad_field"


def test_an_unreadable_record_sorts_first() -> None:
    held = buffered(b"{not json", None, 0, "t", 1, 0)
    assert held.key == (0, EARLIEST, 0)
    assert held.inbound.decoded.reason == "malformed_json"


def test_a_stamped_record_is_keyed_by_its_place_in_the_produced_stream() -> None:
    late = buffered(_record({"account": "a1"}, at="2026-06-01T09:00:00Z"),
                    [(RUN_HEADER, b"5"), (SEQUENCE_HEADER, b"8")], 2, "t", 0, 1)
    early = buffered(_record({"account": "a2"}, at="2026-06-01T23:00:00Z"),
                     [(RUN_HEADER, b"5"), (SEQUENCE_HEADER, b"7")], 0, "t", 1, 1)
    next_run = buffered(_record({"account": "a1"}), [(RUN_HEADER, b"6"), (SEQUENCE_HEADER, b"1")],
                        0, "t", 0, 2)
    assert late.key == (1, 5, 8, 2)
    assert sorted([next_run, late, early]) == [early, late, next_run]  # not by event time


def test_a_line_number_alone_is_a_stamp_and_a_foreign_header_is_none() -> None:
    alone = buffered(_record({"account": "a1"}), [(SEQUENCE_HEADER, b"3")], 1, "t", 0, 0)
    foreign = buffered(_record({"account": "a1"}), [(SEQUENCE_HEADER, b"x")], 1, "t", 0, 0)
    assert alone.key == (1, 0, 3, 1)
    assert foreign.key == (0, AT, 1)


def test_the_engine_applies_the_decoded_message_as_it_would_the_raw_bytes() -> None:
    s = Scenario()
    s.account("a1")
    s.deposit(700, account="a1", deposit="d1")
    lines = s.lines()
    outcome = run(lines[:1])
    ledger = outcome.ledger
    engine = Engine(ledger.opened.store, ledger.policy)
    carried = buffered(lines[1], None, 0, "payments", 0, 0).inbound
    assert carried.decoded is not None
    # Its bytes are not read again: the message it carries is what is applied.
    engine.process([carried._replace(raw=b"(read already)"),
                    Inbound(b'{"id": "m-x"}', "payments", 0, 1, None)])
    engine.commit()
    ledger.catch_up()
    assert outcome.balance("a1")["available"] == 700
    assert engine.counts.applied == 1
    assert engine.counts.dead_lettered == 1
