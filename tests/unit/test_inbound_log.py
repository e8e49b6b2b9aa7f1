"""The inbound log keeps what a replay needs: every line that was not a duplicate, where a
clock moved without a message and settled something, where an input was over and settled
something, and where an input ended with messages parked; a replay of it reproduces the
store."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from smsledger.consumers.ingest import ingest_lines
from smsledger.infra.bootstrap import Ledger, bootstrap
from smsledger.infra.settings import Settings
from smsledger.infra.whatif import Window, inbound_log, replay
from smsledger.infra.whatif_figures import figures
from tests.scenario import START, Scenario, memory_store_url


def new_ledger() -> Ledger:
    return bootstrap(Settings(store=memory_store_url()))


def kinds(ledger: Ledger) -> list[str]:
    return [kind for _, kind, _, _ in inbound_log(ledger)]


def opened_order() -> Scenario:
    s = Scenario()
    s.account("a1")
    s.deposit(1000, account="a1", deposit="d1")
    s.order("o1", 100)
    s.issue("o1")
    return s


def test_the_clock_moving_alone_is_logged_where_it_settles_something() -> None:
    ledger = new_ledger()
    engine = ledger.engine()
    engine.process(ingest_inbound(opened_order()))
    engine.advance_clocks({None: START + timedelta(minutes=5)})  # nothing due yet
    engine.advance_clocks({None: START + timedelta(minutes=30)})  # the order times out
    engine.commit()
    assert kinds(ledger) == ["message"] * 4 + ["clock"]
    assert engine.counts.expired == 1


def test_an_input_ending_with_parked_messages_is_logged() -> None:
    ledger = new_ledger()
    s = Scenario()
    s.send("sms.delivered", order="o-later", text="Your code: 1", code="1")
    ingest_lines(ledger.engine(), s.lines(), source="one")
    clean = Scenario()
    clean.account("a2")
    ingest_lines(ledger.engine(), [b.replace(b'"m-', b'"n-') for b in clean.lines()],
                 source="two")
    assert kinds(ledger) == ["message", "end", "message"]


def ingest_inbound(s: Scenario) -> list:  # type: ignore[type-arg]
    from smsledger.consumers.journal import Inbound

    return [Inbound(line, "test", None, n) for n, line in enumerate(s.lines())]


def test_a_replay_of_the_log_reproduces_the_store(tmp_path: Path) -> None:
    """Two inputs (the first ending with a message parked for an order only the second
    brings, and a duplicate and a bad line), then the clock moved by hand past the last
    order's deadline: no message follows to settle it."""
    ledger = new_ledger()
    first = opened_order()
    first.send("sms.delivered", order="o2", text="Your code: 1", code="1")
    lines = [*first.lines(), first.lines()[0], b"{broken"]
    ingest_lines(ledger.engine(), lines, source="one")
    second = Scenario(start=START + timedelta(minutes=30))  # within the park limit
    second.order("o2", 300)
    second.issue("o2")
    second.sms("o2")
    second.customer("order.completed", "o2")
    second.order("o3", 50)
    second.issue("o3")
    ingest_lines(ledger.engine(), [b.replace(b'"m-', b'"n-') for b in second.lines()],
                 source="two")
    engine = ledger.engine()
    engine.advance_clocks({None: START + timedelta(hours=5)})  # o3 times out without a message
    engine.commit()
    ledger.catch_up()
    side = replay(ledger, ledger.policy, Window(), tmp_path, "again")
    assert side.end.accounts == figures(ledger, None).accounts
    assert side.end.accounts["a1"]["revenue"] == 300
    with sqlite3.connect(tmp_path / "again.db") as scratch:
        replayed = scratch.execute('SELECT "order", state FROM orders ORDER BY 1').fetchall()
        letters = scratch.execute("SELECT reason FROM dead_letters ORDER BY seq").fetchall()
    scratch.close()
    live = ledger.opened.database.query('SELECT "order", state FROM orders ORDER BY 1')
    assert replayed == [tuple(r) for r in live] == [
        ("o1", "timed_out"), ("o2", "completed"), ("o3", "timed_out")]
    live_letters = ledger.opened.database.query("SELECT reason FROM dead_letters ORDER BY seq")
    assert letters == [tuple(r) for r in live_letters]
    assert ("unknown_order",) in letters


def test_consecutive_messages_share_a_row_of_the_log() -> None:
    ledger = new_ledger()
    ingest_lines(ledger.engine(), [*opened_order().lines(), b"{broken"], source="one",
                 batch_size=3)
    rows = ledger.opened.database.query("SELECT kind, lines FROM inbound_log ORDER BY seq")
    assert rows == [("messages", 3), ("messages", 2)]
    assert [raw for _, _, _, raw in inbound_log(ledger)] == [*opened_order().lines(),
                                                               b"{broken"]


def test_a_replay_reproduces_the_dead_letter_of_a_reused_message_id(tmp_path: Path) -> None:
    """Other bytes under the id of an applied message are dead-lettered (`duplicate_id`):
    not a duplicate, so the log keeps the line and a replay dead-letters it again."""
    ledger = new_ledger()
    s = opened_order()
    reused = s.lines()[1].replace(b"1000", b"2000")
    assert reused != s.lines()[1]
    ingest_lines(ledger.engine(), [*s.lines(), reused], source="one")
    live = [tuple(r) for r in ledger.opened.database.query(
        "SELECT reason FROM dead_letters ORDER BY seq")]
    assert live == [("duplicate_id",)]
    replay(ledger, ledger.policy, Window(), tmp_path, "again")
    with sqlite3.connect(tmp_path / "again.db") as scratch:
        letters = scratch.execute("SELECT reason FROM dead_letters ORDER BY seq").fetchall()
    scratch.close()
    assert letters == live


def test_an_input_over_that_settles_a_deadline_is_logged_and_replayed(tmp_path: Path) -> None:
    """Another account's later message does not settle a1's order; the input being over
    does (every deadline before the watermark), with no message: the log marks it."""
    ledger = new_ledger()
    s = opened_order()
    s.at(timedelta(hours=2)).account("a2")
    engine = ledger.engine()
    engine.process(ingest_inbound(s))
    engine.commit()
    engine.input_over()
    engine.commit()
    assert engine.counts.expired == 1
    assert kinds(ledger) == ["message"] * 5 + ["over"]
    replay(ledger, ledger.policy, Window(), tmp_path, "again")
    with sqlite3.connect(tmp_path / "again.db") as scratch:
        replayed = scratch.execute('SELECT "order", state FROM orders').fetchall()
    scratch.close()
    assert replayed == [("o1", "timed_out")]


def test_a_tick_copy_on_another_partition_that_settles_is_logged_as_a_clock() -> None:
    """A tick reaches every partition under one id: the first copy is a logged message,
    a later copy moving the order's own partition's clock is logged where it settles."""
    from smsledger.consumers.journal import Inbound
    from smsledger.consumers.partitions import PartitionOwnership, partition_of

    ledger = new_ledger()
    own = partition_of("a1", 2)
    engine = ledger.engine("g", PartitionOwnership({0, 1}, 2))
    s = opened_order()
    tick = s.at(timedelta(hours=2)).send("clock.tick")
    lines = s.lines()
    records = [Inbound(line, "t", own, n) for n, line in enumerate(lines[:-1])]
    records.append(Inbound(lines[-1], "t", 1 - own, 0))
    engine.process(records)
    engine.commit()
    assert engine.counts.expired == 0
    engine.process([Inbound(lines[-1], "t", own, len(lines))])
    engine.commit()
    assert engine.counts.expired == 1
    assert kinds(ledger) == ["message"] * 5 + ["clock"]
    assert [at for _, kind, at, _ in inbound_log(ledger) if kind == "clock"] == [
        tick["at"].replace("Z", ".000000Z")]  # the journal's fixed-width time
