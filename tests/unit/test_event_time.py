"""Time per account, lateness explicit (README, Time): a message moves only its own
account's time; clocks (ticks per partition, the end of an input) settle the rest, ticks
only what lies the allowed lateness behind them; only processed messages move the
watermark, and a time too far ahead of the wall clock is dead-lettered."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from smsledger.consumers.engine import Engine
from smsledger.consumers.ingest import ingest_lines
from smsledger.consumers.journal import Inbound
from smsledger.consumers.partitions import PartitionOwnership, partition_of
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import Settings
from tests.scenario import START, Outcome, Scenario, memory_store_url, run

MIN = timedelta(minutes=1)


def issued(s: Scenario | None = None, account: str = "a1", order: str = "o1") -> Scenario:
    """Account funded, order placed and issued at 10:00:03 (deadline 10:20:03)."""
    s = s or Scenario()
    s.account(account)
    s.deposit(1000, account=account, deposit=f"d-{account}")
    s.order(order, 100, account=account)
    s.issue(order)
    return s


def other_account(s: Scenario, at: timedelta) -> None:
    s.at(at).send("account.opened", account="zz", currency="USD", eu_consumer=False)


def line(message_id: str, kind: str, at: str, data: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps({"id": message_id, "type": kind, "at": at, "data": data or {}})


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_another_accounts_traffic_never_times_out_an_order() -> None:
    s = issued()
    other_account(s, 40 * MIN)  # far past o1's deadline
    s.at(10 * MIN).sms("o1")  # a1's own next message, in a1's order: in time
    outcome = run(s)
    assert outcome.order("o1")["state"] == "completed"  # its window ended with the SMS
    assert outcome.balance()["spent"] == 100
    assert outcome.counts["late"] == 0


@pytest.mark.parametrize(
    ("tick", "state", "late"),
    [(23 * MIN, "completed", 0), (30 * MIN, "timed_out", 1)],
    ids=["within the allowed lateness", "further behind"],
)
def test_a_tick_settles_only_what_lies_the_allowed_lateness_behind_it(
    tick: timedelta, state: str, late: int
) -> None:
    s = issued()
    s.at(tick).send("clock.tick")
    s.at(19 * MIN).sms("o1")  # before the deadline, arriving after the tick
    outcome = run(s)
    assert outcome.order("o1")["state"] == state
    assert outcome.counts["late"] == late


def test_a_late_message_is_journalled_with_the_clock_it_was_behind() -> None:
    s = issued()
    s.at(30 * MIN).send("clock.tick")
    s.at(19 * MIN).sms("o1")
    outcome = run(s)
    rows = outcome.ledger.opened.database.query("SELECT * FROM late_messages")
    sms = s.messages[-1]
    assert rows == [(sms["id"], "2026-06-01T10:19:00.000000Z", "2026-06-01T10:30:00.000000Z",
                     "test", None, len(s.messages))]


def test_a_parked_message_waits_for_its_order_whatever_other_accounts_do() -> None:
    s = Scenario()
    s.account()
    s.deposit(1000, deposit="d1")
    s.issue("o1")  # the provider's message, ahead of the order
    other_account(s, 3 * 60 * MIN)
    s.at(1 * MIN).order("o1", 100)
    outcome = run(s)
    assert outcome.query("dead-letters") == []
    assert outcome.order("o1")["provider"] == "p1"


def test_a_tick_dead_letters_what_stayed_parked_past_the_bound() -> None:
    s = Scenario()
    s.account()
    s.issue("o1")
    s.at(2 * 60 * MIN).send("clock.tick")
    s.deposit(1000, deposit="d1")
    s.order("o1", 100)
    outcome = run(s)
    assert [d["reason"] for d in outcome.query("dead-letters")] == ["unknown_order"]
    assert outcome.order("o1")["provider"] is None


@pytest.mark.parametrize("dead", ["unknown order", "currency mismatch"])
def test_a_dead_lettered_line_does_not_move_time(dead: str) -> None:
    s = Scenario()
    s.account()
    s.deposit(1000, deposit="d1")
    s.order("o1", 100)  # 10:00:02, deadline 10:20:02
    s.at(timedelta(days=3))
    if dead == "unknown order":
        s.sms("ghost")
    else:
        s.send("deposit.succeeded", account="a1", deposit="d9", amount=5, currency="EUR",
               method="card")
    outcome = run(s)
    assert len(outcome.query("dead-letters")) == 1
    assert outcome.ledger.opened.store.watermark() == START + timedelta(seconds=2)
    if dead == "unknown order":  # (a wrong currency is found out after a1's deadlines
        # before the deposit's time are settled: see the README, Time)
        assert (outcome.order("o1")["state"], outcome.balance()["held"]) == ("requested", 100)


def test_a_line_far_ahead_of_the_wall_clock_is_dead_lettered_and_later_orders_settle() -> None:
    s = Scenario()
    s.account()
    s.deposit(1000, deposit="d1")
    s.order("o1", 100)
    s.at(30 * MIN).send("clock.tick")
    lines = s.lines()
    lines.insert(2, line("far", "clock.tick", "9000-01-01T00:00:00Z"))  # inside the calendar
    outcome = run(lines)
    (letter,) = outcome.query("dead-letters")
    assert (letter["message"], letter["reason"]) == ("far", "future")
    assert outcome.ledger.opened.store.watermark() == START + 30 * MIN
    assert (outcome.order("o1")["state"], outcome.balance()["held"]) == ("failed", 0)


@pytest.mark.parametrize(("ahead", "reason"), [(23 * 60 * MIN, None), (25 * 60 * MIN, "future")])
def test_the_future_bound_is_measured_against_the_wall_clock(
    ahead: timedelta, reason: str | None
) -> None:
    ledger = bootstrap(Settings(store=memory_store_url()))
    try:
        engine = Engine(ledger.opened.store, ledger.policy, wall_clock=lambda: START,
                        max_future=timedelta(days=1))
        ingest_lines(engine, [line("t", "clock.tick", stamp(START + ahead))], source="t")
        ledger.catch_up()
        from smsledger.projections.queries import run_query

        letters = run_query(ledger.opened.database, "dead-letters")
        assert [d["reason"] for d in letters] == ([reason] if reason else [])
    finally:
        ledger.close()


def test_a_file_behind_the_watermark_settles_its_own_deadlines_at_its_end() -> None:
    store = memory_store_url()
    later = Scenario(start=START + timedelta(days=2), _ids=itertools.count(1000))
    later.account("a2")
    later.send("clock.tick")
    kept = run(later, store=store)  # keeps the in-memory store open
    earlier = Scenario()
    earlier.account()
    earlier.deposit(1000, deposit="d1")
    earlier.order("o1", 100)  # nothing more about it in this file
    outcome = run(earlier, store=store)
    assert (outcome.order("o1")["state"], outcome.balance()["held"]) == ("failed", 0)
    kept.ledger.close()


# --- Partition clocks: a tick moves only its own partition's accounts -----------------

def two_partitions() -> tuple[str, str]:
    """Two accounts on different partitions of two."""
    first = "acc-1"
    other = next(f"acc-{n}" for n in range(2, 100)
                 if partition_of(f"acc-{n}", 2) != partition_of(first, 2))
    return first, other


def consume(engine: Engine, s: Scenario, partition_by: dict[str, int]) -> None:
    """Each message as a record of its account's partition (an order's account for the
    provider's); a tick on the partition its data names."""
    records, accounts = [], {}
    for offset, message in enumerate(s.messages):
        data = message["data"]
        if message["type"] == "order.requested":
            accounts[data["order"]] = data["account"]
        if message["type"] == "clock.tick":
            partition = data.pop("partition")
        else:
            partition = partition_by[data.get("account") or accounts[data["order"]]]
        records.append(Inbound(orjson.dumps(message), "customer", partition, offset))
    engine.process(records)
    engine.commit()


def test_a_tick_on_one_partition_leaves_the_other_partitions_accounts_alone() -> None:
    a, b = two_partitions()
    where = {a: partition_of(a, 2), b: partition_of(b, 2)}
    s = issued(account=a, order="oa")
    issued(s, account=b, order="ob")
    s.at(40 * MIN).send("clock.tick", partition=where[a])
    s.at(10 * MIN).sms("ob")  # b's in time: not late for a's partition's clock
    s.send("order.requested", account=b, order="ob2", service="tg", country="KZ", price=1)
    ledger = bootstrap(Settings(store=memory_store_url()))
    try:
        engine = Engine(ledger.opened.store, ledger.policy,
                        ownership=PartitionOwnership({0, 1}, 2))
        consume(engine, s, where)
        ledger.catch_up()
        outcome = Outcome(ledger, engine.counts.as_dict())
        assert outcome.order("oa")["state"] == "timed_out"
        assert outcome.order("ob")["state"] == "sms_received"
        assert engine.counts.late == 0
        clocks = {key: clock for key, (clock, _) in ledger.opened.store.clocks("").items()}
        assert clocks == {where[a]: START + 40 * MIN, where[b]: None}
    finally:
        ledger.close()


def test_a_tick_sent_to_every_partition_under_one_id_moves_each_members_clock() -> None:
    """Two members on one store, one partition each: the first to read the tick records
    it; the other's copy is a duplicate by id, and still moves its partition's clock."""
    a, b = two_partitions()
    where = {a: partition_of(a, 2), b: partition_of(b, 2)}
    s = issued(account=a, order="oa")
    issued(s, account=b, order="ob")
    ledger = bootstrap(Settings(store=memory_store_url()))
    try:
        members = {p: Engine(ledger.opened.store, ledger.policy, consumer_group="g",
                             ownership=PartitionOwnership({p}, 2)) for p in (0, 1)}
        for p, engine in members.items():
            mine = Scenario(messages=[m for m in s.messages
                                      if where[m["data"].get("account", a)] == p
                                      and m["type"] != "number.issued"])
            consume(engine, mine, where)
        tick = {"id": "t-all", "type": "clock.tick", "at": "2026-06-01T11:00:00Z", "data": {}}
        for p, engine in members.items():
            engine.process([Inbound(orjson.dumps(tick), "customer", p, 99)])
            engine.commit()
        ledger.catch_up()
        outcome = Outcome(ledger, {})
        assert (outcome.order("oa")["state"], outcome.order("ob")["state"]) == (
            "failed", "failed")
        assert members[1].counts.duplicates + members[0].counts.duplicates == 1
        clocks = {key: clock for key, (clock, _) in ledger.opened.store.clocks("g").items()}
        assert clocks == {0: START + 60 * MIN, 1: START + 60 * MIN}
    finally:
        ledger.close()


@pytest.mark.parametrize(("text", "seconds"),
                         [("300", 300), ("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400)])
def test_time_settings_read_durations_from_the_environment(text: str, seconds: int) -> None:
    from smsledger.infra.settings import settings_from_env

    read = settings_from_env({"SMSLEDGER_ALLOWED_LATENESS": text, "SMSLEDGER_MAX_FUTURE": text})
    assert read.allowed_lateness == read.max_future == timedelta(seconds=seconds)


def test_a_bad_duration_setting_is_a_one_line_error_naming_it() -> None:
    from smsledger.infra.settings import settings_from_env

    with pytest.raises(ValueError, match="SMSLEDGER_ALLOWED_LATENESS: '5 minutes' is not"):
        settings_from_env({"SMSLEDGER_ALLOWED_LATENESS": "5 minutes"})


def test_the_ledgers_engine_takes_its_time_settings() -> None:
    ledger = bootstrap(Settings(store=memory_store_url(), allowed_lateness=timedelta(0),
                                max_future=timedelta(hours=2)))
    try:
        engine = ledger.engine()
        assert (engine.settling.lateness, engine.max_future) == (timedelta(0),
                                                                 timedelta(hours=2))
    finally:
        ledger.close()


def test_times_at_the_ends_of_the_calendar_do_not_stop_the_stream() -> None:
    s = Scenario()
    s.account()
    s.deposit(1000, deposit="d1")
    lines = [line("t-first", "clock.tick", "0001-01-01T00:00:00Z"),
             line("o-first", "order.requested", "0001-01-01T00:00:01Z",
                  {"account": "a1", "order": "o0", "service": "tg", "country": "KZ",
                   "price": 1}),
             *s.lines()]
    outcome = run(lines)
    assert outcome.balance()["deposited"] == 1000
    ledger = bootstrap(Settings(store=memory_store_url(), max_future=timedelta(days=10**8)))
    try:
        ingest_lines(ledger.engine(), [line("t", "clock.tick", "2026-06-01T00:00:00Z")],
                     source="t")
        assert ledger.opened.store.watermark() is not None
    finally:
        ledger.close()
